"""The node builder and host-root builder: what a scenario turns into."""

from __future__ import annotations

import subprocess

import pytest

from ciliumtui.errors import CiliumtuiError
from ciliumtui.node.netfilter import parse_save
from ciliumtui.sim.node_builder import build_node, iptables_texts, substitute
from ciliumtui.sim.scenario import deep_merge, load_scenario


def scenario(overrides=None):
    sc = load_scenario("healthy")
    return deep_merge(sc, overrides) if overrides else sc


def test_substitute_replaces_whole_addresses_only():
    text = "-d 10.43.0.1/32 -d 10.43.0.10/32 -s 10.42.0.0/24 -s 10.42.0.0/16 --to 10.42.0.183 110.43.0.1"
    out = substitute(
        text,
        {
            "10.43.0.1": "10.96.0.1",
            "10.43.0.10": "10.96.0.10",
            "10.42.0.0/24": "10.0.1.0/24",
            "10.42.0.0/16": "10.0.0.0/8",
            "10.42.0.183": "10.0.1.5",
        },
    )
    assert (
        out
        == "-d 10.96.0.1/32 -d 10.96.0.10/32 -s 10.0.1.0/24 -s 10.0.0.0/8 --to 10.0.1.5 110.43.0.1"
    )


def test_split_backends_put_each_part_where_the_scenario_says():
    texts = iptables_texts(
        scenario({"network": {"cilium": {"iptables": "legacy"}, "kube_iptables": "nft"}})
    )
    legacy, nft = parse_save(texts["legacy"], "legacy", 4), parse_save(texts["nft"], "nft", 4)
    assert legacy.cilium_rule_count == legacy.rule_count - 2  # all Cilium's, plus the 2 decoy rules
    assert nft.cilium_rule_count == 0 and nft.rule_count > 0
    assert not any(c.name.startswith("KUBE-") for t in legacy.tables for c in t.chains)


def test_no_iptables_for_none_backends():
    sc = scenario(
        {"network": {"cilium": {"iptables": "none"}, "kube_iptables": "none", "decoys": False}}
    )
    assert iptables_texts(sc) == {}


def test_stale_cilium_chains_without_links():
    sc = scenario({"network": {"cilium": {"present": False, "iptables": "nft"}, "decoys": False}})
    dump = parse_save(iptables_texts(sc)["nft"], "nft", 4)
    assert len(dump.cilium_chains) == 10


def test_missing_namespace_is_a_clear_error():
    with pytest.raises(CiliumtuiError, match="nd-nope does not exist"):
        build_node(scenario(), "nd-nope")


@pytest.mark.root
def test_scenario_addresses_reach_routes_and_rules(node_factory):
    netns, _ = node_factory(
        {
            "network": {
                "cilium": {"pod_cidr": "10.0.1.0/24", "host_ip": "10.0.1.5", "peers": []},
                "extra_routes": [{"dst": "10.0.5.0/24", "dev": "eth0", "via": "192.168.1.1"}],
            },
            "cluster": {"cilium": {"config": {"cluster-pool-ipv4-cidr": "10.0.0.0/8"}}},
        }
    )
    routes = subprocess.run(["ip", "-n", netns, "route"], capture_output=True, text=True).stdout
    assert "10.0.1.0/24 via 10.0.1.5 dev cilium_host" in routes
    assert "10.0.5.0/24 via 192.168.1.1 dev eth0" in routes
    assert "10.42.1.0/24" not in routes
    save = subprocess.run(
        ["ip", "netns", "exec", netns, "iptables-nft-save", "-t", "nat"],
        capture_output=True,
        text=True,
    ).stdout
    assert (
        '-s 10.0.1.0/24 ! -d 10.0.1.0/24 ! -o cilium_+ -m comment --comment "cilium masquerade'
        in save
    )
    assert "--to-source 10.0.1.5" in save and "! -s 10.0.0.0/8 -d 10.43.0.1/32" in save
