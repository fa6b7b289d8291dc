"""Every finding id of DESIGN §5: a snapshot where it fires (with the evidence a human
would check) — and the healthy snapshot where nothing fires."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from snapshots import (
    LXC,
    NODE,
    crashloop,
    creating,
    dump,
    healthy,
    ids,
    link,
    no_agent,
    route,
    running_pod,
    set_dns,
    unreachable,
)

from ciliumtui.checks import CATALOGUE, run_checks
from ciliumtui.checks.catalogue import METALLB_POOLS
from ciliumtui.model import (
    AgentHealth,
    AgentState,
    CiliumNodeInfo,
    CniFile,
    LbPool,
    ProbeStatus,
    Snapshot,
    SysctlSetting,
    Taint,
)

# DESIGN §5, copied on purpose: if the catalogue drifts from the contract, this fails.
DESIGN_IDS = {
    "apiserver-unreachable": "critical",
    "kernel-too-old": "critical",
    "bpffs-not-mounted": "warning",
    "pod-cidr-overlaps-node-network": "critical",
    "pod-cidr-overlaps-service-cidr": "critical",
    "pod-cidr-overlaps-upstream-dns": "critical",
    "lb-pool-overlaps-pod-cidr": "warning",
    "ciliumnode-cidr-stale": "critical",
    "node-ip-missing": "warning",
    "pod-capacity-exceeds-cidr": "warning",
    "cilium-agent-missing": "critical",
    "cilium-agent-not-ready": "critical",
    "cilium-agent-unhealthy": "critical",
    "cilium-operator-unavailable": "warning",
    "node-taint-agent-not-ready": "warning",
    "stale-cilium-interfaces": "critical",
    "stale-cilium-iptables": "critical",
    "iptables-backend-split": "warning",
    "coredns-not-ready": "critical",
    "dns-cluster-names-fail": "critical",
    "dns-external-names-fail": "critical",
    "pods-failing-on-node": "warning",
    "k3s-stop-hook-missing": "info",
    "kube-proxy-replacement-conflict": "warning",
    # wave 2
    "stale-cilium-bpf": "critical",
    "cni-config-conflict": "critical",
    "cni-config-orphaned": "critical",
    "k3s-flannel-not-disabled": "critical",
    "coredns-forward-loop": "critical",
    "rp-filter-strict": "warning",
    "mtu-mismatch": "warning",
    "node-upstream-dns-fails": "critical",
}
# The playbook ids of DESIGN §6 and the shared decisions (COMMON.md: finding → playbook).
PLAYBOOKS = {
    "diagnose",
    "cleanup",
    "cleanup-node",
    "restart",
    "verify",
    "k3s-stop-hook",
    "pod-cidr-change",
    "lb-pool-move",
    "cni-config-fix",
    "k3s-disable-flannel",
    "coredns-forward-fix",
    "rp-filter-fix",
    "mtu-fix",
}
# COMMON.md's finding → playbook table, copied on purpose.
WAVE2_PLAYBOOKS = {
    "stale-cilium-interfaces": "cleanup",
    "stale-cilium-iptables": "cleanup",
    "stale-cilium-bpf": "cleanup",
    "cni-config-orphaned": "cleanup",
    "iptables-backend-split": "cleanup",
    "cni-config-conflict": "cni-config-fix",
    "k3s-flannel-not-disabled": "k3s-disable-flannel",
    "coredns-forward-loop": "coredns-forward-fix",
    "rp-filter-strict": "rp-filter-fix",
    "mtu-mismatch": "mtu-fix",
    "lb-pool-overlaps-pod-cidr": "lb-pool-move",
    "pod-cidr-overlaps-node-network": "pod-cidr-change",
    "pod-cidr-overlaps-service-cidr": "pod-cidr-change",
    "pod-cidr-overlaps-upstream-dns": "pod-cidr-change",
    "ciliumnode-cidr-stale": "pod-cidr-change",
    "node-upstream-dns-fails": None,
}


def test_catalogue_is_exactly_the_design_table():
    assert {k: v.severity for k, v in CATALOGUE.items()} == DESIGN_IDS
    for fid, entry in CATALOGUE.items():
        assert entry.playbook is None or entry.playbook in PLAYBOOKS, fid
        assert entry.docs and entry.docs.startswith("https://"), fid
        assert entry.title and not entry.title.endswith("."), fid
    assert {fid: CATALOGUE[fid].playbook for fid in WAVE2_PLAYBOOKS} == WAVE2_PLAYBOOKS


def test_every_catalogue_playbook_is_shipped():
    """A finding must not offer a wizard that does not exist (issue 13: metallb-overlap
    offered "Start wizard" and nothing happened). Red until the wave-2 playbooks land."""
    from importlib.resources import files

    shipped = {p.name.removesuffix(".yaml") for p in files("ciliumtui.playbooks").iterdir()}
    missing = {
        fid: e.playbook for fid, e in CATALOGUE.items() if e.playbook and e.playbook not in shipped
    }
    assert not missing, missing


def test_healthy_snapshot_has_no_finding():
    assert run_checks(healthy()) == []


# ---------------------------------------------------------------- breakers


def _kernel_old(s: Snapshot) -> None:
    s.node.host.kernel = "5.4.0-150-generic"  # fine for 1.17, too old for 1.18.4


def _no_bpffs(s: Snapshot) -> None:
    s.node.host.bpffs_mounted = False


def _default_pool_on_10_net(s: Snapshot) -> None:
    s.cluster.config.pool = ["10.0.0.0/8"]
    s.node.links[1].addresses = ["10.0.3.7/22"]
    s.node.routes[1] = route("10.0.0.0/22", "eth0", protocol="kernel")


def _pool_covers_services(s: Snapshot) -> None:
    s.cluster.config.pool = ["10.0.0.0/8"]


def _upstream_in_pool(s: Snapshot) -> None:
    s.node.host.nameservers = ["10.42.7.53"]


def _metallb_in_pool(s: Snapshot) -> None:
    s.cluster.lb_pools = [LbPool("IPAddressPool", "default-pool", ["10.42.200.0/24"])]


def _stale_ciliumnode(s: Snapshot) -> None:
    s.cluster.ciliumnodes = [
        CiliumNodeInfo(NODE, ["10.0.0.0/24"]),
        CiliumNodeInfo("k3s-node2", ["10.0.1.0/24"]),
    ]


def _no_node_ip(s: Snapshot) -> None:
    s.cluster.node.addresses = [("Hostname", NODE)]


def _too_many_pods(s: Snapshot) -> None:
    s.cluster.node.allocatable_pods = 300


def _agent_missing(s: Snapshot) -> None:
    s.cluster.node_pods.remove(s.cluster.cilium_pod)
    s.cluster.cilium_pod = None


def _agent_not_ready(s: Snapshot) -> None:
    crashloop(s.cluster.cilium_pod)


def _agent_unhealthy(s: Snapshot) -> None:
    s.node.agent.health = AgentHealth(
        state="Failure",
        msg="Kubernetes service is not ready",
        version="1.18.4",
        kubernetes_state="Failure",
        kubernetes_msg='Get "https://10.43.0.1:443/version": dial tcp 10.43.0.1:443: i/o timeout',
        failing_controllers=["cilium-health-ep: context deadline exceeded"],
    )


def _operator_down(s: Snapshot) -> None:
    s.cluster.operator.available = 0
    s.cluster.operator.ready = 0


def _taint(s: Snapshot) -> None:
    s.cluster.node.taints = [Taint("node.cilium.io/agent-not-ready", "true", "NoSchedule")]


def _stale_links(s: Snapshot) -> None:
    no_agent(s)
    s.node.netfilter = [dump("nft", cilium=False, kube=True)]


def _stale_rules(s: Snapshot) -> None:
    no_agent(s)
    s.node.links = [lk for lk in s.node.links if not lk.cilium]
    s.node.routes = [r for r in s.node.routes if not r.cilium]


def _backend_split(s: Snapshot) -> None:
    s.node.netfilter = [
        dump("legacy", cilium=True, kube=False),
        dump("nft", cilium=False, kube=True),
    ]


def _coredns_down(s: Snapshot) -> None:
    crashloop(s.cluster.coredns_pods[0], restarts=5)


def _dns_cluster_fail(s: Snapshot) -> None:
    set_dns(s, cluster="SERVFAIL", external="SERVFAIL")


def _dns_external_fail(s: Snapshot) -> None:
    set_dns(s, external="timeout")


def _pods_failing(s: Snapshot) -> None:
    creating(s.cluster.node_pods[2])


def _no_stop_hook(s: Snapshot) -> None:
    s.node.host.k3s.stop_hook = False


def _kpr_conflict(s: Snapshot) -> None:
    s.cluster.config.kube_proxy_replacement = "true"  # but k3s still runs its kube-proxy


# ------------------------------------------------------------------- wave 2

LOOP_LOG = (
    '[FATAL] plugin/loop: Loop (127.0.0.1:55953 -> :53) detected for zone ".", see '
    'https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO 4547991504243258144.3688648895315093531."'
)


def _stale_bpf(s: Snapshot) -> None:
    """k3s stopped without the hook: links and chains removed by the docs' one-liner,
    the BPF programs and pins still there."""
    no_agent(s, keep_bpf=True)
    s.node.links = [lk for lk in s.node.links if not lk.cilium]
    s.node.routes = [r for r in s.node.routes if not r.cilium]
    s.node.rules = []
    s.node.netfilter = [dump("nft", cilium=False, kube=True)]


def _cni_conflict(s: Snapshot) -> None:
    s.node.host.cni_files.insert(0, CniFile("00-calico.conflist", plugins=["calico", "portmap"]))


def _cni_orphaned(s: Snapshot) -> None:
    no_agent(s, pod="missing")
    s.cluster.cilium_daemonset = None
    s.node.links = [lk for lk in s.node.links if not lk.cilium]
    s.node.routes = [r for r in s.node.routes if not r.cilium]
    s.node.rules = []
    s.node.netfilter = [dump("nft", cilium=False, kube=True)]


def _flannel_on(s: Snapshot) -> None:
    s.node.host.k3s.flannel_backend = None  # a server: flannel's default vxlan backend


def _forward_loop(s: Snapshot) -> None:
    crashloop(s.cluster.coredns_pods[0], restarts=7)
    s.node.host.nameservers = ["127.0.0.53"]
    s.node.host.resolved_nameservers = ["192.168.1.1"]
    s.cluster.coredns_corefile = ".:53 {\n    errors\n    forward . /etc/resolv.conf\n    loop\n}\n"
    s.cluster.coredns_log = ["[INFO] plugin/reload: Running configuration SHA512 = 1e2f", LOOP_LOG]


def _rp_filter(s: Snapshot) -> None:
    s.node.rp_filter["all"] = 1
    s.node.host.sysctl_files = [
        SysctlSetting("/etc/sysctl.d/99-hardening.conf", "net.ipv4.conf.all.rp_filter", "1"),
        SysctlSetting(
            "/etc/sysctl.d/99-zzz-override_cilium.conf", "net.ipv4.conf.lxc*.rp_filter", "0"
        ),
    ]


def _mtu(s: Snapshot) -> None:
    next(lk for lk in s.node.links if lk.name == "eth0").mtu = 1450  # a cloud network


def _node_dns(s: Snapshot) -> None:
    for c in s.dns.checks:
        if c.via == "node":
            c.rcode, c.answers, c.ms, c.error = None, [], None, "timeout after 2.0s"


CASES: dict[str, tuple[Callable[[Snapshot], None], list[str]]] = {
    "apiserver-unreachable": (unreachable, ["https://127.0.0.1:6443: timed out after 3s"]),
    "kernel-too-old": (_kernel_old, ["kernel 5.4.0-150-generic < 5.10 required by Cilium 1.18.4"]),
    "bpffs-not-mounted": (_no_bpffs, ["no 'bpf' filesystem mounted at /sys/fs/bpf (/proc/mounts)"]),
    "pod-cidr-overlaps-node-network": (
        _default_pool_on_10_net,
        [
            "eth0 10.0.3.7/22 lies inside pool 10.0.0.0/8",
            "lxcbr0 10.0.3.1/24 lies inside pool 10.0.0.0/8",
        ],
    ),
    "pod-cidr-overlaps-service-cidr": (
        _pool_covers_services,
        [
            "service CIDR 10.43.0.0/16 lies inside pool 10.0.0.0/8",
            "cluster DNS (kube-dns Service) 10.43.0.10 lies inside pool 10.0.0.0/8",
        ],
    ),
    "pod-cidr-overlaps-upstream-dns": (
        _upstream_in_pool,
        ["nameserver 10.42.7.53 (resolv.conf) lies inside pool 10.42.0.0/16"],
    ),
    "lb-pool-overlaps-pod-cidr": (
        _metallb_in_pool,
        ["IPAddressPool default-pool 10.42.200.0/24 lies inside pool 10.42.0.0/16"],
    ),
    "ciliumnode-cidr-stale": (
        _stale_ciliumnode,
        [
            "CiliumNode k3s-node1: podCIDR 10.0.0.0/24 lies outside pool 10.42.0.0/16",
            "CiliumNode k3s-node2: podCIDR 10.0.1.0/24 lies outside pool 10.42.0.0/16",
        ],
    ),
    "node-ip-missing": (
        _no_node_ip,
        ["Node k3s-node1 status.addresses: Hostname=k3s-node1 (no InternalIP/ExternalIP)"],
    ),
    "pod-capacity-exceeds-cidr": (
        _too_many_pods,
        [
            "Node k3s-node1 allocatable pods: 300 > 252 pod addresses in a /24 (CiliumNode "
            "k3s-node1 podCIDR 10.42.0.0/24; 256 minus network, broadcast, cilium_host and health)"
        ],
    ),
    "cilium-agent-missing": (
        _agent_missing,
        ["no cilium agent pod on node k3s-node1"],
    ),
    "cilium-agent-not-ready": (
        _agent_not_ready,
        ["cilium-x7k2p in kube-system: CrashLoopBackOff, exit code 1, 12 restarts"],
    ),
    "cilium-agent-unhealthy": (
        _agent_unhealthy,
        [
            "agent API: cilium Failure: Kubernetes service is not ready",
            "details: kubectl -n kube-system exec cilium-x7k2p -c cilium-agent -- cilium-dbg status --verbose",
        ],
    ),
    "cilium-operator-unavailable": (
        _operator_down,
        ["Deployment kube-system/cilium-operator: 0 available of 1 desired"],
    ),
    "node-taint-agent-not-ready": (
        _taint,
        ["Node k3s-node1 taint node.cilium.io/agent-not-ready=true:NoSchedule"],
    ),
    "stale-cilium-interfaces": (
        _stale_links,
        [
            f"7 Cilium links: cilium_net, cilium_host, cilium_vxlan, lxc_health, {', '.join(LXC)}",
            "no live agent: no pidfile /var/run/cilium/cilium.pid, no socket /var/run/cilium/cilium.sock",
        ],
    ),
    "stale-cilium-iptables": (
        _stale_rules,
        [
            "no Ready cilium pod on this node (cilium-x7k2p in kube-system: CrashLoopBackOff, exit code 1, 12 restarts)"
        ],
    ),
    "iptables-backend-split": (
        _backend_split,
        ["kube-proxy/kubelet (KUBE-*) rules in iptables-nft"],
    ),
    "coredns-not-ready": (
        _coredns_down,
        ["coredns-6799fbcd5-q8xkz in kube-system: CrashLoopBackOff, exit code 1, 5 restarts"],
    ),
    "dns-cluster-names-fail": (
        _dns_cluster_fail,
        ["kubernetes.default.svc.cluster.local @ 10.43.0.10:53 (service): SERVFAIL"],
    ),
    "dns-external-names-fail": (
        _dns_external_fail,
        [
            "example.com @ 10.43.0.10:53 (service): timeout after 2.0s",
            "kubernetes.default.svc.cluster.local @ 10.43.0.10:53 (service): NOERROR 10.43.0.1",
        ],
    ),
    "pods-failing-on-node": (
        _pods_failing,
        ["web-7d9f8-abcde in default: ContainerCreating"],
    ),
    "k3s-stop-hook-missing": (
        _no_stop_hook,
        [
            "/etc/systemd/system/k3s.service has no ExecStopPost removing cilium_host/cilium_net/cilium_vxlan and CILIUM rules"
        ],
    ),
    "kube-proxy-replacement-conflict": (
        _kpr_conflict,
        [
            "cilium-config kube-proxy-replacement: true",
            "k3s runs its embedded kube-proxy (no disable-kube-proxy)",
        ],
    ),
    "stale-cilium-bpf": (
        _stale_bpf,
        [
            "tc-ingress eth0: cil_from_netdev (prog 101, pref 1 handle 0x1)",
            "cgroup:connect4 /run/cilium/cgroupv2: cil_sock4_connect (prog 120)",
            "3 Cilium pins under /sys/fs/bpf/tc/globals: cilium_lxc, cilium_ipcache_v2, "
            "cilium_calls_hostns",
            "no live agent: no pidfile /var/run/cilium/cilium.pid, no socket /var/run/cilium/cilium.sock",
        ],
    ),
    "cni-config-conflict": (
        _cni_conflict,
        [
            "the runtime uses /etc/cni/net.d/00-calico.conflist (first of: 00-calico.conflist, "
            "05-cilium.conflist)",
            "Cilium's 05-cilium.conflist should win but sorts after 00-calico.conflist",
            "Cilium is installed: DaemonSet kube-system/cilium",
        ],
    ),
    "cni-config-orphaned": (
        _cni_orphaned,
        [
            "/etc/cni/net.d/05-cilium.conflist is Cilium's CNI config — the config the runtime uses",
            "no cilium DaemonSet in kube-system: Cilium is not installed",
        ],
    ),
    "k3s-flannel-not-disabled": (
        _flannel_on,
        [
            "k3s server: no 'flannel-backend: none' in /etc/rancher/k3s/config.yaml, "
            "config.yaml.d/*.yaml or the unit's ExecStart (flannel runs by default)"
        ],
    ),
    "coredns-forward-loop": (
        _forward_loop,
        [
            LOOP_LOG,
            "Corefile: forward . /etc/resolv.conf",
            "the node's resolv.conf names 127.0.0.53: CoreDNS (dnsPolicy Default) forwards to "
            "its own loopback, which is CoreDNS itself",
        ],
    ),
    "rp-filter-strict": (
        _rp_filter,
        [
            "effective rp_filter 1 (strict) on cilium_net, cilium_host, lxc_health, "
            "lxc1a2b3c4d5e6f and 2 more lxc devices",
            "net.ipv4.conf.all.rp_filter = 1 (set by /etc/sysctl.d/99-hardening.conf: "
            "net.ipv4.conf.all.rp_filter = 1): the kernel uses max(all, <device>), so Cilium's "
            "per-device 0 does not count",
        ],
    ),
    "mtu-mismatch": (
        _mtu,
        [
            "uplink eth0 (default route via 192.168.1.1) MTU 1450",
            "MTU 1500 > 1450 on cilium_net, cilium_host, cilium_vxlan, lxc_health, 3 lxc devices",
        ],
    ),
    "node-upstream-dns-fails": (
        _node_dns,
        ["example.com @ 192.168.1.1:53 (node): timeout after 2.0s"],
    ),
}


def test_every_id_has_a_case():
    assert set(CASES) == set(DESIGN_IDS)


@pytest.mark.parametrize("fid", sorted(CASES))
def test_finding_fires_with_evidence(fid: str):
    breaker, evidence = CASES[fid]
    snap = healthy()
    breaker(snap)
    found = {f.id: f for f in run_checks(snap)}
    assert fid in found, f"{fid} did not fire; got {sorted(found)}"
    f = found[fid]
    for line in evidence:
        assert line in f.evidence, f"{line!r} not in {f.evidence}"
    entry = CATALOGUE[fid]
    docs = METALLB_POOLS if fid == "lb-pool-overlaps-pod-cidr" else entry.docs  # a MetalLB pool
    assert (f.severity, f.title, f.docs) == (entry.severity, entry.title, docs)
    assert f.root_cause, f"{fid} is explained by {f.explained_by}: the case must make it a root"
    assert f.playbook == entry.playbook


def test_findings_sorted_root_causes_first_then_severity():
    snap = healthy()
    _no_stop_hook(snap)
    _operator_down(snap)
    _no_bpffs(snap)
    _agent_not_ready(snap)
    _upstream_in_pool(snap)
    found = run_checks(snap)
    assert ids(found) == [
        "pod-cidr-overlaps-upstream-dns",  # roots: critical first
        "bpffs-not-mounted",  # a warning root that explains the agent's state
        "cilium-operator-unavailable",
        "k3s-stop-hook-missing",
        "cilium-agent-not-ready",  # the symptom, after every root
    ]
    agent = found[-1]
    assert agent.explained_by == ["bpffs-not-mounted"] and not agent.root_cause
    assert agent.playbook is None  # bpffs has no playbook: restarting would not fix it


# ----------------------------------------------------- version awareness & edges


@pytest.mark.parametrize(
    ("kernel", "version", "fires", "need"),
    [
        ("5.4.0-150-generic", "1.17.9", False, None),
        ("5.4.0-150-generic", "1.18.0", True, "5.10"),
        ("5.4.0-150-generic", None, True, "5.10 required by Cilium 1.18+ (version unknown)"),
        ("4.19.0-21-amd64", "1.16.3", True, "5.4 required by Cilium 1.16.3"),
        ("5.10.0-28-amd64", "1.18.4", False, None),
        ("4.18.0-553.el8_10.x86_64", "1.18.4", False, None),  # RHEL 8 backports
    ],
)
def test_kernel_minimum_depends_on_cilium_version(kernel, version, fires, need):
    snap = unreachable(healthy())
    snap.node.host.kernel = kernel
    snap.node.agent.health.version = version
    found = {f.id: f for f in run_checks(snap)}
    assert ("kernel-too-old" in found) is fires
    if need:
        assert need in found["kernel-too-old"].evidence[0]


def test_old_cilium_suggests_cilium_not_cilium_dbg():
    snap = healthy()
    _agent_unhealthy(snap)
    snap.cluster.cilium_version = "1.14.5"
    (f,) = [f for f in run_checks(snap) if f.id == "cilium-agent-unhealthy"]
    assert f.evidence[-1].endswith("-- cilium status --verbose")


def test_warning_state_is_not_unhealthy():
    snap = healthy()
    snap.node.agent.health.state = "Warning"
    assert run_checks(snap) == []


def test_working_agent_owns_its_links_and_chains():
    """With a live agent (API up) even a not-Ready pod does not make debris."""
    snap = healthy()
    crashloop(snap.cluster.cilium_pod)
    assert "stale-cilium-interfaces" not in ids(run_checks(snap))
    assert "stale-cilium-iptables" not in ids(run_checks(snap))


def test_ready_pod_counts_as_running_agent_even_without_socket():
    snap = healthy()
    snap.node.agent.reachable = snap.node.agent.pid_alive = False
    assert run_checks(snap) == []


def test_pid_alone_counts_as_running_agent():
    snap = unreachable(healthy())
    snap.node.agent.reachable = False  # socket wedged, but the pid runs
    assert not {"stale-cilium-interfaces", "stale-cilium-iptables"} & set(ids(run_checks(snap)))


def test_dead_pidfile_is_named_in_the_evidence():
    snap = no_agent(healthy())
    snap.node.agent.pidfile, snap.node.agent.pid = "/var/run/cilium/cilium.pid", 4242
    (f,) = [f for f in run_checks(snap) if f.id == "stale-cilium-interfaces"]
    assert (
        "no live agent: pidfile /var/run/cilium/cilium.pid names pid 4242, not running, no socket /var/run/cilium/cilium.sock"
        in f.evidence
    )


def test_decoys_are_not_debris():
    """lxcbr0/docker0 and a user rule commenting 'cilium' are never Cilium's."""
    snap = no_agent(healthy())
    snap.node.links = [lk for lk in snap.node.links if not lk.cilium]
    snap.node.routes = [r for r in snap.node.routes if not r.cilium]
    snap.node.rules = []
    snap.node.netfilter = [dump("nft", cilium=False, kube=True)]
    assert "stale-cilium-interfaces" not in ids(run_checks(snap))
    assert "stale-cilium-iptables" not in ids(run_checks(snap))


