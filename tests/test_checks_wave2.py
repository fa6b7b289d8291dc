"""The wave-2 checks (issue 14, DESIGN §5 wave 2) beyond their firing case in
test_checks_findings.py: silent on the healthy variants (a live agent with its
programs attached, equal MTUs, loose rp_filter on the uplink only...), the
evidence each prints, the agent's last words, and the explains-links they make."""

from __future__ import annotations

import pytest
from snapshots import (
    attach,
    crashloop,
    dump,
    healthy,
    ids,
    link,
    no_agent,
    pin,
    set_dns,
    unreachable,
)

from ciliumtui.checks import run_checks
from ciliumtui.checks.cni import K3S_CNI_DIR, runtime_cni_config, runtime_cni_dir
from ciliumtui.model import AgentState, CniFile, DnsCheck, Route, Snapshot, SysctlSetting

LOOP = '[FATAL] plugin/loop: Loop (127.0.0.1:55953 -> :53) detected for zone ".", see https://coredns.io/plugins/loop#troubleshooting'


def found(snap: Snapshot, fid: str):
    hits = [f for f in run_checks(snap) if f.id == fid]
    assert hits, f"{fid} did not fire: {ids(run_checks(snap))}"
    return hits[0]


def silent(snap: Snapshot, fid: str) -> bool:
    return fid not in ids(run_checks(snap))


# --------------------------------------------------------------------- BPF


def test_a_live_agent_owns_its_programs():
    snap = healthy()
    assert [a for a in snap.node.bpf.attachments if a.cilium]  # programs attached...
    assert run_checks(snap) == []  # ...by a running agent: nothing stale


def test_stale_bpf_lists_only_cilium_s_programs_and_pins():
    snap = no_agent(healthy(), keep_bpf=True)
    f = found(snap, "stale-cilium-bpf")
    text = "\n".join(f.evidence)
    assert "edt_ratelimit" not in text and "other_team_map" not in text  # decoys stay out
    assert "tc-ingress cil_from_container on 3 lxc devices (lxc1a2b3c4d5e6f, " in text
    assert (
        "1 Cilium pin under /sys/fs/bpf/cilium (bpf_links among them hold tcx/XDP programs: "
        "removing a pin detaches its program): devices/eth0/links/cil_from_netdev"
    ) in f.evidence
    assert f.playbook == "cleanup" and f.root_cause
    agent = found(snap, "cilium-agent-not-ready")
    assert "stale-cilium-bpf" in agent.explained_by and agent.playbook == "cleanup"


def test_stale_bpf_tcx_and_xdp_and_unreadable_parts():
    snap = no_agent(healthy())
    snap.node.bpf.attachments = [
        attach("tcx-ingress", "eth0", "cil_from_netdev", 301, via="tcx"),
        attach(
            "xdp",
            "eth0",
            "cil_xdp_entry",
            302,
            via="bpf_link",
            detail="native",
            link_pin="/sys/fs/bpf/cilium/devices/eth0/links/cil_xdp",
        ),
        attach("xdp", "eth1", "xdp_firewall", 303),  # someone else's
    ]
    snap.node.bpf.errors = ["tcx: BPF_PROG_QUERY needs kernel >= 6.6"]
    f = found(snap, "stale-cilium-bpf")
    assert f.evidence[:2] == [
        "tcx-ingress eth0: cil_from_netdev (prog 301)",
        "xdp eth0: cil_xdp_entry (prog 302, native, held by pinned link "
        "/sys/fs/bpf/cilium/devices/eth0/links/cil_xdp)",
    ]
    assert "not read: tcx: BPF_PROG_QUERY needs kernel >= 6.6" in f.evidence
    assert not any("xdp_firewall" in e for e in f.evidence)


def test_pins_alone_are_stale_too_and_only_cilium_s():
    snap = no_agent(healthy())
    snap.node.bpf.pins = [pin("/sys/fs/bpf/tc/globals/cilium_lxc"), pin("/sys/fs/bpf/ip/x")]
    f = found(snap, "stale-cilium-bpf")
    assert f.evidence[0] == "1 Cilium pin under /sys/fs/bpf/tc/globals: cilium_lxc"
    snap.node.bpf.pins = [pin("/sys/fs/bpf/tc/globals/not_cilium")]
    assert silent(snap, "stale-cilium-bpf")


