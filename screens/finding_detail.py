"""A finding's detail: what was seen (evidence), what explains it and what it
explains, the agent's last log lines, the docs, and the playbook that fixes it,
with the keys to start its wizard (or its dry run).

Live: it follows the app's findings (FindingsChanged) and shows the finding as
the checks see it now — or says that it is gone.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, OptionList, Static
from textual.widgets.option_list import Option

from ciliumtui.model import Finding, NodeState
from ciliumtui.tui.control import FindingsChanged, SnapshotChanged, control
from ciliumtui.widgets.findings import SEVERITY_STYLE, explains

AGENT_FINDINGS = ("cilium-agent-not-ready", "cilium-agent-unhealthy", "cilium-agent-missing")
LOG_LINES = 8


def playbook_outline(playbook_id: str) -> list[str]:
    """The playbook's steps as lines ("step-id  [risk]  title"), when the engine can load it."""
    try:
        from ciliumtui.engine.loader import load_playbook

        pb = load_playbook(playbook_id)
    except Exception:
        return []
    return [f"{step.id:<24} [{step.risk}] {step.label}".rstrip() for step in pb.all_steps()]


def detail_text(
    finding: Finding,
    findings: list[Finding],
    node: NodeState | None,
    *,
    gone: bool = False,
) -> Text:
    t = Text()
    if gone:
        t.append("No longer found: the last check did not report this finding.\n\n", "bold green")
    t.append(f"{finding.severity.upper()}", style=SEVERITY_STYLE.get(finding.severity, ""))
    t.append(f"  {finding.title}\n", style="bold")
    kind = "root cause" if finding.root_cause else "symptom"
    t.append(f"id: {finding.id}  ({kind})\n\n", style="dim")
    t.append("Evidence\n", style="bold underline")
    for line in finding.evidence or ["(none recorded)"]:
        t.append(f"  • {line}\n")
    by_id = {f.id: f for f in findings}
    causes = [by_id[i] for i in finding.explained_by if i in by_id]
    if causes:
        t.append("\nExplained by\n", style="bold underline")
        for c in causes:
            t.append(f"  ← {c.id}", style=SEVERITY_STYLE.get(c.severity, ""))
            t.append(f"  {c.title}\n")
    symptoms = explains(finding, findings)
    if symptoms:
        t.append("\nExplains\n", style="bold underline")
        for s in symptoms:
            t.append(f"  → {s.id}", style=SEVERITY_STYLE.get(s.severity, ""))
            t.append(f"  {s.title}\n")
    agent = node.agent if node is not None else None
    if (
        agent is not None
        and agent.last_log
        and (finding.id in AGENT_FINDINGS or finding.id.startswith("stale-"))
    ):
        t.append("\nAgent's last log lines", style="bold underline")
        t.append(f"  {agent.last_log_path or ''}\n", style="dim")
        for line in agent.last_log[-LOG_LINES:]:
            t.append(f"  {line}\n", style="red" if " level=fatal" in line else "")
    t.append("\nDocs\n", style="bold underline")
    t.append(f"  {finding.docs or '(no link)'}\n")
    t.append("\nFix\n", style="bold underline")
    if finding.playbook:
        via = "" if finding.root_cause else " (its root cause's playbook)"
        t.append(f"  playbook: {finding.playbook}{via}\n")
        for line in playbook_outline(finding.playbook):
            t.append(f"    {line}\n", style="dim")
    else:
        t.append("  no playbook fixes this automatically; follow the evidence and docs.\n")
    return t


def related(finding: Finding, findings: list[Finding]) -> list[Finding]:
    """The findings linked to this one: its causes, then its symptoms."""
    by_id = {f.id: f for f in findings}
    out = [by_id[i] for i in finding.explained_by if i in by_id]
    return out + [f for f in explains(finding, findings) if f not in out]


class FindingDetailScreen(Screen[None]):
    AUTO_FOCUS = "#detail-body"  # never the first focusable by accident
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("w", "wizard", "Wizard"),
        Binding("n", "dry_run", "Dry run"),
        Binding("y", "copy", "Copy"),
    ]

    def __init__(self, finding: Finding) -> None:
        super().__init__()
        self.finding = finding
        self.gone = False

    def compose(self) -> ComposeResult:
        ctl = control(self.app)
        read_only = ctl.opts.read_only
        with VerticalScroll(id="detail-body") as body:
            body.border_title = f"Finding {self.finding.id}"
            yield Static(id="detail-text")
        yield OptionList(id="detail-links")
        with Horizontal(id="detail-buttons"):
            has_pb = bool(self.finding.playbook)
            label = "Wizard (w)" if not read_only else "Wizard — read-only"
            yield Button(
                label,
                id="start-wizard",
                variant="warning",
                disabled=read_only or not has_pb,
                compact=True,
            )
            yield Button("Dry run (n)", id="dry-run", disabled=not has_pb, compact=True)
            yield Button("Back (esc)", id="back", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._refresh_detail()
        self.query_one("#detail-body").focus()

    # ------------------------------------------------------------------ live

    def _refresh_detail(self) -> None:
        ctl = control(self.app)
        findings = ctl.findings
        current = next((f for f in findings if f.id == self.finding.id), None)
        self.gone = current is None and bool(findings or ctl.snapshot.node)
        if current is not None:
            self.finding = current
        self.query_one("#detail-text", Static).update(
            detail_text(self.finding, findings, ctl.snapshot.node, gone=self.gone)
        )
        links = self.query_one("#detail-links", OptionList)
        linked = related(self.finding, findings)
        links.display = bool(linked)
        links.border_title = "Related (enter opens)"
        options = [
            Option(
                Text.assemble(
                    ("← " if f.id in self.finding.explained_by else "→ ", "dim"),
                    (f.id, SEVERITY_STYLE.get(f.severity, "")),
                ),
                id=f.id,
            )
            for f in linked
        ]
        if [o.id for o in options] != [
            links.get_option_at_index(i).id for i in range(links.option_count)
        ]:
            links.set_options(options)
            links.highlighted = 0 if options else None

    def on_findings_changed(self, message: FindingsChanged) -> None:
        self._refresh_detail()

    def on_snapshot_changed(self, message: SnapshotChanged) -> None:
        self._refresh_detail()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        ctl = control(self.app)
        target = next((f for f in ctl.findings if f.id == event.option.id), None)
        if target is not None:
            self.app.pop_screen()
            ctl.show_finding(target)

    # --------------------------------------------------------------- actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("wizard", "dry_run") and not self.finding.playbook:
            return None
        if action == "wizard" and control(self.app).opts.read_only:
            return None
        return True

    def action_wizard(self) -> None:
        if self.finding.playbook:
            control(self.app).start_wizard(self.finding.playbook, finding=self.finding)

    def action_dry_run(self) -> None:
        if self.finding.playbook:
            control(self.app).start_wizard(
                self.finding.playbook, finding=self.finding, dry_run=True
            )

    def action_copy(self) -> None:
        from ciliumtui.screens.dashboard import finding_clip

        self.app.copy_to_clipboard(finding_clip(self.finding))
        self.notify(f"Copied {self.finding.id}: evidence and command (OSC 52).", timeout=2)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start-wizard":
            self.action_wizard()
        elif event.button.id == "dry-run":
            self.action_dry_run()
        elif event.button.id == "back":
            self.app.pop_screen()
