"""lbpool.move: move a MetalLB IPAddressPool / Cilium CiliumLoadBalancerIPPool out of
the pod pool, backed up first.

Which pools move: those overlapping Cilium's pod pool (cilium-config's IPv4 pool,
and the IPv6 one when enabled), or the one named (`name`, e.g. a pool holding a
node's own address). Where to: the input `to`, else the planner's first free
private range (`cidr.first_free`) of the old pool's size, avoiding what is in use
(`avoid`: `cidr suggest`'s list — node networks, services, DNS, per-node CIDRs),
the pod pool, every LB pool and the ranges already chosen. The change replaces
the pool's address list (`spec.addresses`, or `spec.blocks` / the pre-1.15
`spec.cidrs` of Cilium's pool); the plan shows the `kubectl patch` that does the
same, and `object.restore` puts the backup back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import cidr as netmath
from ...cluster import parse
from ...errors import CiliumtuiError
from . import kubeobj
from .base import Action, ActionContext, ActionResult, Param, register

POOL_KINDS = (kubeobj.METALLB_POOL, kubeobj.CILIUM_LB_POOL)


@dataclass(frozen=True)
class Move:
    ref: kubeobj.Ref
    old: list[str]
    new: str
    why: str  # "10.42.200.0/24 overlaps the pod pool 10.42.0.0/16"
    body: dict[str, Any]


def pool_cidrs(kind: kubeobj.Kind, obj: dict[str, Any]) -> list[str]:
    """The pool's ranges as CIDRs (the cluster probe's parsing)."""
    if kind is kubeobj.METALLB_POOL:
        return parse.parse_metallb_pool(obj).cidrs
    return parse.parse_cilium_lb_pool(obj).cidrs


def new_body(kind: kubeobj.Kind, obj: dict[str, Any], new: str) -> dict[str, Any]:
    if kind is kubeobj.METALLB_POOL:
        return {"spec": {"addresses": [new]}}
    spec = obj.get("spec") or {}
    field = "cidrs" if spec.get("cidrs") and not spec.get("blocks") else "blocks"
    return {"spec": {field: [{"cidr": new}]}}


def prefix_for(cidrs: list[netmath.Net]) -> int:
    """The prefix of one block holding as many addresses as the pool (its size)."""
    bits = 32 if cidrs[0].version == 4 else 128
    total = sum(n.num_addresses for n in cidrs if n.version == cidrs[0].version)
    return bits - max(0, math.ceil(math.log2(total)))


def blocks_for(version: int) -> tuple[netmath.Net, ...]:
    if version == 4:
        return tuple(netmath.PRIVATE_BLOCKS)
    from ...cidr import PRIVATE_BLOCKS_V6

    return tuple(PRIVATE_BLOCKS_V6)


def plan_moves(
    pools: list[tuple[kubeobj.Ref, dict[str, Any]]],
    pod_pools: list[str],
    avoid: list[str],
    *,
    name: str | None = None,
    to: str | None = None,
) -> tuple[list[Move], list[str]]:
    """(moves, notes): pure, from the pools as read, the pod pool and what is in use."""
    pod = [n for n in map(netmath.try_net, pod_pools) if n is not None]
    taken: list[netmath.Net] = [*pod, *(n for n in map(netmath.try_net, avoid) if n is not None)]
    taken += [
        n
        for ref, obj in pools
        for n in map(netmath.try_net, pool_cidrs(ref.kind, obj))
        if n is not None
    ]
    moves: list[Move] = []
    notes: list[str] = []
    chosen = [(ref, obj) for ref, obj in pools if name is None or ref.name == name]
    if name is not None and not chosen:
        raise CiliumtuiError(f"no load-balancer pool named {name!r}")
    if to and len(chosen) > 1:
        raise CiliumtuiError(f"to={to} names one range: choose the pool with name=")
    for ref, obj in chosen:
        mine = [n for n in map(netmath.try_net, pool_cidrs(ref.kind, obj)) if n is not None]
        if not mine:
            notes.append(f"# {ref.label}: no addresses, left alone")
            continue
        hits = [
            f"{m} overlaps the pod pool {p}" for m in mine for p in pod if netmath.overlaps(m, p)
        ]
        if not hits and name is None:
            continue
        if to:
            target = netmath.try_net(to)
            if target is None:
                raise CiliumtuiError(f"to={to!r} is not a CIDR")
            # An operator's range may lie in the node LAN (MetalLB L2 needs that): only
            # the pod pool and the other LB pools rule it out, as the check does.
            lbs = [
                n
                for r, o in pools
                if r != ref
                for n in map(netmath.try_net, pool_cidrs(r.kind, o))
                if n is not None
            ]
            clash = sorted({str(t) for t in [*pod, *lbs] if netmath.overlaps(t, target)})
            if clash:
                raise CiliumtuiError(f"{target} overlaps {', '.join(clash)}: choose a free range")
        else:
            prefix = prefix_for(mine)
            target = netmath.first_free(prefix, taken, blocks_for(mine[0].version))
            if target is None:
                raise CiliumtuiError(f"no free private /{prefix} for {ref.label}")
        taken.append(target)
        why = "; ".join(hits) or "named to move"
        moves.append(
            Move(
                ref, [str(m) for m in mine], str(target), why, new_body(ref.kind, obj, str(target))
            )
        )
    if not moves and not notes:
        notes.append("# no load-balancer pool overlaps the pod pool")
    return moves, notes


async def _config_pools(ctx: ActionContext) -> list[str]:
    try:
        _ref, cm = await kubeobj.get(ctx, kubeobj.CONFIGMAP, "kube-system", "cilium-config")
    except CiliumtuiError as exc:
        if str(exc).startswith("not found"):
            return []
        raise
    cfg = parse.parse_cilium_config(cm.get("data"))
    return [*cfg.pool, *(cfg.pool_v6 if cfg.enable_ipv6 else [])]


@register
class LbPoolMove(Action):
    name = "lbpool.move"
    summary = (
        "move a MetalLB IPAddressPool / CiliumLoadBalancerIPPool out of the pod pool to a "
        "free range of its size; backs the pool up first"
    )
    mutates = True
    default_risk = "high"
    requires = frozenset({"apiserver"})
    params = {
        "name": Param("str", help="only this pool (default: every pool that overlaps)"),
        "to": Param("str", help="the new range (default: a free private range of the same size)"),
        "avoid": Param("list", help="ranges in use (`cidr suggest`'s avoided list)"),
    }

    async def _moves(self, ctx: ActionContext) -> tuple[list[Move], list[str]]:
        pools: list[tuple[kubeobj.Ref, dict[str, Any]]] = []
        for kind in POOL_KINDS:
            pools += await kubeobj.list_all(ctx, kind)
        p = ctx.params
        return plan_moves(
            pools,
            await _config_pools(ctx),
            [str(a) for a in p.get("avoid") or []],
            name=p.get("name") or None,
            to=p.get("to") or None,
        )

    async def plan(self, ctx: ActionContext) -> list[str]:
        moves, notes = await self._moves(ctx)
        lines = list(notes)
        for m in moves:
            lines.append(f"# {m.ref.label}: {', '.join(m.old)} -> {m.new} ({m.why})")
            if m.ref.kind is kubeobj.METALLB_POOL:
                lines.append(
                    "# MetalLB in L2 mode announces these addresses on the node LAN: for that, "
                    "choose a free range of the LAN with --input to=CIDR"
                )
            lines.append(kubeobj.kubectl_patch(m.ref, m.body))
        return lines

    async def backup(self, ctx: ActionContext) -> list[Path]:
        moves, _ = await self._moves(ctx)
        out = []
        for m in moves:
            ref, obj = await kubeobj.get(ctx, m.ref.kind, m.ref.namespace, m.ref.name)
            out.append(kubeobj.save(ctx, ref, obj))
        return out

    async def run(self, ctx: ActionContext) -> ActionResult:
        moves, _ = await self._moves(ctx)
        moved: list[dict[str, Any]] = []
        done: list[Move] = []
        for m in moves:
            try:
                await kubeobj.patch(ctx, m.ref, m.body)
            except CiliumtuiError as exc:
                # One step, all or nothing: the pools moved so far go back (the runner's
                # rollback covers the steps before this one, not this one's half).
                undone = await self._put_back(ctx, done)
                raise CiliumtuiError(f"{m.ref.label}: {exc}; {undone}") from None
            done.append(m)
            ctx.out(f"{m.ref.label}: {', '.join(m.old)} -> {m.new}")
            moved.append({"pool": m.ref.label, "from": m.old, "to": m.new})
        return ActionResult(ok=True, changed=bool(moved), data={"moved": moved})

    async def _put_back(self, ctx: ActionContext, done: list[Move]) -> str:
        if not done:
            return "nothing was changed"
        back = []
        for m in done:
            saved = ctx.backup_dir / kubeobj.backup_name(m.ref)
            try:
                ref, obj = kubeobj.load_backup(saved)
                await kubeobj.patch(ctx, ref, kubeobj.restore_body(ref, obj), "json")
                back.append(m.ref.label)
            except CiliumtuiError as exc:
                ctx.out(f"could not put {m.ref.label} back: {exc} (backup {saved})")
        return f"put back: {', '.join(back) or 'none'}"
