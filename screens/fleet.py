"""The `:fleet` view (DESIGN §10): what `ciliumtui fleet status` prints, live.

One row per node — state, root cause, critical and warning counts, the report's
age — in fleet status's order (broken first, each root cause kept together), a
summary line above ("50 nodes: 12 broken (stale-cilium-iptables 9, …), 3 not
reporting, 35 healthy"). `/` filters like the dashboard, enter opens a node's
findings from its NodeDiagnosis (screens.fleet_node), `r` reads again, esc goes
back (clearing the filter first).

The read (ciliumtui.fleet.read: paged Nodes and NodeDiagnoses under the cluster
deadline) runs in a thread off the UI loop, in a worker that reschedules itself
after it finished (never two at once); a hung apiserver costs one line
("apiserver unreachable: …"), the last rows stay and the screen keeps answering.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ciliumtui.screens.fleet_node import STATE_STYLE, NodeFindingsScreen
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ciliumtui.errors import CiliumtuiError
from ciliumtui.fleet.read import FleetRead, deadline_for, read_fleet
from ciliumtui.fleet.status import STATES, FleetStatus, NodeRow, human_age
from ciliumtui.probe import one_line
from ciliumtui.tui.control import control
from ciliumtui.tui.workers import Cycle
from ciliumtui.widgets.command_line import CommandLine, PromptBar
from ciliumtui.widgets.table_panel import Cell, Column, PanelTable, Row, TablePanel

if TYPE_CHECKING:
    from textual.widgets.data_table import RowKey

Reader = Callable[[], FleetRead]
Clock = Callable[[], datetime]

# Between two reads: at least this, and at least COST_FACTOR times what the last
# read took (a 5,000-node read parses ~20 pages in this process; at 10x it takes
# under a tenth of a core away from the screen). Publishers report every 600 s.
REFRESH_S = 15.0
COST_FACTOR = 10
# Errors where the apiserver answered (and refused): not "unreachable".
ANSWERED = ("forbidden", "unauthorized", "not found", "apiserver error", "apiserver refused")
# A broken condition without its NodeDiagnosis: the node says broken, not why.
UNKNOWN_CAUSE = "cause unknown"
NOT_READ = "the fleet could not be read (r reads again)"
CRD_MISSING = "no NodeDiagnosis CRD: no publisher reports here (see `ciliumtui fleet manifest`)"


# ------------------------------------------------------------------ pure parts


def error_line(message: str) -> str:
    answered = message.startswith(ANSWERED) or "throttling" in message
    return f"{'cannot read the fleet' if answered else 'apiserver unreachable'}: {message}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(fs: FleetStatus, width: int = 0) -> str:
    """ "50 nodes: 12 broken (stale-cilium-iptables 9, …), 3 not reporting, 35 healthy",
    the root causes (most nodes first) cut to what fits `width` (0: all of them)."""
    total = len(fs.nodes)
    if not total:
        return "no nodes"
    broken = [r for r in fs.nodes if r.state == "broken"]
    causes = sorted(
        Counter(r.root_cause or UNKNOWN_CAUSE for r in broken).items(),
        key=lambda kv: (-kv[1], kv[0]),
    )
    rest = []
    for state in STATES[1:]:
        n = fs.count(state)
        if n:
            rest.append(f"{n} {state.replace('-', ' ')}")
    warned = sum(1 for r in fs.nodes if r.state == "healthy" and r.warning)
    if fs.count("healthy") == total and not warned:
        return f"{_plural(total, 'node')}: all healthy"

    def build(k: int, note: bool) -> str:
        items = []
        if broken:
            shown = [f"{cause} {n}" for cause, n in causes[:k]]
            if k < len(causes):
                shown.append("…")
            items.append(f"{len(broken)} broken ({', '.join(shown)})")
        tail = list(rest)
        if note and warned and tail:
            tail[-1] += f" ({warned} with warnings)"
        return f"{_plural(total, 'node')}: " + ", ".join(items + tail)

    # Most wanted first: every cause, then fewer; the warnings' note before the last cause.
    tries = [(k, note) for k in range(len(causes), 0, -1) for note in (True, False)]
    for k, note in [*tries, (0, True)]:
        line = build(k, note)
        if not width or len(line) <= width:
            return line
    return build(0, False)


def age_text(row: NodeRow) -> str:
    return "never" if row.age_s is None else f"{human_age(row.age_s)} ago"


def node_cells(row: NodeRow) -> Row:
    """One node's row, as FleetPanel.COLUMNS lists them."""
    run = row.last_run or {}
    last = f"{run.get('playbook', '?')} {run.get('result', '?')}" if run else ""
    return (
        row.node,
        Text(row.state, style=STATE_STYLE.get(row.state, "")),
        row.root_cause or "-",
        Text(str(len(row.critical)), style="bold red" if row.critical else "dim", justify="right"),
        Text(str(len(row.warning)), style="yellow" if row.warning else "dim", justify="right"),
        age_text(row),
        ", ".join(i for i in (*row.critical, *row.warning) if i != row.root_cause),
        last,
    )


