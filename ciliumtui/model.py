"""The Snapshot: everything the probes saw, as plain dataclasses.

Data flows one way: probes fill these, checks read them, views show them.
Nothing here does I/O. `Snapshot.to_dict()` / `Snapshot.from_dict()` round-trip
through JSON so a snapshot taken on a broken node can be diagnosed elsewhere
(`ciliumtui snapshot --json > f; ciliumtui diagnose --from f`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any, Literal

from .record import record

SCHEMA_VERSION = 1

Severity = Literal["critical", "warning", "info"]
SEVERITY_RANK: dict[str, int] = {"critical": 2, "warning": 1, "info": 0}
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")  # most severe first


def severity_order(severity: str | None) -> int:
    """Sort key, most severe first (0 = critical); unknown severities sort last.

    The one severity order: checks, reports, the engine and the views use it."""
    return 2 - SEVERITY_RANK.get(str(severity), -1)


@record
class ProbeStatus:
    """How one probe went: it never raises, it records its error and duration."""

    ok: bool
    error: str | None = None
    ms: float = 0.0


# --------------------------------------------------------------------------- node


@record
class Link:
    """One network interface and its addresses (`ip -j -d addr show`)."""

    name: str
    index: int
    kind: str | None = None  # "veth", "vxlan", "bridge", None for plain devices
    state: str = "UNKNOWN"  # operstate: UP, DOWN, UNKNOWN, LOWERLAYERDOWN
    mtu: int = 0
    mac: str | None = None
    addresses: list[str] = field(default_factory=list)  # "10.0.0.1/24", "fe80::1/64"
    master: str | None = None
    peer: str | None = None  # veth peer / lower device name when known ("link" in ip -j)
    altnames: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    cilium: bool = False  # owned by Cilium (DESIGN §6)


@record
class Route:
    """One route of any table (`ip -j route show table all`)."""

    dst: str  # "default", "10.0.0.0/24", "10.0.0.5/32" (always with a prefix length)
    family: int = 4  # 4 or 6
    table: str = "main"  # "main", "local", "2004", ...
    dev: str | None = None
    gateway: str | None = None
    protocol: str | None = None
    scope: str | None = None
    type: str | None = None  # "unicast", "local", "broadcast", ...
    prefsrc: str | None = None
    metric: int | None = None
    cilium: bool = False
    mtu: int | None = None  # the route's `mtu` metric (tunnel mode takes the overhead off here)


@record
class IpRule:
    """One policy routing rule (`ip -j rule show`)."""

    priority: int
    family: int = 4
    src: str | None = None  # "all" when absent
    dst: str | None = None
    fwmark: str | None = None  # "0x200/0xf00"
    table: str | None = None  # "2004", "main", "local", ...
    action: str | None = None
    iif: str | None = None
    oif: str | None = None
    cilium: bool = False
    invert: bool = False  # `ip rule add not ...`: never Cilium's


@record
class NfChain:
    """A chain of one netfilter table, with its policy (built-in chains only)."""

    name: str
    policy: str | None = None  # "ACCEPT"/"DROP" for built-in chains, None for user chains
    cilium: bool = False


@record
class NfRule:
    """One rule line of `iptables-save`, kept verbatim, and who owns it."""

    chain: str
    spec: str  # the full iptables-save line, e.g. '-A INPUT -m comment --comment "..." -j X'
    target: str | None = None  # the -j/-g target
    comment: str | None = None
    cilium: bool = False


@record
class NfTable:
    """One table (`*filter`, `*nat`, ...) of an `iptables-save` dump."""

    name: str  # filter, nat, mangle, raw, security
    chains: list[NfChain] = field(default_factory=list)
    rules: list[NfRule] = field(default_factory=list)


@record
class NetfilterDump:
    """One `iptables-save` run: one backend, one family."""

    backend: Literal["legacy", "nft"]
    family: int  # 4 or 6
    available: bool = True  # False when the binary is missing
    error: str | None = None
    tables: list[NfTable] = field(default_factory=list)

    @property
    def cilium_chains(self) -> list[str]:
        return [c.name for t in self.tables for c in t.chains if c.cilium]

    @property
    def cilium_rule_count(self) -> int:
        return sum(1 for t in self.tables for r in t.rules if r.cilium)

    @property
    def rule_count(self) -> int:
        return sum(len(t.rules) for t in self.tables)


@record
class CniFile:
    """One file in a CNI config dir, and whether it is Cilium's (or its backup)."""

    name: str
    cilium: bool = False  # 05-cilium.conflist and friends
    backup: bool = False  # *.cilium_bak (a foreign config Cilium renamed)
    dir: str = "/etc/cni/net.d"  # node path of the directory it lies in
    plugins: list[str] = field(default_factory=list)  # each plugin's "type", in order
    error: str | None = None  # unreadable or not JSON


