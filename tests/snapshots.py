"""Compact Snapshot builders for the check tests.

`healthy()` mirrors assets/scenarios/healthy.yaml (k3s node k3s-node1, Cilium
1.18.4, pool 10.42.0.0/16, tunnel/vxlan, nft everywhere, decoys) as the probes
would report it. Tests mutate a fresh copy to break one thing at a time.
"""

from __future__ import annotations

from ciliumtui.model import (
    AgentHealth,
    AgentState,
    BpfAttachment,
    BpfPin,
    BpfProgram,
    BpfState,
    CiliumConfig,
    CiliumNodeInfo,
    ClusterState,
    CniFile,
    ContainerInfo,
    DnsCheck,
    DnsState,
    HostInfo,
    IpRule,
    K3sInfo,
    Link,
    NetfilterDump,
    NfChain,
    NfRule,
    NfTable,
    NodeInfo,
    NodeState,
    PodInfo,
    ProbeStatus,
    Route,
    ServiceInfo,
    Snapshot,
    WorkloadInfo,
)
from ciliumtui.ownership import (
    is_cilium_bpf_pin,
    is_cilium_bpf_program,
    is_cilium_link,
    is_cilium_rule,
)

NODE = "k3s-node1"
LXC = ["lxc1a2b3c4d5e6f", "lxc0f9e8d7c6b5a", "lxcabcdef012345"]
CILIUM_CHAINS = {
    "filter": ["CILIUM_INPUT", "CILIUM_OUTPUT", "CILIUM_FORWARD"],
    "raw": ["CILIUM_OUTPUT_raw", "CILIUM_PRE_raw"],
    "mangle": ["CILIUM_PRE_mangle", "CILIUM_POST_mangle"],
    "nat": ["CILIUM_POST_nat", "CILIUM_OUTPUT_nat", "CILIUM_PRE_nat"],
}
_HOOK = {
    "CILIUM_INPUT": "INPUT",
    "CILIUM_OUTPUT": "OUTPUT",
    "CILIUM_FORWARD": "FORWARD",
    "CILIUM_OUTPUT_raw": "OUTPUT",
    "CILIUM_PRE_raw": "PREROUTING",
    "CILIUM_PRE_mangle": "PREROUTING",
    "CILIUM_POST_mangle": "POSTROUTING",
    "CILIUM_POST_nat": "POSTROUTING",
    "CILIUM_OUTPUT_nat": "OUTPUT",
    "CILIUM_PRE_nat": "PREROUTING",
}


def link(name: str, index: int, *addrs: str, kind: str | None = None) -> Link:
    return Link(
        name=name,
        index=index,
        kind=kind,
        state="UP",
        mtu=1500,
        addresses=list(addrs),
        cilium=is_cilium_link(name),
    )


def route(dst: str, dev: str, *, via: str | None = None, table: str = "main", **kw) -> Route:
    from ciliumtui.ownership import is_cilium_route

    return Route(
        dst=dst, dev=dev, gateway=via, table=table, cilium=is_cilium_route(table, dev), **kw
    )


def attach(hook: str, target: str, name: str, prog_id: int, **kw) -> BpfAttachment:
    """One program on a hook, marked as the probe marks it (ownership rules)."""
    via = kw.pop("via", hook.split("-")[0] if hook.startswith(("tc", "tcx", "xdp")) else "cgroup")
    prog_type = "xdp" if hook == "xdp" else ("cgroup_sock_addr" if via == "cgroup" else "sched_cls")
    return BpfAttachment(
        hook=hook,
        target=target,
        program=BpfProgram(prog_id, name, prog_type),
        via=via,
        cilium=is_cilium_bpf_program(name),
        **kw,
    )


def pin(path: str, kind: str = "map") -> BpfPin:
    return BpfPin(path, kind, cilium=is_cilium_bpf_pin(path))


