"""Journal viewer: past wizard runs from the engine's state dir
($CILIUMTUI_STATE_DIR, /var/lib/ciliumtui for root), newest first; enter shows
a run's records."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, RichLog, Static

from ciliumtui.engine.events import plan_line

RUN_STYLE = {
    "ok": "green",
    "planned": "cyan",
    "failed": "bold red",
    "declined": "yellow",
    "refused": "yellow",
    "aborted": "red",
    "interrupted": "red",
}


def summarize_run(run_id: str, records: list[dict[str, Any]]) -> tuple[str, str, str, str, str]:
    """(started, playbook, mode, status, node) of one run's journal records."""
    start = next((r for r in records if r.get("kind") == "run_started"), {})
    end = next((r for r in reversed(records) if r.get("kind") == "run_finished"), None)
    data = start.get("data") or {}
    mode = data.get("mode") or {}
    flags = [
        m
        for m, on in (
            ("dry-run", mode.get("dry_run")),
            ("read-only", mode.get("read_only")),
            ("resumed", mode.get("resumed")),
        )
        if on
    ]
    status = end.get("status", "?") if end else "interrupted"
    return (
        str(start.get("ts", "")),
        str(data.get("playbook", "?")),
        " ".join(flags) or "live",
        str(status),
        str(data.get("node", "")),
    )


def record_line(rec: dict[str, Any]) -> str:
    parts = [rec.get("ts", "")[11:23], rec.get("kind", "?")]
    for key in ("step_id", "status", "message"):
        if rec.get(key):
            parts.append(str(rec[key]))
    text = "  ".join(parts)
    for line in rec.get("plan") or []:
        text += f"\n      {plan_line(line)}"
    return text


class JournalScreen(Screen[None]):
    AUTO_FOCUS = "#journal-runs"  # never the first focusable by accident
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("r", "reload", "Reload")]

    def compose(self) -> ComposeResult:
        yield Static(id="journal-where")
        table: DataTable[Any] = DataTable(id="journal-runs", cursor_type="row")
        table.border_title = "Runs (enter: show records)"
        yield table
        log = RichLog(id="journal-log", wrap=True, markup=False)
        log.border_title = "Records"
        yield log
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#journal-runs", DataTable)
        table.add_columns(
            ("Started", "ts"),
            ("Playbook", "pb"),
            ("Mode", "mode"),
            ("Result", "status"),
            ("Node", "node"),
            ("Run id", "id"),
        )
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        from ciliumtui.engine.journal import journal_path, list_runs, runs_dir

        self.query_one("#journal-where", Static).update(f"Journal: {runs_dir()}")
        table = self.query_one("#journal-runs", DataTable)
        table.clear()
        runs = list(reversed(list_runs()))
        for run_id in runs:
            from ciliumtui.engine.journal import read_journal

            ts, pb, mode, status, node = summarize_run(run_id, read_journal(journal_path(run_id)))
            table.add_row(
                ts[:19],
                pb,
                mode,
                Text(status, style=RUN_STYLE.get(status, "")),
                node,
                run_id,
                key=run_id,
            )
        if not runs:
            self.query_one("#journal-log", RichLog).write("No runs recorded yet.")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        from ciliumtui.engine.journal import journal_path, read_journal

        log = self.query_one("#journal-log", RichLog)
        log.clear()
        run_id = str(event.row_key.value)
        for rec in read_journal(journal_path(run_id)):
            log.write(record_line(rec))
