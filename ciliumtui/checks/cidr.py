"""Address-space checks: the pod pool against everything else in use.

Pool overlaps (node network, service CIDR / cluster DNS, upstream DNS, LB pools),
stale CiliumNode pod CIDRs, node IP presence and per-node capacity.
"""

from __future__ import annotations

import ipaddress

from .. import cidr as netmath
from ..model import Finding, Snapshot
from .catalogue import finding
from .facts import (
    Space,
    cluster_dns,
    cluster_ok,
    k3s,
    node_networks,
    pools,
    relation,
    service_cidrs,
)

_MAX_LINES = 12  # evidence stays readable; the rest is counted


def _cap(lines: list[str]) -> list[str]:
    if len(lines) <= _MAX_LINES:
        return lines
    return lines[:_MAX_LINES] + [f"... and {len(lines) - _MAX_LINES} more"]


def _against_pools(things: list[Space], pool: list[Space]) -> list[str]:
    return [relation(t, p) for p in pool for t in things if netmath.overlaps(t.net, p.net)]


def pod_cidr_overlaps_node_network(snap: Snapshot) -> list[Finding]:
    pool = pools(snap)
    lines = _against_pools(node_networks(snap), pool)
    return [finding("pod-cidr-overlaps-node-network", _cap(lines))] if lines else []


def pod_cidr_overlaps_service_cidr(snap: Snapshot) -> list[Finding]:
    pool = pools(snap)
    things = service_cidrs(snap)
    dns = cluster_dns(snap)
    if dns is not None:
        things.append(dns)
    lines = _against_pools(things, pool)
    return [finding("pod-cidr-overlaps-service-cidr", lines)] if lines else []


def pod_cidr_overlaps_upstream_dns(snap: Snapshot) -> list[Finding]:
    if snap.node is None:
        return []
    ns = []
    for text in snap.node.host.nameservers:
        n = netmath.try_net(text)
        if n is not None and n.num_addresses == 1:
            ns.append(Space(n, f"nameserver {n.network_address} (resolv.conf)", n.network_address))
    lines = _against_pools(ns, pools(snap))
    if lines:
        lines.append("CoreDNS forwards public names there; pod routes capture the replies")
    return [finding("pod-cidr-overlaps-upstream-dns", lines)] if lines else []


def lb_pool_overlaps_pod_cidr(snap: Snapshot) -> list[Finding]:
    """An LB pool must not overlap the pod pool; inside the node's LAN it is normal
    (MetalLB L2), so against the node network only addresses in use count."""
    if not cluster_ok(snap):
        return []
    lines: list[str] = []
    pool = pools(snap)
    in_use = [s for s in node_networks(snap) if s.addr is not None]
    for lb in snap.cluster.lb_pools:  # type: ignore[union-attr]
        for text in lb.cidrs:
            n = netmath.try_net(text)
            if n is None:
                continue
            me = Space(n, f"{lb.kind} {lb.name} {n}")
            lines += [relation(me, p) for p in pool if netmath.overlaps(n, p.net)]
            lines += [
                f"{me.label} contains {s.label.split()[0]}'s address {s.addr}"
                for s in in_use
                if s.addr is not None and netmath.contains_addr(n, s.addr)
            ]
    return [finding("lb-pool-overlaps-pod-cidr", _cap(lines))] if lines else []


def ciliumnode_cidr_stale(snap: Snapshot) -> list[Finding]:
    if not cluster_ok(snap):
        return []
    cl = snap.cluster
    assert cl is not None
    if cl.config is None or not (cl.config.ipam or "cluster-pool").startswith("cluster-pool"):
        return []
    pool = pools(snap)
    if not pool:
        return []
    pool_text = " ".join(str(p.net) for p in pool)
    lines: list[str] = []
    for cn in cl.ciliumnodes:
        for text in cn.pod_cidrs:
            n = netmath.try_net(text)
            if n is None or any(netmath.contains(p.net, n) for p in pool):
                continue
            lines.append(f"CiliumNode {cn.name}: podCIDR {n} lies outside pool {pool_text}")
    if lines:
        lines.append(
            "changing the pool does not move existing nodes: delete each stale CiliumNode, "
            "then restart its cilium pod and the pods on it"
        )
    return [finding("ciliumnode-cidr-stale", _cap(lines))] if lines else []


def node_ip_missing(snap: Snapshot) -> list[Finding]:
    if not cluster_ok(snap) or snap.cluster.node is None:  # type: ignore[union-attr]
        return []
    node = snap.cluster.node  # type: ignore[union-attr]
    if any(t in ("InternalIP", "ExternalIP") for t, _ in node.addresses):
        return []
    have = ", ".join(f"{t}={a}" for t, a in node.addresses) or "none"
    return [
        finding(
            "node-ip-missing",
            [f"Node {node.name} status.addresses: {have} (no InternalIP/ExternalIP)"],
        )
    ]


def _usable(prefixlen: int, version: int = 4) -> int:
    # Cilium hands out every address but the network and broadcast ones, and keeps
    # one for cilium_host (the router) and one for the health endpoint.
    return max(0, (1 << ((32 if version == 4 else 128) - prefixlen)) - 4)


def pod_capacity_exceeds_cidr(snap: Snapshot) -> list[Finding]:
    cl, k = snap.cluster, k3s(snap)
    max_pods, src = None, ""
    if cluster_ok(snap) and cl.node is not None and cl.node.allocatable_pods:  # type: ignore[union-attr]
        max_pods, src = cl.node.allocatable_pods, f"Node {cl.node.name} allocatable pods"  # type: ignore[union-attr]
    elif k is not None and k.max_pods:
        max_pods, src = k.max_pods, "k3s kubelet-arg max-pods"
    if not max_pods:
        return []
    # The per-node CIDR: this node's CiliumNode, else the configured mask size.
    prefix, where = None, ""
    if cluster_ok(snap):
        assert cl is not None
        mine = next((cn for cn in cl.ciliumnodes if cn.name == snap.node_name), None)
        nets = [
            n for n in map(netmath.try_net, mine.pod_cidrs if mine else []) if n and n.version == 4
        ]
        if nets:
            prefix, where = nets[0].prefixlen, f"CiliumNode {mine.name} podCIDR {nets[0]}"  # type: ignore[union-attr]
        elif cl.config is not None and cl.config.mask_size:
            prefix, where = (
                cl.config.mask_size,
                f"cluster-pool-ipv4-mask-size {cl.config.mask_size}",
            )
    if prefix is None:
        return []
    room = _usable(prefix)
    if max_pods <= room:
        return []
    size = ipaddress.IPv4Network(f"0.0.0.0/{prefix}").num_addresses
    return [
        finding(
            "pod-capacity-exceeds-cidr",
            [
                f"{src}: {max_pods} > {room} pod addresses in a /{prefix} ({where}; "
                f"{size} minus network, broadcast, cilium_host and health)",
            ],
        )
    ]


CHECKS = [
    pod_cidr_overlaps_node_network,
    pod_cidr_overlaps_service_cidr,
    pod_cidr_overlaps_upstream_dns,
    lb_pool_overlaps_pod_cidr,
    ciliumnode_cidr_stale,
    node_ip_missing,
    pod_capacity_exceeds_cidr,
]
