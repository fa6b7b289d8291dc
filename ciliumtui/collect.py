"""Take a Snapshot: node, cluster and DNS probes, concurrently where they can be.

Node probes never wait for the apiserver; DNS probes need the kube-dns Service
and CoreDNS pod IPs, so they start once the cluster probes are done.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from .model import ClusterState, DnsState, NodeState, ProbeStatus, Snapshot
from .options import Options


async def collect_node_only(opts: Options, probes: dict[str, ProbeStatus]) -> NodeState:
    from .node import collect_node

    return await collect_node(opts.node_backend, probes)


async def collect_cluster_and_dns(
    opts: Options, probes: dict[str, ProbeStatus]
) -> tuple[ClusterState, DnsState]:
    from .cluster import collect_cluster
    from .dns import collect_dns

    cluster = await collect_cluster(opts, probes)
    dns = await collect_dns(opts, cluster, probes)
    return cluster, dns


async def collect(opts: Options, *, cluster: bool = True) -> Snapshot:
    probes: dict[str, ProbeStatus] = {}
    snap = Snapshot(
        node_name=opts.node_name,
        taken_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        netns=opts.netns,
        host_root=opts.host_root,
    )
    if cluster:
        node, (cl, dns) = await asyncio.gather(
            collect_node_only(opts, probes), collect_cluster_and_dns(opts, probes)
        )
        snap.cluster, snap.dns = cl, dns
    else:
        node = await collect_node_only(opts, probes)
    snap.node = node
    snap.probes = dict(sorted(probes.items()))
    return snap