def live_agent_bpf() -> BpfState:
    """What a running Cilium 1.18 agent has attached on a 6.1 kernel (tc, not tcx), and
    a decoy: someone else's tc filter on eth0 egress."""
    atts = [
        attach("tc-ingress", "eth0", "cil_from_netdev", 101, detail="pref 1 handle 0x1"),
        attach("tc-egress", "eth0", "cil_to_netdev", 102, detail="pref 1 handle 0x1"),
        attach("tc-egress", "eth0", "edt_ratelimit", 900, detail="pref 2 handle 0x1"),  # decoy
        attach("tc-ingress", "cilium_host", "cil_to_host", 103),
        attach("tc-egress", "cilium_host", "cil_from_host", 104),
        attach("tc-ingress", "cilium_net", "cil_to_host", 105),
        attach("tc-ingress", "cilium_vxlan", "cil_from_overlay", 106),
        attach("tc-egress", "cilium_vxlan", "cil_to_overlay", 107),
        *[attach("tc-ingress", n, "cil_from_container", 110 + i) for i, n in enumerate(LXC)],
        attach("cgroup:connect4", "/run/cilium/cgroupv2", "cil_sock4_connect", 120),
    ]
    pins = [
        pin("/sys/fs/bpf/tc/globals/cilium_lxc"),
        pin("/sys/fs/bpf/tc/globals/cilium_ipcache_v2"),
        pin("/sys/fs/bpf/tc/globals/cilium_calls_hostns"),
        pin("/sys/fs/bpf/tc/globals/other_team_map"),  # decoy: not Cilium's
        pin("/sys/fs/bpf/cilium/devices/eth0/links/cil_from_netdev", "link"),
    ]
    return BpfState(attachments=atts, pins=pins)


def dump(backend: str, *, cilium: bool, kube: bool, family: int = 4) -> NetfilterDump:
    """One iptables-save: Cilium chains + feeders, KUBE-* chains, and a user decoy."""
    tables: dict[str, NfTable] = {}

    def table(name: str) -> NfTable:
        return tables.setdefault(name, NfTable(name))

    def add_rule(tname: str, chain: str, spec: str, target: str | None, comment: str | None = None):
        table(tname).rules.append(
            NfRule(chain, spec, target, comment, cilium=is_cilium_rule(chain, target))
        )

    for tname in ("filter", "nat", "mangle", "raw"):
        for builtin in ("INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"):
            table(tname).chains.append(NfChain(builtin, "ACCEPT"))
    if cilium:
        for tname, chains in CILIUM_CHAINS.items():
            for ch in chains:
                table(tname).chains.append(NfChain(ch, cilium=True))
                add_rule(
                    tname,
                    _HOOK[ch],
                    f'-A {_HOOK[ch]} -m comment --comment "cilium-feeder: {ch}" -j {ch}',
                    ch,
                )
                add_rule(tname, ch, f"-A {ch} -j ACCEPT", "ACCEPT")
    if kube:
        for ch in ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY"):
            table("filter").chains.append(NfChain(ch))
            add_rule("filter", "INPUT", f"-A INPUT -j {ch}", ch)
    # decoys: a user chain and a user rule whose comment mentions cilium
    table("filter").chains.append(NfChain("USER-ALLOW"))
    add_rule(
        "filter",
        "INPUT",
        '-A INPUT -p tcp --dport 22 -m comment --comment "allow ssh, not cilium" -j ACCEPT',
        "ACCEPT",
        "allow ssh, not cilium",
    )
    return NetfilterDump(backend=backend, family=family, tables=list(tables.values()))  # type: ignore[arg-type]


def running_pod(
    name: str,
    ns: str,
    *,
    owner: str = "ReplicaSet",
    labels: dict | None = None,
    ip: str | None = None,
) -> PodInfo:
    return PodInfo(
        name=name,
        namespace=ns,
        node=NODE,
        phase="Running",
        ready=True,
        ip=ip,
        owner_kind=owner,
        owner_name=name.rsplit("-", 1)[0],
        containers=[ContainerInfo(name=name.split("-")[0], ready=True, state="running")],
        labels=labels or {},
    )


def crashloop(pod: PodInfo, restarts: int = 12, exit_code: int = 1) -> PodInfo:
    pod.ready = False
    for c in pod.containers:
        c.ready, c.state, c.reason, c.restarts = False, "waiting", "CrashLoopBackOff", restarts
        c.last_reason, c.last_exit_code = "Error", exit_code
    return pod


def creating(pod: PodInfo) -> PodInfo:
    pod.ready, pod.phase = False, "Pending"
    for c in pod.containers:
        c.ready, c.state, c.reason = False, "waiting", "ContainerCreating"
    return pod


