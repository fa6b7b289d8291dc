"""Address-space checks: the pod pool against everything else in use.

Pool overlaps (node network, service CIDR / cluster DNS, upstream DNS, LB pools)
and stale CiliumNode pod CIDRs are the overlaps of `address.address_facts` —
the same facts the address-space panel draws — grouped by finding id. Also node
IP presence and per-node capacity.
"""

from __future__ import annotations

import ipaddress

from .. import cidr as netmath
from ..model import Finding, Snapshot
from .address import address_facts
from .catalogue import METALLB_POOLS, finding
from .facts import cluster_ok, k3s

_MAX_LINES = 12  # evidence stays readable; the rest is counted


def _cap(lines: list[str]) -> list[str]:
    if len(lines) <= _MAX_LINES:
        return lines
    return lines[:_MAX_LINES] + [f"... and {len(lines) - _MAX_LINES} more"]


def _overlap_finding(snap: Snapshot, fid: str, tail: list[str] | None = None) -> list[Finding]:
    lines = address_facts(snap).lines(fid)
    if not lines:
        return []
    return [finding(fid, _cap(lines) + (tail or []))]


def pod_cidr_overlaps_node_network(snap: Snapshot) -> list[Finding]:
    return _overlap_finding(snap, "pod-cidr-overlaps-node-network")


def pod_cidr_overlaps_service_cidr(snap: Snapshot) -> list[Finding]:
    return _overlap_finding(snap, "pod-cidr-overlaps-service-cidr")


def pod_cidr_overlaps_upstream_dns(snap: Snapshot) -> list[Finding]:
    return _overlap_finding(
        snap,
        "pod-cidr-overlaps-upstream-dns",
        ["CoreDNS forwards public names there; pod routes capture the replies"],
    )


def lb_pool_overlaps_pod_cidr(snap: Snapshot) -> list[Finding]:
    found = _overlap_finding(snap, "lb-pool-overlaps-pod-cidr")
    cl = cluster_ok(snap)
    if found and cl is not None and cl.lb_pools:
        # The docs of the pool's own kind: MetalLB pools are not Cilium LB-IPAM's.
        hit = {o.subject.name for o in address_facts(snap).overlaps if o.finding == found[0].id}
        kinds = {lb.kind for lb in cl.lb_pools if f"lb {lb.name}" in hit}
        if kinds == {"IPAddressPool"}:
            found[0].docs = METALLB_POOLS
    return found


def ciliumnode_cidr_stale(snap: Snapshot) -> list[Finding]:
    return _overlap_finding(
        snap,
        "ciliumnode-cidr-stale",
        [
            "changing the pool does not move existing nodes: delete each stale CiliumNode, "
            "then restart its cilium pod and the pods on it"
        ],
    )


def node_ip_missing(snap: Snapshot) -> list[Finding]:
    cl = cluster_ok(snap)
    if cl is None or cl.node is None:
        return []
    node = cl.node
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
    cl, k = cluster_ok(snap), k3s(snap)
    max_pods, src = None, ""
    if cl is not None and cl.node is not None and cl.node.allocatable_pods:
        max_pods, src = cl.node.allocatable_pods, f"Node {cl.node.name} allocatable pods"
    elif k is not None and k.max_pods:
        max_pods, src = k.max_pods, "k3s kubelet-arg max-pods"
    if not max_pods:
        return []
    # The per-node CIDR: this node's CiliumNode, else the configured mask size.
    prefix, where = None, ""
    if cl is not None:
        mine = next((cn for cn in cl.ciliumnodes if cn.name == snap.node_name), None)
        v4 = [n for n in netmath.nets(mine.pod_cidrs) if n.version == 4] if mine else []
        if mine is not None and v4:
            prefix, where = v4[0].prefixlen, f"CiliumNode {mine.name} podCIDR {v4[0]}"
        elif cl.config is not None and cl.config.mask_size:
            prefix, where = (
                cl.config.mask_size,
                f"cluster-pool-ipv4-mask-size {cl.config.mask_size}",
            )
    if prefix is None or not 0 <= prefix <= 32:
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
