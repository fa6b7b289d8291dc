"""Node probes against a real simulated Cilium node in a fresh network namespace."""

from __future__ import annotations

from importlib.resources import files

import pytest

from ciliumtui.model import ProbeStatus
from ciliumtui.node import collect_node
from ciliumtui.options import Options
from ciliumtui.sim.node_builder import DECOY_CHAIN, DECOY_RULE_COMMENT, endpoint_name

pytestmark = pytest.mark.root

CILIUM_CHAINS = {
    "CILIUM_INPUT",
    "CILIUM_OUTPUT",
    "CILIUM_FORWARD",
    "CILIUM_OUTPUT_raw",
    "CILIUM_PRE_raw",
    "CILIUM_PRE_mangle",
    "CILIUM_POST_mangle",
    "CILIUM_PRE_nat",
    "CILIUM_OUTPUT_nat",
    "CILIUM_POST_nat",
}


def sample_cilium_rule_lines() -> int:
    """Cilium's rules in the reference dump, counted the k3s docs' way (every one names CILIUM_)."""
    text = (
        files("ciliumtui.assets").joinpath("samples/iptables-save-k3s-cilium-node.txt").read_text()
    )
    return sum(1 for line in text.splitlines() if line.startswith("-A ") and "CILIUM_" in line)


async def snapshot(netns, root):
    probes: dict[str, ProbeStatus] = {}
    node = await collect_node(Options(netns=netns, host_root=str(root)).node_backend, probes)
    return node, probes


async def test_every_probe_succeeds_and_sees_the_node(cilium_node):
    node, probes = await snapshot(*cilium_node)
    assert set(probes) == {
        "links",
        "routes",
        "rules",
        "netfilter",
        "host",
        "agent",
        "rp_filter",
        "agent_log",
        "bpf",
    }
    assert all(p.ok for p in probes.values()), probes


async def test_links_mark_cilium_and_not_the_decoys(cilium_node):
    node, _ = await snapshot(*cilium_node)
    links = {link.name: link for link in node.links}
    endpoints = {endpoint_name("k3s-node1", i) for i in range(3)}
    cilium = {"cilium_host", "cilium_net", "cilium_vxlan", "lxc_health"} | endpoints
    assert {name for name, link in links.items() if link.cilium} == cilium
    for decoy in ("lxcbr0", "docker0", "veth3f2a1b0", "eth0", "lo"):
        assert decoy in links and not links[decoy].cilium
    assert links["cilium_host"].addresses[0] == "10.42.0.183/32"
    assert links["cilium_host"].peer == "cilium_net" and links["cilium_host"].kind == "veth"
    assert links["cilium_vxlan"].kind == "vxlan"
    assert links["eth0"].addresses[0] == "192.168.1.21/24" and links["eth0"].state == "UP"
    assert links["veth3f2a1b0"].master == "docker0"
    # A real node: no Service or pod address on lo, no far end of a veth (issue 15).
    assert set(links["lo"].addresses) <= {"127.0.0.1/8", "::1/128"}
    assert not {"gw-eth0", "health-ep", "ctr-3f2a1b0"} & set(links)
    assert all(len(name) == 15 for name in endpoints)


async def test_routes_include_table_2004_and_cilium_host_routes(cilium_node):
    node, _ = await snapshot(*cilium_node)
    by_key = {(r.table, r.dst): r for r in node.routes if r.family == 4}
    t2004 = by_key[("2004", "default")]
    assert t2004.type == "local" and t2004.dev == "lo" and t2004.cilium
    pod = by_key[("main", "10.42.0.0/24")]
    assert pod.dev == "cilium_host" and pod.gateway == "10.42.0.183" and pod.cilium
    assert by_key[("main", "10.42.1.0/24")].cilium  # peer node's pod CIDR
    assert by_key[("main", "10.42.0.183/32")].cilium
    # One /32 endpoint route per lxc (the first endpoint is this node's CoreDNS pod, .50).
    assert sum(1 for r in by_key.values() if (r.dev or "").startswith("lxc") and r.cilium) == 3
    default = by_key[("main", "default")]
    assert default.gateway == "192.168.1.1" and not default.cilium
    assert not by_key[("main", "172.17.0.0/16")].cilium  # docker0's route


async def test_ip_rules_mark_only_the_fwmark_rule(cilium_node):
    node, _ = await snapshot(*cilium_node)
    v4 = {r.priority: r for r in node.rules if r.family == 4}
    assert v4[9].fwmark == "0x200/0xf00" and v4[9].table == "2004" and v4[9].cilium
    assert v4[100].table == "local" and not v4[100].cilium
    assert 0 not in v4  # Cilium moved the local rule from 0 to 100
    assert [r.priority for r in node.rules if r.cilium] == [9]