def test_two_programs_of_one_name_on_a_hook_beside_a_live_agent():
    """cilium#44194: stale tcx links after an agent restart. Not debris (the agent runs,
    cleanup would detach its programs too): a warning line in the symptoms it causes."""
    snap = healthy()
    snap.node.bpf.attachments += [
        attach("tcx-ingress", "cilium_vxlan", "cil_from_overlay", 309, via="tcx"),
        attach("tcx-ingress", "cilium_vxlan", "cil_from_overlay", 95336, via="tcx"),
    ]
    assert run_checks(snap) == []  # nothing broken shows: nothing to say
    set_dns(snap, cluster="timeout", external="timeout")
    f = found(snap, "dns-cluster-names-fail")
    warning = (
        "warning: tcx-ingress cilium_vxlan carries 2 Cilium programs named cil_from_overlay "
        "(prog 309, 95336): all but prog 95336 are stale, left by an earlier agent "
        "(cilium#44194) — delete this node's cilium pod so its agent reattaches, or reboot "
        "the node"
    )
    assert warning in f.evidence
    assert silent(snap, "stale-cilium-bpf")


# --------------------------------------------------------------------- CNI


def test_runtime_rule_first_config_by_name_in_the_used_dir():
    files = [
        CniFile("10-flannel.conflist", dir=K3S_CNI_DIR, plugins=["flannel", "portmap"]),
        CniFile("05-cilium.conflist", cilium=True),
        CniFile("00-old.conf.cilium_bak", backup=True),
        CniFile("01-notes.txt"),
    ]
    assert runtime_cni_dir(False) == "/etc/cni/net.d" and runtime_cni_dir(True) == K3S_CNI_DIR
    assert runtime_cni_config(files, "/etc/cni/net.d").name == "05-cilium.conflist"
    assert runtime_cni_config(files, K3S_CNI_DIR).name == "10-flannel.conflist"
    assert (
        runtime_cni_config([CniFile("B.conf"), CniFile("a.conf")], "/etc/cni/net.d").name
        == "B.conf"
    )


def test_k3s_with_flannel_reads_its_own_dir():
    """An agent node whose server kept flannel: the runtime reads the k3s agent dir,
    where flannel's config is; Cilium's sits in /etc/cni/net.d, unread."""
    snap = healthy()
    k = snap.node.host.k3s
    k.flannel_backend, k.role = None, "agent"
    snap.node.links.append(link("flannel.1", 30, "10.42.0.0/32", kind="vxlan"))
    snap.node.host.cni_files.append(
        CniFile("10-flannel.conflist", dir=K3S_CNI_DIR, plugins=["flannel", "portmap"])
    )
    f = found(snap, "cni-config-conflict")
    assert (
        f.evidence[0]
        == f"the runtime uses {K3S_CNI_DIR}/10-flannel.conflist (first of: 10-flannel.conflist)"
    )
    assert (
        "Cilium's 05-cilium.conflist is in /etc/cni/net.d, which the runtime does not read here "
        "(k3s with flannel reads its agent dir)"
    ) in f.evidence
    flannel = found(snap, "k3s-flannel-not-disabled")
    assert "flannel beside Cilium: link flannel.1, flannel CNI config " in flannel.evidence[0]
    # flannel is the root: it explains the conflict, whose fix is flannel's
    assert f.explained_by == ["k3s-flannel-not-disabled"] and f.playbook == "k3s-disable-flannel"


def test_chained_cilium_config_and_unreadable_first_file():
    snap = healthy()
    snap.node.host.cni_files = [
        CniFile("00-aws.conflist", plugins=["aws-cni", "egress-cni", "cilium-cni"])
    ]
    assert run_checks(snap) == []  # chaining: Cilium is in the chain
    snap.node.host.cni_files.insert(0, CniFile("00-multus.conf", plugins=["multus"]))
    assert run_checks(snap) == []  # Multus delegates to the default network
    snap.node.host.cni_files.pop(0)
    snap.node.host.cni_files.insert(0, CniFile("00-aaa.conf", error="not JSON (line 1)"))
    f = found(snap, "cni-config-conflict")
    assert "00-aaa.conf: not JSON (line 1)" in f.evidence