@record
class K3sInfo:
    """What k3s's files on the node say: unit, config, kubeconfig, drop-ins."""

    present: bool = False
    unit_file: str | None = None  # path (under host root) of k3s.service / k3s-agent.service
    kubeconfig: str | None = None  # /etc/rancher/k3s/k3s.yaml when present
    flannel_backend: str | None = None  # "none" when Cilium replaces flannel
    cluster_cidr: list[str] = field(default_factory=list)
    service_cidr: list[str] = field(default_factory=list)
    cluster_dns: str | None = None
    cluster_domain: str | None = None
    disable_kube_proxy: bool = False
    disable_network_policy: bool = False
    max_pods: int | None = None  # from kubelet-arg max-pods
    stop_hook: bool = False  # the unit cleans Cilium's links/rules on stop
    stop_hook_binary: str | None = None  # the executable the ExecStopPost hook runs
    stop_hook_binary_exists: bool = False  # ... and whether it exists under the host root
    role: str | None = None  # "server" (k3s.service) | "agent" (k3s-agent.service)
    # where flannel-backend was read: "config.yaml", "config.yaml.d/10-x.yaml", "ExecStart"
    flannel_backend_source: str | None = None
    resolv_conf: str | None = None  # --resolv-conf / kubelet-arg resolv-conf, when set


@record
class SysctlSetting:
    """One `key = value` line of a sysctl.d file."""

    file: str  # node path, "/etc/sysctl.d/99-hardening.conf"
    key: str  # "net.ipv4.conf.all.rp_filter"
    value: str


@record
class HostInfo:
    """Host facts read from files under --host-root."""

    hostname: str | None = None
    kernel: str | None = None  # release, "6.1.0-18-amd64"
    bpffs_mounted: bool = False
    cgroup2_mounts: list[str] = field(default_factory=list)
    nameservers: list[str] = field(default_factory=list)  # from resolv.conf
    cni_files: list[CniFile] = field(default_factory=list)  # every CNI config dir's files
    # the CNI config dirs read (node paths), whether or not they exist
    cni_dirs: list[str] = field(default_factory=list)
    k3s: K3sInfo | None = None
    # /run/systemd/resolve/resolv.conf: the real upstreams behind a 127.0.0.53 stub
    resolved_nameservers: list[str] = field(default_factory=list)
    flannel_subnet_env: bool = False  # /run/flannel/subnet.env exists
    # rp_filter settings in sysctl files: (node path, key, value), in the order applied
    sysctl_files: list[SysctlSetting] = field(default_factory=list)


@record
class AgentHealth:
    """The parts of the agent's StatusResponse (GET /v1/healthz) we use."""

    state: str | None = None  # cilium.state: Ok | Warning | Failure | Disabled
    msg: str | None = None
    version: str | None = None  # "1.18.4"
    kubernetes_state: str | None = None
    kubernetes_msg: str | None = None
    kvstore_state: str | None = None
    cluster_health_state: str | None = None
    ipam: str | None = None
    kube_proxy_replacement: str | None = None  # "True"/"False" (older: Strict/Disabled/...)
    routing_mode: str | None = None
    tunnel_protocol: str | None = None
    masquerading: str | None = None
    components: dict[str, str] = field(default_factory=dict)  # name -> state
    failing_controllers: list[str] = field(default_factory=list)  # "name: last error"
    stale: list[str] = field(default_factory=list)


@record
class AgentState:
    """The Cilium agent as seen from the node: pidfile, process, REST API."""

    pidfile: str | None = None  # path when present
    pid: int | None = None
    pid_alive: bool = False
    socket: str | None = None  # the socket path probed
    socket_present: bool = False
    reachable: bool = False  # the API answered with a parseable body
    error: str | None = None
    health: AgentHealth | None = None
    # The agent container's previous log, read from disk (CRI format, newest
    # <restart>.log of the cilium-agent container under /var/log/pods): its last
    # fatal/error lines, so the reason shows when `kubectl logs --previous` cannot run.
    last_log: list[str] = field(default_factory=list)
    last_log_path: str | None = None  # node path of the file read

    @property
    def alive(self) -> bool:
        """A live agent: its API answers, or its pid runs."""
        return self.reachable or self.pid_alive


@record
class BpfProgram:
    """One loaded BPF program (bpf(2) BPF_OBJ_GET_INFO_BY_FD)."""

    id: int  # kernel program id
    name: str  # kernel program name (at most 15 chars: "cil_from_netdev")
    type: str | None = None  # "sched_cls", "xdp", "cgroup_sock_addr", ...
    tag: str | None = None


