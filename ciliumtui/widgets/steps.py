"""The wizard's step list: status, risk, phase, title and the last word on each
step, fitted to the screen like every panel (titles end in "…" only when the
screen is too narrow for them, the Detail column goes first)."""

from __future__ import annotations

from rich.text import Text

from .table_panel import Column, Row, TablePanel

STATUS_STYLE = {
    "pending": "dim",
    "running": "bold yellow",
    "waiting": "bold yellow",
    "confirm?": "bold magenta",
    "ok": "green",
    "planned": "cyan",
    "skipped": "dim",
    "failed": "bold red",
    "refused": "yellow",
    "declined": "yellow",
    "aborted": "bold red",
}
RISK_STYLE = {"destructive": "bold red", "high": "red", "low": "yellow", "read": "green"}


def step_row(status: str, risk: str, phase: str, title: str, detail: str) -> Row:
    return (
        Text(status, style=STATUS_STYLE.get(status, "")),
        Text(risk, style=RISK_STYLE.get(risk, "")),
        phase,
        title,
        detail,
    )


class StepsPanel(TablePanel):
    TITLE = "Steps"
    COLUMNS = (
        Column("Status", "status"),
        Column("Risk", "risk"),
        Column("Phase", "phase", drop=1),
        Column("Step", "step", shrink=20),
        Column("Detail", "detail", shrink=10, drop=2),
    )

    def set_step(self, key: str, row: Row) -> None:
        self.patch([(key, row)])
        if key in self.table.rows:
            self.table.move_cursor(row=self.table.get_row_index(key), animate=False)

    def status_of(self, key: str) -> str:
        row = self._rows.get(key)
        return row[0].plain if row is not None and isinstance(row[0], Text) else ""

    def row_of(self, key: str) -> Row | None:
        return self._rows.get(key)