def test_orphaned_needs_a_cluster_that_says_cilium_is_gone():
    snap = healthy()
    snap.cluster.cilium_daemonset = None  # but the agent still runs here
    assert silent(snap, "cni-config-orphaned")
    snap = no_agent(healthy(), pod="missing")
    snap.cluster.cilium_daemonset = None
    snap.node.host.cni_files.append(CniFile("10-flannel.conflist.cilium_bak", backup=True))
    f = found(snap, "cni-config-orphaned")
    assert (
        "pods on this node then fail to start: dial unix /var/run/cilium/cilium.sock: "
        "connect: no such file or directory"
    ) in f.evidence
    assert (
        "Cilium renamed these to *.cilium_bak (cleanup restores them): "
        "/etc/cni/net.d/10-flannel.conflist.cilium_bak"
    ) in f.evidence
    assert silent(unreachable(snap), "cni-config-orphaned")  # unknown, not absent


# ------------------------------------------------------------------ flannel


def test_flannel_setting_from_config_names_its_source():
    snap = healthy()
    k = snap.node.host.k3s
    k.flannel_backend, k.flannel_backend_source = "vxlan", "config.yaml.d/10-net.yaml"
    f = found(snap, "k3s-flannel-not-disabled")
    assert f.evidence[0] == "k3s server: flannel-backend: vxlan (config.yaml.d/10-net.yaml)"
    assert f.playbook == "k3s-disable-flannel"


def test_a_k3s_agent_without_flannel_traces_is_fine():
    snap = healthy()
    k = snap.node.host.k3s
    k.flannel_backend, k.role, k.unit_file = None, "agent", "/etc/systemd/system/k3s-agent.service"
    assert run_checks(snap) == []
    snap.node.host.flannel_subnet_env = True
    f = found(snap, "k3s-flannel-not-disabled")
    assert f.evidence[0] == "flannel beside Cilium: /run/flannel/subnet.env (flanneld's lease)"


def test_flannel_without_cilium_is_not_a_finding():
    snap = healthy()
    snap.node.host.k3s.flannel_backend = None
    snap.node.links = [lk for lk in snap.node.links if not lk.cilium]
    snap.node.host.cni_files = []
    snap.node.agent = AgentState()
    snap.cluster.cilium_daemonset = snap.cluster.cilium_pod = None
    assert silent(snap, "k3s-flannel-not-disabled")


def test_flannel_explains_the_crash_looping_agent():
    snap = healthy()
    snap.node.host.k3s.flannel_backend = None
    crashloop(snap.cluster.cilium_pod)
    agent = found(snap, "cilium-agent-not-ready")
    assert agent.explained_by == ["k3s-flannel-not-disabled"]
    assert agent.playbook == "k3s-disable-flannel"


# ------------------------------------------------------------------- CoreDNS


def _loop(snap: Snapshot) -> Snapshot:
    crashloop(snap.cluster.coredns_pods[0], restarts=4)
    snap.node.host.nameservers = ["127.0.0.53"]
    snap.cluster.coredns_corefile = (
        ".:53 {\n    forward . /etc/resolv.conf {\n      max_concurrent 1000\n    }\n}"
    )
    snap.cluster.coredns_log = [LOOP]
    return snap


def test_forward_loop_explains_coredns_and_names_the_real_upstream():
    snap = _loop(healthy())
    snap.node.host.resolved_nameservers = ["192.168.1.1", "1.1.1.1"]
    loop = found(snap, "coredns-forward-loop")
    assert loop.evidence[0] == LOOP
    assert "Corefile: forward . /etc/resolv.conf" in loop.evidence
    assert loop.evidence[-1] == (
        "the real upstreams (/run/systemd/resolve/resolv.conf): 192.168.1.1, 1.1.1.1; fix: forward "
        ". /run/systemd/resolve/resolv.conf (k3s: --resolv-conf /run/systemd/resolve/resolv.conf)"
    )
    coredns = found(snap, "coredns-not-ready")
    assert f"CoreDNS log: {LOOP}" in coredns.evidence
    assert coredns.explained_by == ["coredns-forward-loop"]
    assert coredns.playbook == "coredns-forward-fix"


def test_forward_loop_needs_the_loop_a_crash_and_a_loopback_forward():
    assert silent(_loop(healthy()), "coredns-forward-loop") is False
    snap = _loop(healthy())
    snap.cluster.coredns_log = ["[ERROR] plugin/errors: 2 example.com. A: i/o timeout"]
    assert silent(snap, "coredns-forward-loop")
    snap = _loop(healthy())
    snap.cluster.coredns_pods[0].ready = True
    snap.cluster.coredns_pods[0].containers[0].reason = None
    assert silent(snap, "coredns-forward-loop")
    snap = _loop(healthy())
    snap.node.host.nameservers = ["192.168.1.1"]  # a loop through some upstream
    assert silent(snap, "coredns-forward-loop")
    assert f"CoreDNS log: {LOOP}" in found(snap, "coredns-not-ready").evidence
    snap.cluster.coredns_corefile = "forward . 127.0.0.1:5353"  # forwards to loopback itself
    f = found(snap, "coredns-forward-loop")
    assert "the Corefile forwards to loopback 127.0.0.1:5353 inside the CoreDNS pod" in f.evidence


