"""Hand-built, deterministic model objects for the TUI tests: the healthy k3s
node of assets/scenarios/healthy.yaml and the same node after a hard reboot
(agent dead, stale interfaces and rules, pods failing, only cluster names resolve);
and the small helpers the live TUI tests share (Pilot polling, a bare netns node)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

from ciliumtui.model import (
    AgentHealth,
    AgentState,
    BpfAttachment,
    BpfProgram,
    BpfState,
    CiliumConfig,
    CiliumNodeInfo,
    ClusterState,
    ContainerInfo,
    DnsCheck,
    DnsState,
    Finding,
    HostInfo,
    K3sInfo,
    Link,
    NodeInfo,
    NodeState,
    PodInfo,
    Route,
    ServiceInfo,
    WorkloadInfo,
)
from ciliumtui.options import Options
from ciliumtui.sources import StaticSource

NODE = "k3s-node1"
ENDPOINTS = ["lxc0a1b2c3d4e5f", "lxc1b2c3d4e5f60", "lxc2c3d4e5f6071"]


def opts(**kw: object) -> Options:
    return Options(node=NODE, context="default", **kw)  # type: ignore[arg-type]


async def wait_for(pilot: Any, cond: Any, timeout: float = 10.0) -> None:
    """Let the app run until cond() holds; fail after timeout seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def add_veth(ns: str, name: str, peer: str) -> None:
    """A veth pair in network namespace ns (root only)."""
    subprocess.run(
        ["ip", "-n", ns, "link", "add", name, "type", "veth", "peer", "name", peer], check=True
    )


def hostname_root(tmp: Path) -> Path:
    """A host root under tmp with nothing but /etc/hostname (the node's name)."""
    root = tmp / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text(f"{NODE}\n")
    return root