def test_cilium_routes_and_links_are_excluded_from_overlaps():
    """cilium_host 10.42.0.183/32 and the pod CIDR routes are inside the pool — by design."""
    snap = healthy()
    assert snap.node.links[3].name == "cilium_host"
    assert "pod-cidr-overlaps-node-network" not in ids(run_checks(snap))


def test_non_cilium_route_into_pool_fires():
    snap = healthy()
    snap.node.routes.append(route("10.42.128.0/20", "eth0", via="192.168.1.254"))
    (f,) = [f for f in run_checks(snap) if f.id == "pod-cidr-overlaps-node-network"]
    assert f.evidence == [
        "route 10.42.128.0/20 via 192.168.1.254 dev eth0 lies inside pool 10.42.0.0/16"
    ]


def test_native_routing_peer_routes_are_not_overlaps():
    """autoDirectNodeRoutes: '10.42.1.0/24 via <peer> dev eth0' is Cilium's route to a peer."""
    snap = healthy()
    snap.node.routes.append(route("10.42.1.0/24", "eth0", via="192.168.1.22"))
    assert run_checks(snap) == []


def test_loopback_addresses_are_not_node_network():
    snap = healthy()
    snap.node.links[0].addresses.append("10.42.0.50/32")  # node-local DNS / the sim's CoreDNS IP
    assert run_checks(snap) == []