@record
class BpfAttachment:
    """One program attached to a hook of a device or cgroup."""

    hook: str  # "tc-ingress" | "tc-egress" | "tcx-ingress" | "tcx-egress" | "xdp" | "cgroup:<type>"
    target: str  # device name, or the cgroup's node path ("/run/cilium/cgroupv2")
    program: BpfProgram
    via: str = "tc"  # "tc" (cls_bpf filter) | "tcx" | "xdp" | "bpf_link" | "cgroup"
    detail: str | None = None  # tc: "pref 1 handle 0x1"; xdp: "generic"/"native"/"offload"
    link_pin: str | None = None  # node path of the pinned bpf_link that holds it, if any
    cilium: bool = False  # DESIGN §5 stale-cilium-bpf: the program is Cilium's


@record
class BpfPin:
    """One pinned BPF object in a bpffs."""

    path: str  # node path under /sys/fs/bpf
    kind: str = "other"  # "map" | "prog" | "link" | "dir" | "other"
    cilium: bool = False


@record
class BpfState:
    """The node's BPF footprint: attachments, pins, and what could not be read."""

    attachments: list[BpfAttachment] = field(default_factory=list)
    pins: list[BpfPin] = field(default_factory=list)
    # what could not be read, one line each ("tcx: BPF_PROG_QUERY needs kernel >= 6.6")
    errors: list[str] = field(default_factory=list)


@record
class NodeState:
    """Everything the node probes saw."""

    links: list[Link] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    rules: list[IpRule] = field(default_factory=list)
    netfilter: list[NetfilterDump] = field(default_factory=list)
    kube_backend: str | None = None  # "legacy"/"nft": where KUBE-* chains / canaries live
    host: HostInfo = field(default_factory=HostInfo)
    agent: AgentState = field(default_factory=AgentState)
    bpf: BpfState = field(default_factory=BpfState)
    # effective-input IPv4 rp_filter per device as read in the node's netns:
    # {"all": 1, "default": 0, "cilium_host": 0, "lxc...": 0}
    rp_filter: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------ cluster


@record
class Taint:
    """One Node taint."""

    key: str
    value: str | None = None
    effect: str | None = None


@record
class NodeInfo:
    """One Node object, as far as the checks need it."""

    name: str
    addresses: list[tuple[str, str]] = field(default_factory=list)  # (type, address)
    taints: list[Taint] = field(default_factory=list)
    pod_cidrs: list[str] = field(default_factory=list)
    allocatable_pods: int | None = None
    kubelet_version: str | None = None
    ready: bool | None = None


@record
class ContainerInfo:
    """One container's status in a pod."""

    name: str
    ready: bool = False
    restarts: int = 0
    state: str | None = None  # running | waiting | terminated
    reason: str | None = None  # CrashLoopBackOff, ContainerCreating, Error, ...
    exit_code: int | None = None
    last_reason: str | None = None
    last_exit_code: int | None = None
    image: str | None = None


@record
class PodInfo:
    """One pod, as far as the checks need it."""

    name: str
    namespace: str
    node: str | None = None
    phase: str | None = None
    ready: bool = False
    ip: str | None = None
    host_network: bool = False
    owner_kind: str | None = None  # DaemonSet, ReplicaSet, Node (mirror pod), None
    owner_name: str | None = None
    mirror: bool = False
    deleting: bool = False
    containers: list[ContainerInfo] = field(default_factory=list)
    init_containers: list[ContainerInfo] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    # containerPorts of all containers: (name, port, protocol), e.g. ("dns", 53, "UDP")
    ports: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def restarts(self) -> int:
        return sum(c.restarts for c in self.containers)

    @property
    def reason(self) -> str | None:
        """The most telling waiting/terminated reason of any container."""
        for c in self.init_containers + self.containers:
            if c.reason and c.reason not in ("Running", "Completed"):
                return c.reason
        return None


@record
class WorkloadInfo:
    """A DaemonSet or Deployment (Cilium's, CoreDNS's ...), as far as the checks need it."""

    kind: str  # DaemonSet | Deployment
    name: str
    namespace: str
    desired: int = 0
    ready: int = 0
    available: int = 0
    image: str | None = None


@record
class CiliumConfig:
    """The keys of the cilium-config ConfigMap we reason about (raw keeps all)."""

    ipam: str | None = None
    pool: list[str] = field(default_factory=list)  # cluster-pool-ipv4-cidr, space separated
    mask_size: int | None = None  # cluster-pool-ipv4-mask-size
    pool_v6: list[str] = field(default_factory=list)  # cluster-pool-ipv6-cidr (enable-ipv6)
    mask_size_v6: int | None = None  # cluster-pool-ipv6-mask-size
    routing_mode: str | None = None
    tunnel_protocol: str | None = None
    kube_proxy_replacement: str | None = None
    enable_ipv4: bool = True
    enable_ipv6: bool = False
    raw: dict[str, str] = field(default_factory=dict)


