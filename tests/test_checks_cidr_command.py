"""`ciliumtui cidr check/suggest`: the planning (pure, on snapshots) and the CLI's
argument errors (exit 3 before any probing)."""

from __future__ import annotations

import ipaddress
import subprocess
import sys

import pytest
from snapshots import healthy, route, unreachable

from ciliumtui import cidr
from ciliumtui.commands.cidr import configured_pool, plan_check, plan_suggest
from ciliumtui.model import LbPool


def _default_install_on_ten_net():
    snap = healthy()
    snap.node.links[1].addresses = ["10.0.3.7/22"]
    snap.node.routes[1] = route("10.0.0.0/22", "eth0", protocol="kernel")
    snap.node.host.nameservers = ["10.0.0.2"]
    return snap


def test_check_default_pool_lists_every_overlap_with_evidence():
    snap = _default_install_on_ten_net()
    conflicts = plan_check([cidr.net("10.0.0.0/8")], snap)
    assert [(c["kind"], c["evidence"]) for c in conflicts] == [
        ("node-network", "eth0 10.0.3.7/22 lies inside pool 10.0.0.0/8"),
        ("node-network", "lxcbr0 10.0.3.1/24 lies inside pool 10.0.0.0/8"),
        ("service-cidr", "service CIDR 10.43.0.0/16 lies inside pool 10.0.0.0/8"),
        ("cluster-dns", "cluster DNS (kube-dns Service) 10.43.0.10 lies inside pool 10.0.0.0/8"),
        ("upstream-dns", "nameserver 10.0.0.2 (resolv.conf) lies inside pool 10.0.0.0/8"),
    ]


def test_check_a_clean_pool_has_no_conflict():
    assert plan_check([cidr.net("10.44.0.0/16")], _default_install_on_ten_net()) == []


def test_check_includes_lb_pools():
    snap = healthy()
    snap.cluster.lb_pools = [LbPool("IPAddressPool", "default-pool", ["10.44.7.0/24"])]
    (c,) = plan_check([cidr.net("10.44.0.0/16")], snap)
    assert c == {
        "pool": "10.44.0.0/16",
        "kind": "lb-pool",
        "with": "10.44.7.0/24",
        "evidence": "IPAddressPool default-pool 10.44.7.0/24 lies inside pool 10.44.0.0/16",
    }


def test_configured_pool_from_cluster_else_the_chart_default():
    assert configured_pool(healthy()) == (
        [cidr.net("10.42.0.0/16")],
        "cilium-config cluster-pool-ipv4-cidr",
    )
    pools, source = configured_pool(unreachable(healthy()))
    assert pools == [cidr.net("10.0.0.0/8")]
    assert source == "the chart's default (apiserver unreachable)"


def test_suggest_avoids_everything_in_use_and_the_current_pool():
    snap = healthy()
    snap.cluster.config.pool = ["10.0.0.0/16"]
    snap.node.routes.append(route("10.1.0.0/16", "wg0", via="10.255.0.1"))
    found = plan_suggest(snap, 16)
    # 10.0/16 current pool, 10.1/16 a VPN route, 10.0.3.0/24 lxcbr0, 10.42/16 old CiliumNodes,
    # 10.43/16 services → the first free /16 is 10.2.0.0/16
    assert str(found.v4) == "10.2.0.0/16"
    assert found.v4 is not None and not any(cidr.overlaps(found.v4, a) for a in found.avoided)
    assert found.v6 is None  # IPv4-only cluster
    # a list for the chart (not `[0]=`, which keeps further entries), quoted for any shell
    assert found.argv[-2:] == ["--set", "ipam.operator.clusterPoolIPv4PodCIDRList={10.2.0.0/16}"]
    assert found.helm == (
        "helm upgrade cilium cilium/cilium --namespace kube-system --reuse-values "
        "--set 'ipam.operator.clusterPoolIPv4PodCIDRList={10.2.0.0/16}'"
    )


def test_suggest_on_a_node_using_all_of_ten_moves_to_172():
    snap = _default_install_on_ten_net()
    snap.cluster.config.pool = ["10.0.0.0/8"]
    assert plan_suggest(snap, 16).v4 == ipaddress.ip_network("172.16.0.0/16")
    snap.node.links[-1].addresses = ["172.16.0.1/12"]  # docker0 grabbed all of 172.16/12
    assert plan_suggest(snap, 16).v4 == ipaddress.ip_network("192.168.0.0/16")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ciliumtui", "cidr", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "10.0.0.0/33"], "'10.0.0.0/33' is not a CIDR"),
        (["check", "banana"], "'banana' is not a CIDR"),
        (["suggest", "--prefix", "4"], "--prefix 4: choose between 8 and 28"),
        (["suggest", "--prefix", "30"], "--prefix 30: choose between 8 and 28"),
    ],
)
def test_bad_arguments_exit_3_in_one_line(args, message):
    res = _cli(*args, "--host-root", "/nonexistent-dg")
    assert res.returncode == 3
    assert res.stderr.strip().count("\n") == 0
    assert message in res.stderr


def test_missing_host_root_is_one_line_exit_3():
    res = _cli("check", "10.44.0.0/16", "--host-root", "/nonexistent-dg")
    assert res.returncode == 3
    assert res.stderr.strip() == "ciliumtui: error: --host-root /nonexistent-dg: not a directory"


def test_check_text_names_the_source_and_each_overlap(capsys):
    from ciliumtui.commands.cidr import check

    snap = _default_install_on_ten_net()
    snap.cluster.config.pool = ["10.0.0.0/8"]
    assert check([], snap, as_json=False) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "pool 10.0.0.0/8 (cilium-config cluster-pool-ipv4-cidr)"
    assert out[1] == "✗ overlaps 5 ranges in use:"
    assert "    eth0 10.0.3.7/22 lies inside pool 10.0.0.0/8" in out
    assert out[-1] == "a free range: ciliumtui cidr suggest"
    assert check(["10.44.0.0/16"], snap, as_json=False) == 0
    assert capsys.readouterr().out.splitlines() == [
        "pool 10.44.0.0/16 (command line)",
        "✓ overlaps nothing in use (node addresses, routes, services, DNS, LB pools)",
    ]


def test_suggest_text_is_the_pool_and_the_helm_line(capsys):
    from ciliumtui.commands.cidr import suggest

    assert suggest(20, healthy(), as_json=False) == 0
    assert capsys.readouterr().out.splitlines() == [
        "free pool: 10.0.16.0/20",
        "helm upgrade cilium cilium/cilium --namespace kube-system --reuse-values "
        "--set 'ipam.operator.clusterPoolIPv4PodCIDRList={10.0.16.0/20}'",
    ]
