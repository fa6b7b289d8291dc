"""The base of every table panel: a titled DataTable updated in place by row key.

Panels hand over the full set of rows each refresh (`set_rows`) or a delta
(`patch`, for netlink events); the diff removes rows that went away, updates
only the cells that changed and adds new rows with their key — never clear +
re-add, which flickers and costs ~0.4 s per 1,000 rows. A filter (`/`) and a
cap (routes) apply on top.

Columns fit the panel: never a horizontal scrollbar. When the natural widths
do not fit, shrinkable columns give way first (their cells end in "…"), then
optional columns are dropped (highest `drop` first); `fit_widths` decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import DataTable

Cell = str | Text
Row = tuple[Cell, ...]
PAD = 2  # DataTable's cell_padding=1 on each side


@dataclass(frozen=True)
class Column:
    label: str
    key: str
    shrink: int | None = None  # may shrink down to this width (cells end in "…")
    drop: int = 0  # > 0: dropped when nothing else gives way, highest first


def cell_text(value: Any) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def row_matches(row: Sequence[Cell], needle: str) -> bool:
    """Case-insensitive substring match over every cell of a row."""
    if not needle:
        return True
    needle = needle.lower()
    return any(needle in cell_text(c).lower() for c in row)


def fit_widths(
    columns: Sequence[Column], natural: Mapping[str, int], available: int
) -> dict[str, int]:
    """Width per kept column so that all of them fit `available` cells (padding
    included). Shrinkable columns shrink, widest first, down to their minimum;
    if that is not enough a droppable column goes (highest `drop` first) and the
    rest are fitted again from their natural widths."""
    full = {c.key: max(natural.get(c.key, 0), cell_len(c.label)) for c in columns}
    if available <= 0:
        return full
    kept = list(columns)
    if sum(w + PAD for w in full.values()) > available:
        # Short of room: an empty optional column (no step has a detail yet) goes first.
        kept = [c for c in columns if not (c.drop > 0 and natural.get(c.key, 0) == 0)]
    while True:
        widths = {c.key: full[c.key] for c in kept}
        over = sum(w + PAD for w in widths.values()) - available
        shrinkable = [c for c in kept if c.shrink is not None and widths[c.key] > c.shrink]
        while over > 0 and shrinkable:
            widest = max(shrinkable, key=lambda c: widths[c.key])
            widths[widest.key] -= 1
            over -= 1
            shrinkable = [c for c in shrinkable if widths[c.key] > (c.shrink or 0)]
        droppable = [c for c in kept if c.drop > 0]
        if over <= 0 or not droppable:
            return widths
        kept.remove(max(droppable, key=lambda c: c.drop))


def fit_cell(value: Cell, width: int) -> Cell:
    """The cell cut to `width` cells with an ellipsis (styles kept), or as it is."""
    if cell_len(cell_text(value)) <= width:
        return value
    text = value.copy() if isinstance(value, Text) else Text(value)
    text.truncate(width, overflow="ellipsis")
    return text


class PanelTable(DataTable[Cell]):
    """A DataTable whose rendered cells survive changes elsewhere in the table.

    DataTable keys its cell cache on an update counter that every add_row,
    remove_row and update_cell bumps, so one netlink event re-rendered every
    visible cell through Rich: 45-85 ms for one changed row of a 500-row panel at
    160x45 (measured), most of the ~25% of a core the dashboard used under link
    churn. Here a cell's rendering is kept by what decides it — position, style,
    width, cursor, and the very cell object (the panels hand over the same object
    for a cell that did not change; identity is checked, so a recycled id never
    hits). Relies on DataTable._render_cell (Textual 8.x, pinned)."""

    KEEP = 4096  # rendered cells kept (a 160x45 screen shows a few hundred)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._kept: dict[tuple[Any, ...], tuple[object, Any]] = {}

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Any,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> Any:
        if row_index < 0 or column_index < 0:  # header and labels: as DataTable does
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        value = self._data[row_key][column_key]
        key = (
            row_index,
            column_index,
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self.rows[row_key].height,
            id(value),
        )
        hit = self._kept.get(key)
        if hit is not None and hit[0] is value:
            return hit[1]
        lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        if len(self._kept) >= self.KEEP:
            self._kept.clear()
        self._kept[key] = (value, lines)
        return lines


class TablePanel(Vertical):
    """A bordered panel holding one keyed DataTable."""

    TITLE = ""
    COLUMNS: Sequence[Column] = ()
    CAP: int | None = None  # show at most this many rows (after filtering)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._rows: dict[str, Row] = {}
        self._shown: dict[str, Row] = {}  # fitted rows, as the table holds them
        self._natural: dict[str, int] = {}
        self._widths: dict[str, int] = {}  # the current fit (kept columns only)
        self._table_columns: list[str] = []
        self._fit_cache: dict[int, tuple[Row, dict[str, int], Row]] = {}
        self.filter_text = ""
        # The width the screen's layout will give this panel (inside its border), known
        # before the first layout: the first rows are then fitted once, not twice (a
        # second fit on the first Resize re-added every column and row: 2 more layout
        # passes before the first frame, measured).
        self.width_hint: int | None = None
        self.note = ""  # a one-line state shown under the title ("apiserver unreachable ...")
        self.border_title = self.TITLE

    def compose(self) -> ComposeResult:
        # Severity and state colours stay visible on the cursor row.
        yield PanelTable(
            cursor_type="row", zebra_stripes=False, cursor_foreground_priority="renderable"
        )

    def on_mount(self) -> None:
        self._render_rows()

    def on_resize(self, event: events.Resize) -> None:
        if self._fit() != self._widths:
            self._render_rows()

    @property
    def table(self) -> DataTable[Cell]:
        return self.query_one(DataTable)

    # ----------------------------------------------------------------- public API

    def set_rows(self, rows: Mapping[str, Row] | Iterable[tuple[str, Row]]) -> None:
        self._rows = dict(rows.items() if isinstance(rows, Mapping) else rows)
        self._natural = {}
        if self.is_mounted:
            self._render_rows()

    def patch(self, upserts: Iterable[tuple[str, Row]], removed: Iterable[str] = ()) -> None:
        """Apply a delta: rows changed or added (new ones at the end), rows removed.
        Costs what changed, not the whole table (netlink churn on 500 links)."""
        upserts = list(upserts)
        removed = [k for k in removed if k in self._rows]
        for key in removed:
            del self._rows[key]
        for key, row in upserts:
            self._rows[key] = row
        if not self.is_mounted:
            return
        if self.filter_text or (self.CAP and len(self._rows) > self.CAP):
            self._render_rows()
            return
        self._grow_natural(row for _, row in upserts)
        if self._fit() != self._widths:
            self._render_rows()
            return
        table = self.table
        with self.app.batch_update():
            for key in removed:
                if key in self._shown:
                    del self._shown[key]
                    table.remove_row(key)
            for key, row in upserts:
                fitted = self._fitted(row)
                before = self._shown.get(key)
                if before is None:
                    table.add_row(*fitted, key=key)
                else:
                    for col, old, new in zip(self._table_columns, before, fitted, strict=False):
                        if old != new:
                            table.update_cell(key, col, new)
                self._shown[key] = fitted
        self._update_titles(len(self._rows))

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        if self.is_mounted:
            self._render_rows()

    def set_note(self, note: str) -> None:
        self.note = note
        self._update_titles(len(self._visible()))

    @property
    def total_rows(self) -> int:
        return len(self._rows)

    def visible_keys(self) -> list[str]:
        return [str(r.key.value) for r in self.table.ordered_rows]

    def shown_columns(self) -> list[str]:
        return list(self._table_columns)

    # ------------------------------------------------------------------ internals

    def _visible(self) -> list[tuple[str, Row]]:
        return [(k, r) for k, r in self._rows.items() if row_matches(r, self.filter_text)]

    def _grow_natural(self, rows: Iterable[Row]) -> None:
        keys = [c.key for c in self.COLUMNS]
        natural = self._natural
        for row in rows:
            for key, value in zip(keys, row, strict=False):
                n = cell_len(cell_text(value))
                if n > natural.get(key, 0):
                    natural[key] = n

    def _available(self) -> int:
        # `size` is inside the border already; less one column for the vertical scrollbar.
        width = self.size.width or self.width_hint or 0
        return max(0, width - 1) if width else 0

    def _fit(self) -> dict[str, int]:
        return fit_widths(self.COLUMNS, self._natural, self._available())

    def _fitted(self, row: Row) -> Row:
        # The same raw row under the same widths fits the same: keep the very objects
        # (cheap for 500 unchanged rows, and PanelTable's render cache keys on them).
        cached = self._fit_cache.get(id(row))
        if cached is not None and cached[0] is row and cached[1] is self._widths:
            return cached[2]
        keys = [c.key for c in self.COLUMNS]
        by_key = dict(zip(keys, row, strict=False))
        fitted = tuple(fit_cell(by_key.get(k, ""), self._widths[k]) for k in self._table_columns)
        self._fit_cache[id(row)] = (row, self._widths, fitted)
        return fitted

    def _render_rows(self) -> None:
        if len(self._fit_cache) > 2 * len(self._rows) + 64:
            self._fit_cache = {}
        visible = self._visible()
        shown = visible[: self.CAP] if self.CAP else visible
        self._natural = {}
        self._grow_natural(r for _, r in shown)
        widths = self._fit()
        table = self.table
        with self.app.batch_update():
            if widths != self._widths or list(widths) != self._table_columns:
                # Columns get explicit widths: a patch never resizes them, and the
                # table is exactly as wide as the fit says (no horizontal scrollbar).
                table.clear(columns=True)
                self._shown = {}
                by_key = {c.key: c for c in self.COLUMNS}
                for key, width in widths.items():
                    table.add_column(by_key[key].label, key=key, width=width)
                self._table_columns = list(widths)
            if widths != self._widths:
                self._widths = widths
            self._diff(table, [(k, self._fitted(r)) for k, r in shown])
        self._update_titles(len(visible))

    def _diff(self, table: DataTable[Cell], shown: list[tuple[str, Row]]) -> None:
        wanted = [k for k, _ in shown]
        keep = set(wanted)
        current = list(self._shown)
        if [k for k in current if k in keep] != [k for k in wanted if k in self._shown]:
            # The order of surviving rows changed (rare): rebuild once.
            table.clear()
            self._shown = {}
            current = []
        for key in current:
            if key not in keep:
                table.remove_row(key)
                del self._shown[key]
        for key, row in shown:
            before = self._shown.get(key)
            if before is None:
                table.add_row(*row, key=key)
            elif before is not row:
                for col, old, new in zip(self._table_columns, before, row, strict=False):
                    if old != new:
                        table.update_cell(key, col, new)
            self._shown[key] = row
        if wanted and list(self._shown) != wanted:
            # New rows landed out of order (appended): rebuild in order.
            table.clear()
            self._shown = {}
            for key, row in shown:
                table.add_row(*row, key=key)
                self._shown[key] = row

    def _update_titles(self, matching: int) -> None:
        # Keys starting with "_" are placeholder rows ("no findings"), not counted.
        placeholders = sum(1 for k in self._rows if k.startswith("_"))
        total = len(self._rows) - placeholders
        shown = min(matching, self.CAP) if self.CAP else matching
        shown = max(0, shown - placeholders)
        title = self.TITLE
        count = f"{shown}" if shown == total else f"{shown}/{total}"
        title = f"{title} ({count})"
        if self.filter_text:
            title += f" /{self.filter_text}"
        # Only on change: a border refresh repaints the panel (and its table) region.
        if self.border_title != escape(title):
            self.border_title = escape(title)
        if self.border_subtitle != escape(self.note):
            self.border_subtitle = escape(self.note)