def healthy() -> Snapshot:
    links = [
        link("lo", 1, "127.0.0.1/8", "::1/128"),
        link("eth0", 2, "192.168.1.21/24", "fe80::1/64"),
        link("cilium_net", 3, kind="veth"),
        link("cilium_host", 4, "10.42.0.183/32", kind="veth"),
        link("cilium_vxlan", 5, kind="vxlan"),
        link("lxc_health", 6, kind="veth"),
        *[link(n, 7 + i, kind="veth") for i, n in enumerate(LXC)],
        link("lxcbr0", 20, "10.0.3.1/24", kind="bridge"),  # decoy: LXC's bridge, not Cilium's
        link("docker0", 21, "172.17.0.1/16", kind="bridge"),
    ]
    routes = [
        route("default", "eth0", via="192.168.1.1"),
        route("192.168.1.0/24", "eth0", protocol="kernel", scope="link"),
        route("10.42.0.0/24", "cilium_host", via="10.42.0.183"),
        route("10.42.1.0/24", "cilium_host", via="10.42.0.183"),
        route("10.42.0.183/32", "cilium_host"),
        *[route(f"10.42.0.{10 + i}/32", n) for i, n in enumerate(LXC)],
        route("10.0.3.0/24", "lxcbr0", protocol="kernel"),
        route("172.17.0.0/16", "docker0", protocol="kernel"),
        route("0.0.0.0/0", "lo", table="2004", type="local"),
    ]
    node = NodeState(
        links=links,
        routes=routes,
        rules=[IpRule(priority=9, fwmark="0x200/0xf00", table="2004", cilium=True)],
        netfilter=[
            dump("nft", cilium=True, kube=True),
            dump("legacy", cilium=False, kube=False),
        ],
        kube_backend="nft",
        bpf=live_agent_bpf(),
        rp_filter={
            "all": 0,
            "default": 0,
            "eth0": 1,
            "cilium_host": 0,
            "cilium_net": 0,
            "lxc_health": 0,
            **{n: 0 for n in LXC},
        },
        host=HostInfo(
            hostname=NODE,
            kernel="6.1.0-18-amd64",
            bpffs_mounted=True,
            cgroup2_mounts=["/sys/fs/cgroup"],
            nameservers=["192.168.1.1"],
            cni_files=[CniFile("05-cilium.conflist", cilium=True, plugins=["cilium-cni"])],
            cni_dirs=["/etc/cni/net.d", "/var/lib/rancher/k3s/agent/etc/cni/net.d"],
            k3s=K3sInfo(
                present=True,
                unit_file="/etc/systemd/system/k3s.service",
                kubeconfig="/etc/rancher/k3s/k3s.yaml",
                flannel_backend="none",
                cluster_cidr=["10.42.0.0/16"],
                service_cidr=["10.43.0.0/16"],
                cluster_dns="10.43.0.10",
                disable_network_policy=True,
                stop_hook=True,  # healthy: the k3s docs' cleanup is installed
            ),
        ),
        agent=AgentState(
            pidfile="/var/run/cilium/cilium.pid",
            pid=4242,
            pid_alive=True,
            socket="/var/run/cilium/cilium.sock",
            socket_present=True,
            reachable=True,
            health=AgentHealth(
                state="Ok",
                msg="1.18.4 (v1.18.4-afda2aa9)",
                version="1.18.4",
                kubernetes_state="Ok",
                kube_proxy_replacement="False",
                routing_mode="Tunnel",
                tunnel_protocol="VXLAN",
            ),
        ),
    )
    cilium_pod = running_pod(
        "cilium-x7k2p",
        "kube-system",
        owner="DaemonSet",
        labels={"k8s-app": "cilium"},
        ip="192.168.1.21",
    )
    cilium_pod.host_network = True
    coredns = running_pod(
        "coredns-6799fbcd5-q8xkz", "kube-system", labels={"k8s-app": "kube-dns"}, ip="10.42.0.50"
    )
    cluster = ClusterState(
        reachable=True,
        kubeconfig="/etc/rancher/k3s/k3s.yaml",
        context="default",
        server="https://127.0.0.1:6443",
        node=NodeInfo(
            name=NODE,
            addresses=[("InternalIP", "192.168.1.21"), ("Hostname", NODE)],
            pod_cidrs=["10.42.0.0/24"],
            allocatable_pods=110,
            kubelet_version="v1.31.4+k3s1",
            ready=True,
        ),
        cilium_pod=cilium_pod,
        cilium_daemonset=WorkloadInfo(
            "DaemonSet", "cilium", "kube-system", 2, 2, 2, "quay.io/cilium/cilium:v1.18.4"
        ),
        operator=WorkloadInfo("Deployment", "cilium-operator", "kube-system", 1, 1, 1),
        config=CiliumConfig(
            ipam="cluster-pool",
            pool=["10.42.0.0/16"],
            mask_size=24,
            routing_mode="tunnel",
            tunnel_protocol="vxlan",
            kube_proxy_replacement="false",
        ),
        cilium_version="1.18.4",
        ciliumnodes=[
            CiliumNodeInfo(NODE, ["10.42.0.0/24"], ["192.168.1.21"]),
            CiliumNodeInfo("k3s-node2", ["10.42.1.0/24"], ["192.168.1.22"]),
        ],
        kube_dns=ServiceInfo("kube-dns", "kube-system", "10.43.0.10", [("dns", 53, "UDP")]),
        coredns_pods=[coredns],
        kube_proxy=False,
        node_pods=[
            cilium_pod,
            coredns,
            running_pod("web-7d9f8-abcde", "default", ip="10.42.0.11"),
            running_pod("metrics-server-5f8-xyz12", "kube-system", ip="10.42.0.12"),
        ],
        service_cidr=["10.43.0.0/16"],
    )
    dns = DnsState(
        checks=[
            DnsCheck(
                "kubernetes.default.svc.cluster.local",
                "10.43.0.10:53",
                "service",
                "cluster",
                "NOERROR",
                ["10.43.0.1"],
                1.2,
            ),
            DnsCheck(
                "example.com",
                "10.43.0.10:53",
                "service",
                "external",
                "NOERROR",
                ["93.184.215.14"],
                8.5,
            ),
            DnsCheck(
                "kubernetes.default.svc.cluster.local",
                "10.42.0.50:53",
                "pod/coredns-6799fbcd5-q8xkz",
                "cluster",
                "NOERROR",
                ["10.43.0.1"],
                1.0,
            ),
            DnsCheck(
                "example.com",
                "192.168.1.1:53",
                "node",
                "external",
                "NOERROR",
                ["93.184.215.14"],
                7.0,
            ),
        ]
    )
    return Snapshot(
        node_name=NODE,
        taken_at="2026-11-26T19:00:00+00:00",
        node=node,
        cluster=cluster,
        dns=dns,
        probes={
            "agent": ProbeStatus(True, None, 3.1),
            "apiserver": ProbeStatus(True, None, 80.1),
            "cilium-pod": ProbeStatus(True, None, 20.4),
            "dns": ProbeStatus(True, None, 9.0),
            "links": ProbeStatus(True, None, 12.5),
        },
    )


