"""Property tests for the overlap arithmetic (ciliumtui/cidr.py)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ciliumtui import cidr

v4 = st.builds(
    lambda a, p: ipaddress.IPv4Network((a, p), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
# Networks near the private blocks, so suggestions actually have to dodge them.
private = st.builds(
    lambda blk, off, p: ipaddress.IPv4Network(
        (int(blk.network_address) + off % blk.num_addresses, max(p, blk.prefixlen)), strict=False
    ),
    st.sampled_from(cidr.PRIVATE_BLOCKS),
    st.integers(0, 2**24),
    st.integers(6, 30),
)


def _span(n):
    return int(n.network_address), int(n.broadcast_address)


@given(v4, v4)
def test_overlaps_is_interval_intersection_and_symmetric(a, b):
    (a0, a1), (b0, b1) = _span(a), _span(b)
    assert cidr.overlaps(a, b) == (a0 <= b1 and b0 <= a1) == cidr.overlaps(b, a)


@given(v4, v4)
def test_contains_is_interval_inclusion(a, b):
    (a0, a1), (b0, b1) = _span(a), _span(b)
    assert cidr.contains(a, b) == (a0 <= b0 and b1 <= a1)
    if cidr.contains(a, b):
        assert cidr.overlaps(a, b)


@given(v4)
def test_families_never_overlap(a):
    six = ipaddress.IPv6Network(f"::ffff:{a.network_address}/{96 + a.prefixlen}")
    assert not cidr.overlaps(a, six)
    assert not cidr.contains(a, six)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**16))
def test_range_to_cidrs_covers_exactly_the_range(first, length):
    last = min(first + length, 2**32 - 1)
    nets = cidr.range_to_cidrs(str(ipaddress.IPv4Address(first)), str(ipaddress.IPv4Address(last)))
    spans = sorted(_span(n) for n in nets)
    assert spans[0][0] == first and spans[-1][1] == last
    for (_, e), (s, _) in zip(spans, spans[1:], strict=False):
        assert s == e + 1  # contiguous, disjoint


@settings(max_examples=150)
@given(st.lists(private, max_size=12), st.integers(8, 28))
def test_first_free_avoids_everything_and_is_the_first(avoid, prefix):
    got = cidr.first_free(prefix, avoid)
    if got is None:
        return
    assert got.prefixlen == prefix
    assert not any(cidr.overlaps(got, a) for a in avoid)
    block_i = next(i for i, b in enumerate(cidr.PRIVATE_BLOCKS) if cidr.contains(b, got))
    block = cidr.PRIVATE_BLOCKS[block_i]
    # nothing free earlier: the previous aligned candidate in the same block clashes
    size = got.num_addresses
    prev = int(got.network_address) - size
    if prev >= int(block.network_address):
        earlier = ipaddress.IPv4Network((prev, prefix))
        assert any(cidr.overlaps(earlier, a) for a in avoid)
    # and every earlier (usable) block is fully blocked at the start
    for b in cidr.PRIVATE_BLOCKS[:block_i]:
        if prefix >= b.prefixlen:
            assert cidr.first_free(prefix, avoid, [b]) is None


def test_first_free_prefers_ten_then_172_then_192_then_cgnat():
    ten = ipaddress.IPv4Network("10.0.0.0/8")
    assert str(cidr.first_free(16, [])) == "10.0.0.0/16"
    assert str(cidr.first_free(16, [ipaddress.IPv4Network("10.0.0.0/22")])) == "10.1.0.0/16"
    assert str(cidr.first_free(16, [ten])) == "172.16.0.0/16"
    assert (
        str(cidr.first_free(16, [ten, ipaddress.IPv4Network("172.16.0.0/12")])) == "192.168.0.0/16"
    )
    assert str(cidr.first_free(12, [ten])) == "172.16.0.0/12"
    all_rfc1918 = [
        ten,
        ipaddress.IPv4Network("172.16.0.0/12"),
        ipaddress.IPv4Network("192.168.0.0/16"),
    ]
    assert str(cidr.first_free(16, all_rfc1918)) == "100.64.0.0/16"
    assert cidr.first_free(8, [*all_rfc1918[1:], ten]) is None  # 100.64/10 is too small for a /8


def test_first_free_rejects_nonsense_prefix():
    with pytest.raises(ValueError):
        cidr.first_free(33, [])


@given(st.text(max_size=20))
def test_try_net_never_raises(text):
    assert cidr.try_net(text) is None or isinstance(
        cidr.try_net(text), (ipaddress.IPv4Network, ipaddress.IPv6Network)
    )


def test_parse_pool_entry_accepts_ranges_and_cidrs():
    assert [str(n) for n in cidr.parse_pool_entry("192.168.1.240-192.168.1.255")] == [
        "192.168.1.240/28"
    ]
    assert [str(n) for n in cidr.parse_pool_entry("10.10.0.0/24")] == ["10.10.0.0/24"]
    with pytest.raises(ValueError):
        cidr.parse_pool_entry("10.0.0.9-10.0.0.1")