# --------------------------------------------------------------- rp_filter


def test_rp_filter_strict_on_the_uplink_only_is_fine():
    snap = healthy()
    assert snap.node.rp_filter["eth0"] == 1
    assert run_checks(snap) == []


def test_rp_filter_per_device_and_the_file_that_set_it():
    snap = healthy()
    snap.node.rp_filter["cilium_host"] = 2
    snap.node.host.sysctl_files = [
        SysctlSetting("/etc/sysctl.d/50-net.conf", "net/ipv4/conf/*/rp_filter", "2"),
    ]
    f = found(snap, "rp-filter-strict")
    assert f.evidence[0] == "effective rp_filter 2 (loose) on cilium_host"
    assert (
        "net.ipv4.conf.cilium_host.rp_filter = 2 (set by /etc/sysctl.d/50-net.conf)" in f.evidence
    )
    assert f.playbook == "rp-filter-fix"


def test_rp_filter_strict_explains_dns_failures():
    snap = healthy()
    snap.node.rp_filter["all"] = 1
    set_dns(snap, cluster="timeout", external="timeout")
    dns = found(snap, "dns-cluster-names-fail")
    assert dns.explained_by == ["rp-filter-strict"] and dns.playbook == "rp-filter-fix"


# --------------------------------------------------------------------- MTU


def test_mtu_equal_to_the_uplink_with_tunnel_overhead_on_the_routes_is_healthy():
    snap = healthy()
    for lk in snap.node.links:
        if lk.name == "eth0" or lk.cilium:
            lk.mtu = 1450
    for r in snap.node.routes:
        if r.dev == "cilium_host":
            r.mtu = 1400
    assert run_checks(snap) == []


def test_mtu_devices_below_the_uplink_or_no_default_route():
    snap = healthy()
    for lk in snap.node.links:
        if lk.cilium:
            lk.mtu = 1280
    assert run_checks(snap) == []
    snap = healthy()
    next(lk for lk in snap.node.links if lk.name == "eth0").mtu = 1450
    snap.node.routes = [r for r in snap.node.routes if r.dst != "default"]
    assert silent(snap, "mtu-mismatch")  # no uplink: nothing to compare with


def test_mtu_uplink_of_an_ipv6_only_default_route():
    snap = healthy()
    snap.node.routes = [r for r in snap.node.routes if r.dst != "default"]
    snap.node.routes.append(Route("default", family=6, dev="eth0", gateway="fe80::1"))
    next(lk for lk in snap.node.links if lk.name == "eth0").mtu = 1400
    f = found(snap, "mtu-mismatch")
    assert f.evidence[0] == "uplink eth0 (default route via fe80::1) MTU 1400"
    assert f.evidence[-1].endswith(
        "fix: helm --set mtu=1400 (or restart the agent so it detects the uplink's MTU)"
    )


# -------------------------------------------------------------- node's DNS


def test_node_resolver_failing_explains_coredns_external_failure():
    snap = set_dns(healthy(), external="timeout", node="timeout")
    node = found(snap, "node-upstream-dns-fails")
    assert node.evidence[0] == "example.com @ 192.168.1.1:53 (node): timeout after 2.0s"
    ext = found(snap, "dns-external-names-fail")
    assert ext.explained_by == ["node-upstream-dns-fails"]
    assert ext.playbook is None  # not Cilium's: no Cilium playbook
    # the CoreDNS evidence is CoreDNS's, never the node's own checks
    assert not any("(node)" in e for e in ext.evidence)


def test_one_answering_resolver_is_enough():
    snap = healthy()
    snap.dns.checks.append(
        DnsCheck("example.com", "192.168.1.2:53", "node", "external", error="timeout after 2.0s")
    )
    assert run_checks(snap) == []


