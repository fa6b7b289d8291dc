"""One node of the `:fleet` view: its findings as its NodeDiagnosis reported them
(the diagnose JSON of schema 2), in the dashboard's findings list (root causes
first, symptoms folded under them, `z` unfolds), and a finding's detail.

The findings are another node's, not this one's: nothing here starts a wizard on
the node the TUI runs on. The detail says what fixes the finding on *that* node
(its playbook there, or the fleet roll that runs it as a Job) as commands to paste.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ciliumtui.screens.finding_detail import detail_text, related
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, OptionList, Static
from textual.widgets.option_list import Option

from ciliumtui.fleet import NODE_PLAYBOOKS
from ciliumtui.fleet.status import NodeRow, human_age
from ciliumtui.model import SEVERITIES, Finding, Severity
from ciliumtui.widgets.findings import SEVERITY_STYLE, FindingsPanel

STATE_STYLE = {
    "broken": "bold red",
    "unknown": "yellow",
    "not-reporting": "yellow",
    "healthy": "green",
}
# The label a kubelet sets to its node's hostname: how `fleet run -l` picks one node.
HOSTNAME_LABEL = "kubernetes.io/hostname"


# ------------------------------------------------------------------ pure parts


def finding_from_json(item: Mapping[str, Any]) -> Finding | None:
    """One finding of the diagnose JSON (DESIGN §4, schema 2) as the model's Finding;
    None for an entry without an id. A schema 1 entry (no explained_by) is a root cause."""
    fid = item.get("id")
    if not isinstance(fid, str) or not fid:
        return None
    raw_severity = str(item.get("severity") or "info")
    severity: Severity = next((s for s in SEVERITIES if s == raw_severity), "info")
    remediation = item.get("remediation")
    fix: Mapping[str, Any] = remediation if isinstance(remediation, dict) else {}
    evidence = item.get("evidence")
    causes = item.get("explained_by")
    playbook, docs = fix.get("playbook"), fix.get("docs")
    return Finding(
        fid,
        severity,
        str(item.get("title") or fid),
        [str(e) for e in evidence] if isinstance(evidence, list) else [],
        playbook=playbook if isinstance(playbook, str) and playbook else None,
        docs=docs if isinstance(docs, str) and docs else None,
        explained_by=[str(c) for c in causes if c != fid] if isinstance(causes, list) else [],
    )


def node_findings(row: NodeRow) -> list[Finding]:
    """The findings of a node's last report (entries that are not findings are skipped)."""
    return [f for f in (finding_from_json(item) for item in row.findings) if f is not None]


def fleet_playbook(playbook: str | None) -> str | None:
    """The node playbook `fleet run` rolls for a finding's playbook (cleanup -> cleanup-node)."""
    if not playbook:
        return None
    return next((fleet for fleet, fixes in NODE_PLAYBOOKS.items() if playbook in fixes), None)


def fix_commands(node: str, finding: Finding) -> list[str]:
    """Pasteable commands that fix `finding` on `node`: on the node itself, and from
    here as a fleet roll of one node (when a node playbook covers it)."""
    if not finding.playbook:
        return []
    lines = [f"ciliumtui run {finding.playbook} --dry-run"]
    roll = fleet_playbook(finding.playbook)
    if roll:
        lines.append(f"ciliumtui fleet run {roll} -l {HOSTNAME_LABEL}={node} --dry-run")
    return lines


def report_age(row: NodeRow) -> str:
    if row.age_s is None:
        return "never reported"
    every = f", every {human_age(row.interval_s)}" if row.interval_s else ", once"
    return f"reported {human_age(row.age_s)} ago{every}"


def last_run_text(row: NodeRow) -> str:
    run = row.last_run or {}
    if not run:
        return ""
    return f"last fleet run: {run.get('playbook', '?')} {run.get('result', '?')}"


def node_head(row: NodeRow) -> Text:
    """The node screen's first lines: name, state, root cause, the report's age."""
    t = Text()
    t.append(row.node, style="bold")
    t.append("  ")
    t.append(row.state.upper(), style=STATE_STYLE.get(row.state, ""))
    if row.root_cause:
        t.append("  root cause: ")
        t.append(row.root_cause, style="bold")
    t.append(f"\n{report_age(row)}", style="dim")
    last = last_run_text(row)
    if last:
        t.append(f" · {last}", style="dim")
    if row.state == "not-reporting":
        # The publisher went quiet: what it last said may no longer hold.
        if row.findings:
            said = "these findings are from its last report"
        elif row.age_s is not None:
            said = f"its last report said: {row.message or 'nothing'}"
        else:
            said = "it never reported"
        t.append(f"\nNot reporting: {said}. Is its publisher running there?", style="yellow")
    elif not row.findings and row.state != "healthy":
        t.append(f"\n{row.message or 'no report'}", style="yellow")
    return t


