"""The address-space view draws the checks' facts (issue 12 item 2: one place for the
overlap rules) to scale (issue 15 item 4: a /32 is never wider than a /24, a
legend), and no row is wider than the panel (long notes never wrap to column 0)."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st
from snapshots import healthy, route
from tui_fixtures import NODE, cluster_state, node_state

from ciliumtui.checks import run_checks
from ciliumtui.checks.address import address_facts
from ciliumtui.model import CiliumConfig, ClusterState, LbPool, Route
from ciliumtui.widgets.address_space import (
    LB,
    NODE_CIDR,
    NODE_NET,
    POOL,
    SERVICE,
    Span,
    collect_spans,
    legend_lines,
    render_lines,
    spans_from_facts,
)

ADDRESS_FINDINGS = {
    "pod-cidr-overlaps-node-network",
    "pod-cidr-overlaps-service-cidr",
    "pod-cidr-overlaps-upstream-dns",
    "lb-pool-overlaps-pod-cidr",
    "ciliumnode-cidr-stale",
}


def by_label(spans: list[Span]) -> dict[str, Span]:
    return {f"{s.label} {s.net}": s for s in spans}


def test_healthy_node_has_no_conflicts() -> None:
    spans = collect_spans(node_state(), cluster_state(), NODE)
    kinds = {s.kind for s in spans}
    assert {POOL, NODE_CIDR, NODE_NET, SERVICE} <= kinds
    assert not [s for s in spans if s.bad]
    # Cilium's own links and routes are not node networks.
    assert not any(s.label in ("cilium_host", "route cilium_host") for s in spans)


def test_native_routing_peer_route_is_no_conflict_in_the_panel_either() -> None:
    """The disagreement of issue 12: a peer's pod CIDR routed via eth0 (native routing)
    made the panel say '3 conflicting' in red while diagnose found nothing."""
    node, cluster = node_state(), cluster_state()
    node.routes.append(Route("10.42.1.0/24", gateway="192.168.1.22", dev="eth0"))
    snap = healthy()
    snap.node.routes.append(route("10.42.1.0/24", "eth0", via="192.168.1.22"))
    assert not ADDRESS_FINDINGS & {f.id for f in run_checks(snap)}
    assert not [s for s in collect_spans(node, cluster, NODE) if s.bad]
    assert not [s for s in spans_from_facts(address_facts(snap), snap.node_name) if s.bad]


def test_default_pool_over_the_node_network_is_marked_on_both() -> None:
    """The field notes' story: chart default 10.0.0.0/8 on a node in 10.0.0.0/22, on k3s."""
    node = node_state()
    node.links[1].addresses = ["10.0.3.7/22"]
    cluster = cluster_state()
    cluster.config = CiliumConfig(ipam="cluster-pool", pool=["10.0.0.0/8"], mask_size=24)
    cluster.lb_pools = [LbPool("IPAddressPool", "metallb", ["192.168.1.240/28"])]
    spans = by_label(collect_spans(node, cluster, NODE))
    pool = spans["pod pool 10.0.0.0/8"]
    assert "overlaps eth0 10.0.3.7/22" in pool.notes
    assert "overlaps service CIDR 10.43.0.0/16" in pool.notes
    assert spans["eth0 10.0.0.0/22"].notes == ["overlaps pool 10.0.0.0/8"]
    # an LB pool in the node's LAN is normal (MetalLB L2): the checks do not flag it
    assert not spans["lb metallb 192.168.1.240/28"].bad


def test_lb_pool_holding_the_node_address_is_marked() -> None:
    cluster = cluster_state()
    cluster.lb_pools = [LbPool("IPAddressPool", "metallb", ["192.168.1.16/28"])]
    spans = by_label(collect_spans(node_state(), cluster, NODE))
    lb = spans["lb metallb 192.168.1.16/28"]
    assert lb.notes == ["overlaps eth0 192.168.1.21/24"]
    assert "overlaps IPAddressPool metallb 192.168.1.16/28" in spans["eth0 192.168.1.0/24"].notes


def test_ciliumnode_cidr_outside_a_changed_pool_is_marked_stale() -> None:
    cluster = cluster_state()
    cluster.config = CiliumConfig(ipam="cluster-pool", pool=["172.20.0.0/16"], mask_size=24)
    spans = by_label(collect_spans(node_state(), cluster, NODE))
    assert spans[f"node {NODE} 10.42.0.0/24"].notes == [
        f"CiliumNode {NODE}: podCIDR 10.42.0.0/24 lies outside pool 172.20.0.0/16"
    ]
    assert not spans["pod pool 172.20.0.0/16"].bad


def test_unknown_cluster_uses_k3s_config_and_still_draws() -> None:
    spans = collect_spans(node_state(), ClusterState(reachable=False), NODE)
    assert {s.kind for s in spans} >= {POOL, SERVICE, NODE_NET}
    assert render_lines([], 80)[0].plain == "no address ranges known yet"


def test_dual_stack_gets_its_own_scale_and_the_ula_overlap() -> None:
    """The chart's fd00::/104 inside a home router's fd00::/64."""
    node, cluster = node_state(), cluster_state()
    node.links[1].addresses.append("fd00::21/64")
    cluster.config = CiliumConfig(
        ipam="cluster-pool", pool=["10.42.0.0/16"], enable_ipv6=True, pool_v6=["fd00::/104"]
    )
    spans = by_label(collect_spans(node, cluster, NODE))
    assert spans["pod pool fd00::/104"].notes == ["overlaps eth0 fd00::21/64"]
    text = [line.plain for line in render_lines(list(spans.values()), 120)]
    assert text.index("IPv4") < text.index("IPv6")


