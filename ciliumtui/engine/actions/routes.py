"""iproute.cilium-cleanup: the ip rule `fwmark 0x200/0xf00 lookup 2004` and tables 2004/2005.

Reads `ip -j rule` / `ip -j route show table N` first and deletes only what is
there, in one `ip -batch` per family.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ... import netns
from ...errors import CiliumtuiError
from ...ownership import CILIUM_TABLES, is_cilium_ip_rule
from .base import Action, ActionContext, ActionResult, register
from .links import ip_json


def _fwmark(rule: dict[str, Any]) -> str | None:
    mark = rule.get("fwmark")
    if mark is None:
        return None
    mask = rule.get("fwmask")
    return f"{mark}/{mask}" if mask else str(mark)


async def find(ns: str | None) -> dict[int, list[str]]:
    """family -> `ip -batch` lines that remove Cilium's rules and routes."""
    out: dict[int, list[str]] = {}
    for fam in (4, 6):
        flag = "-4" if fam == 4 else "-6"
        lines = []
        for rule in await ip_json(ns, flag, "rule", "show"):
            if is_cilium_ip_rule(_fwmark(rule), str(rule.get("table"))):
                lines.append(
                    f"rule del priority {rule.get('priority')} fwmark {_fwmark(rule)} table {rule.get('table')}"
                )
        # One dump of every table (asking for a table that does not exist is an error).
        tables = {
            str(r.get("table")) for r in await ip_json(ns, flag, "route", "show", "table", "all")
        }
        for table in sorted(CILIUM_TABLES & tables):
            lines.append(f"route flush table {table}")
        if lines:
            out[fam] = lines
    return out


@register
class CiliumRouteCleanup(Action):
    name = "iproute.cilium-cleanup"
    requires = frozenset({"ip"})
    summary = (
        "remove Cilium's ip rule (fwmark 0x200/0xf00 lookup 2004) and routes in tables 2004/2005"
    )
    mutates = True
    needs_root = True
    default_risk = "high"
    params = {}

    async def plan(self, ctx: ActionContext) -> list[str]:
        if ctx.opts.recorded_node:  # training without root: the node is a JSON file
            from ...training import recorded

            return recorded.plan_ip_state(ctx.opts.recorded_node)
        found = await find(ctx.netns)
        if not found:
            return ["no Cilium ip rule or table 2004/2005 routes present"]
        return [f"ip -{fam} {line}" for fam, lines in found.items() for line in lines]

    async def backup(self, ctx: ActionContext) -> list[Path]:
        if ctx.opts.recorded_node:
            from ...training import recorded

            return recorded.backup_file(ctx.opts.recorded_node, ctx.backup_dir)
        ctx.backup_dir.mkdir(parents=True, exist_ok=True)
        data = {}
        for fam in ("-4", "-6"):
            data[f"rules{fam}"] = await ip_json(ctx.netns, fam, "rule", "show")
            data[f"routes{fam}"] = await ip_json(ctx.netns, fam, "route", "show", "table", "all")
        path = ctx.backup_dir / "ip-rules-routes.json"
        path.write_text(json.dumps(data, indent=1))
        return [path]

    async def run(self, ctx: ActionContext) -> ActionResult:
        if ctx.opts.recorded_node:
            from ...training import recorded

            return recorded.run_ip_state(ctx.opts.recorded_node, ctx.out)
        found = await find(ctx.netns)
        for fam, lines in found.items():
            # -force: keep going when an entry vanished meanwhile; what remains is checked below.
            await netns.run(
                ["ip", f"-{fam}", "-force", "-batch", "-"],
                netns=ctx.netns,
                stdin=("\n".join(lines) + "\n").encode(),
                timeout=30,
            )
            for line in lines:
                ctx.out(f"ip -{fam} {line}")
        left = await find(ctx.netns)
        if left:
            rest = "; ".join(f"ip -{fam} {x}" for fam, xs in left.items() for x in xs)
            raise CiliumtuiError(f"still present after cleanup: {rest}")
        if not found:
            ctx.out("no Cilium ip rule or table 2004/2005 routes present")
        return ActionResult(
            ok=True,
            rc=0,
            changed=bool(found),
            data={"removed": sum(len(v) for v in found.values())},
        )