async def test_netfilter_marks_cilium_rules_not_the_user_chain(cilium_node):
    node, _ = await snapshot(*cilium_node)
    dumps = {(d.backend, d.family): d for d in node.netfilter}
    assert set(dumps) == {("nft", 4), ("legacy", 4), ("nft", 6), ("legacy", 6)}
    nft = dumps[("nft", 4)]
    assert set(nft.cilium_chains) == CILIUM_CHAINS
    assert nft.cilium_rule_count == sample_cilium_rule_lines()
    rules = [r for t in nft.tables for r in t.rules]
    decoy = [r for r in rules if r.comment == DECOY_RULE_COMMENT]
    assert len(decoy) == 1 and not decoy[0].cilium and "cilium" in decoy[0].comment
    jump = [r for r in rules if r.target == DECOY_CHAIN]
    assert len(jump) == 1 and not jump[0].cilium
    chains = {c.name: c for t in nft.tables for c in t.chains}
    assert not chains[DECOY_CHAIN].cilium and chains["INPUT"].policy == "ACCEPT"
    feeder = [r for r in rules if r.comment == "cilium-feeder: CILIUM_INPUT"]
    assert feeder[0].chain == "INPUT" and feeder[0].target == "CILIUM_INPUT" and feeder[0].cilium
    assert dumps[("legacy", 4)].rule_count == 0 and dumps[("nft", 6)].rule_count == 0
    assert node.kube_backend == "nft"


async def test_split_backends_are_seen_separately(node_factory):
    """Cilium in legacy, kube-proxy/kubelet in nft: the iptables-backend-split situation."""
    netns, root = node_factory(
        {"network": {"cilium": {"iptables": "legacy"}, "kube_iptables": "nft"}}
    )
    node, probes = await snapshot(netns, root)
    assert probes["netfilter"].ok
    dumps = {(d.backend, d.family): d for d in node.netfilter}
    legacy, nft = dumps[("legacy", 4)], dumps[("nft", 4)]
    assert set(legacy.cilium_chains) == CILIUM_CHAINS
    assert legacy.cilium_rule_count == sample_cilium_rule_lines()
    assert nft.cilium_rule_count == 0 and not nft.cilium_chains
    assert any(c.name == "KUBE-IPTABLES-HINT" for t in nft.tables for c in t.chains)
    assert node.kube_backend == "nft"


async def test_node_without_cilium_has_nothing_marked(node_factory):
    netns, root = node_factory(
        {"network": {"cilium": {"present": False, "iptables": "none"}, "decoys": True}}
    )
    node, _ = await snapshot(netns, root)
    assert not any(link.cilium for link in node.links)
    assert not any(r.cilium for r in node.routes) and not any(r.cilium for r in node.rules)
    assert all(d.cilium_rule_count == 0 for d in node.netfilter)
    assert "lxcbr0" in {link.name for link in node.links}


async def test_host_and_agent_read_under_host_root(cilium_node):
    node, _ = await snapshot(*cilium_node)
    assert node.host.hostname == "k3s-node1" and node.host.kernel == "6.1.0-18-amd64"
    assert node.host.nameservers == ["192.168.1.1"] and node.host.bpffs_mounted
    assert node.host.k3s is not None and node.host.k3s.flannel_backend == "none"
    assert node.agent.pid_alive and not node.agent.socket_present and not node.agent.reachable


async def test_missing_namespace_is_recorded_not_raised():
    probes: dict[str, ProbeStatus] = {}
    node = await collect_node(Options(netns="nd-does-not-exist").node_backend, probes)
    for name in ("links", "routes", "rules", "netfilter"):
        assert not probes[name].ok
        assert "nd-does-not-exist" in probes[name].error
        assert "\n" not in probes[name].error
    assert node.links == [] and node.netfilter == []
    assert probes["host"].ok  # host files do not depend on the namespace


async def test_route_families_in_one_mixed_dump(make_netns):
    import subprocess

    ns = make_netns("nd")
    for args in (
        ["-6", "route", "add", "unreachable", "default", "dev", "lo"],
        ["route", "add", "local", "default", "dev", "lo", "table", "2005"],
        ["-6", "route", "add", "local", "default", "dev", "lo", "table", "2005"],
    ):
        subprocess.run(["ip", "-n", ns, *args], check=True)
    node, _ = await snapshot(ns, "/")
    got = {(r.family, r.table, r.type) for r in node.routes if r.dst == "default"}
    assert got == {(6, "main", "unreachable"), (4, "2005", "local"), (6, "2005", "local")}
    assert {r.cilium for r in node.routes if r.table == "2005"} == {True}


async def test_an_alias_that_is_not_utf8_does_not_fail_the_links_probe(make_netns):
    """`ip -j` prints an alias's bytes raw; the strict JSON decoder must never see them."""
    import subprocess

    ns = make_netns("nd")
    subprocess.run(
        [b"ip", b"-n", ns.encode(), b"link", b"set", b"lo", b"alias", b"caf\xe9"], check=True
    )
    probes: dict[str, ProbeStatus] = {}
    node = await collect_node(Options(netns=ns, host_root="/").node_backend, probes)
    assert probes["links"].ok, probes["links"].error
    assert [link.name for link in node.links] == ["lo"]
