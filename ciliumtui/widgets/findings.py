"""Findings panel: root causes first, each with the symptoms it explains folded
under it (`z` unfolds them); enter opens the finding's detail.

The cause → symptom links are the checks' (`Finding.explained_by`, DESIGN §4):
this panel only orders and draws them.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from ..model import SEVERITY_RANK, Finding
from .table_panel import Column, Row, TablePanel

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first; stable within a severity (checks emit in catalogue order)."""
    return sorted(findings, key=lambda f: -SEVERITY_RANK.get(f.severity, 0))


def causes_of(finding: Finding, by_id: dict[str, Finding]) -> list[str]:
    """The ids that explain `finding` and are present (checks name only present ones)."""
    return [i for i in finding.explained_by if i in by_id and i != finding.id]


def root_of(finding: Finding, by_id: dict[str, Finding], roots: list[str]) -> str | None:
    """The root cause a symptom folds under: the first root (in `roots` order) reached
    by following explained_by (a chain A → B → C folds C under A)."""
    seen: set[str] = set()
    frontier = causes_of(finding, by_id)
    reached: set[str] = set()
    while frontier:
        nxt: list[str] = []
        for fid in frontier:
            if fid in seen:
                continue
            seen.add(fid)
            if not causes_of(by_id[fid], by_id):
                reached.add(fid)
            nxt += causes_of(by_id[fid], by_id)
        frontier = nxt
    return next((r for r in roots if r in reached), None)


def tree(findings: list[Finding]) -> list[tuple[Finding, list[Finding]]]:
    """(root cause, its symptoms) pairs: root causes most severe first, each symptom
    under the first root cause that explains it; a symptom whose causes form a
    loop (never from the checks) stands as its own root."""
    ordered = sort_findings(findings)
    by_id = {f.id: f for f in ordered}
    roots = [f for f in ordered if not causes_of(f, by_id)]
    root_ids = [f.id for f in roots]
    under: dict[str, list[Finding]] = {f.id: [] for f in roots}
    orphans: list[Finding] = []
    for f in ordered:
        if f.id in under:
            continue
        root = root_of(f, by_id, root_ids)
        if root is None:
            orphans.append(f)
        else:
            under[root].append(f)
    out = [(r, under[r.id]) for r in roots]
    return out + [(o, []) for o in orphans]


def explains(finding: Finding, findings: list[Finding]) -> list[Finding]:
    """The findings `finding` explains directly (its symptoms)."""
    return [f for f in findings if finding.id in f.explained_by and f.id != finding.id]


def keyed_findings(findings: list[Finding]) -> list[tuple[str, Finding]]:
    """(row key, finding) in tree order; a repeated id gets "#2", "#3"."""
    seen: dict[str, int] = {}
    out: list[tuple[str, Finding]] = []
    for root, symptoms in tree(findings):
        for f in (root, *symptoms):
            seen[f.id] = seen.get(f.id, 0) + 1
            out.append((f.id if seen[f.id] == 1 else f"{f.id}#{seen[f.id]}", f))
    return out


NO_FINDINGS_KEY = "_none"


def finding_rows(findings: list[Finding], *, folded: bool = True) -> list[tuple[str, Row]]:
    if not findings:
        return [
            (
                NO_FINDINGS_KEY,
                (Text("OK", style="green"), "No findings: this node looks healthy", ""),
            )
        ]
    keys = dict((id(f), k) for k, f in keyed_findings(findings))
    rows: list[tuple[str, Row]] = []
    pairs = tree(findings)
    pad = "  " if any(symptoms for _, symptoms in pairs) else ""  # align beside "▸ "
    for root, symptoms in pairs:
        sev = Text(root.severity.upper(), style=SEVERITY_STYLE.get(root.severity, ""))
        # "▸ title (+2)": folded, two symptoms under it; "▾" when unfolded (z).
        title = Text("▸ " if folded else "▾ ", style="dim") if symptoms else Text(pad)
        title.append(root.title)
        if symptoms:
            title.append(f" (+{len(symptoms)})", style="dim")
        rows.append((keys[id(root)], (sev, title, root.playbook or "")))
        if folded:
            continue
        for s in symptoms:
            sev = Text(s.severity.lower(), style=SEVERITY_STYLE.get(s.severity, ""))
            title = Text("  └ ", style="dim")
            title.append(s.title, style="dim")
            rows.append((keys[id(s)], (sev, title, s.playbook or "")))
    return rows


class FindingsPanel(TablePanel):
    TITLE = "Findings"
    COLUMNS = (
        Column("Severity", "severity"),
        Column("Finding", "title", shrink=16),
        Column("Fix", "playbook", shrink=8),
    )
    BINDINGS = [Binding("z", "toggle_symptoms", "Symptoms")]

    class Selected(Message):
        def __init__(self, finding: Finding) -> None:
            super().__init__()
            self.finding = finding

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.findings: dict[str, Finding] = {}
        self._list: list[Finding] = []
        self.folded = True
        self._cursor_placed = False

    def show(self, findings: list[Finding]) -> None:
        self._list = list(findings)
        self.findings = dict(keyed_findings(findings))
        self.set_rows(finding_rows(findings, folded=self.folded))
        if findings and not self._cursor_placed and self.is_mounted:
            # The cursor starts on the first root cause (DESIGN §7): row 0 by construction.
            self._cursor_placed = True
            self.table.move_cursor(row=0, animate=False)

    def action_toggle_symptoms(self) -> None:
        selected = self.selected()
        self.folded = not self.folded
        self.set_rows(finding_rows(self._list, folded=self.folded))
        if selected is not None:
            key = next((k for k, f in self.findings.items() if f is selected), None)
            if key is not None and key in self.table.rows:
                self.table.move_cursor(row=self.table.get_row_index(key), animate=False)

    def selected(self) -> Finding | None:
        table = self.table
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return self.findings.get(str(key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        finding = self.findings.get(str(event.row_key.value))
        if finding is not None:
            self.post_message(self.Selected(finding))
