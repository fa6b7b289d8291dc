"""The scenario follows the pod CIDRs the simulated operator really allocated.

A pool change is fixed the way Cilium's operator does it: the operator gives each
recreated CiliumNode the next free block of the pool that is in cilium-config *now*
(ciliumtui.sim.controller), whatever pool the operator chose. Once the fix lands,
the rest of the simulated world takes its addresses from those CiliumNodes rather
than from values written in the scenario: each node's pod CIDR, this node's
datapath (cilium_host's router IP, its pod CIDR, its peers' routes), the CoreDNS
pod IPs and the pool in the scenario's own cilium config. Addresses keep their
offset inside their block (cilium_host .183, CoreDNS .50), as a restarted agent
and a rescheduled pod would get again.

Pure: scenario and allocations in, a new scenario out.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


def _net(text: Any) -> IPNet | None:
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        return None


def _moved(ip: Any, old: IPNet | None, new: IPNet | None) -> str | None:
    """`ip` at the same offset in `new` when it lies in `old` (None otherwise)."""
    if old is None or new is None:
        return None
    try:
        addr = ipaddress.ip_address(str(ip))
    except ValueError:
        return None
    if addr.version != old.version or addr not in old or new.version != old.version:
        return None
    offset = int(addr) - int(old.network_address)
    if offset >= new.num_addresses:
        return None
    return str(new.network_address + offset)


def follow_allocations(
    scenario: dict[str, Any], allocated: dict[str, str], pool: str | None = None
) -> dict[str, Any]:
    """`scenario` with its addresses moved into the blocks in `allocated`
    ({node name: its CiliumNode's first pod CIDR}); `pool`: cilium-config's pool now.

    A node whose allocation equals its pod CIDR (or has none) keeps everything."""
    out = copy.deepcopy(scenario)
    cluster = out.setdefault("cluster", {})
    moves: list[tuple[IPNet, IPNet]] = []  # (old block, new block)
    by_ip: dict[str, tuple[IPNet, IPNet]] = {}  # node IP -> its move
    for node in cluster.get("nodes") or []:
        new = _net(allocated.get(str(node.get("name")), ""))
        # The datapath may carry the CiliumNode's (stale) block rather than the Node's.
        olds = [n for n in (_net(node.get("cilium_pod_cidr")), _net(node.get("pod_cidr"))) if n]
        if new is None or not olds or all(old == new for old in olds):
            continue
        node["pod_cidr"] = str(new)
        node.pop("cilium_pod_cidr", None)  # the CiliumNode now says what the node says
        for old in dict.fromkeys(olds):
            if old != new:
                moves.append((old, new))
                if node.get("internal_ip"):
                    by_ip.setdefault(str(node["internal_ip"]), (old, new))
    if pool:
        cilium = cluster.setdefault("cilium", {})
        cilium["config"] = {**(cilium.get("config") or {}), "cluster-pool-ipv4-cidr": pool}
    if not moves:
        return out

    def move(ip: Any) -> Any:
        for old, new in moves:
            moved = _moved(ip, old, new)
            if moved is not None:
                return moved
        return ip

    cil = (out.get("network") or {}).get("cilium")
    if isinstance(cil, dict):
        old_cidr = _net(cil.get("pod_cidr"))
        mine = next(((o, n) for o, n in moves if o == old_cidr), None)
        if mine is not None:
            cil["pod_cidr"] = str(mine[1])
            if cil.get("host_ip"):
                cil["host_ip"] = _moved(cil["host_ip"], *mine) or cil["host_ip"]
        for peer in cil.get("peers") or []:
            peer_cidr = _net(peer.get("pod_cidr"))
            peer_move = next(
                ((o, n) for o, n in moves if o == peer_cidr),
                by_ip.get(str(peer.get("node_ip"))),
            )
            if peer_move is not None and peer_cidr == peer_move[0]:
                peer["pod_cidr"] = str(peer_move[1])
    coredns = cluster.get("coredns")
    if isinstance(coredns, dict) and coredns.get("ips"):
        coredns["ips"] = [move(ip) for ip in coredns["ips"]]
    for pod in cluster.get("pods") or []:
        if pod.get("ip"):
            pod["ip"] = move(pod["ip"])
    return out
