"""The field notes' stories (seed/cilium-notes.md) as snapshots: what the operator saw,
what ciliumtui must say."""

from __future__ import annotations

from snapshots import (
    crashloop,
    creating,
    healthy,
    ids,
    no_agent,
    route,
    set_dns,
    unreachable,
)

from ciliumtui.checks import run_checks
from ciliumtui.model import CiliumNodeInfo, LbPool


def _on_ten_net(snap):
    """A VPS whose eth0 sits in 10.0.0.0/22, Cilium installed with the chart's default pool."""
    snap.node.links[1].addresses = ["10.0.3.7/22"]
    snap.node.routes[0] = route("default", "eth0", via="10.0.0.1")
    snap.node.routes[1] = route("10.0.0.0/22", "eth0", protocol="kernel")
    snap.node.host.nameservers = ["10.0.0.2"]
    snap.cluster.node.addresses = [("InternalIP", "10.0.3.7")]
    snap.cluster.config.pool = ["10.0.0.0/8"]
    snap.cluster.ciliumnodes = [CiliumNodeInfo("k3s-node1", ["10.0.0.0/24"])]
    # Cilium routed its per-node CIDR on top of the LAN.
    snap.node.routes = [r for r in snap.node.routes if r.dev != "cilium_host"]
    snap.node.routes.append(route("10.0.0.0/24", "cilium_host", via="10.0.0.183"))
    snap.node.links[3].addresses = ["10.0.0.183/32"]
    return snap


def test_a_default_pool_on_a_10_network_k3s_node():
    found = {f.id: f for f in run_checks(_on_ten_net(healthy()))}
    assert set(found) == {
        "pod-cidr-overlaps-node-network",
        "pod-cidr-overlaps-service-cidr",
        "pod-cidr-overlaps-upstream-dns",
    }
    assert (
        "eth0 10.0.3.7/22 lies inside pool 10.0.0.0/8"
        in found["pod-cidr-overlaps-node-network"].evidence
    )
    assert found["pod-cidr-overlaps-service-cidr"].evidence == [
        "service CIDR 10.43.0.0/16 lies inside pool 10.0.0.0/8",
        "cluster DNS (kube-dns Service) 10.43.0.10 lies inside pool 10.0.0.0/8",
    ]
    assert all(f.playbook == "pod-cidr-change" for f in found.values())


def test_a_when_the_overlap_already_cut_the_apiserver_off():
    """SSH/API die after install: the node alone still shows the per-node CIDR on the LAN."""
    found = {f.id: f for f in run_checks(unreachable(_on_ten_net(healthy())))}
    assert set(found) == {
        "apiserver-unreachable",
        "pod-cidr-overlaps-node-network",
        "pod-cidr-overlaps-upstream-dns",
    }
    assert found["pod-cidr-overlaps-node-network"].evidence == [
        "pod CIDR 10.0.0.0/24 (route dev cilium_host) lies inside eth0 10.0.3.7/22"
    ]
    assert found["pod-cidr-overlaps-upstream-dns"].evidence[0] == (
        "nameserver 10.0.0.2 (resolv.conf) lies inside pod CIDR 10.0.0.0/24 (route dev cilium_host)"
    )


def test_b_pool_changed_by_helm_upgrade_ciliumnodes_keep_old_cidrs():
    snap = healthy()
    snap.cluster.config.pool = ["172.20.0.0/16"]  # after helm upgrade
    # CiliumNodes (and so the node's routes) still carry the first install's pool.
    assert [cn.pod_cidrs for cn in snap.cluster.ciliumnodes] == [["10.42.0.0/24"], ["10.42.1.0/24"]]
    found = {f.id: f for f in run_checks(snap)}
    assert set(found) == {"ciliumnode-cidr-stale"}
    assert found["ciliumnode-cidr-stale"].evidence[:2] == [
        "CiliumNode k3s-node1: podCIDR 10.42.0.0/24 lies outside pool 172.20.0.0/16",
        "CiliumNode k3s-node2: podCIDR 10.42.1.0/24 lies outside pool 172.20.0.0/16",
    ]
    assert found["ciliumnode-cidr-stale"].playbook == "pod-cidr-change"