def node_state(*, agent_alive: bool = True) -> NodeState:
    links = [
        Link("lo", 1, state="UNKNOWN", mtu=65536, addresses=["127.0.0.1/8"]),
        Link(
            "eth0", 2, state="UP", mtu=1500, addresses=["192.168.1.21/24"], mac="52:54:00:12:34:56"
        ),
        Link("cilium_net", 3, kind="veth", state="UP", mtu=1500, peer="cilium_host", cilium=True),
        Link(
            "cilium_host",
            4,
            kind="veth",
            state="UP",
            mtu=1500,
            addresses=["10.42.0.183/32"],
            cilium=True,
        ),
        Link("cilium_vxlan", 5, kind="vxlan", state="UNKNOWN", mtu=1500, cilium=True),
        Link("lxc_health", 6, kind="veth", state="UP", mtu=1500, cilium=True),
    ]
    links += [
        Link(
            name,
            7 + i,
            kind="veth",
            state="UP" if agent_alive else "LOWERLAYERDOWN",
            mtu=1500,
            cilium=True,
        )
        for i, name in enumerate(ENDPOINTS)
    ]
    links.append(
        Link("lxcbr0", 20, kind="bridge", state="DOWN", mtu=1500, addresses=["10.0.3.1/24"])
    )
    routes = [
        Route("default", gateway="192.168.1.1", dev="eth0", protocol="dhcp"),
        Route(
            "192.168.1.0/24", dev="eth0", protocol="kernel", scope="link", prefsrc="192.168.1.21"
        ),
        Route("10.0.3.0/24", dev="lxcbr0", protocol="kernel", scope="link"),
        Route("10.42.0.0/24", gateway="10.42.0.183", dev="cilium_host", cilium=True),
        Route("10.42.1.0/24", gateway="10.42.0.183", dev="cilium_host", cilium=True),
        Route("10.42.0.183/32", dev="cilium_host", scope="link", cilium=True),
        Route("default", table="2004", dev="cilium_host", type="local", cilium=True),
    ]
    health = AgentHealth(
        state="Ok",
        msg="",
        version="1.18.4",
        kubernetes_state="Ok",
        ipam="10.42.0.0/24",
        kube_proxy_replacement="False",
        routing_mode="tunnel",
        tunnel_protocol="vxlan",
    )
    agent = (
        AgentState(
            pidfile="/var/run/cilium/cilium.pid",
            pid=1234,
            pid_alive=True,
            socket="/var/run/cilium/cilium.sock",
            socket_present=True,
            reachable=True,
            health=health,
        )
        if agent_alive
        else AgentState(
            pidfile="/var/run/cilium/cilium.pid",
            pid=1234,
            pid_alive=False,
            socket="/var/run/cilium/cilium.sock",
            socket_present=False,
            error="dial unix /var/run/cilium/cilium.sock: connect: no such file or directory",
            last_log=[
                'level=info msg="Cilium 1.18.4 starting"',
                'level=error msg="Unable to create cilium_host: file exists" subsys=datapath',
                'level=fatal msg="failed to start: cilium_host already exists" subsys=daemon',
            ],
            last_log_path="/var/log/pods/kube-system_cilium-x7k2p_0b1c/cilium-agent/7.log",
        )
    )
    bpf = BpfState(
        attachments=[
            BpfAttachment(
                "tc-ingress", "eth0", BpfProgram(812, "cil_from_netdev", "sched_cls"), cilium=True
            ),
            BpfAttachment(
                "tc-egress", "eth0", BpfProgram(813, "cil_to_netdev", "sched_cls"), cilium=True
            ),
            BpfAttachment(
                "tc-ingress",
                "cilium_host",
                BpfProgram(820, "cil_to_host", "sched_cls"),
                cilium=True,
            ),
            BpfAttachment(
                "tc-egress",
                "cilium_host",
                BpfProgram(821, "cil_from_host", "sched_cls"),
                cilium=True,
            ),
        ]
    )
    host = HostInfo(
        hostname=NODE,
        kernel="6.1.0-18-amd64",
        bpffs_mounted=True,
        nameservers=["192.168.1.1"],
        k3s=K3sInfo(
            present=True,
            flannel_backend="none",
            cluster_cidr=["10.42.0.0/16"],
            service_cidr=["10.43.0.0/16"],
            cluster_dns="10.43.0.10",
        ),
    )
    return NodeState(
        links=links, routes=routes, host=host, agent=agent, kube_backend="nft", bpf=bpf
    )


def _pod(
    name: str, ns: str, ip: str, *, ready: bool = True, reason: str | None = None, restarts: int = 0
) -> PodInfo:
    state = "running" if ready else "waiting"
    return PodInfo(
        name=name,
        namespace=ns,
        node=NODE,
        phase="Running" if ready else "Pending",
        ready=ready,
        ip=ip,
        owner_kind="ReplicaSet",
        containers=[
            ContainerInfo(
                name=name.split("-")[0], ready=ready, restarts=restarts, state=state, reason=reason
            )
        ],
    )


def cluster_state(*, broken: bool = False) -> ClusterState:
    cilium_pod = _pod("cilium-x7k2p", "kube-system", "192.168.1.21")
    if broken:
        cilium_pod = _pod(
            "cilium-x7k2p",
            "kube-system",
            "192.168.1.21",
            ready=False,
            reason="CrashLoopBackOff",
            restarts=7,
        )
    return ClusterState(
        reachable=True,
        kubeconfig="/etc/rancher/k3s/k3s.yaml",
        context="default",
        server="https://127.0.0.1:6443",
        node=NodeInfo(
            NODE, addresses=[("InternalIP", "192.168.1.21")], pod_cidrs=["10.42.0.0/24"], ready=True
        ),
        cilium_pod=cilium_pod,
        cilium_daemonset=WorkloadInfo(
            "DaemonSet",
            "cilium",
            "kube-system",
            desired=2,
            ready=1 if broken else 2,
            image="quay.io/cilium/cilium:v1.18.4",
        ),
        operator=WorkloadInfo(
            "Deployment", "cilium-operator", "kube-system", desired=1, ready=1, available=1
        ),
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
            CiliumNodeInfo(NODE, ["10.42.0.0/24"]),
            CiliumNodeInfo("k3s-node2", ["10.42.1.0/24"]),
        ],
        kube_dns=ServiceInfo("kube-dns", "kube-system", "10.43.0.10", [("dns", 53, "UDP")]),
        coredns_pods=[_pod("coredns-6799fbcd5-abcde", "kube-system", "10.42.0.50")],
        kube_proxy=False,
        node_pods=[
            _pod(
                "web-7d9f8-abcde",
                "default",
                "10.42.0.21",
                ready=not broken,
                reason="ContainerCreating" if broken else None,
            ),
        ],
        service_cidr=["10.43.0.0/16"],
    )


