"""Overlap arithmetic over IP networks and the pod-pool planner: pure functions, no I/O.

Used by the checks (pool vs node network, service CIDR, DNS, LB pools), by
`ciliumtui cidr check/suggest` and by the `helm.suggest` action. Both families:
networks of different families never overlap, and a free range is looked for in
the family asked. What is in use comes in as data (`InUse`, built from a
Snapshot by `checks.address`), so this module knows nothing of snapshots.
"""

from __future__ import annotations

import functools
import ipaddress
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import field
from typing import Any

from .record import record

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
Addr = ipaddress.IPv4Address | ipaddress.IPv6Address

# Where `suggest` looks, in order of preference (RFC 1918, then RFC 6598 shared space).
# 10/8 first because operators expect pod pools there; /16 blocks keep it tidy.
PRIVATE_BLOCKS: tuple[Net, ...] = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv4Network("100.64.0.0/10"),
)
# IPv6: unique local addresses (RFC 4193). Home routers hand out fd00::/64, which
# holds the chart's default fd00::/104, so the search jumps past whatever is in use.
PRIVATE_BLOCKS_V6: tuple[Net, ...] = (ipaddress.IPv6Network("fd00::/8"),)

# The chart's defaults (ipam.operator.clusterPoolIPv{4,6}PodCIDRList, charts 1.14–1.19).
CHART_DEFAULT = "10.0.0.0/8"
CHART_DEFAULT_V6 = "fd00::/104"
DEFAULT_PREFIX_V6 = 104  # the chart's size: 2^16 per-node /120s
HELM_KEYS = {
    4: "ipam.operator.clusterPoolIPv4PodCIDRList",
    6: "ipam.operator.clusterPoolIPv6PodCIDRList",
}
HELM_BASE = (
    "helm",
    "upgrade",
    "cilium",
    "cilium/cilium",
    "--namespace",
    "kube-system",
    "--reuse-values",
)


def net(text: str) -> Net:
    """'10.0.3.7/22' → 10.0.0.0/22; a bare address becomes a host network (/32, /128)."""
    return ipaddress.ip_network(text.strip(), strict=False)


def try_net(text: str | None) -> Net | None:
    """Like `net`, None for anything unparsable (probe data is not trusted to be clean)."""
    if not text or not isinstance(text, str):
        return None
    return _parse(text)


@functools.lru_cache(maxsize=1 << 16)
def _parse(text: str) -> Net | None:
    # Cached: a cluster of 5,000 nodes names each per-node CIDR in several places, and
    # parsing costs ~10 µs (networks are immutable, so sharing one object is safe).
    try:
        return net(text)
    except ValueError:
        return None


def split_list(texts: Iterable[str]) -> list[str]:
    """Entries as configs write them: '10.43.0.0/16,2001:cafe:43::/112' → two entries."""
    out: list[str] = []
    for text in texts:
        if isinstance(text, str):
            out += [t for t in text.replace(",", " ").split() if t]
    return out


def nets(texts: Iterable[str]) -> list[Net]:
    """Every parsable network of a (possibly comma-separated) list, in order."""
    return [n for n in map(try_net, split_list(texts)) if n is not None]


def overlaps(a: Net, b: Net) -> bool:
    """True when the two networks share at least one address."""
    if isinstance(a, ipaddress.IPv4Network) and isinstance(b, ipaddress.IPv4Network):
        return a.overlaps(b)
    if isinstance(a, ipaddress.IPv6Network) and isinstance(b, ipaddress.IPv6Network):
        return a.overlaps(b)
    return False


