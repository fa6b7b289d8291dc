"""Overlap arithmetic over IP networks: pure functions, no I/O.

Used by the checks (pool vs node network, service CIDR, DNS, LB pools) and by
`ciliumtui cidr check/suggest`. Networks of different families never overlap.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
Addr = ipaddress.IPv4Address | ipaddress.IPv6Address

# Where `suggest` looks, in order of preference (RFC 1918, then RFC 6598 shared space).
# 10/8 first because operators expect pod pools there; /16 blocks keep it tidy.
PRIVATE_BLOCKS: tuple[ipaddress.IPv4Network, ...] = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv4Network("100.64.0.0/10"),
)


def net(text: str) -> Net:
    """'10.0.3.7/22' → 10.0.0.0/22; a bare address becomes a host network (/32, /128)."""
    return ipaddress.ip_network(text.strip(), strict=False)


def try_net(text: str | None) -> Net | None:
    """Like `net`, None for anything unparsable (probe data is not trusted to be clean)."""
    if not text:
        return None
    try:
        return net(text)
    except ValueError:
        return None


def overlaps(a: Net, b: Net) -> bool:
    """True when the two networks share at least one address."""
    return a.version == b.version and a.overlaps(b)


def contains(outer: Net, inner: Net) -> bool:
    """True when every address of `inner` lies in `outer`."""
    return outer.version == inner.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def contains_addr(outer: Net, addr: Addr) -> bool:
    return outer.version == addr.version and addr in outer


def range_to_cidrs(first: str, last: str) -> list[Net]:
    """'192.168.1.240'-'192.168.1.250' → the minimal list of CIDRs covering exactly it."""
    a, b = ipaddress.ip_address(first.strip()), ipaddress.ip_address(last.strip())
    if a.version != b.version:
        raise ValueError(f"{first}-{last}: mixed address families")
    if int(b) < int(a):
        raise ValueError(f"{first}-{last}: range ends before it starts")
    return list(ipaddress.summarize_address_range(a, b))  # type: ignore[arg-type]


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
    blocks: Sequence[ipaddress.IPv4Network] = PRIVATE_BLOCKS,
) -> ipaddress.IPv4Network | None:
    """The lowest aligned /prefix block in `blocks` (in order) that overlaps nothing in `avoid`.

    Jumps past each conflicting network instead of stepping block by block, so the
    cost is bounded by the number of conflicts, not by the size of the search space.
    """
    if not 0 <= prefix <= 32:
        raise ValueError(f"prefix /{prefix}: must be between 0 and 32")
    taken = sorted((a for a in avoid if a.version == 4), key=lambda a: int(a.network_address))
    size = 1 << (32 - prefix)
    for block in blocks:
        if prefix < block.prefixlen:
            continue  # a /12 cannot fit in 192.168.0.0/16
        start, end = int(block.network_address), int(block.broadcast_address)
        addr = start
        while addr + size - 1 <= end:
            cand = ipaddress.IPv4Network((addr, prefix))
            clash = [t for t in taken if t.overlaps(cand)]
            if not clash:
                return cand
            addr = _align_up(max(int(t.broadcast_address) for t in clash) + 1, size)
    return None