def test_pool_inside_a_wide_node_route():
    snap = healthy()
    snap.node.routes.append(route("10.0.0.0/8", "wg0", via="10.255.0.1"))
    (f,) = [f for f in run_checks(snap) if f.id == "pod-cidr-overlaps-node-network"]
    assert "pool 10.42.0.0/16 lies inside route 10.0.0.0/8 via 10.255.0.1 dev wg0" in f.evidence


def test_lb_pool_in_lan_is_fine_unless_it_holds_an_address_in_use():
    snap = healthy()
    snap.cluster.lb_pools = [LbPool("IPAddressPool", "lan", ["192.168.1.240/28"])]
    assert run_checks(snap) == []
    snap.cluster.lb_pools = [LbPool("CiliumLoadBalancerIPPool", "lan", ["192.168.1.16/28"])]
    (f,) = [f for f in run_checks(snap) if f.id == "lb-pool-overlaps-pod-cidr"]
    assert f.evidence == [
        "CiliumLoadBalancerIPPool lan 192.168.1.16/28 contains eth0's address 192.168.1.21"
    ]


def test_service_cidr_from_k3s_config_when_cluster_silent():
    snap = healthy()
    snap.cluster.service_cidr = []
    snap.cluster.config.pool = ["10.0.0.0/8"]
    (f,) = [f for f in run_checks(snap) if f.id == "pod-cidr-overlaps-service-cidr"]
    assert "k3s service-cidr 10.43.0.0/16 lies inside pool 10.0.0.0/8" in f.evidence


