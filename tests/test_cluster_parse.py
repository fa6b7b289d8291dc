"""Raw Kubernetes JSON → model: the parsing rules users rely on."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st
from kube_objects import cilium_pod, coredns_pod, daemonset, deployment, node, pod

from ciliumtui.cluster import agent_version
from ciliumtui.cluster.parse import (
    parse_cilium_config,
    parse_cilium_lb_pool,
    parse_ciliumnode,
    parse_deployment,
    parse_metallb_pool,
    parse_node,
    parse_pod,
    range_to_cidrs,
    version_from_image,
)
from ciliumtui.model import ClusterState


def test_version_from_image_tag():
    assert version_from_image("quay.io/cilium/cilium:v1.18.4@sha256:" + "a" * 64) == "1.18.4"
    assert version_from_image("quay.io/cilium/cilium:v1.19.0-pre.2") == "1.19.0-pre.2"
    assert version_from_image("registry.local:5000/cilium/cilium:1.16.3") == "1.16.3"
    # a registry port is not a tag; a digest-only image or "latest" has no version
    assert version_from_image("registry.local:5000/cilium/cilium@sha256:" + "b" * 64) is None
    assert version_from_image("quay.io/cilium/cilium:latest") is None
    assert version_from_image(None) is None


def test_agent_version_prefers_the_node_pod_then_the_daemonset():
    state = ClusterState(cilium_pod=parse_pod(cilium_pod()))
    assert agent_version(state) == "1.18.4"
    from ciliumtui.cluster.parse import parse_daemonset

    state = ClusterState(
        cilium_daemonset=parse_daemonset(daemonset(image="quay.io/cilium/cilium:v1.17.9"))
    )
    assert agent_version(state) == "1.17.9"


def test_node_fields():
    n = parse_node(
        node(
            taints=[
                {"key": "node.cilium.io/agent-not-ready", "value": "true", "effect": "NoSchedule"}
            ]
        )
    )
    assert n.addresses[0] == ("InternalIP", "192.168.1.21")
    assert n.pod_cidrs == ["10.42.0.0/24"]
    assert n.allocatable_pods == 110 and n.kubelet_version == "v1.31.4+k3s1" and n.ready is True
    assert (
        n.taints[0].key == "node.cilium.io/agent-not-ready" and n.taints[0].effect == "NoSchedule"
    )


def test_node_with_only_legacy_pod_cidr_and_no_status():
    obj = {"metadata": {"name": "n"}, "spec": {"podCIDR": "10.42.3.0/24"}}
    n = parse_node(obj)
    assert n.pod_cidrs == ["10.42.3.0/24"] and n.addresses == [] and n.ready is None


def test_crashlooping_agent_pod():
    p = parse_pod(cilium_pod("crashloop"))
    agent = p.containers[0]
    assert (p.ready, p.owner_kind, p.owner_name, p.host_network) == (
        False,
        "DaemonSet",
        "cilium",
        True,
    )
    assert (agent.state, agent.reason, agent.restarts) == ("waiting", "CrashLoopBackOff", 7)
    assert (agent.last_reason, agent.last_exit_code) == ("Error", 1)
    assert p.reason == "CrashLoopBackOff" and p.restarts == 7
    assert [c.name for c in p.init_containers] == ["config", "mount-cgroup", "clean-cilium-state"]
    assert all(c.reason == "Completed" and c.exit_code == 0 for c in p.init_containers)


def test_pending_pod_without_statuses_keeps_its_containers():
    obj = pod("new", state="creating")
    obj["status"] = {"phase": "Pending"}
    p = parse_pod(obj)
    assert p.phase == "Pending" and p.ready is False and [c.name for c in p.containers] == ["main"]


def test_mirror_and_ownerless_pods():
    p = parse_pod(pod("kube-apiserver-n1", "kube-system", owner=("Node", "k3s-node1"), mirror=True))
    assert p.mirror and p.owner_kind == "Node"
    bare = parse_pod(pod("debug", owner=None))
    assert bare.owner_kind is None and not bare.mirror


def test_coredns_pod_ports():
    p = parse_pod(coredns_pod(port=5353))
    assert ("dns", 5353, "UDP") in p.ports and p.labels["k8s-app"] == "kube-dns"


def test_operator_without_replicas_field_defaults_to_one():
    d = deployment(available=0)
    del d["spec"]["replicas"]
    w = parse_deployment(d)
    assert (w.desired, w.available) == (1, 0)


def test_cilium_config_current_keys():
    c = parse_cilium_config(
        {
            "ipam": "cluster-pool",
            "cluster-pool-ipv4-cidr": "10.42.0.0/16 10.44.0.0/16",
            "cluster-pool-ipv4-mask-size": "24",
            "routing-mode": "native",
            "kube-proxy-replacement": "true",
            "enable-ipv6": "true",
        }
    )
    assert c.pool == ["10.42.0.0/16", "10.44.0.0/16"] and c.mask_size == 24
    assert (c.routing_mode, c.tunnel_protocol, c.kube_proxy_replacement) == ("native", None, "true")
    assert c.enable_ipv4 is True and c.enable_ipv6 is True
    assert c.raw["ipam"] == "cluster-pool"


def test_cilium_config_pre_1_14_tunnel_key():
    assert (
        parse_cilium_config({"tunnel": "geneve"}).routing_mode,
        parse_cilium_config({"tunnel": "geneve"}).tunnel_protocol,
    ) == ("tunnel", "geneve")
    assert parse_cilium_config({"tunnel": "disabled"}).routing_mode == "native"
    # the chart default pool when nothing was set
    assert parse_cilium_config({"cluster-pool-ipv4-cidr": "10.0.0.0/8"}).pool == ["10.0.0.0/8"]


def test_metallb_ranges_become_cidrs():
    pool = parse_metallb_pool(
        {
            "kind": "IPAddressPool",
            "metadata": {"name": "lan"},
            "spec": {"addresses": ["192.168.1.240-192.168.1.250", "10.10.0.0/28", "fc00::/120"]},
        }
    )
    assert pool.kind == "IPAddressPool" and pool.name == "lan"
    assert pool.cidrs == [
        "192.168.1.240/29",
        "192.168.1.248/31",
        "192.168.1.250/32",
        "10.10.0.0/28",
        "fc00::/120",
    ]


def test_cilium_lb_pool_blocks_ranges_and_old_cidrs():
    pool = parse_cilium_lb_pool(
        {
            "kind": "CiliumLoadBalancerIPPool",
            "metadata": {"name": "lb"},
            "spec": {
                "blocks": [
                    {"cidr": "172.20.0.0/24"},
                    {"start": "172.21.0.10", "stop": "172.21.0.13"},
                ]
            },
        }
    )
    assert pool.cidrs == ["172.20.0.0/24", "172.21.0.10/31", "172.21.0.12/31"]
    old = parse_cilium_lb_pool(
        {"metadata": {"name": "old"}, "spec": {"cidrs": [{"cidr": "172.22.0.0/24"}]}}
    )
    assert old.cidrs == ["172.22.0.0/24"]


def test_bad_range_is_dropped_not_fatal():
    assert range_to_cidrs("not-an-ip") == [] and range_to_cidrs("10.0.0.9-10.0.0.1") == []


@given(st.integers(0, 2**32 - 1), st.integers(0, 5000))
def test_range_cidrs_cover_exactly_the_range(start, length):
    end = min(start + length, 2**32 - 1)
    lo, hi = ipaddress.IPv4Address(start), ipaddress.IPv4Address(end)
    nets = [ipaddress.ip_network(c) for c in range_to_cidrs(f"{lo}-{hi}")]
    assert sum(n.num_addresses for n in nets) == end - start + 1
    assert nets[0].network_address == lo and nets[-1].broadcast_address == hi


def test_cilium_config_ipv6_and_dual_stack_pools():
    """Issue 14 item 8: the v6 pool is read (the chart's default fd00::/104 lies inside many
    home routers' ULA fd00::/64), beside the v4 pool; lists by spaces or commas."""
    c = parse_cilium_config(
        {
            "ipam": "cluster-pool",
            "enable-ipv4": "true",
            "enable-ipv6": "true",
            "cluster-pool-ipv4-cidr": "10.42.0.0/16 10.44.0.0/16",
            "cluster-pool-ipv4-mask-size": "24",
            "cluster-pool-ipv6-cidr": "fd00::/104,fd01::/104",
            "cluster-pool-ipv6-mask-size": "120",
        }
    )
    assert (c.pool, c.mask_size) == (["10.42.0.0/16", "10.44.0.0/16"], 24)
    assert (c.pool_v6, c.mask_size_v6) == (["fd00::/104", "fd01::/104"], 120)
    assert c.enable_ipv4 and c.enable_ipv6
    v4_only = parse_cilium_config({"cluster-pool-ipv4-cidr": "10.0.0.0/8"})
    assert (v4_only.pool_v6, v4_only.mask_size_v6, v4_only.enable_ipv6) == ([], None, False)
    v6_only = parse_cilium_config(
        {"enable-ipv4": "false", "enable-ipv6": "true", "cluster-pool-ipv6-cidr": "fd00::/104"}
    )
    assert (v6_only.pool, v6_only.pool_v6, v6_only.enable_ipv4) == ([], ["fd00::/104"], False)


def test_dual_stack_ciliumnode_and_node_keep_their_ipv6_cidrs():
    cn = parse_ciliumnode(
        {
            "metadata": {"name": "k3s-node1"},
            "spec": {
                "ipam": {"podCIDRs": ["10.42.0.0/24", "fd00::100/120"]},
                "addresses": [
                    {"type": "InternalIP", "ip": "192.168.1.21"},
                    {"type": "InternalIP", "ip": "fd12::21"},
                ],
            },
        }
    )
    assert cn.pod_cidrs == ["10.42.0.0/24", "fd00::100/120"]
    assert cn.addresses == ["192.168.1.21", "fd12::21"]
    n = parse_node(
        {"metadata": {"name": "k3s-node1"}, "spec": {"podCIDRs": ["10.42.0.0/24", "fd00::/120"]}}
    )
    assert n.pod_cidrs == ["10.42.0.0/24", "fd00::/120"]
