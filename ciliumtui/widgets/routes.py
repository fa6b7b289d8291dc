"""Routes panel: all tables, Cilium's marked; capped (10,000 routes would stall
the UI for seconds) and filterable with `/`."""

from __future__ import annotations

from rich.text import Text

from ..model import Route
from .table_panel import Row, TablePanel

ROUTE_CAP = 200


def route_key(route: Route) -> str:
    return f"{route.family}|{route.table}|{route.dst}|{route.dev or ''}|{route.gateway or ''}|{route.metric or ''}"


def route_rows(routes: list[Route]) -> list[tuple[str, Row]]:
    """Main table first, then the others (local last: it is long and rarely the problem);
    IPv4 before IPv6 within a table (the pool checks are IPv4)."""

    def order(r: Route) -> tuple[int, str, int]:
        return (0 if r.table == "main" else 2 if r.table == "local" else 1, r.table, r.family)

    rows: dict[str, Row] = {}
    for route in sorted(routes, key=order):
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
        ("Destination", "dst"),
        ("Via", "via"),
        ("Dev", "dev"),
        ("Table", "table"),
        ("Proto", "proto"),
        ("Owner", "owner"),
    )

    def show(self, routes: list[Route]) -> None:
        self.set_rows(route_rows(routes))