def test_the_stub_resolver_names_its_upstreams():
    snap = set_dns(healthy(), node="SERVFAIL")
    for c in snap.dns.checks:
        if c.via == "node":
            c.server = "127.0.0.53:53"
    snap.node.host.resolved_nameservers = ["192.168.1.1"]
    f = found(snap, "node-upstream-dns-fails")
    assert (
        "127.0.0.53:53 is systemd-resolved's stub; its upstreams (/run/systemd/resolve/resolv.conf): "
        "192.168.1.1"
    ) in f.evidence


def test_node_checks_alone_when_the_apiserver_is_down():
    """With the apiserver down only the node's own checks exist: they are not CoreDNS's."""
    snap = unreachable(healthy())
    snap.dns.checks = [DnsCheck("example.com", "192.168.1.1:53", "node", "external", "SERVFAIL")]
    assert set(ids(run_checks(snap))) == {"apiserver-unreachable", "node-upstream-dns-fails"}


# --------------------------------------------------------------- stop hook


def test_stop_hook_whose_binary_is_missing():
    snap = healthy()
    k = snap.node.host.k3s
    k.stop_hook_binary, k.stop_hook_binary_exists = "/usr/local/bin/ciliumtui", False
    f = found(snap, "k3s-stop-hook-missing")
    assert f.evidence[0] == (
        "/etc/systemd/system/k3s.service ExecStopPost runs /usr/local/bin/ciliumtui, which does "
        "not exist on this node: the hook never runs (a leading '-' makes systemd ignore the failure)"
    )
    k.stop_hook_binary_exists = True
    assert run_checks(snap) == []


# --------------------------------------------------------- agent's last words


def _last_words(snap: Snapshot) -> Snapshot:
    snap.node.agent.last_log = [
        'level=info msg="Starting agent"',
        'level=fatal msg="failed to start: daemon creation failed: unable to allocate router IP '
        'from 10.0.0.0/24" subsys=daemon',
    ]
    snap.node.agent.last_log_path = f"{snap.host_root.rstrip('/')}/var/log/pods/kube-system_cilium-x7k2p_0b1c/cilium-agent/3.log"
    return snap


def test_agent_not_ready_carries_its_last_log_lines():
    snap = healthy()
    snap.host_root = "/tmp/fake-root"
    crashloop(snap.cluster.cilium_pod)
    _last_words(snap)
    f = found(snap, "cilium-agent-not-ready")
    prefix = "agent's last log (/var/log/pods/kube-system_cilium-x7k2p_0b1c/cilium-agent/3.log): "
    assert prefix + 'level=info msg="Starting agent"' in f.evidence
    assert any(e.startswith(prefix + "level=fatal") for e in f.evidence)
    assert not any("--previous" in e for e in f.evidence)  # the kubelet may be unreachable


def test_stale_findings_carry_the_last_words_when_the_apiserver_is_down():
    snap = _last_words(unreachable(no_agent(healthy(), keep_bpf=True)))
    for fid in ("stale-cilium-interfaces", "stale-cilium-iptables", "stale-cilium-bpf"):
        assert any(e.startswith("agent's last log (") for e in found(snap, fid).evidence), fid
    snap = _last_words(no_agent(healthy()))  # apiserver up: the agent finding has them
    assert not any("last log" in e for e in found(snap, "stale-cilium-interfaces").evidence)


def test_a_long_log_line_is_cut():
    snap = healthy()
    crashloop(snap.cluster.cilium_pod)
    snap.node.agent.last_log = ["level=fatal msg=" + "x" * 1000]
    (line,) = [e for e in found(snap, "cilium-agent-not-ready").evidence if "last log" in e]
    assert len(line) < 400 and line.endswith("…")


# ------------------------------------------------------------ debris & more


@pytest.mark.parametrize("with_dump", [True, False])
def test_stale_iptables_only_from_available_dumps(with_dump):
    snap = no_agent(healthy())
    snap.node.netfilter = [dump("nft", cilium=True, kube=True)] if with_dump else []
    assert silent(snap, "stale-cilium-iptables") is not with_dump


def test_a_rejected_service_query_says_what_it_means():
    snap = set_dns(healthy(), cluster="timeout", external="timeout")
    for c in snap.dns.checks:
        if c.via == "service":
            c.error = "[Errno 1] Operation not permitted"
    f = found(snap, "dns-cluster-names-fail")
    assert f.evidence[0] == (
        "kubernetes.default.svc.cluster.local @ 10.43.0.10:53 (service): kube-dns has no ready "
        "endpoints: the query is rejected on this node ([Errno 1] Operation not permitted)"
    )