def test_ipam_kubernetes_uses_k3s_cluster_cidr():
    snap = healthy()
    snap.cluster.config.ipam = "kubernetes"
    snap.cluster.config.pool = []
    snap.node.host.nameservers = ["10.42.9.9"]
    (f,) = [f for f in run_checks(snap) if f.id == "pod-cidr-overlaps-upstream-dns"]
    assert f.evidence[0] == "nameserver 10.42.9.9 (resolv.conf) lies inside pod CIDR 10.42.0.0/16"
    assert "ciliumnode-cidr-stale" not in ids(run_checks(snap))


def test_kpr_off_with_kube_proxy_disabled_conflicts():
    snap = healthy()
    snap.node.host.k3s.disable_kube_proxy = True
    (f,) = [f for f in run_checks(snap) if f.id == "kube-proxy-replacement-conflict"]
    assert "k3s disable-kube-proxy: true" in f.evidence
    snap.cluster.config.kube_proxy_replacement = "true"
    assert run_checks(snap) == []


def test_kpr_against_kube_proxy_daemonset_off_k3s():
    snap = healthy()
    snap.node.host.k3s = None
    snap.cluster.kube_proxy = True
    snap.cluster.config.kube_proxy_replacement = "true"
    (f,) = [f for f in run_checks(snap) if f.id == "kube-proxy-replacement-conflict"]
    assert "a kube-proxy DaemonSet runs in kube-system" in f.evidence


