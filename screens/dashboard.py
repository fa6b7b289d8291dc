"""The dashboard: header, read-only banner, the panels, the prompt and the footer.

It only shows what the app hands it (`show_*`); the app's workers do the probing.
Wide terminals get two columns; at 80 columns the panels stack and scroll.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from ciliumtui.model import ClusterState, DnsState, Finding, NodeState
from ciliumtui.widgets.address_space import AddressSpacePanel
from ciliumtui.widgets.cilium import CiliumPanel
from ciliumtui.widgets.command_line import CommandLine, PromptBar
from ciliumtui.widgets.dns import DnsPanel
from ciliumtui.widgets.findings import FindingsPanel
from ciliumtui.widgets.header import StatusHeader
from ciliumtui.widgets.interfaces import InterfacesPanel
from ciliumtui.widgets.routes import RoutesPanel
from ciliumtui.widgets.table_panel import TablePanel

READ_ONLY_BANNER = "READ-ONLY (--read-only): nothing will be changed; fixing is disabled."


class DashboardScreen(Screen[None]):
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("r", "app.refresh_all", "Refresh"),
        Binding("f", "fix", "Fix finding"),
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
            # Wide: a two-column grid (findings and address space span both);
            # narrow (80 columns): one panel per line (assets/ciliumtui.tcss).
            yield FindingsPanel(id="findings", classes="panel wide-span")
            yield InterfacesPanel(id="interfaces", classes="panel")
            yield CiliumPanel(id="cilium", classes="panel")
            yield RoutesPanel(id="routes", classes="panel")
            yield DnsPanel(id="dns", classes="panel")
            yield AddressSpacePanel(id="address-space", classes="panel wide-span")
        yield PromptBar(id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        self._apply_breakpoints()
        read_only = self.app.opts.read_only  # type: ignore[attr-defined]
        self.query_one("#read-only-banner").display = read_only
        header = self.query_one(StatusHeader)
        header.read_only = read_only
        header.node = self.app.opts.node_name  # type: ignore[attr-defined]
        header.context = self.app.opts.context  # type: ignore[attr-defined]
        self.query_one("#findings DataTable").focus()
        self.app.start_probing()  # type: ignore[attr-defined]

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

    def show_node(self, node: NodeState, cluster: ClusterState | None) -> None:
        self.query_one(InterfacesPanel).show(node.links)
        self.query_one(RoutesPanel).show(node.routes)
        self.query_one(CiliumPanel).show(node, cluster)

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
            node = node.parent  # type: ignore[assignment]
        return node

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
            self.app.start_wizard(finding.playbook, finding=finding)  # type: ignore[attr-defined]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fix" and self.app.opts.read_only:  # type: ignore[attr-defined]
            return None  # shown greyed out in the footer; the banner says why
        return True

    def selected_finding(self) -> Finding | None:
        panel = self.query_one(FindingsPanel)
        table = panel.table
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return panel.findings.get(str(key.value))

    # ------------------------------------------------------------------ messages

    def on_command_line_filter_edited(self, event: CommandLine.FilterEdited) -> None:
        if self._filter_target is not None:
            self._filter_target.set_filter(event.value)

    def on_command_line_run(self, event: CommandLine.Run) -> None:
        self._refocus()
        if event.mode == ":":
            self.app.execute_command(event.value)  # type: ignore[attr-defined]

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
        self.app.show_finding(event.finding)  # type: ignore[attr-defined]
