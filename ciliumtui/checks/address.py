"""The node's address space, computed once: every range in use and the overlaps
that break things (DESIGN §3: "overlap facts are computed once in checks/ and the
address-space panel draws those facts"; `cidr check/suggest` plans from them too).

`address_facts(snap)` returns the ranges (pool, per-node pod CIDRs, node
networks, service CIDRs, cluster DNS, upstream nameservers, LB pools) and the
overlaps, each tagged with the finding id it makes and its evidence line. The
address checks (checks/cidr.py) are these overlaps grouped by id; nothing else
decides what conflicts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import field

from .. import cidr
from ..cidr import InUse, Space, relation
from ..model import CiliumNodeInfo, Snapshot
from ..record import record
from .facts import (
    cluster_dns,
    cluster_ok,
    configured_pools,
    nameservers,
    node_networks,
    pools,
    service_cidrs,
)

# Range kinds; the names are those of `cidr check --json` ("kind").
POOL = "pool"
POD_CIDR = "pod-cidr"  # a per-node CIDR (CiliumNode spec.ipam.podCIDRs, Node podCIDRs)
NODE_NETWORK = "node-network"
SERVICE_CIDR = "service-cidr"
CLUSTER_DNS = "cluster-dns"
UPSTREAM_DNS = "upstream-dns"
LB_POOL = "lb-pool"
KINDS = (POOL, POD_CIDR, NODE_NETWORK, SERVICE_CIDR, CLUSTER_DNS, UPSTREAM_DNS, LB_POOL)


@record(frozen=True)
class Range:
    kind: str
    name: str  # short, for a narrow column: "eth0", "route wg0", "node k3s-node2"
    space: Space

    @property
    def net(self) -> cidr.Net:
        return self.space.net


@record(frozen=True)
class Overlap:
    finding: str  # the catalogue id this overlap makes
    subject: Range  # what is in the wrong place
    other: Range | None  # what it collides with (None: outside the pool, nothing to hit)
    line: str  # the evidence line


@record
class AddressFacts:
    ranges: list[Range] = field(default_factory=list)
    overlaps: list[Overlap] = field(default_factory=list)

    def lines(self, finding: str) -> list[str]:
        return list(dict.fromkeys(o.line for o in self.overlaps if o.finding == finding))

    def conflicting(self) -> list[Range]:
        """Ranges taking part in an overlap that makes a finding, in range order."""
        hit = {o.subject for o in self.overlaps} | {o.other for o in self.overlaps if o.other}
        return [r for r in self.ranges if r in hit]

    def notes(self, r: Range) -> list[str]:
        """What is wrong with one range, seen from that range."""
        out: list[str] = []
        for o in self.overlaps:
            if o.subject == r:
                out.append(f"overlaps {o.other.space.label}" if o.other else o.line)
            elif o.other == r:
                out.append(f"overlaps {o.subject.space.label}")
        return list(dict.fromkeys(out))


def _node_cidrs(snap: Snapshot) -> list[tuple[str, cidr.Net]]:
    cl = snap.cluster
    if cl is None:
        return []
    out = [(cn.name, n) for cn in cl.ciliumnodes for n in cidr.nets(cn.pod_cidrs)]
    if cl.node is not None and not any(cn.name == cl.node.name for cn in cl.ciliumnodes):
        out += [(cl.node.name, n) for n in cidr.nets(cl.node.pod_cidrs)]
    return out


def stale_pod_cidrs(
    nodes: Sequence[CiliumNodeInfo], pool: Sequence[cidr.Net]
) -> list[tuple[CiliumNodeInfo, cidr.Net, list[cidr.Net]]]:
    """The stale-CiliumNode rule (one place; the `ciliumnode.delete` action calls it):
    each (node, podCIDR, pool of its family) whose podCIDR lies outside every pool CIDR
    of the same family. A family with no pool is not judged — on a dual-stack cluster
    an IPv6 podCIDR is compared with the IPv6 pool, never the IPv4 one."""
    by_family = {v: [p for p in pool if p.version == v] for v in (4, 6)}
    out = []
    for cn in nodes:
        for n in cidr.nets(cn.pod_cidrs):
            family = by_family[n.version]
            if family and not any(cidr.contains(p, n) for p in family):
                out.append((cn, n, family))
    return out


def stale_node_names(nodes: Sequence[CiliumNodeInfo], pool: Sequence[cidr.Net]) -> list[str]:
    """The names of the CiliumNodes `stale_pod_cidrs` finds, once each, in order."""
    return list(dict.fromkeys(cn.name for cn, _, _ in stale_pod_cidrs(nodes, pool)))


# One computation per snapshot while `run_checks` runs (five checks read the facts;
# a node with 10,000 routes parses each route once, not five times). Outside a run
# nothing is cached: tests and the panel mutate snapshots between calls.
_MEMO: ContextVar[dict[int, AddressFacts] | None] = ContextVar("address_facts", default=None)


@contextlib.contextmanager
def memoized() -> Iterator[None]:
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def address_facts(snap: Snapshot) -> AddressFacts:
    """Every range in use and every overlap that makes a finding (IPv4 and IPv6)."""
    memo = _MEMO.get()
    if memo is not None and id(snap) in memo:
        return memo[id(snap)]
    facts = _compute(snap)
    if memo is not None:
        memo[id(snap)] = facts
    return facts


def _compute(snap: Snapshot) -> AddressFacts:
    facts = AddressFacts()
    seen: set[tuple[str, str]] = set()

    def add(kind: str, name: str, space: Space) -> Range:
        r = Range(kind, name, space)
        key = (kind, space.label)  # the label names the network: no network hashing
        if key not in seen:
            seen.add(key)
            facts.ranges.append(r)
        return r

    pool = [add(POOL, "pod pool", s) for s in pools(snap)]
    node_cidr_ranges = [
        add(POD_CIDR, f"node {name}", Space(n, f"node {name} podCIDR {n}"))
        for name, n in _node_cidrs(snap)
    ]
    networks = [add(NODE_NETWORK, s.short or s.label, s) for s in node_networks(snap)]
    services = [add(SERVICE_CIDR, "services", s) for s in service_cidrs(snap)]
    dns = [add(CLUSTER_DNS, "cluster dns", s) for s in cluster_dns(snap)]
    upstream = [add(UPSTREAM_DNS, "upstream dns", s) for s in nameservers(snap)]
    cl = cluster_ok(snap)
    lbs = [
        add(LB_POOL, f"lb {lb.name}", Space(n, f"{lb.kind} {lb.name} {n}"))
        for lb in (cl.lb_pools if cl is not None else [])
        for n in cidr.nets(lb.cidrs)
    ]

    def bounds(n: cidr.Net) -> tuple[int, int, int]:
        return n.version, int(n.network_address), int(n.network_address) + n.num_addresses - 1

    pool_bounds = [(p, bounds(p.net)) for p in pool]

    def against_pool(finding: str, things: list[Range]) -> None:
        # integer bounds: 10,000 routes against the pool in milliseconds
        for p, (pv, plo, phi) in pool_bounds:
            for t in things:
                tv, tlo, thi = bounds(t.net)
                if tv == pv and tlo <= phi and plo <= thi:
                    facts.overlaps.append(Overlap(finding, t, p, relation(t.space, p.space)))

    against_pool("pod-cidr-overlaps-node-network", networks)
    against_pool("pod-cidr-overlaps-service-cidr", services + dns)
    against_pool("pod-cidr-overlaps-upstream-dns", upstream)
    if cl is not None:
        # An LB pool must not overlap the pod pool; inside the node's LAN it is normal
        # (MetalLB L2), so against the node network only addresses in use count.
        in_use = [r for r in networks if r.space.addr is not None]
        for lb in lbs:
            against_pool("lb-pool-overlaps-pod-cidr", [lb])
            for r in in_use:
                addr = r.space.addr
                if addr is not None and cidr.contains_addr(lb.net, addr):
                    line = f"{lb.space.label} contains {r.space.label.split()[0]}'s address {addr}"
                    facts.overlaps.append(Overlap("lb-pool-overlaps-pod-cidr", lb, r, line))
        configured = configured_pools(snap)
        by_net = {(r.name, r.net): r for r in node_cidr_ranges}
        for cn, n, family in stale_pod_cidrs(cl.ciliumnodes, configured):
            text = " ".join(map(str, family))
            line = f"CiliumNode {cn.name}: podCIDR {n} lies outside pool {text}"
            subject = by_net.get((f"node {cn.name}", n)) or Range(POD_CIDR, cn.name, Space(n, line))
            facts.overlaps.append(Overlap("ciliumnode-cidr-stale", subject, None, line))
    return facts


def in_use(snap: Snapshot) -> list[InUse]:
    """Every range in use, as `cidr` plans with it: a pool must not overlap the node
    networks, services, DNS or LB pools (`cidr.CHECKED_KINDS`), and a new pool must
    not reuse the current one or a per-node CIDR already handed out either."""
    return [InUse(r.kind, r.space) for r in address_facts(snap).ranges]


def uses_ipv6(snap: Snapshot) -> bool:
    """IPv6 is in play: the cluster enables it, or (config unknown) the node has
    global/ULA IPv6 networks."""
    cl = cluster_ok(snap)
    if cl is not None and cl.config is not None:
        return cl.config.enable_ipv6
    return any(s.net.version == 6 for s in node_networks(snap))


def suggest_pool(snap: Snapshot, prefix: int) -> cidr.Suggestion:
    """The free pool `ciliumtui cidr suggest`, `helm.suggest` and the TUI's input form
    propose: a private /prefix (and a ULA range when IPv6 is in play) avoiding every
    range in use."""
    return cidr.plan_suggest(in_use(snap), prefix, ipv6=uses_ipv6(snap))
