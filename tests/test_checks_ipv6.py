"""IPv6 and every routing table (issue 14 item 8): v6 pools, v6 node networks and
nameservers, comma-separated dual-stack service CIDRs, routes of all tables — in the
checks and in `cidr check/suggest`. And the dual-stack false alarm of
`ciliumnode-cidr-stale` (v6 podCIDRs compared with the v4 pool)."""

from __future__ import annotations

import ipaddress

from snapshots import NODE, healthy, ids, route

from ciliumtui import cidr
from ciliumtui.checks import run_checks
from ciliumtui.checks.address import in_use, stale_node_names
from ciliumtui.commands.cidr import configured_pool, plan_check, plan_suggest
from ciliumtui.model import CiliumNodeInfo, Snapshot


def dual_stack() -> Snapshot:
    """A healthy dual-stack cluster: v4 pool 10.42/16, v6 pool fd10:42::/104, each
    CiliumNode with one CIDR of each family, eth0 with a global v6 address."""
    snap = healthy()
    cfg = snap.cluster.config
    cfg.enable_ipv6, cfg.pool_v6, cfg.mask_size_v6 = True, ["fd10:42::/104"], 120
    snap.cluster.ciliumnodes = [
        CiliumNodeInfo(NODE, ["10.42.0.0/24", "fd10:42::/120"]),
        CiliumNodeInfo("k3s-node2", ["10.42.1.0/24", "fd10:42::100/120"]),
    ]
    snap.node.links[1].addresses.append("2001:db8:1::21/64")
    snap.node.routes.append(route("2001:db8:1::/64", "eth0", family=6, protocol="kernel"))
    snap.cluster.service_cidr = ["10.43.0.0/16,fd10:43::/112"]
    return snap


def found(snap: Snapshot, fid: str):
    hits = [f for f in run_checks(snap) if f.id == fid]
    assert hits, f"{fid} did not fire: {ids(run_checks(snap))}"
    return hits[0]


def test_a_healthy_dual_stack_cluster_has_no_finding():
    """The bug: v6 podCIDRs were compared with the v4 pool → 'delete your CiliumNodes'."""
    assert run_checks(dual_stack()) == []


def test_the_v6_pool_is_checked_for_stale_ciliumnodes():
    snap = dual_stack()
    snap.cluster.config.pool_v6 = ["fd10:99::/104"]  # changed; the nodes keep the old one
    f = found(snap, "ciliumnode-cidr-stale")
    assert f.evidence[:2] == [
        "CiliumNode k3s-node1: podCIDR fd10:42::/120 lies outside pool fd10:99::/104",
        "CiliumNode k3s-node2: podCIDR fd10:42::100/120 lies outside pool fd10:99::/104",
    ]


def test_v6_podcidrs_are_not_judged_without_ipv6():
    snap = dual_stack()
    snap.cluster.config.enable_ipv6 = False
    assert "ciliumnode-cidr-stale" not in ids(run_checks(snap))


def test_stale_rule_is_per_family():
    nodes = [
        CiliumNodeInfo("a", ["10.42.0.0/24", "fd10:42::/120"]),
        CiliumNodeInfo("b", ["10.99.0.0/24"]),
        CiliumNodeInfo("c", ["fd99::/120"]),
        CiliumNodeInfo("d", ["junk"]),
    ]
    v4 = [cidr.net("10.42.0.0/16")]
    assert stale_node_names(nodes, v4) == ["b"]  # no v6 pool: v6 CIDRs not judged
    assert stale_node_names(nodes, [*v4, cidr.net("fd10:42::/104")]) == ["b", "c"]


def test_the_chart_s_v6_default_inside_a_home_ula():
    """fd00::/104 (the chart's default) lies inside the fd00::/64 many home routers use."""
    snap = dual_stack()
    snap.cluster.config.pool_v6 = ["fd00::/104"]
    snap.node.links[1].addresses.append("fd00::21/64")
    f = found(snap, "pod-cidr-overlaps-node-network")
    assert "pool fd00::/104 lies inside eth0 fd00::21/64" in f.evidence


def test_v6_nameserver_and_v6_service_cidr_in_the_pool():
    snap = dual_stack()
    snap.cluster.config.pool_v6 = ["fd10::/16"]
    snap.cluster.ciliumnodes = []
    snap.node.host.nameservers = ["192.168.1.1", "fd10:53::53"]
    f = found(snap, "pod-cidr-overlaps-upstream-dns")
    assert f.evidence[0] == "nameserver fd10:53::53 (resolv.conf) lies inside pool fd10::/16"
    f = found(snap, "pod-cidr-overlaps-service-cidr")
    assert f.evidence == ["service CIDR fd10:43::/112 lies inside pool fd10::/16"]


def test_k3s_dual_stack_service_cidr_and_cluster_dns_comma_separated():
    snap = dual_stack()
    snap.cluster.service_cidr = []
    snap.cluster.kube_dns = None
    k = snap.node.host.k3s
    k.service_cidr = ["10.43.0.0/16,fd10:43::/112"]
    k.cluster_dns = "10.43.0.10,fd10:43::a"
    snap.cluster.config.pool_v6 = ["fd10::/16"]
    snap.cluster.ciliumnodes = []
    f = found(snap, "pod-cidr-overlaps-service-cidr")
    assert f.evidence == [
        "k3s service-cidr fd10:43::/112 lies inside pool fd10::/16",
        "k3s cluster-dns fd10:43::a lies inside pool fd10::/16",
    ]