# ------------------------------------------------------------------ widgets


class FleetTable(PanelTable):
    """The nodes' table: enter opens a node (and the footer says so); sized without
    measuring every cell.

    DataTable measures each new row's cells on idle to size auto-width columns:
    1.2 s of the 1.4 s to the first frame of 5,000 rows (measured, 160x45). The
    panel gives every column an explicit width, so the measuring is wasted: only
    the virtual size is set (as DataTable._update_dimensions ends; Textual 8.x,
    pinned)."""

    BINDINGS = [Binding("enter", "select_cursor", "Findings")]

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        columns = list(self.columns.values())
        if self._labelled_row_exists or any(c.auto_width for c in columns):
            super()._update_dimensions(new_rows)
            return
        width = sum(c.get_render_width(self) for c in columns) + self._row_label_column_width
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width, self._total_row_height + header)


class FleetPanel(TablePanel):
    TITLE = "Nodes"
    COLUMNS = (
        Column("Node", "node", shrink=12),
        Column("State", "state"),
        # Never cut: "stale-cilium-…" could be either of two causes (the others go first).
        Column("Root cause", "root_cause"),
        Column("Crit", "critical"),
        Column("Warn", "warning"),
        Column("Reported", "age"),
        # Wide terminals only: the other findings, then the last fleet run's result.
        Column("Other findings", "others", shrink=20, drop=1),
        Column("Last run", "last_run", drop=2),
    )
    # DataTable.remove_row renumbers every row after it: removing 4,990 of 5,000 (a
    # filter) one by one took seconds; more than this many go by one rebuild instead.
    BULK_REMOVE = 32

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows_by_node: dict[str, NodeRow] = {}
        self._cells: dict[str, Row] = {}

    def compose(self) -> ComposeResult:
        yield FleetTable(
            cursor_type="row", zebra_stripes=False, cursor_foreground_priority="renderable"
        )

    def show(self, fs: FleetStatus) -> None:
        """The rows of a new read; a node whose cells did not change keeps its very row
        object (nothing to redraw), the cursor stays on its node."""
        cells: dict[str, Row] = {}
        for r in fs.nodes:
            new = node_cells(r)
            old = self._cells.get(r.node)
            cells[r.node] = old if old == new else new
        self._cells = cells
        self.rows_by_node = {r.node: r for r in fs.nodes}
        selected = self.selected_node()
        self.set_rows(cells)
        if selected is not None and selected in self.table.rows:
            index = self.table.get_row_index(selected)
            if index != self.table.cursor_row:
                self.table.move_cursor(row=index, animate=False)

    def selected_node(self) -> str | None:
        table = self.table
        if table.row_count == 0 or not self.is_mounted:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value)

    def _diff(self, table: DataTable[Cell], shown: list[tuple[str, Row]]) -> None:
        keep = {k for k, _ in shown}
        if sum(1 for k in self._shown if k not in keep) > self.BULK_REMOVE:
            table.clear()
            self._shown = {}
            for key, row in shown:
                table.add_row(*row, key=key)
                self._shown[key] = row
            return
        super()._diff(table, shown)


# ------------------------------------------------------------------ the screen


class FleetScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter"),
        Binding("r", "refresh", "Refresh"),
        Binding("colon", "command", ":Cmd"),
    ]

    def __init__(
        self,
        selector: str | None = None,
        *,
        reader: Reader | None = None,
        clock: Clock | None = None,
        interval: float = REFRESH_S,
    ) -> None:
        super().__init__(id="fleet")
        self.selector = selector or None
        self._reader = reader
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self.interval = interval  # 0: read on open and on `r` only
        self.status: FleetStatus | None = None
        self.error: str | None = None
        self.reads = 0  # completed reads (tests wait on it)
        self.read_s = 0.0
        self._read_at = ""
        self._cycle: Cycle | None = None

    def compose(self) -> ComposeResult:
        yield Static("reading the fleet…", id="fleet-summary")
        yield Static(id="fleet-error")
        yield FleetPanel(id="fleet-nodes", classes="panel")
        yield PromptBar(id="prompt")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#fleet-error").display = False
        self.query_one(CommandLine).completer = control(self.app).complete_command
        self.query_one(FleetPanel).width_hint = self.app.size.width - 2
        self._set_note()
        self.query_one("#fleet-nodes DataTable").focus()
        self._cycle = Cycle(self.app, "fleet", self._read)
        self._cycle.live = self.interval > 0
        self._cycle.request()

    def on_unmount(self) -> None:
        cycle = self._cycle
        if cycle is not None:
            cycle.live = False
            if cycle.timer is not None:
                cycle.timer.stop()
                cycle.timer = None

    # ------------------------------------------------------------ reading

    def _read_now(self) -> FleetRead:
        if self._reader is not None:
            return self._reader()
        return read_fleet(control(self.app).opts, self.selector)

    async def _read(self) -> float:
        """One read in a thread (the UI loop never waits on the apiserver), then draw."""
        self._set_note(reading=True)
        opts = control(self.app).opts
        start = time.monotonic()
        error: str | None = None
        result: FleetRead | None = None
        try:
            # read_fleet bounds itself (the cluster deadline); this bounds a reader that does not.
            result = await asyncio.wait_for(
                asyncio.to_thread(self._read_now), deadline_for(opts) + 2
            )
        except CiliumtuiError as exc:
            error = str(exc)
        except asyncio.TimeoutError:
            error = f"the apiserver did not answer in time ({deadline_for(opts) + 2:g} s)"
        except Exception as exc:  # one line, never a traceback on the screen
            error = one_line(exc)
        took = time.monotonic() - start
        if not self.is_attached:
            return 0.0
        if result is not None:
            self.read_s = took
            self._show(result)
        self._show_error(error, CRD_MISSING if result is not None and result.crd_missing else None)
        if error and self.status is None:
            # Never read: "reading the fleet…" would promise rows that are not coming.
            self.query_one("#fleet-summary", Static).update(NOT_READ)
        self.reads += 1
        self._set_note()
        return max(self.interval, COST_FACTOR * took) if self.interval > 0 else 0.0

    def _show(self, result: FleetRead) -> None:
        fs = result.status(self._clock())
        self.status = fs
        self._read_at = self._clock().astimezone().strftime("%H:%M:%S")
        self.query_one(FleetPanel).show(fs)
        self._show_summary()
        rows = self.query_one(FleetPanel).rows_by_node
        for screen in self.app.screen_stack:  # a node opened from here shows its new report
            if isinstance(screen, NodeFindingsScreen) and screen.row.node in rows:
                screen.update(rows[screen.row.node])

    def _show_summary(self) -> None:
        if self.status is None:
            return
        summary = self.query_one("#fleet-summary", Static)
        width = summary.size.width or self.app.size.width
        line = summary_line(self.status, width)
        if not self.status.nodes and self.selector:
            line += f" match -l {self.selector}"
        summary.update(line)

    def _show_error(self, error: str | None, warning: str | None = None) -> None:
        self.error = error
        box = self.query_one("#fleet-error", Static)
        text = error_line(error) if error else warning
        box.set_class(bool(error), "-error")
        if text:
            box.update(text)
        box.display = bool(text)

    def _set_note(self, *, reading: bool = False) -> None:
        parts = []
        if self.selector:
            parts.append(f"-l {self.selector}")
        if reading:
            parts.append("reading…")
        elif self._read_at:
            # How long a read took only when it is worth knowing: a slow read is why
            # the next one comes later (COST_FACTOR); under a second it is noise.
            took = f" in {self.read_s:.1f}s" if self.read_s >= 1 else ""
            stale = " (last good read)" if self.error else ""
            parts.append(f"read {self._read_at}{took}{stale}")
        self.query_one(FleetPanel).set_note(" · ".join(parts))

    def on_resize(self, event: events.Resize) -> None:
        self._show_summary()

    # ------------------------------------------------------------ actions

    def set_selector(self, selector: str | None) -> None:
        """`:fleet SELECTOR` while this screen is open: read those nodes instead."""
        self.selector = selector or None
        self.action_refresh()

    def action_refresh(self) -> None:
        if self._cycle is not None:
            self._cycle.request()

    def action_back(self) -> None:
        panel = self.query_one(FleetPanel)
        if panel.filter_text:
            panel.set_filter("")
            return
        self.app.pop_screen()

    def action_filter(self) -> None:
        self.query_one(CommandLine).open("/", self.query_one(FleetPanel).filter_text)

    def action_command(self) -> None:
        self.query_one(CommandLine).open(":")

    def on_command_line_filter_edited(self, event: CommandLine.FilterEdited) -> None:
        self.query_one(FleetPanel).set_filter(event.value)

    def on_command_line_run(self, event: CommandLine.Run) -> None:
        self._refocus()
        if event.mode == ":":
            control(self.app).execute_command(event.value)

    def on_command_line_closed(self, event: CommandLine.Closed) -> None:
        if event.mode == "/":
            self.query_one(FleetPanel).set_filter("")
        self._refocus()

    def _refocus(self) -> None:
        self.query_one("#fleet-nodes DataTable").focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.query_one(FleetPanel).rows_by_node.get(str(event.row_key.value))
        if row is not None:
            self.app.push_screen(NodeFindingsScreen(row))

    def selected_row(self) -> NodeRow | None:
        panel = self.query_one(FleetPanel)
        node = panel.selected_node()
        return panel.rows_by_node.get(node) if node else None