def test_stop_hook_not_claimed_for_a_non_cilium_k3s():
    snap = healthy()
    snap.node.agent = AgentState()
    snap.node.host.k3s.stop_hook = False
    snap.node.host.k3s.flannel_backend = None
    snap.node.host.cni_files = []
    snap.node.links = [lk for lk in snap.node.links if not lk.cilium]
    snap.cluster.cilium_daemonset = snap.cluster.cilium_pod = None
    assert "k3s-stop-hook-missing" not in ids(run_checks(snap))


def test_operator_deployment_absent():
    snap = healthy()
    snap.cluster.operator = None
    (f,) = [f for f in run_checks(snap) if f.id == "cilium-operator-unavailable"]
    assert f.evidence == ["no cilium-operator Deployment in kube-system"]


def test_agent_missing_names_the_daemonset():
    snap = healthy()
    _agent_missing(snap)
    snap.cluster.cilium_daemonset.ready = 1
    (f,) = [f for f in run_checks(snap) if f.id == "cilium-agent-missing"]
    assert any("DaemonSet kube-system/cilium: 2 desired, 1 ready" in e for e in f.evidence)


def test_nothing_resolves_is_cluster_fail_not_external_fail():
    snap = set_dns(healthy(), cluster="timeout", external="timeout")
    found = ids(run_checks(snap))
    assert "dns-cluster-names-fail" in found
    assert "dns-external-names-fail" not in found


