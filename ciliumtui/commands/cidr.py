"""`ciliumtui cidr check [POOL...] [--json]` and `ciliumtui cidr suggest [--prefix N] [--json]`.

The field notes' first rule: before installing Cilium, make sure the pod pool
overlaps nothing in use — node addresses, non-Cilium routes of every table, the
service CIDR and cluster DNS, the node's upstream resolvers, load-balancer pools,
IPv4 and IPv6. `check` exits 0 when clean and 2 when the pool overlaps; `suggest`
proposes a free private range (and a ULA one when IPv6 is in play) and the exact
helm line. What is in use comes from `checks.address` (the facts the checks and
the address-space panel use); the planning is `ciliumtui.cidr`'s; only `main` probes.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import aio, cidr
from ..checks.address import in_use, suggest_pool, uses_ipv6
from ..checks.facts import configured_pools
from ..errors import CiliumtuiError
from ..model import ProbeStatus, Snapshot
from ..options import Options

CHART_DEFAULT = cidr.CHART_DEFAULT


def configured_pool(snap: Snapshot) -> tuple[list[cidr.Net], str]:
    """The pool(s) Cilium is configured with, else the chart's default (what a fresh
    install gets)."""
    nets = configured_pools(snap)
    if nets:
        families = {n.version for n in nets}
        src = "cilium-config cluster-pool-ipv4-cidr"
        if families == {4, 6}:
            src += " and cluster-pool-ipv6-cidr"
        elif families == {6}:
            src = "cilium-config cluster-pool-ipv6-cidr"
        return nets, src
    cl = snap.cluster
    why = (
        "apiserver unreachable" if cl is not None and not cl.reachable else "no Cilium config found"
    )
    return [cidr.net(CHART_DEFAULT)], f"the chart's default ({why})"


def parse_pools(texts: list[str]) -> list[cidr.Net]:
    out = []
    for t in texts:
        try:
            out.append(cidr.net(t))
        except ValueError:
            raise CiliumtuiError(f"{t!r} is not a CIDR (e.g. 10.42.0.0/16)") from None
    return out


def plan_check(pools: list[cidr.Net], snap: Snapshot) -> list[dict[str, str]]:
    """Every overlap of `pools` with something in use on this node and cluster."""
    return cidr.plan_check(pools, in_use(snap))


def plan_suggest(snap: Snapshot, prefix: int) -> cidr.Suggestion:
    """A free pool avoiding everything in use (see `checks.address.suggest_pool`)."""
    return suggest_pool(snap, prefix)


async def gather(opts: Options) -> Snapshot:
    """Node and cluster probes, concurrently; no DNS queries (planning needs addresses).
    Also what the `helm.suggest` action plans from, in-process."""
    import asyncio
    from datetime import datetime, timezone

    from ..cluster import collect_cluster
    from ..collect import collect_node_only

    probes: dict[str, ProbeStatus] = {}
    node, cluster = await asyncio.gather(
        collect_node_only(opts, probes), collect_cluster(opts, probes)
    )
    return Snapshot(
        node_name=opts.node_name,
        taken_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        netns=opts.netns,
        host_root=opts.host_root,
        node=node,
        cluster=cluster,
        probes=dict(sorted(probes.items())),
    )


def take_snapshot(opts: Options) -> Snapshot:
    """Node and cluster probes, concurrently; no DNS queries (planning needs addresses)."""

    opts = opts.validate()
    try:
        return aio.run(gather(opts))
    except ImportError as exc:  # a probe module missing from this install
        raise CiliumtuiError(f"cannot probe: {exc}") from None


def _print(data: dict[str, Any], text: str, as_json: bool) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n" if as_json else text)


def _v6_default_notes(pools: list[cidr.Net], snap: Snapshot) -> list[dict[str, str]]:
    """With the chart's default pool and IPv6 networks on the node: what the chart's
    IPv6 default (used only with ipv6.enabled=true) would hit — a note, not a failure."""
    if any(p.version == 6 for p in pools) or not uses_ipv6(snap):
        return []
    return cidr.plan_check([cidr.net(cidr.CHART_DEFAULT_V6)], in_use(snap))


def check(pool_args: list[str], snap: Snapshot, as_json: bool) -> int:
    if pool_args:
        pools, source = parse_pools(pool_args), "command line"
    else:
        pools, source = configured_pool(snap)
    conflicts = plan_check(pools, snap)
    default = not pool_args and not configured_pools(snap)  # the chart's default pool
    notes = _v6_default_notes(pools, snap) if default else []
    data: dict[str, Any] = {
        "pools": [str(p) for p in pools],
        "source": source,
        "ok": not conflicts,
        "conflicts": conflicts,
    }
    if notes:
        data["ipv6_default_conflicts"] = notes
    lines = [f"pool {' '.join(map(str, pools))} ({source})"]
    if conflicts:
        lines.append(
            f"✗ overlaps {len(conflicts)} range{'s' if len(conflicts) != 1 else ''} in use:"
        )
        lines += [f"    {c['evidence']}" for c in conflicts]
        lines.append("a free range: ciliumtui cidr suggest")
    else:
        lines.append("✓ overlaps nothing in use (node addresses, routes, services, DNS, LB pools)")
    if notes:
        lines.append(
            f"note: with ipv6.enabled=true the chart's {cidr.CHART_DEFAULT_V6} would overlap:"
        )
        lines += [f"    {c['evidence']}" for c in notes]
    _print(data, "\n".join(lines) + "\n", as_json)
    return 2 if conflicts else 0


def check_prefix(prefix: int) -> None:
    if not 8 <= prefix <= 28:
        raise CiliumtuiError(
            f"--prefix {prefix}: choose between 8 and 28 (a pool holds per-node CIDRs)"
        )


def suggest(prefix: int, snap: Snapshot, as_json: bool) -> int:
    check_prefix(prefix)
    found = plan_suggest(snap, prefix)
    if found.v4 is None:
        raise CiliumtuiError(
            f"no free private /{prefix} left: every candidate overlaps something in use"
        )
    text = f"free pool: {found.v4}\n"
    if found.v6 is not None:
        text += f"free IPv6 pool: {found.v6}\n"
    text += f"{found.helm}\n"
    _print(found.to_json(), text, as_json)
    return 0


def main(args: argparse.Namespace, opts: Options) -> int:
    as_json = bool(getattr(args, "json", False))
    # Bad arguments fail before any probing (and before any apiserver timeout).
    if args.action == "check":
        parse_pools(list(args.pool or []))
    else:
        check_prefix(int(args.prefix))
    snap = take_snapshot(opts)
    if args.action == "check":
        return check(list(args.pool or []), snap, as_json)
    return suggest(int(args.prefix), snap, as_json)
