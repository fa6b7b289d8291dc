"""pool.plan: which pod pool(s) pod-cidr-change sets, per family, before anything
changes — so the plan (and a dry run) shows the real change.

IPv4 and IPv6 alike: the pool the operator gives (checked: it must overlap
nothing in use), else — when the configured pool overlaps something in use — the
planner's suggestion (`ciliumtui cidr suggest`, captured by the playbook's
helm.suggest step), else unchanged (None): a pool that overlaps nothing stays,
and a dual-stack cluster's IPv6 pool moves only when it is the one in the way.
What overlaps is `ciliumtui cidr check`'s answer (commands.cidr.plan_check, the
checks' facts).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ... import cidr as netmath
from ...errors import CiliumtuiError
from .base import Action, ActionContext, ActionResult, Param, register

FAMILY = {4: "IPv4", 6: "IPv6"}


def choose(
    family: int,
    configured: list[netmath.Net],
    conflicts: list[dict[str, str]],
    given: str | None,
    suggested: str | None,
) -> tuple[str | None, list[str]]:
    """(the new pool of this family or None when it stays, lines saying why)."""
    name = FAMILY[family]
    mine = [n for n in configured if n.version == family]
    shown = " ".join(map(str, mine)) or "none"
    lines = [f"{name} pool {shown}: {c['evidence']}" for c in conflicts]
    if given and [str(n) for n in mine] == [str(netmath.net(given))]:
        lines.append(f"{name} pool {shown}: kept (the pool given is the one configured)")
        return None, lines
    if given:
        lines.append(f"new {name} pool: {given} (given)")
        return given, lines
    if not mine:
        return None, lines
    if not conflicts:
        lines.append(f"{name} pool {shown} overlaps nothing in use: kept")
        return None, lines
    if not suggested:
        raise CiliumtuiError(
            f"the {name} pool {shown} overlaps what is in use and no free range was found: "
            f"give one with --input pool{'_v6' if family == 6 else ''}=CIDR"
        )
    lines.append(f"new {name} pool: {suggested} (the suggested free range)")
    return suggested, lines


@register
class PoolPlan(Action):
    name = "pool.plan"
    summary = "the pod pool(s) to set: given, or suggested when the configured one overlaps something in use, else unchanged (per family)"
    params = {
        "pool": Param("str", help="the IPv4 pool the operator gave"),
        "pool_v6": Param("str", help="the IPv6 pool the operator gave"),
        "suggested": Param("str", help="the planner's free IPv4 range"),
        "suggested_v6": Param("str", help="the planner's free IPv6 range"),
    }

    async def run(self, ctx: ActionContext) -> ActionResult:
        from ...commands.cidr import configured_pool, parse_pools, plan_check, take_snapshot

        p = ctx.params
        given = {4: p.get("pool") or None, 6: p.get("pool_v6") or None}
        for family, text in given.items():
            if text:
                (n,) = parse_pools([text])
                if n.version != family:
                    raise CiliumtuiError(f"{text} is not an {FAMILY[family]} CIDR")
        snap = await asyncio.to_thread(take_snapshot, ctx.opts)
        configured, source = configured_pool(snap)
        out: dict[str, Any] = {"source": source}
        for family, suggested in ((4, p.get("suggested")), (6, p.get("suggested_v6"))):
            text = given[family]
            if text:
                bad = plan_check(parse_pools([text]), snap)
                if bad:
                    raise CiliumtuiError(
                        f"{text} overlaps what is in use ({bad[0]['evidence']}): choose another "
                        "(ciliumtui cidr suggest)"
                    )
            mine = [n for n in configured if n.version == family]
            new, lines = choose(
                family, configured, plan_check(mine, snap) if mine else [], text, suggested or None
            )
            for line in lines:
                ctx.out(line)
            out["v4" if family == 4 else "v6"] = new
        if not out["v4"] and not out["v6"]:
            ctx.out("the pool stays: only CiliumNodes outside it are recreated")
        return ActionResult(ok=True, data=out)
