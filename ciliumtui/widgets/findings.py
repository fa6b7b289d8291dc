"""Findings panel: sorted by severity; enter opens the finding's detail."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from ..model import SEVERITY_RANK, Finding
from .table_panel import Row, TablePanel

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first; stable within a severity (checks emit in catalogue order)."""
    return sorted(findings, key=lambda f: -SEVERITY_RANK.get(f.severity, 0))


def keyed_findings(findings: list[Finding]) -> list[tuple[str, Finding]]:
    """(row key, finding), most severe first; a repeated id gets "#2", "#3"."""
    seen: dict[str, int] = {}
    out: list[tuple[str, Finding]] = []
    for f in sort_findings(findings):
        seen[f.id] = seen.get(f.id, 0) + 1
        out.append((f.id if seen[f.id] == 1 else f"{f.id}#{seen[f.id]}", f))
    return out


NO_FINDINGS_KEY = "_none"


def finding_rows(findings: list[Finding]) -> list[tuple[str, Row]]:
    if not findings:
        return [
            (
                NO_FINDINGS_KEY,
                (Text("OK", style="green"), "No findings: this node looks healthy", ""),
            )
        ]
    rows: list[tuple[str, Row]] = []
    for key, f in keyed_findings(findings):
        sev = Text(f.severity.upper(), style=SEVERITY_STYLE.get(f.severity, ""))
        rows.append((key, (sev, f.title, f.playbook or "")))
    return rows


class FindingsPanel(TablePanel):
    TITLE = "Findings"
    COLUMNS = (("Severity", "severity"), ("Finding", "title"), ("Fix", "playbook"))

    class Selected(Message):
        def __init__(self, finding: Finding) -> None:
            super().__init__()
            self.finding = finding

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.findings: dict[str, Finding] = {}

    def show(self, findings: list[Finding]) -> None:
        self.findings = dict(keyed_findings(findings))
        self.set_rows(finding_rows(findings))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        finding = self.findings.get(str(event.row_key.value))
        if finding is not None:
            self.post_message(self.Selected(finding))
