"""The address-space view: which overlaps are marked, and that the shared scale
draws overlapping ranges in shared columns and disjoint ones apart."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st
from tui_fixtures import NODE, cluster_state, node_state

from ciliumtui.model import CiliumConfig, ClusterState, LbPool
from ciliumtui.widgets.address_space import (
    LB,
    NODE_CIDR,
    NODE_NET,
    POOL,
    SERVICE,
    Span,
    collect_spans,
    mark_overlaps,
    render_lines,
)


def by_label(spans: list[Span]) -> dict[str, Span]:
    return {f"{s.label} {s.net}": s for s in spans}


def test_healthy_node_has_no_conflicts() -> None:
    spans = collect_spans(node_state(), cluster_state(), NODE)
    kinds = {s.kind for s in spans}
    assert {POOL, NODE_CIDR, NODE_NET, SERVICE} <= kinds
    assert not [s for s in spans if s.bad]
    # Cilium's own links and routes are not node networks.
    assert not any(s.label in ("cilium_host", "route cilium_host") for s in spans)


def test_default_pool_over_the_node_network_is_marked_on_both() -> None:
    """The field notes' story: chart default 10.0.0.0/8 on a node in 10.0.0.0/22, on k3s."""
    node = node_state()
    node.links[1].addresses = ["10.0.3.7/22"]
    cluster = cluster_state()
    cluster.config = CiliumConfig(ipam="cluster-pool", pool=["10.0.0.0/8"], mask_size=24)
    cluster.lb_pools = [LbPool("IPAddressPool", "metallb", ["192.168.1.240/28"])]
    spans = by_label(collect_spans(node, cluster, NODE))
    pool = spans["pod pool 10.0.0.0/8"]
    assert any("eth0 10.0.0.0/22" in n for n in pool.notes)
    assert any("services 10.43.0.0/16" in n for n in pool.notes)
    assert any("pod pool 10.0.0.0/8" in n for n in spans["eth0 10.0.0.0/22"].notes)
    # An LB pool inside the node network is flagged (catalogue: lb-pool-overlaps-pod-cidr).
    assert spans["lb metallb 192.168.1.240/28"].bad
    lines = {
        line.plain.split()[0] + " " + line.plain.split()[1]
        for line in render_lines(list(spans.values()), 120)
    }
    assert "pod pool" in lines


def test_ciliumnode_cidr_outside_a_changed_pool_is_marked_stale() -> None:
    cluster = cluster_state()
    cluster.config = CiliumConfig(ipam="cluster-pool", pool=["172.20.0.0/16"], mask_size=24)
    spans = by_label(collect_spans(node_state(), cluster, NODE))
    assert "outside the pool (stale?)" in spans[f"node {NODE} 10.42.0.0/24"].notes
    assert not spans["pod pool 172.20.0.0/16"].bad


def test_unknown_cluster_uses_k3s_config_and_still_draws() -> None:
    spans = collect_spans(node_state(), ClusterState(reachable=False), NODE)
    assert {s.kind for s in spans} >= {POOL, SERVICE, NODE_NET}
    assert render_lines([], 80)[0].plain == "no address ranges known yet"


def _columns(line: str) -> set[int]:
    bar = line[line.index("│") + 1 : line.rindex("│")]
    return {i for i, c in enumerate(bar) if c == "█"}


nets = st.builds(
    lambda a, p: ipaddress.ip_network(f"{ipaddress.IPv4Address(a)}/{p}", strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(8, 30),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(nets, min_size=1, max_size=6, unique=True), st.sampled_from([POOL, NODE_NET, LB]))
def test_scale_shares_columns_exactly_when_ranges_overlap(networks: list, kind: str) -> None:
    spans = [Span(kind if i == 0 else NODE_NET, f"r{i}", n) for i, n in enumerate(networks)]
    mark_overlaps(spans)
    width = 2 * len(spans) + 120  # enough columns for every tick
    lines = [line.plain for line in render_lines(spans, width)]
    bars = [line[line.index("│") : line.rindex("│") + 1] for line in lines]
    assert len({len(b) for b in bars}) == 1  # one scale: every bar has the same width
    cols = [_columns(line) for line in lines]
    for i in range(len(spans)):
        assert cols[i]  # every range is visible, however small
        for j in range(i + 1, len(spans)):
            overlap = spans[i].net.overlaps(spans[j].net)
            assert bool(cols[i] & cols[j]) == overlap