# ------------------------------------------------------------- panel == checks


def _address_breakage(snap, kind: int, a: int, p: int) -> None:
    n = ipaddress.ip_network((a, p), strict=False)
    if kind == 0:
        snap.node.routes.append(route(str(n), "eth0", via="192.168.1.254"))
    elif kind == 1:
        snap.cluster.lb_pools = [LbPool("IPAddressPool", "p", [str(n)])]
    elif kind == 2:
        snap.cluster.config.pool = [str(n)]
    else:
        snap.node.host.nameservers = [str(n.network_address)]


@settings(max_examples=120, deadline=None)
@given(st.integers(0, 3), st.integers(0, 2**32 - 1), st.integers(8, 32))
def test_the_panel_marks_exactly_what_the_checks_find(kind: int, a: int, p: int) -> None:
    snap = healthy()
    _address_breakage(snap, kind, a, p)
    found = {f.id for f in run_checks(snap)} & ADDRESS_FINDINGS
    facts = address_facts(snap)
    bad = [s for s in spans_from_facts(facts, snap.node_name) if s.bad]
    assert bool(bad) == bool(found)
    assert {o.finding for o in facts.overlaps} == found


# ------------------------------------------------------------------- the scale


def _bar(line: str) -> str:
    return line[line.index("│") + 1 : line.rindex("│")]


def _columns(line: str) -> set[int]:
    return {i for i, c in enumerate(_bar(line)) if c == "█"}


nets = st.builds(
    lambda a, p: ipaddress.ip_network(f"{ipaddress.IPv4Address(a)}/{p}", strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(8, 32),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(nets, min_size=1, max_size=6, unique=True), st.sampled_from([POOL, NODE_NET, LB]))
def test_scale_shares_columns_exactly_when_ranges_overlap(networks: list, kind: str) -> None:
    spans = [Span(kind if i == 0 else NODE_NET, f"r{i}", n) for i, n in enumerate(networks)]
    width = 4 * len(spans) + 140  # enough columns for every tick
    rows = [line.plain for line in render_lines(spans, width) if "│" in line.plain]
    assert len(rows) == len(spans)
    assert len({len(_bar(r)) for r in rows}) == 1  # one scale: every bar has the same width
    cols = [_columns(r) for r in rows]
    for i in range(len(spans)):
        assert cols[i]  # every range is visible, however small
        if spans[i].net.num_addresses == 1:
            assert len(cols[i]) == 1  # a single address is one column
        for j in range(len(spans)):
            if i == j:
                continue
            a, b = spans[i].net, spans[j].net
            assert bool(cols[i] & cols[j]) == a.overlaps(b)
            if b.subnet_of(a):
                assert len(cols[i]) >= len(cols[j])  # never narrower than what it holds
            if a.num_addresses == 1:
                assert len(cols[i]) <= len(cols[j])  # a /32 is never wider than a /24


def test_a_slash_32_next_to_a_slash_24_is_narrower() -> None:
    spans = [
        Span(NODE_NET, "lan", ipaddress.ip_network("192.168.1.0/24")),
        Span(NODE_NET, "dns", ipaddress.ip_network("10.0.0.53/32")),
        Span(POOL, "pool", ipaddress.ip_network("10.42.0.0/16")),
    ]
    rows = [line.plain for line in render_lines(spans, 100) if "│" in line.plain]
    lan, dns, pool = (len(_columns(r)) for r in rows)
    assert dns == 1 < lan < pool


def test_long_notes_never_wrap_to_column_zero_at_200_columns() -> None:
    node = node_state()
    node.links[1].addresses = ["10.0.3.7/22"]
    node.host.nameservers = ["10.0.0.2", "10.0.0.3"]
    node.routes += [Route(f"10.{i}.0.0/16", dev="wg0", gateway="10.255.0.1") for i in range(1, 7)]
    cluster = cluster_state()
    cluster.config = CiliumConfig(ipam="cluster-pool", pool=["10.0.0.0/8"], mask_size=24)
    spans = collect_spans(node, cluster, NODE)
    pool = next(s for s in spans if s.kind == POOL)
    assert len("; ".join(pool.notes)) > 200  # the pool's notes alone are wider than the panel
    lines = [line.plain for line in render_lines(spans, 200)]
    assert all(len(line) <= 200 for line in lines)
    bars = [line for line in lines if "│" in line]
    assert len({line.index("│") for line in bars}) == 1  # the grid holds
    lead = bars[0].index("│")
    notes = [line for line in lines if "│" not in line]
    assert notes and all(line.startswith(" " * lead) and line[lead] != " " for line in notes)
    assert any("overlaps eth0 10.0.3.7/22" in line for line in lines)


def test_legend_names_every_colour_and_fits() -> None:
    for width in (80, 200):
        rows = [r.plain for r in legend_lines(width)]
        assert all(len(r) <= width for r in rows)
        text = " ".join(rows)
        for name in ("pod pool", "node CIDR", "node network", "services/DNS", "LB pool"):
            assert name in text
        assert "widths ~ log2(size)" in text


def test_ten_thousand_routes_draw_a_few_rows_and_every_conflict() -> None:
    node = node_state()
    node.routes += [
        Route(f"172.{16 + i // 256}.{i % 256}.0/24", dev="wg0", table="100") for i in range(10000)
    ]
    node.routes.append(Route("10.42.128.0/20", dev="eth0", gateway="192.168.1.254"))
    spans = collect_spans(node, cluster_state(), NODE)
    assert len(spans) < 30
    bad = [s for s in spans if s.bad]
    assert {s.label for s in bad} == {"pod pool", "route eth0"}