def _post_reboot(snap):
    no_agent(snap)  # /var/run is tmpfs: no pidfile, no socket; the pod crashloops
    for p in snap.cluster.node_pods[2:]:
        creating(p)
    set_dns(snap, external="SERVFAIL")
    return snap


def test_c_after_a_hard_reboot():
    found = {f.id: f for f in run_checks(_post_reboot(healthy()))}
    assert set(found) == {
        "cilium-agent-not-ready",
        "stale-cilium-interfaces",
        "stale-cilium-iptables",
        "dns-external-names-fail",
        "pods-failing-on-node",
    }
    assert found["stale-cilium-interfaces"].playbook == "cleanup"
    assert found["stale-cilium-iptables"].playbook == "cleanup"
    assert (
        "example.com @ 10.43.0.10:53 (service): SERVFAIL"
        in found["dns-external-names-fail"].evidence
    )
    assert found["pods-failing-on-node"].evidence == [
        "web-7d9f8-abcde in default: ContainerCreating",
        "metrics-server-5f8-xyz12 in kube-system: ContainerCreating",
    ]


def test_c_after_a_hard_reboot_with_the_apiserver_down():
    """Node findings that can still be decided come; no cluster finding is invented."""
    found = ids(run_checks(unreachable(_post_reboot(healthy()))))
    assert found == ["apiserver-unreachable", "stale-cilium-interfaces", "stale-cilium-iptables"]


def test_c_after_cleanup_and_restart_the_node_is_healthy():
    """The fix (cleanup, agent restart, pods restarted) → the agent runs, nothing is stale."""
    snap = healthy()
    crashloop(snap.cluster.cilium_pod)
    snap.cluster.cilium_pod.ready = True  # restarted; running again
    snap.cluster.cilium_pod.containers[0].reason = None
    assert run_checks(snap) == []


def test_d_metallb_pool_inside_the_pod_pool():
    snap = healthy()
    snap.cluster.config.pool = ["10.0.0.0/8"]
    snap.node.host.k3s.service_cidr = []
    snap.cluster.service_cidr = []
    snap.cluster.kube_dns.cluster_ip = None
    snap.node.host.k3s.cluster_dns = None
    snap.cluster.ciliumnodes = [CiliumNodeInfo("k3s-node1", ["10.0.0.0/24"])]
    snap.node.links = [lk for lk in snap.node.links if lk.name != "lxcbr0"]
    snap.node.routes = [r for r in snap.node.routes if r.dev != "lxcbr0"]
    snap.cluster.lb_pools = [LbPool("IPAddressPool", "metallb-default", ["10.10.10.0/24"])]
    found = {f.id: f for f in run_checks(snap)}
    assert set(found) == {"lb-pool-overlaps-pod-cidr"}
    assert found["lb-pool-overlaps-pod-cidr"].evidence == [
        "IPAddressPool metallb-default 10.10.10.0/24 lies inside pool 10.0.0.0/8"
    ]
    assert found["lb-pool-overlaps-pod-cidr"].severity == "warning"


def test_a_apiserver_down_k3s_cluster_cidr_stands_in_for_the_pool():
    """k3s itself was installed with --cluster-cidr 10.0.0.0/8 on the 10.0.0.0/22 LAN."""
    snap = unreachable(_on_ten_net(healthy()))
    snap.node.host.k3s.cluster_cidr = ["10.0.0.0/8"]
    found = {f.id: f for f in run_checks(snap)}
    assert found["pod-cidr-overlaps-node-network"].evidence[0] == (
        "eth0 10.0.3.7/22 lies inside k3s cluster-cidr 10.0.0.0/8"
    )
    # the routed per-node CIDR lies inside the cluster-cidr: reported once, not twice
    assert not any(
        "route dev cilium_host" in e for e in found["pod-cidr-overlaps-node-network"].evidence
    )
    assert "k3s service-cidr 10.43.0.0/16 lies inside k3s cluster-cidr 10.0.0.0/8" in (
        found["pod-cidr-overlaps-service-cidr"].evidence
    )