# ----------------------------------------------------------------- breakages


def no_agent(snap: Snapshot, *, pod: str = "crashloop", keep_bpf: bool = False) -> Snapshot:
    """The agent is dead: no pidfile, no socket, its pod crashlooping (or gone). Its BPF
    programs and pins are gone too (a reboot) unless `keep_bpf` (k3s stopped)."""
    assert snap.node is not None and snap.cluster is not None
    snap.node.agent = AgentState(socket="/var/run/cilium/cilium.sock")
    if not keep_bpf:
        snap.node.bpf = BpfState()
    if pod == "crashloop":
        crashloop(snap.cluster.cilium_pod)  # type: ignore[arg-type]
    elif pod == "missing":
        snap.cluster.node_pods.remove(snap.cluster.cilium_pod)  # type: ignore[arg-type]
        snap.cluster.cilium_pod = None
    return snap


def unreachable(snap: Snapshot) -> Snapshot:
    """The apiserver does not answer: the cluster side is empty, as the probe leaves it."""
    snap.cluster = ClusterState(
        reachable=False,
        error="timed out after 3s",
        kubeconfig="/etc/rancher/k3s/k3s.yaml",
        context="default",
        server="https://127.0.0.1:6443",
    )
    snap.dns = DnsState()
    for name in ("cilium-pod", "dns"):
        snap.probes.pop(name, None)
    snap.probes["apiserver"] = ProbeStatus(False, "timed out after 3s", 3001.0)
    return snap


def set_dns(
    snap: Snapshot, *, cluster: str = "NOERROR", external: str = "NOERROR", node: str = "NOERROR"
) -> Snapshot:
    """Rewrite the DNS answers: 'NOERROR', 'SERVFAIL', 'NXDOMAIN' or 'timeout'. CoreDNS's
    checks (cluster/external) and the node's own resolvers (node) apart."""
    assert snap.dns is not None
    for c in snap.dns.checks:
        want = node if c.via == "node" else (cluster if c.kind == "cluster" else external)
        if want == "NOERROR":
            continue
        c.answers = []
        if want == "timeout":
            c.rcode, c.error, c.ms = None, "timeout after 2.0s", None
        else:
            c.rcode = want
    return snap


def ids(findings) -> list[str]:
    return [f.id for f in findings]