def test_pods_failing_ignores_the_agent_and_running_pods():
    snap = healthy()
    crashloop(snap.cluster.node_pods[3])
    snap.cluster.node_pods.append(creating(running_pod("api-5c6-zz9xq", "prod")))
    (f,) = [f for f in run_checks(snap) if f.id == "pods-failing-on-node"]
    assert f.evidence == [
        "metrics-server-5f8-xyz12 in kube-system: CrashLoopBackOff, exit code 1, 12 restarts",
        "api-5c6-zz9xq in prod: ContainerCreating",
    ]


def test_many_links_are_counted_not_listed():
    snap = no_agent(healthy())
    snap.node.links += [link(f"lxc{i:012x}", 100 + i, kind="veth") for i in range(40)]
    (f,) = [f for f in run_checks(snap) if f.id == "stale-cilium-interfaces"]
    assert f.evidence[0].startswith("47 Cilium links: cilium_net, ")
    assert f.evidence[0].endswith(" and 39 more")


@pytest.mark.parametrize(
    ("probe", "empty", "silent"),
    [
        ("cilium-pod", lambda s: setattr(s.cluster, "cilium_pod", None), "cilium-agent-missing"),
        ("coredns", lambda s: setattr(s.cluster, "coredns_pods", []), "coredns-not-ready"),
        (
            "cilium-workloads",
            lambda s: setattr(s.cluster, "operator", None),
            "cilium-operator-unavailable",
        ),
    ],
)
def test_a_failed_read_is_absent_data_not_a_finding(probe, empty, silent):
    """A cluster read that failed leaves a fallback (None, []): that is not evidence."""
    snap = healthy()
    empty(snap)
    assert silent in ids(run_checks(snap))  # the same emptiness, observed, is a finding
    snap.probes[probe] = ProbeStatus(False, "403 Forbidden", 12.0)
    assert silent not in ids(run_checks(snap))


