"""Routes panel: all tables, Cilium's marked; capped (10,000 routes would stall
the UI for seconds) and filterable with `/`."""

from __future__ import annotations

from rich.text import Text
from textual.timer import Timer

from ..model import Route
from .table_panel import Column, Row, TablePanel

ROUTE_CAP = 200
# Under link churn each veth brings IPv6 link-local routes and takes them away: the
# route list (often 1,000+ entries to sort) is redrawn at most every 2 s then.
ROUTE_REDRAW = 2.0


def route_key(route: Route) -> str:
    return f"{route.family}|{route.table}|{route.dst}|{route.dev or ''}|{route.gateway or ''}|{route.metric or ''}"


def link_local(route: Route) -> bool:
    """IPv6 link-local and multicast routes: the kernel adds them to every link that is
    up (fe80::/64 in main, the fe80::x address and ff00::/8 in local), so 500 pods
    mean 1,500 of them — noise here, like link-local addresses in Interfaces, and
    the only routes a crash-looping pod's veth brings and takes away."""
    dst = route.dst.lower()
    return route.family == 6 and (dst.startswith("fe80:") or dst.startswith("ff00::/8"))


def route_rows(routes: list[Route]) -> list[tuple[str, Row]]:
    """Main table first, then the others (local last: it is long and rarely the problem);
    IPv4 before IPv6 within a table (the pool checks are IPv4); link-local IPv6 left out."""

    def order(r: Route) -> tuple[int, str, int]:
        return (0 if r.table == "main" else 2 if r.table == "local" else 1, r.table, r.family)

    rows: dict[str, Row] = {}
    for route in sorted((r for r in routes if not link_local(r)), key=order):
        owner = Text("cilium", style="cyan") if route.cilium else Text("")
        rows[route_key(route)] = (
            route.dst,
            route.gateway or "",
            route.dev or "",
            route.table,
            route.protocol or "",
            owner,
        )
    return list(rows.items())


class RoutesPanel(TablePanel):
    TITLE = "Routes"
    CAP = ROUTE_CAP
    COLUMNS = (
        Column("Destination", "dst", shrink=18),
        Column("Via", "via", shrink=15),
        Column("Dev", "dev", shrink=8),
        Column("Table", "table"),
        Column("Proto", "proto", drop=2),
        Column("Owner", "owner", drop=1),
    )

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._pending: list[Route] | None = None
        self._redraw: Timer | None = None

    def show(self, routes: list[Route]) -> None:
        if self._redraw is not None:
            self._redraw.stop()
            self._redraw = None
        self._pending = None
        self.set_rows(route_rows(routes))

    def show_soon(self, routes: list[Route]) -> None:
        """Show `routes` within ROUTE_REDRAW seconds (later calls ride along)."""
        self._pending = routes
        if self._redraw is None:
            self._redraw = self.set_timer(ROUTE_REDRAW, self._flush)

    def _flush(self) -> None:
        self._redraw = None
        if self._pending is not None:
            self.show(self._pending)
