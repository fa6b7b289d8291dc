"""Take a Snapshot: node, cluster and DNS probes, concurrently where they can be.

Node probes never wait for the apiserver. The DNS probe starts with the
collection too (the node's own resolvers and the k3s config's cluster DNS IP
need no apiserver) and finishes once the cluster probes told it the kube-dns
Service and CoreDNS pods. The cluster side — kubeconfig, exec plugin, reads and
the DNS queries that depend on them — shares one deadline, counted from the
process's own start (ciliumtui.cluster.deadline.Deadline.for_command), so
`diagnose` ends within --timeout + 1 s whatever the apiserver does.
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
    from .cluster.deadline import Deadline
    from .dns import DnsProbe

    deadline = Deadline.for_command(opts)
    dns = DnsProbe(opts, probes, deadline)
    try:
        cluster = await collect_cluster(opts, probes, deadline)
    except BaseException:
        dns.cancel()
        raise
    return cluster, await dns.finish(cluster)


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