def test_a_failed_agent_probe_does_not_make_debris():
    snap = unreachable(no_agent(healthy()))
    snap.probes["agent"] = ProbeStatus(False, "timed out after 3s", 3000.0)
    assert ids(run_checks(snap)) == ["apiserver-unreachable"]


def test_apiserver_probe_error_is_evidence():
    snap = unreachable(healthy())
    snap.probes["apiserver"] = ProbeStatus(False, "apiserver did not answer within 3s", 3900.0)
    (f,) = [f for f in run_checks(snap) if f.id == "apiserver-unreachable"]
    assert f.evidence[-2:] == [
        "probe apiserver: apiserver did not answer within 3s",
        "gave up after 3.9 s",
    ]


def test_node_only_snapshot_makes_no_cluster_finding():
    snap = no_agent(healthy())
    snap.cluster, snap.dns = None, None
    assert ids(run_checks(snap)) == ["stale-cilium-interfaces", "stale-cilium-iptables"]


def test_paths_are_shown_as_on_the_node_not_under_host_root():
    snap = no_agent(healthy())
    snap.host_root = "/tmp/fake-root"
    snap.node.agent.socket = "/tmp/fake-root/var/run/cilium/cilium.sock"
    snap.node.host.k3s.unit_file = "/tmp/fake-root/etc/systemd/system/k3s.service"
    snap.node.host.k3s.stop_hook = False
    found = {f.id: f for f in run_checks(snap)}
    assert (
        found["stale-cilium-interfaces"]
        .evidence[-1]
        .endswith("no socket /var/run/cilium/cilium.sock")
    )
    assert (
        found["k3s-stop-hook-missing"]
        .evidence[0]
        .startswith("/etc/systemd/system/k3s.service has no")
    )


def test_readme_lists_every_finding_id():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("### Findings") : readme.index("### Playbooks")]
    assert [fid for fid in CATALOGUE if f"`{fid}`" not in section] == []


def test_readme_lists_every_shipped_playbook():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    section = readme[readme.index("### Playbooks") : readme.index("Cleanup touches only")]
    shipped = sorted(p.stem for p in (root / "playbooks").glob("*.yaml"))
    assert len(shipped) >= 13
    assert [pb for pb in shipped if f"`{pb}`" not in section] == []
