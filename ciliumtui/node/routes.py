"""Routes of every table (main, local, 2004, 2005 ...), IPv4 and IPv6."""

from __future__ import annotations

from typing import Any

from ..model import Route
from ..ownership import is_cilium_route
from .ipjson import PROTOCOLS, ROUTE_TYPES, SCOPES, TABLE_NAMES, ip_json


def route_family(item: dict[str, Any]) -> int:
    """4 or 6 for one `ip -j route` entry of a mixed-family dump.

    IPv6 shows in the addresses; a "default" IPv6 route without a gateway still
    carries "pref" (the kernel sends RTA_PREF for every IPv6 route, never for IPv4).
    """
    for key in ("dst", "gateway", "prefsrc"):
        value = item.get(key)
        if isinstance(value, str) and ":" in value:
            return 6
    via = item.get("via")
    if isinstance(via, dict) and via.get("family") == "inet6":
        return 6
    return 6 if "pref" in item else 4


def parse_routes(data: list[dict[str, Any]], family: int | None = None) -> list[Route]:
    """`ip -N -j route` output -> Routes; family None: a mixed dump, decided per route.

    Tables are numbers (a name from rt_tables means nothing), except the kernel's
    main/local/default; types, scopes and protocols get their usual names back.
    """
    routes: list[Route] = []
    owned: dict[tuple[str, str | None], bool] = {}  # memoised: 10,000 routes, few devices
    fixed = family
    for item in data:
        dst = item.get("dst")
        if not dst:
            continue
        if fixed:
            family = fixed
        elif ":" in dst:
            family = 6
        else:
            family = route_family(item) if dst == "default" else 4
        if dst != "default" and "/" not in dst:
            # `ip -j` prints host routes without a prefix length; the model always has one.
            dst += "/32" if family == 4 else "/128"
        table = str(item.get("table", "main"))  # `ip -j` omits the table for main
        table = TABLE_NAMES.get(table, table)
        dev = item.get("dev")
        cilium = owned.get((table, dev))
        if cilium is None:
            cilium = owned[(table, dev)] = is_cilium_route(table, dev)
        metric = item.get("metric")
        protocol, scope, kind = item.get("protocol"), item.get("scope"), item.get("type")
        routes.append(
            Route(
                dst,
                family,
                table,
                dev,
                item.get("gateway"),
                PROTOCOLS.get(protocol, protocol) if protocol is not None else None,
                SCOPES.get(scope, scope) if scope is not None else None,
                ROUTE_TYPES.get(kind, kind) if kind is not None else "unicast",
                item.get("prefsrc"),
                int(metric) if metric is not None else None,
                cilium,
            )
        )
    return routes


async def probe_routes(netns: str | None) -> list[Route]:
    # One dump: with "table all" and no -4/-6, iproute2 lists both families, which
    # costs less than two dumps (10,000 routes: 35 ms vs 37 + 23 ms).
    return parse_routes(await ip_json(["route", "show", "table", "all"], netns))
