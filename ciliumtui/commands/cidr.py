"""`ciliumtui cidr check [POOL...] [--json]` and `ciliumtui cidr suggest [--prefix N] [--json]`.

The field notes' first rule: before installing Cilium, make sure the pod pool
overlaps nothing in use — node addresses, non-Cilium routes, the service CIDR and
cluster DNS, the node's upstream resolvers, load-balancer pools. `check` exits 0
when clean and 2 when the pool overlaps; `suggest` proposes a free private range
and the exact helm line. The planning itself is pure (`plan_*`); only `main` probes.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from .. import aio, cidr
from ..checks.facts import Space, cluster_dns, node_networks, relation, service_cidrs
from ..errors import CiliumtuiError
from ..model import Snapshot
from ..options import Options

CHART_DEFAULT = "10.0.0.0/8"  # ipam.operator.clusterPoolIPv4PodCIDRList, charts 1.14–1.19
HELM_LINE = (
    "helm upgrade cilium cilium/cilium -n kube-system --reuse-values "
    "--set ipam.operator.clusterPoolIPv4PodCIDRList[0]={cidr}"
)


@dataclass
class InUse:
    kind: str  # node-network | service-cidr | cluster-dns | upstream-dns | lb-pool | pod-cidr
    space: Space


def in_use(snap: Snapshot) -> list[InUse]:
    """Everything a pod pool must not overlap, as the snapshot saw it."""
    out = [InUse("node-network", s) for s in node_networks(snap)]
    out += [InUse("service-cidr", s) for s in service_cidrs(snap)]
    dns = cluster_dns(snap)
    if dns is not None:
        out.append(InUse("cluster-dns", dns))
    for text in snap.node.host.nameservers if snap.node else []:
        n = cidr.try_net(text)
        if n is not None:
            out.append(
                InUse(
                    "upstream-dns",
                    Space(n, f"nameserver {n.network_address} (resolv.conf)", n.network_address),
                )
            )
    if snap.cluster is not None:
        for lb in snap.cluster.lb_pools:
            for n in map(cidr.try_net, lb.cidrs):
                if n is not None:
                    out.append(InUse("lb-pool", Space(n, f"{lb.kind} {lb.name} {n}")))
    return out


def configured_pool(snap: Snapshot) -> tuple[list[cidr.Net], str]:
    """The pool Cilium is configured with, else the chart's default (what a fresh install gets)."""
    cl = snap.cluster
    if cl is not None and cl.reachable and cl.config is not None and cl.config.pool:
        nets = [n for n in map(cidr.try_net, cl.config.pool) if n is not None]
        if nets:
            return nets, "cilium-config cluster-pool-ipv4-cidr"
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
    """Every overlap of `pools` with something in use, with a line a human can verify."""
    conflicts = []
    for p in pools:
        pool = Space(p, f"pool {p}")
        for u in in_use(snap):
            if cidr.overlaps(u.space.net, p):
                conflicts.append(
                    {
                        "pool": str(p),
                        "kind": u.kind,
                        "with": str(u.space.net),
                        "evidence": relation(u.space, pool),
                    }
                )
    return conflicts


def plan_suggest(snap: Snapshot, prefix: int) -> tuple[cidr.Net | None, list[cidr.Net]]:
    """The first free private /prefix avoiding everything in use, the current pool and
    every per-node CIDR already handed out (a new pool must not mix with the old one)."""
    avoid = [u.space.net for u in in_use(snap)]
    cl = snap.cluster
    if cl is not None and cl.reachable:
        if cl.config is not None:
            avoid += [n for n in map(cidr.try_net, cl.config.pool) if n is not None]
        avoid += [
            n for cn in cl.ciliumnodes for n in map(cidr.try_net, cn.pod_cidrs) if n is not None
        ]
    return cidr.first_free(prefix, avoid), avoid


async def _gather(opts: Options) -> Snapshot:
    import asyncio
    from datetime import datetime, timezone

    from ..cluster import collect_cluster
    from ..collect import collect_node_only

    probes: dict = {}
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
        return aio.run(_gather(opts))
    except ImportError as exc:  # a probe module missing from this install
        raise CiliumtuiError(f"cannot probe: {exc}") from None


def _print(data: dict[str, Any], text: str, as_json: bool) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n" if as_json else text)


def check(pool_args: list[str], snap: Snapshot, as_json: bool) -> int:
    if pool_args:
        pools, source = parse_pools(pool_args), "command line"
    else:
        pools, source = configured_pool(snap)
    conflicts = plan_check(pools, snap)
    data = {
        "pools": [str(p) for p in pools],
        "source": source,
        "ok": not conflicts,
        "conflicts": conflicts,
    }
    lines = [f"pool {' '.join(map(str, pools))} ({source})"]
    if conflicts:
        lines.append(
            f"✗ overlaps {len(conflicts)} range{'s' if len(conflicts) != 1 else ''} in use:"
        )
        lines += [f"    {c['evidence']}" for c in conflicts]
        lines.append("a free range: ciliumtui cidr suggest")
    else:
        lines.append("✓ overlaps nothing in use (node addresses, routes, services, DNS, LB pools)")
    _print(data, "\n".join(lines) + "\n", as_json)
    return 2 if conflicts else 0


def check_prefix(prefix: int) -> None:
    if not 8 <= prefix <= 28:
        raise CiliumtuiError(
            f"--prefix {prefix}: choose between 8 and 28 (a pool holds per-node CIDRs)"
        )


def suggest(prefix: int, snap: Snapshot, as_json: bool) -> int:
    check_prefix(prefix)
    found, avoid = plan_suggest(snap, prefix)
    if found is None:
        raise CiliumtuiError(
            f"no free private /{prefix} left: every candidate overlaps something in use"
        )
    helm = HELM_LINE.format(cidr=found)
    data = {"cidr": str(found), "helm": helm, "avoided": sorted({str(a) for a in avoid})}
    text = f"free pool: {found}\n{helm}\n"
    _print(data, text, as_json)
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
