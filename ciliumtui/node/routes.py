"""Routes of every table (main, local, 2004, 2005 ...), IPv4 and IPv6."""

from __future__ import annotations

import asyncio
from typing import Any

from ..model import Route
from ..ownership import is_cilium_route
from .ipjson import ip_json


def _with_prefix(dst: str, family: int) -> str:
    # `ip -j` prints host routes without a prefix length ("10.42.0.183"); the model always has one.
    if dst == "default" or "/" in dst:
        return dst
    return f"{dst}/{32 if family == 4 else 128}"


def parse_routes(data: list[dict[str, Any]], family: int) -> list[Route]:
    routes: list[Route] = []
    for item in data:
        dst = item.get("dst")
        if not dst:
            continue
        table = str(item.get("table", "main"))  # `ip -j` omits the table for main
        dev = item.get("dev")
        metric = item.get("metric")
        routes.append(
            Route(
                dst=_with_prefix(dst, family),
                family=family,
                table=table,
                dev=dev,
                gateway=item.get("gateway"),
                protocol=item.get("protocol"),
                scope=item.get("scope"),
                type=item.get("type", "unicast"),
                prefsrc=item.get("prefsrc"),
                metric=int(metric) if metric is not None else None,
                cilium=is_cilium_route(table, dev),
            )
        )
    return routes


async def probe_routes(netns: str | None) -> list[Route]:
    v4, v6 = await asyncio.gather(
        ip_json(["-4", "route", "show", "table", "all"], netns),
        ip_json(["-6", "route", "show", "table", "all"], netns),
    )
    return parse_routes(v4, 4) + parse_routes(v6, 6)