@record
class CiliumNodeInfo:
    """One CiliumNode object: its pod CIDRs and addresses."""

    name: str
    pod_cidrs: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)


@record
class ServiceInfo:
    """One Service: clusterIP and ports."""

    name: str
    namespace: str
    cluster_ip: str | None = None
    ports: list[tuple[str, int, str]] = field(default_factory=list)  # (name, port, protocol)


@record
class LbPool:
    """One load-balancer IP pool (Cilium's, MetalLB's, k3s ServiceLB's)."""

    kind: str  # IPAddressPool (MetalLB) | CiliumLoadBalancerIPPool
    name: str
    cidrs: list[str] = field(default_factory=list)  # ranges "a-b" are normalised to CIDRs


@record
class ClusterState:
    """Everything the cluster probes saw (reachable=False: the apiserver was not)."""

    reachable: bool = False
    error: str | None = None  # one line: why the apiserver could not be used
    kubeconfig: str | None = None
    context: str | None = None
    server: str | None = None
    node: NodeInfo | None = None
    cilium_pod: PodInfo | None = None
    cilium_daemonset: WorkloadInfo | None = None
    operator: WorkloadInfo | None = None
    config: CiliumConfig | None = None
    cilium_version: str | None = None  # from the agent image tag
    ciliumnodes: list[CiliumNodeInfo] = field(default_factory=list)
    kube_dns: ServiceInfo | None = None
    coredns_pods: list[PodInfo] = field(default_factory=list)
    coredns_corefile: str | None = None  # the `Corefile` key of the coredns ConfigMap
    # last lines of a crash-looping CoreDNS pod's previous log ("[FATAL] plugin/loop: ...")
    coredns_log: list[str] = field(default_factory=list)
    kube_proxy: bool | None = None  # a kube-proxy DaemonSet/pod exists (None: unknown)
    lb_pools: list[LbPool] = field(default_factory=list)
    node_pods: list[PodInfo] = field(default_factory=list)  # every pod on this node
    service_cidr: list[str] = field(default_factory=list)  # when known (k3s config, sim)
    cluster_domain: str = "cluster.local"


# ---------------------------------------------------------------------------- DNS


@record
class DnsCheck:
    """One DNS query and its outcome."""

    qname: str
    server: str  # "10.43.0.10:53"
    via: str  # "service" | "pod/<name>" | "node" (a resolv.conf nameserver of the node itself)
    kind: Literal["cluster", "external"] = "cluster"
    rcode: str | None = None  # NOERROR, NXDOMAIN, SERVFAIL, ...; None on timeout/error
    answers: list[str] = field(default_factory=list)
    ms: float | None = None
    error: str | None = None  # "timeout after 2.0s", "connection refused"

    @property
    def ok(self) -> bool:
        return self.rcode == "NOERROR" and bool(self.answers)


@record
class DnsState:
    """The DNS checks of one collection."""

    cluster_domain: str = "cluster.local"
    public_name: str = "example.com"
    checks: list[DnsCheck] = field(default_factory=list)


# ----------------------------------------------------------------------- snapshot


@record
class Snapshot:
    """One collection: node, cluster and DNS state, and how each probe went."""

    node_name: str
    taken_at: str  # ISO 8601, UTC
    schema: int = SCHEMA_VERSION
    netns: str | None = None
    host_root: str = "/"
    node: NodeState | None = None
    cluster: ClusterState | None = None
    dns: DnsState | None = None
    probes: dict[str, ProbeStatus] = field(default_factory=dict)

    @property
    def cilium_version(self) -> str | None:
        if self.cluster and self.cluster.cilium_version:
            return self.cluster.cilium_version
        if self.node and self.node.agent.health and self.node.agent.health.version:
            return self.node.agent.health.version
        return None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        """Rebuild from `to_dict()` output; raises ValueError with a one-line reason."""
        from .snapshot_load import snapshot_from_dict

        return snapshot_from_dict(data)


# ------------------------------------------------------------------------ finding


@record
class Finding:
    """One check's result: what is wrong, the evidence, and the fix."""

    id: str  # stable, from DESIGN §5
    severity: Severity
    title: str
    evidence: list[str] = field(default_factory=list)
    playbook: str | None = None
    docs: str | None = None
    # Causes (DESIGN §4): ids of findings in the same result that explain this one.
    # Filled by checks.causes; a finding nothing explains is a root cause.
    explained_by: list[str] = field(default_factory=list)

    @property
    def root_cause(self) -> bool:
        return not self.explained_by

    def to_json(self) -> dict[str, Any]:
        """One finding of `diagnose --json` (DESIGN §4, schema 2)."""
        return {
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "evidence": list(self.evidence),
            "remediation": {"playbook": self.playbook, "docs": self.docs},
            "root_cause": self.root_cause,
            "explained_by": list(self.explained_by),
        }