def contains(outer: Net, inner: Net) -> bool:
    """True when every address of `inner` lies in `outer`."""
    if isinstance(outer, ipaddress.IPv4Network) and isinstance(inner, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(outer, ipaddress.IPv6Network) and isinstance(inner, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False


def contains_addr(outer: Net, addr: Addr) -> bool:
    return outer.version == addr.version and addr in outer


def range_to_cidrs(first: str, last: str) -> list[Net]:
    """'192.168.1.240'-'192.168.1.250' → the minimal list of CIDRs covering exactly it."""
    a, b = ipaddress.ip_address(first.strip()), ipaddress.ip_address(last.strip())
    if isinstance(a, ipaddress.IPv4Address) and isinstance(b, ipaddress.IPv4Address):
        if int(b) < int(a):
            raise ValueError(f"{first}-{last}: range ends before it starts")
        return list(ipaddress.summarize_address_range(a, b))
    if isinstance(a, ipaddress.IPv6Address) and isinstance(b, ipaddress.IPv6Address):
        if int(b) < int(a):
            raise ValueError(f"{first}-{last}: range ends before it starts")
        return list(ipaddress.summarize_address_range(a, b))
    raise ValueError(f"{first}-{last}: mixed address families")


def parse_pool_entry(text: str) -> list[Net]:
    """A pool entry as MetalLB/LB-IPAM write it: a CIDR or an 'a-b' range."""
    if "-" in text and "/" not in text:
        first, last = text.split("-", 1)
        return range_to_cidrs(first, last)
    return [net(text)]


def overlapping(pools: Iterable[Net], others: Iterable[Net]) -> list[tuple[Net, Net]]:
    """Every (pool, other) pair that overlaps, in input order."""
    others = list(others)
    return [(p, o) for p in pools for o in others if overlaps(p, o)]


def _align_up(value: int, size: int) -> int:
    return -(-value // size) * size


def first_free(
    prefix: int,
    avoid: Iterable[Net],
    blocks: Sequence[Net] = PRIVATE_BLOCKS,
) -> Net | None:
    """The lowest aligned /prefix block in `blocks` (in order) that overlaps nothing in `avoid`.

    The family is the blocks'. Jumps past each conflicting network instead of
    stepping block by block, so the cost is bounded by the number of conflicts,
    not by the size of the search space (a /104 search in fd00::/8 has 2^96 steps).
    """
    if not blocks:
        return None
    version = blocks[0].version
    bits = 32 if version == 4 else 128
    if not 0 <= prefix <= bits:
        raise ValueError(f"prefix /{prefix}: must be between 0 and {bits}")
    taken = sorted((a for a in avoid if a.version == version), key=lambda a: int(a.network_address))
    size = 1 << (bits - prefix)
    for block in blocks:
        if prefix < block.prefixlen:
            continue  # a /12 cannot fit in 192.168.0.0/16
        start, end = int(block.network_address), int(block.broadcast_address)
        addr = start
        while addr + size - 1 <= end:
            cand = ipaddress.ip_network((addr, prefix))
            clash = [t for t in taken if overlaps(t, cand)]
            if not clash:
                return cand
            addr = _align_up(max(int(t.broadcast_address) for t in clash) + 1, size)
    return None


# ------------------------------------------------------------------ labelled ranges


@record(frozen=True)
class Space:
    """A network with a human label: 'eth0 10.0.3.7/22', 'pool 10.0.0.0/8'."""

    net: Net
    label: str
    addr: Addr | None = None  # a single address in use (interface address, DNS IP)
    short: str | None = None  # a name for a narrow column: "eth0", "route wg0 t52"


@record(frozen=True)
class InUse:
    """Something a pod pool must not overlap.

    kind: node-network | service-cidr | cluster-dns | upstream-dns | lb-pool |
    pool (the current pool) | pod-cidr (a per-node CIDR already handed out).
    """

    kind: str
    space: Space


def relation(thing: Space, pool: Space) -> str:
    """One evidence line: how `thing` sits against `pool`."""
    if contains(pool.net, thing.net):
        return f"{thing.label} lies inside {pool.label}"
    if contains(thing.net, pool.net):
        return f"{pool.label} lies inside {thing.label}"
    return f"{thing.label} overlaps {pool.label}"


# ------------------------------------------------------------------------ planner

# What a new pool is checked against; pool/pod-cidr only matter when suggesting.
CHECKED_KINDS = ("node-network", "service-cidr", "cluster-dns", "upstream-dns", "lb-pool")


def plan_check(pools: Sequence[Net], in_use: Sequence[InUse]) -> list[dict[str, str]]:
    """Every overlap of `pools` with something in use, with a line a human can verify."""
    conflicts = []
    for p in pools:
        pool = Space(p, f"pool {p}")
        for u in in_use:
            if u.kind in CHECKED_KINDS and overlaps(u.space.net, p):
                conflicts.append(
                    {
                        "pool": str(p),
                        "kind": u.kind,
                        "with": str(u.space.net),
                        "evidence": relation(u.space, pool),
                    }
                )
    return conflicts


def helm_argv(v4: Net | None, v6: Net | None = None) -> list[str]:
    """The helm upgrade that sets the pool(s); `{…}` is helm's list syntax (the chart
    wants a list, and `[0]=` would keep any further entries of the old one)."""
    argv = list(HELM_BASE)
    for family, pool in ((4, v4), (6, v6)):
        if pool is not None:
            argv += ["--set", f"{HELM_KEYS[family]}={{{pool}}}"]
    return argv


def shell_line(argv: Sequence[str]) -> str:
    """argv as one line any POSIX shell (bash, zsh, dash) runs unchanged."""
    return shlex.join(argv)


@record(frozen=True)
class Suggestion:
    v4: Net | None
    v6: Net | None = None  # only when IPv6 is in play (dual-stack cluster, v6 node networks)
    avoided: list[Net] = field(default_factory=list)

    @property
    def argv(self) -> list[str]:
        return helm_argv(self.v4, self.v6)

    @property
    def helm(self) -> str:
        return shell_line(self.argv)

    def to_json(self) -> dict[str, Any]:
        return {
            "cidr": str(self.v4) if self.v4 else None,
            "cidr_v6": str(self.v6) if self.v6 else None,
            "helm": self.helm,
            "argv": self.argv,
            "avoided": sorted({str(a) for a in self.avoided}, key=_net_sort_key),
        }


def _net_sort_key(text: str) -> tuple[int, int, int]:
    n = net(text)
    return (n.version, int(n.network_address), n.prefixlen)


def plan_suggest(
    in_use: Sequence[InUse], prefix: int, *, ipv6: bool = False, prefix_v6: int = DEFAULT_PREFIX_V6
) -> Suggestion:
    """The first free private /prefix (and, with ipv6, ULA /prefix_v6) avoiding
    everything in use — the current pool and per-node CIDRs included (a new pool
    must not mix with the old one), and routes of every table (Tailscale's
    100.64.0.0/10 lives in table 52)."""
    avoid = [u.space.net for u in in_use]
    v4 = first_free(prefix, avoid, PRIVATE_BLOCKS)
    v6 = first_free(prefix_v6, avoid, PRIVATE_BLOCKS_V6) if ipv6 else None
    return Suggestion(v4, v6, avoid)