def evidence_text(node: str, finding: Finding, findings: list[Finding]) -> Text:
    """The pane under a node's findings: the highlighted finding's evidence, what it
    explains or is explained by, and the command that fixes it on that node."""
    t = Text()
    t.append(finding.id, style=f"bold {SEVERITY_STYLE.get(finding.severity, '')}".strip())
    if finding.explained_by:
        t.append(f"  (symptom of {', '.join(finding.explained_by)})", style="dim")
    else:
        below = [f.id for f in findings if finding.id in f.explained_by]
        t.append("  (root cause", style="dim")
        t.append(f" of {', '.join(below)})" if below else ")", style="dim")
    for line in finding.evidence or ["(no evidence recorded)"]:
        t.append(f"\n  • {line}")
    commands = fix_commands(node, finding)
    if commands:
        t.append(f"\n  fix on {node}: ", style="dim")
        t.append(commands[0])
    return t


def fleet_clip(node: str, finding: Finding) -> str:
    """What `y` copies: the node, the evidence, the commands that fix it there."""
    lines = [f"# {node}: {finding.id}: {finding.title}", *finding.evidence]
    return "\n".join([*lines, *fix_commands(node, finding)])


def fleet_detail_text(node: str, finding: Finding, findings: list[Finding]) -> Text:
    t = detail_text(finding, findings, None)
    commands = fix_commands(node, finding)
    if commands:
        t.append(f"\nOn {node}\n", style="bold underline")
        t.append(f"  {commands[0]}\n")
        t.append("  (run there; drop --dry-run to fix)\n", style="dim")
        if len(commands) > 1:
            t.append("\nFrom here, as a Job on that node\n", style="bold underline")
            t.append(f"  {commands[1]}\n")
    return t


# ------------------------------------------------------------------ screens


class NodeFindingsScreen(Screen[None]):
    """A node's last report: the findings list; enter opens a finding."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("y", "copy", "Copy"),
    ]

    def __init__(self, row: NodeRow) -> None:
        super().__init__()
        self.row = row
        self.findings = node_findings(row)

    def compose(self) -> ComposeResult:
        yield Static(node_head(self.row), id="fleet-node-head")
        panel = FindingsPanel(id="fleet-node-findings", classes="panel")
        panel.TITLE = f"Findings of {self.row.node}"
        yield panel
        yield Static(id="fleet-node-evidence")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._show()
        self.query_one("#fleet-node-findings DataTable").focus()

    def _show(self) -> None:
        panel = self.query_one(FindingsPanel)
        # No report at all: "no findings, healthy" would be a lie; the head says why.
        panel.display = bool(self.findings) or self.row.state == "healthy"
        panel.show(self.findings)
        self._show_evidence()

    def _show_evidence(self) -> None:
        box = self.query_one("#fleet-node-evidence", Static)
        finding = self.query_one(FindingsPanel).selected() if self.findings else None
        box.display = finding is not None
        if finding is not None:
            box.border_title = "Evidence"
            box.update(evidence_text(self.row.node, finding, self.findings))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_evidence()

    def update(self, row: NodeRow) -> None:
        """The fleet view read this node again (its refresh): show the new report."""
        if row == self.row:
            return
        self.row = row
        self.findings = node_findings(row)
        self.query_one("#fleet-node-head", Static).update(node_head(row))
        self._show()

    def action_copy(self) -> None:
        finding = self.query_one(FindingsPanel).selected()
        if finding is None:
            self.notify("Select a finding to copy its evidence.")
            return
        self.app.copy_to_clipboard(fleet_clip(self.row.node, finding))
        self.notify(f"Copied {finding.id}: evidence and commands (OSC 52).", timeout=2)

    def on_findings_panel_selected(self, event: FindingsPanel.Selected) -> None:
        self.app.push_screen(FleetFindingScreen(self.row.node, event.finding, self.findings))


class FleetFindingScreen(Screen[None]):
    """One finding of another node: the dashboard's detail, and how to fix it there."""

    AUTO_FOCUS = "#detail-body"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("y", "copy", "Copy"),
    ]

    def __init__(self, node: str, finding: Finding, findings: list[Finding]) -> None:
        super().__init__()
        self.node = node
        self.finding = finding
        self.findings = findings

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-body") as body:
            body.border_title = f"{self.node} · {self.finding.id}"
            yield Static(
                fleet_detail_text(self.node, self.finding, self.findings), id="detail-text"
            )
        links = OptionList(
            *[
                Option(
                    Text.assemble(
                        ("← " if f.id in self.finding.explained_by else "→ ", "dim"),
                        (f.id, SEVERITY_STYLE.get(f.severity, "")),
                    ),
                    id=f.id,
                )
                for f in related(self.finding, self.findings)
            ],
            id="detail-links",
        )
        links.border_title = "Related (enter opens)"
        links.display = links.option_count > 0
        yield links
        yield Footer(compact=True)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        target = next((f for f in self.findings if f.id == event.option.id), None)
        if target is not None:
            self.app.switch_screen(FleetFindingScreen(self.node, target, self.findings))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(fleet_clip(self.node, self.finding))
        self.notify(f"Copied {self.finding.id}: evidence and commands (OSC 52).", timeout=2)
