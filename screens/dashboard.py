"""The dashboard: header, read-only banner, the six panels, the prompt and the footer.

It only shows what the app hands it (`show_*`); the app's workers do the probing.
Wide terminals (≥ 120 columns): findings across the top, interfaces and routes on
the left, Cilium, DNS and the address space on the right, every panel sized to
the screen (no page scrolling). At 80 columns the panels stack and scroll, the
findings first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Static

from ciliumtui.model import ClusterState, DnsState, Finding, NodeState
from ciliumtui.tui.control import control
from ciliumtui.widgets.address_space import AddressSpacePanel
from ciliumtui.widgets.cilium import CiliumPanel
from ciliumtui.widgets.command_line import CommandLine, PromptBar
from ciliumtui.widgets.dns import DnsPanel
from ciliumtui.widgets.findings import FindingsPanel
from ciliumtui.widgets.header import StatusHeader
from ciliumtui.widgets.interfaces import InterfacesPanel
from ciliumtui.widgets.routes import RoutesPanel
from ciliumtui.widgets.table_panel import TablePanel

if TYPE_CHECKING:
    from ciliumtui.tui.netdelta import Delta

READ_ONLY_BANNER = "READ-ONLY (--read-only): nothing will be changed; fixing is disabled."


def finding_clip(finding: Finding) -> str:
    """What `y` copies: the evidence, and the command that fixes it."""
    lines = [f"# {finding.id}: {finding.title}", *finding.evidence]
    if finding.playbook:
        lines.append(f"ciliumtui run {finding.playbook} --dry-run")
    return "\n".join(lines)


class DashboardScreen(Screen[None]):
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("colon", "command", ":Cmd"),
        Binding("r", "app.refresh_all", "Refresh", show=False),
        Binding("f", "fix", "Fix"),
        Binding("y", "copy", "Copy", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="dashboard")
        self._filter_target: TablePanel | None = None
        self._return_focus: Widget | None = None

    def compose(self) -> ComposeResult:
        # Before any child is styled: they are then styled once, with the class.
        self._apply_breakpoints(update=False)
        yield StatusHeader(id="header")
        yield Static(READ_ONLY_BANNER, id="read-only-banner")
        with VerticalScroll(id="panels", can_focus=False):
            yield FindingsPanel(id="findings", classes="panel")
            with Horizontal(id="panel-columns"):
                with Vertical(id="left-column"):
                    yield InterfacesPanel(id="interfaces", classes="panel tall")
                    yield RoutesPanel(id="routes", classes="panel tall")
                with Vertical(id="right-column"):
                    yield CiliumPanel(id="cilium", classes="panel")
                    yield DnsPanel(id="dns", classes="panel")
                    yield AddressSpacePanel(id="address-space", classes="panel")
        yield PromptBar(id="prompt")
        yield Footer(compact=True)

    def _hint_widths(self) -> None:
        """Tell the panels the width the layout will give them (assets/ciliumtui.tcss),
        so that their first rows are fitted once, before the first frame."""
        width = self.app.size.width
        if self.has_class("-wide"):
            left, right = width // 2 - 2, width - width // 2 - 2
            hints = {"findings": width - 2, "interfaces": left, "routes": left}
            hints |= {"cilium": right, "dns": right}
        else:  # one panel per line beside the page's 1-column scrollbar
            hints = {p: width - 3 for p in ("findings", "interfaces", "routes", "cilium", "dns")}
        for panel, hint in hints.items():
            self.query_one(f"#{panel}", TablePanel).width_hint = hint

    def on_mount(self) -> None:
        self._apply_breakpoints()
        self._hint_widths()
        ctl = control(self.app)
        read_only = ctl.opts.read_only
        self.query_one("#read-only-banner").display = read_only
        header = self.query_one(StatusHeader)
        header.read_only = read_only
        header.node = ctl.opts.node_name
        header.context = ctl.opts.context
        self.query_one(CommandLine).completer = ctl.complete_command
        self.query_one("#findings DataTable").focus()
        start = getattr(self.app, "start_probing", None)
        if callable(start):
            start()

    def _apply_breakpoints(self, *, update: bool = True) -> None:
        """Set the -wide/-narrow class now, as Textual does on the first Resize event:
        that event comes after the first frame, which was then laid out and drawn
        twice (narrow, then wide). update_classes is a no-op when Resize re-applies it."""
        breakpoints = self.HORIZONTAL_BREAKPOINTS
        if breakpoints is None:
            breakpoints = self.app.HORIZONTAL_BREAKPOINTS
        if not breakpoints:
            return
        width = self.app.size.width
        chosen = next((c for w, c in sorted(breakpoints, reverse=True) if width >= w), None)
        self.update_classes({c: c == chosen for _, c in breakpoints}, update=update, animate=False)

    # ------------------------------------------------------------- data → panels

    def show_node(
        self, node: NodeState, cluster: ClusterState | None, delta: Delta | None = None
    ) -> None:
        interfaces = self.query_one(InterfacesPanel)
        attachments = node.bpf.attachments
        if delta is None:
            interfaces.show(node.links, attachments)
            self.query_one(RoutesPanel).show(node.routes)
            self.query_one(CiliumPanel).show(node, cluster)
            return
        # A netlink delta: touch only what it names (link churn costs what changed).
        if delta.links or delta.links_removed:
            interfaces.patch_links(node.links, delta.links, delta.links_removed, attachments)
        if delta.routes:
            self.query_one(RoutesPanel).show_soon(node.routes)

    def show_cluster(self, node: NodeState | None, cluster: ClusterState, note: str) -> None:
        self.query_one(CiliumPanel).show(node, cluster)
        self.query_one(CiliumPanel).set_note(note)
        self.query_one(DnsPanel).set_note(note if not cluster.reachable else "")

    def show_dns(self, cluster: ClusterState | None, dns: DnsState) -> None:
        self.query_one(DnsPanel).show(cluster, dns)

    def show_address_space(
        self, node: NodeState | None, cluster: ClusterState | None, name: str
    ) -> None:
        self.query_one(AddressSpacePanel).show(node, cluster, name)

    def show_findings(self, findings: list[Finding], note: str = "") -> None:
        panel = self.query_one(FindingsPanel)
        panel.show(findings)
        panel.set_note(note)

    def set_header(self, **values: object) -> None:
        header = self.query_one(StatusHeader)
        for name, value in values.items():
            setattr(header, name, value)

    # ------------------------------------------------------------------- actions

    def focused_panel(self) -> TablePanel | None:
        node = self.focused
        while node is not None and not isinstance(node, TablePanel):
            parent = node.parent
            node = parent if isinstance(parent, Widget) else None
        return node

    def focus_panel(self, panel: str) -> bool:
        target = self.query_one(f"#{panel}")
        tables = target.query(DataTable)
        (tables.first() if tables else target).focus()
        return True

    def action_filter(self) -> None:
        self._return_focus = self.focused
        self._filter_target = self.focused_panel() or self.query_one(FindingsPanel)
        self.query_one(CommandLine).open("/", self._filter_target.filter_text)

    def action_command(self) -> None:
        self._return_focus = self.focused
        self.query_one(CommandLine).open(":")

    def action_clear_filter(self) -> None:
        panel = self.focused_panel()
        if panel is not None and panel.filter_text:
            panel.set_filter("")

    def action_fix(self) -> None:
        finding = self.selected_finding()
        if finding is None:
            self.notify("Select a finding first (tab to Findings, arrows, enter).")
        elif not finding.playbook:
            self.notify(f"{finding.id}: no playbook fixes this; see its detail (enter).")
        else:
            control(self.app).start_wizard(finding.playbook, finding=finding)

    def action_copy(self) -> None:
        finding = self.selected_finding()
        if finding is None:
            self.notify("Select a finding to copy its evidence.")
            return
        self.app.copy_to_clipboard(finding_clip(finding))
        self.notify(f"Copied {finding.id}: evidence and command (OSC 52).", timeout=2)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fix" and control(self.app).opts.read_only:
            return None  # shown greyed out in the footer; the banner says why
        return True

    def selected_finding(self) -> Finding | None:
        return self.query_one(FindingsPanel).selected()

    # ------------------------------------------------------------------ messages

    def on_command_line_filter_edited(self, event: CommandLine.FilterEdited) -> None:
        if self._filter_target is not None:
            self._filter_target.set_filter(event.value)

    def on_command_line_run(self, event: CommandLine.Run) -> None:
        self._refocus()
        if event.mode == ":":
            control(self.app).execute_command(event.value)

    def on_command_line_closed(self, event: CommandLine.Closed) -> None:
        if event.mode == "/" and self._filter_target is not None:
            self._filter_target.set_filter("")
        self._refocus()

    def _refocus(self) -> None:
        target = self._return_focus
        self._filter_target = self._return_focus = None
        if target is None or not target.is_attached or isinstance(target, CommandLine):
            target = self.query_one("#findings DataTable")
        target.focus()

    def on_findings_panel_selected(self, event: FindingsPanel.Selected) -> None:
        control(self.app).show_finding(event.finding)