def test_routes_of_every_table_count_tailscale_s_table_52():
    snap = healthy()
    snap.cluster.config.pool = ["100.64.0.0/16"]
    snap.cluster.ciliumnodes = [CiliumNodeInfo(NODE, ["100.64.0.0/24"])]
    snap.cluster.node.pod_cidrs = ["100.64.0.0/24"]
    snap.node.routes.append(route("100.64.0.0/10", "tailscale0", table="52"))
    snap.node.routes.append(route("0.0.0.0/0", "tailscale0", table="52", type="throw"))
    f = found(snap, "pod-cidr-overlaps-node-network")
    assert f.evidence == [
        "pool 100.64.0.0/16 lies inside route 100.64.0.0/10 dev tailscale0 table 52"
    ]


def test_link_local_multicast_and_throw_routes_are_not_node_networks():
    snap = dual_stack()
    snap.cluster.config.pool_v6 = ["fe80::/10"]  # absurd, but nothing of the node is in it
    snap.cluster.ciliumnodes = []
    snap.node.routes += [
        route("fe80::/64", "eth0", family=6),
        route("ff00::/8", "eth0", family=6, table="local", type="multicast"),
        route("fd10:77::/64", "eth0", family=6, type="unreachable"),
    ]
    assert "pod-cidr-overlaps-node-network" not in ids(run_checks(snap))


# ------------------------------------------------------------ cidr check/suggest


def test_cidr_check_checks_both_configured_pools():
    snap = dual_stack()
    snap.cluster.config.pool_v6 = ["2001:db8::/32"]
    pools, source = configured_pool(snap)
    assert pools == [cidr.net("10.42.0.0/16"), cidr.net("2001:db8::/32")]
    assert source == "cilium-config cluster-pool-ipv4-cidr and cluster-pool-ipv6-cidr"
    (c,) = plan_check(pools, snap)
    assert c == {
        "pool": "2001:db8::/32",
        "kind": "node-network",
        "with": "2001:db8:1::/64",
        "evidence": "eth0 2001:db8:1::21/64 lies inside pool 2001:db8::/32",
    }


def test_cidr_check_notes_the_v6_default_before_install(capsys):
    """Not installed yet, the node has a ULA: the chart's v6 default would collide — a
    note (it only matters with ipv6.enabled=true), not a failure of the v4 check."""
    import json

    from ciliumtui.commands.cidr import check

    snap = healthy()
    snap.cluster.config = snap.cluster.kube_dns = None
    snap.cluster.service_cidr = snap.node.host.k3s.service_cidr = []
    snap.node.host.k3s.cluster_dns = None
    snap.node.links = [lk for lk in snap.node.links if lk.name != "lxcbr0"]
    snap.node.routes = [r for r in snap.node.routes if r.dev != "lxcbr0"]
    snap.cluster.ciliumnodes = []
    snap.node.links[1].addresses.append("fd00::21/64")
    assert check([], snap, as_json=True) == 0  # the v4 default is free here
    out = json.loads(capsys.readouterr().out)
    assert out["pools"] == ["10.0.0.0/8"] and out["ok"] is True
    assert out["ipv6_default_conflicts"][0]["evidence"] == (
        "pool fd00::/104 lies inside eth0 fd00::21/64"
    )
    assert check([], snap, as_json=False) == 0
    text = capsys.readouterr().out
    assert "note: with ipv6.enabled=true the chart's fd00::/104 would overlap:" in text


def test_suggest_a_v6_pool_on_a_dual_stack_cluster():
    snap = dual_stack()
    snap.node.links[1].addresses.append("fd00::21/64")  # the home router's ULA
    found = plan_suggest(snap, 16)
    assert found.v4 is not None and found.v6 is not None
    avoided = [u.space.net for u in in_use(snap)]
    assert not any(cidr.overlaps(found.v6, a) for a in avoided)
    assert found.v6.prefixlen == 104 and found.v6.subnet_of(ipaddress.IPv6Network("fd00::/8"))
    assert found.argv[-2:] == ["--set", f"ipam.operator.clusterPoolIPv6PodCIDRList={{{found.v6}}}"]


def test_suggest_never_proposes_a_range_routed_in_another_table():
    snap = healthy()
    snap.cluster.config.pool = ["10.0.0.0/8"]
    snap.node.routes += [
        route("172.16.0.0/12", "wg0", via="10.255.0.1"),
        route("192.168.0.0/16", "br-lan", protocol="kernel"),
        route("100.64.0.0/11", "tailscale0", table="52"),
    ]
    found = plan_suggest(snap, 16)
    assert found.v4 == ipaddress.ip_network("100.96.0.0/16")  # past Tailscale's table-52 range
    assert not cidr.overlaps(found.v4, ipaddress.ip_network("100.64.0.0/11"))


def test_first_free_in_v6_jumps_past_conflicts():
    avoid = [cidr.net("fd00::/64"), cidr.net("fd00:0:0:1::/64")]
    got = cidr.first_free(104, avoid, cidr.PRIVATE_BLOCKS_V6)
    assert got == ipaddress.ip_network("fd00:0:0:2::/104")
