"""Policy routing rules (`ip rule`), IPv4 and IPv6."""

from __future__ import annotations

import asyncio
from typing import Any

from ..model import IpRule
from ..ownership import is_cilium_ip_rule
from .ipjson import RULE_ACTIONS, ip_json, table_name


def _prefix(value: str | None, length: Any) -> str | None:
    if value is None or value == "all" or length is None:
        return value
    return f"{value}/{length}"


def parse_rules(data: list[dict[str, Any]], family: int) -> list[IpRule]:
    """`ip -N -j rule` output -> IpRules (tables by number; `not` kept as invert)."""
    rules: list[IpRule] = []
    for item in data:
        fwmark = item.get("fwmark")
        if fwmark is not None and item.get("fwmask"):
            # `ip -j` splits "fwmark 0x200/0xf00" into fwmark + fwmask; ownership wants them joined.
            fwmark = f"{fwmark}/{item['fwmask']}"
        table = item.get("table")
        table = table_name(table) if table is not None else None
        action = item.get("action")
        invert = "not" in item  # `ip -j` prints "not": null for an inverted selector
        rules.append(
            IpRule(
                priority=int(item.get("priority", 0)),
                family=family,
                src=_prefix(item.get("src"), item.get("srclen")),
                dst=_prefix(item.get("dst"), item.get("dstlen")),
                fwmark=fwmark,
                table=table,
                action=RULE_ACTIONS.get(action, action) if action is not None else None,
                iif=item.get("iif"),
                oif=item.get("oif"),
                cilium=is_cilium_ip_rule(fwmark, table, invert),
                invert=invert,
            )
        )
    return rules


async def probe_rules(netns: str | None) -> list[IpRule]:
    v4, v6 = await asyncio.gather(
        ip_json(["-4", "rule", "show"], netns), ip_json(["-6", "rule", "show"], netns)
    )
    return parse_rules(v4, 4) + parse_rules(v6, 6)