def dns_state(*, external_ok: bool = True) -> DnsState:
    cluster = DnsCheck(
        "kubernetes.default.svc.cluster.local",
        "10.43.0.10:53",
        "service",
        "cluster",
        "NOERROR",
        ["10.43.0.1"],
        1.2,
    )
    external = (
        DnsCheck(
            "example.com", "10.43.0.10:53", "service", "external", "NOERROR", ["93.184.215.14"], 8.4
        )
        if external_ok
        else DnsCheck("example.com", "10.43.0.10:53", "service", "external", "SERVFAIL", [], 2.1)
    )
    return DnsState(checks=[cluster, external])


POST_REBOOT_FINDINGS = [
    Finding(
        "k3s-stop-hook-missing",
        "info",
        "k3s stops without cleaning Cilium up",
        ["/etc/systemd/system/k3s.service has no ExecStopPost cleanup"],
        playbook="k3s-stop-hook",
    ),
    Finding(
        "dns-external-names-fail",
        "critical",
        "Cluster names resolve, public names do not",
        ["example.com via 10.43.0.10:53: SERVFAIL"],
        playbook="cleanup",
        docs="https://docs.cilium.io/en/stable/operations/troubleshooting/",
        explained_by=["cilium-agent-not-ready"],
    ),
    Finding(
        "stale-cilium-interfaces",
        "critical",
        "Cilium interfaces left over while no agent runs",
        [
            "cilium_host, cilium_net, cilium_vxlan, lxc_health + 3 lxc* links",
            "agent pid 1234 is not running",
        ],
        playbook="cleanup",
        docs="https://docs.k3s.io/networking/basic-network-options#custom-cni",
    ),
    Finding(
        "stale-cilium-bpf",
        "critical",
        "Cilium BPF programs still attached while no agent runs",
        ["eth0 tc-ingress: cil_from_netdev (id 812)", "cilium_host tc-egress: cil_to_host"],
        playbook="cleanup",
    ),
    Finding(
        "pods-failing-on-node",
        "warning",
        "Pods stuck on this node",
        ["default/web-7d9f8-abcde: ContainerCreating"],
        playbook="cleanup",
        explained_by=["cilium-agent-not-ready"],
    ),
    Finding(
        "cilium-agent-not-ready",
        "critical",
        "The Cilium agent on this node is not Ready",
        [
            "kube-system/cilium-x7k2p: CrashLoopBackOff, 7 restarts",
            'last log: level=fatal msg="failed to start: cilium_host already exists"',
        ],
        playbook="cleanup",
        explained_by=["stale-cilium-bpf", "stale-cilium-interfaces"],
    ),
]


def healthy_source() -> StaticSource:
    return StaticSource(node_state(), cluster_state(), dns_state(), [])


def post_reboot_source() -> StaticSource:
    return StaticSource(
        node_state(agent_alive=False),
        cluster_state(broken=True),
        dns_state(external_ok=False),
        list(POST_REBOOT_FINDINGS),
    )


def unreachable_source() -> StaticSource:
    return StaticSource(
        node_state(),
        ClusterState(reachable=False, error="connect to 127.0.0.1:6443 timed out after 3s"),
        DnsState(),
        [
            Finding(
                "apiserver-unreachable",
                "critical",
                "The apiserver cannot be reached",
                ["timed out"],
            )
        ],
    )
