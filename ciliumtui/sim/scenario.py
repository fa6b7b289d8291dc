"""Loading scenarios: `assets/scenarios/<id>.yaml` deep-merged over `healthy.yaml`.

A scenario states only what differs from the healthy one (assets/scenarios/README.md):
maps merge key by key, lists and scalars replace. The format is declared once, as
the dataclasses below (ciliumtui.yamlspec): every key at every depth is known, so a
typo (`netwrok:`, `kernal:`) is an error with file:line:col instead of a broken node
that silently comes out healthy. A new scenario key is added HERE, beside the sim
code that reads it. Errors are one line; the loader returns plain dicts (the sim
reads them as such).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar, Literal

from ..errors import CiliumtuiError
from ..safeyaml import Limits, YamlError, compose, load, read_text
from ..yamlspec import (
    INVALID,
    Enum,
    Int,
    ListOf,
    Number,
    OneOf,
    Report,
    convert,
    json_schema,
    node_from,
    spec,
)

BASE_ID = "healthy"

AGENT_STATES = ("ready", "not-ready", "crashloop", "missing")
DNS_BEHAVIOURS = ("ok", "nxdomain", "servfail", "timeout")
APISERVER_FAULTS = ("hang", "500", "403", "garbage", "reset", "slow-watch")
AGENT_API_MODES = ("healthy", "unhealthy", "garbage", "hang", "none")
IPTABLES_BACKENDS = ("nft", "legacy", "none")
# What makes the simulator apply `on_fix` (all listed must have happened).
TRIGGERS = ("agent-restart", "ciliumnode-recreated", "k3s-restart", "coredns-ready", "manual")
# A scale scenario is small on disk (healthy.yaml + `cluster.scale`); its expansion is
# not YAML. These bound what a hand-written file may cost.
LIMITS = Limits(max_bytes=4 * 1024 * 1024, max_nodes=200_000, max_depth=32)

_COUNT = Int(min=0, max=10_000_000)


# ------------------------------------------------------------------ the format


@dataclass
class Uplink:
    name: str = "eth0"
    address: str | None = spec(None, doc="CIDR, e.g. 192.168.1.21/24")
    gateway: str | None = None


@dataclass
class Peer:
    node_ip: str = spec(doc="the peer node's address")
    pod_cidr: str = spec(doc="its pod CIDR (routed via cilium_host)")


@dataclass
class CiliumNet:
    """Cilium's datapath objects in the node's network namespace."""

    present: bool = spec(False, doc="cilium_host/net/vxlan, lxc_health, ip rule, table 2004")
    pod_cidr: str | None = None
    host_ip: str | None = None
    endpoints: int = spec(0, type=Int(min=0, max=100_000), doc="lxc veths with /32 routes")
    peers: list[Peer] = spec([])
    iptables: str = spec("nft", type=Enum(IPTABLES_BACKENDS), doc="backend of CILIUM_* chains")
    leftover_rules: bool = spec(
        False,
        doc="with present: false, Cilium's ip rules and table 2004 stay (the k3s docs'"
        " one-liner deletes links and iptables lines only)",
    )


_DIRECTION = Enum(("ingress", "egress"))


@dataclass
class BpfTc:
    """A cls_bpf filter on the device's clsact hook (Cilium's legacy tc attach)."""

    dev: str
    direction: str = spec("ingress", type=_DIRECTION)
    name: str = spec("cil_from_netdev", doc="the program's kernel name")
    drop: bool = spec(
        False, doc="the program drops every packet (a dead agent's redirect to a gone device)"
    )


@dataclass
class BpfTcx:
    """A tcx bpf_link pinned at /sys/fs/bpf/cilium/devices/<dev>/links/<name> (Cilium >= 1.15)."""

    dev: str
    direction: str = spec("ingress", type=_DIRECTION)
    name: str = "cil_from_netdev"


@dataclass
class BpfXdp:
    dev: str
    name: str = "cil_xdp_entry"
    link: bool = spec(
        True, doc="a bpf_link pinned at cilium/devices/<dev>/links/<name>; false: netlink"
    )


@dataclass
class BpfSocketLb:
    """A socket-LB program on Cilium's cgroup root (/run/cilium/cgroupv2)."""

    attach: str = spec(
        "connect4",
        type=Enum(("connect4", "connect6", "sendmsg4", "sendmsg6", "recvmsg4", "recvmsg6")),
    )
    name: str = "cil_sock4_connect"
    link: bool = spec(False, doc="a bpf_link pinned under cilium/socketlb/links/cgroup/")


@dataclass
class Bpf:
    """Cilium's BPF footprint: real two-instruction programs under Cilium's names in
    netns mode (ciliumtui.sim.bpf_loader), the same BpfState on a recorded node."""

    tc: list[BpfTc] = spec([])
    tcx: list[BpfTcx] = spec([])
    xdp: list[BpfXdp] = spec([])
    socket_lb: list[BpfSocketLb] = spec([])
    maps: list[str] = spec([], doc="map names pinned in /sys/fs/bpf/tc/globals")


@dataclass
class Flannel:
    """What k3s's flannel (vxlan backend) lays on the node."""

    present: bool = spec(False, doc="flannel.1 (vxlan 1, UDP 8472 on the uplink), cni0")
    pod_cidr: str | None = spec(None, doc="this node's flannel subnet: cni0 gets its .1")
    peers: list[Peer] = spec([], doc="routes via flannel.1 to the peers' subnets")


@dataclass
class ExtraRoute:
    dst: str
    dev: str | None = None
    via: str | None = None
    table: str | int | None = None


@dataclass
class Network:
    uplink: Uplink | None = None
    cilium: CiliumNet | None = None
    kube_iptables: str = spec("nft", type=Enum(IPTABLES_BACKENDS), doc="backend of KUBE-*")
    decoys: bool = spec(False, doc="lxcbr0, docker0 + veth, a USER chain, a 'cilium' comment")
    extra_routes: list[ExtraRoute] = spec([])
    bpf: Bpf | None = None
    flannel: Flannel | None = None


@dataclass
class K3s:
    config: dict[str, Any] = spec({}, doc="/etc/rancher/k3s/config.yaml (null: key left out)")
    config_d: dict[str, dict[str, Any]] = spec({}, doc="config.yaml.d/<file>: mapping")
    stop_hook: bool = spec(False, doc="the unit cleans Cilium's links and rules on stop")
    stop_hook_binary: bool = spec(True, doc="false: the hook's /usr/local/bin/ciliumtui is absent")
    unit: str = spec("k3s", doc="k3s or k3s-agent")
    exec_flags: list[str] = spec([])


@dataclass
class CniFile:
    name: str
    dir: str | None = spec(None, doc='a node path, or "k3s" (k3s\'s agent CNI dir)')
    content: str | None = spec(None, doc="raw text (default: Cilium's or flannel's config)")


@dataclass
class AgentLog:
    """The cilium-agent container's CRI logs under /var/log/pods (the kubelet's)."""

    pod: str | None = None
    uid: str | None = None
    lines: list[str] = spec([], doc="one run's messages")
    restarts: list[list[str]] = spec([], doc="the messages of each run, <n>.log per run")


@dataclass
class Host:
    hostname: str | None = None
    kernel: str | None = None
    nameservers: list[str] = spec([])
    bpffs: bool = True
    cgroup2: bool = True
    cni_files: list[str | CniFile] = spec([], doc="names in /etc/cni/net.d or {name, dir, content}")
    k3s: K3s | None = None
    agent_running: bool | Literal["stale"] = spec(
        False, doc="pidfile with a live pid (true), a dead one (stale), or none"
    )
    resolved_nameservers: list[str] = spec([], doc="/run/systemd/resolve/resolv.conf")
    flannel_subnet_env: bool = spec(False, doc="/run/flannel/subnet.env (flanneld's lease)")
    agent_log: AgentLog | None = None
    files: dict[str, str] = spec({}, doc="{node path: text}: anything else")


@dataclass
class Taint:
    key: str
    value: Any = None
    effect: str = spec("NoSchedule", type=Enum(("NoSchedule", "PreferNoSchedule", "NoExecute")))


@dataclass
class NodeSpec:
    """A Node of the simulated cluster."""

    name: str
    internal_ip: str | None = None
    external_ip: str | None = None
    pod_cidr: str | list[str] | None = None
    cilium_pod_cidr: str | list[str] | None = spec(None, doc="when the CiliumNode's differs")
    max_pods: int = spec(110, type=_COUNT)
    taints: list[str | Taint] = spec([], doc='{key, value, effect} or "key=value:Effect"')
    agent: str | None = spec(None, type=Enum(AGENT_STATES))
    ready: bool = True
    unschedulable: bool = False


@dataclass
class Operator:
    replicas: int = spec(1, type=_COUNT)
    available: int | None = spec(None, type=_COUNT)


@dataclass
class CiliumNodeSpec:
    name: str
    pod_cidrs: list[str] = spec([])


@dataclass
class CiliumCluster:
    version: str = "1.18.4"
    config: dict[str, Any] = spec({}, doc="the cilium-config ConfigMap's data")
    agent: str = spec("ready", type=Enum(AGENT_STATES), doc="node_name's agent")
    operator: Operator | None = None
    ciliumnodes: Literal["auto"] | list[CiliumNodeSpec] = spec("auto")
    restarts: int = spec(0, type=_COUNT, doc="restart count of the agent pods")
    log: str | None = spec(None, doc="replaces the simulated agent log")


@dataclass
class CoreDns:
    replicas: int = spec(1, type=_COUNT)
    ready: bool | Literal["crashloop"] | list[bool | Literal["crashloop"]] = True
    ips: list[str] = spec([])
    corefile: str | None = spec(None, doc="the coredns ConfigMap's Corefile (default: k3s's)")
    log: str | None = spec(None, doc="what a crash-looping CoreDNS logged before it died")


@dataclass
class LbPool:
    kind: str = spec("IPAddressPool", type=Enum(("IPAddressPool", "CiliumLoadBalancerIPPool")))
    name: str = "default-pool"
    namespace: str | None = None
    cidrs: list[str] = spec([])


@dataclass
class PodSpec:
    """A workload pod (besides cilium and CoreDNS)."""

    name: str
    namespace: str = "default"
    owner: str = spec("none", doc="ReplicaSet/x, DaemonSet/x, StatefulSet/x, Job/x or none")
    # The states are checked where they are read (sim/objects.py).
    state: str = spec("running", doc="running | ContainerCreating | CrashLoopBackOff | ...")
    node: str | None = None
    ip: str | None = None
    host_network: bool = False
    mirror: bool = False
    labels: dict[str, Any] = spec({})
    restarts: int | None = spec(None, type=_COUNT)
    container: str | None = None
    image: str | None = None


@dataclass
class Scale:
    nodes: int = spec(0, type=_COUNT)
    pods: int = spec(0, type=_COUNT)


@dataclass
class Cluster:
    kubernetes_version: str = "v1.31.4+k3s1"
    domain: str = "cluster.local"
    service_cidr: str = "10.43.0.0/16"
    nodes: list[NodeSpec] = spec([])
    cilium: CiliumCluster | None = None
    coredns: CoreDns | None = None
    kube_dns_ip: str = "10.43.0.10"
    kube_proxy: bool = False
    lb_pools: list[LbPool] = spec([])
    metallb: bool = spec(False, doc="MetalLB's CRD exists even without an IPAddressPool")
    pods: list[PodSpec] = spec([])
    restart_delay: float = spec(0.3, type=Number(min=0, max=3600))
    scale: Scale | None = None


@dataclass
class Dns:
    cluster_names: str = spec("ok", type=Enum(DNS_BEHAVIOURS))
    external_names: str = spec("ok", type=Enum(DNS_BEHAVIOURS))


@dataclass
class Faults:
    apiserver: str | None = spec(None, type=Enum(APISERVER_FAULTS))


_TRIGGER = Enum(TRIGGERS)


@dataclass
class OnFix:
    """Overrides applied once the scenario's fix is done (all triggers happened)."""

    trigger: str | list[str] = spec("agent-restart", type=OneOf(_TRIGGER, ListOf(_TRIGGER)))
    host: Host | None = None
    network: Network | None = None
    agent_api: str | None = spec(None, type=Enum(AGENT_API_MODES))
    cluster: Cluster | None = None
    dns: Dns | None = None
    faults: Faults | None = None


@dataclass
class Scenario:
    """A simulated node and cluster (DESIGN §8)."""

    yaml_label: ClassVar[str] = "scenario"
    id: str | None = None
    title: str | None = None
    summary: str | None = None
    briefing: str | None = None
    hints: list[str] = spec([])
    expert_path: list[str] = spec([], doc="the playbooks an expert runs, in order")
    root_cause: str | list[str] | None = spec(None, doc="finding ids (training's score)")
    node_name: str | None = None
    host: Host | None = None
    network: Network | None = None
    agent_api: str = spec("healthy", type=Enum(AGENT_API_MODES))
    cluster: Cluster | None = None
    dns: Dns | None = None
    faults: Faults | None = None
    on_fix: OnFix | None = None


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (for editors), from the same declaration."""
    return json_schema(Scenario, title="ciliumtui training scenario")


# ---------------------------------------------------------------- loading


def _scenario_dir():
    return files("ciliumtui.assets") / "scenarios"


def deep_merge(base: Any, over: Any) -> Any:
    """`over` merged onto a copy of `base`: maps merge recursively, everything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def _fail(errors: list[str], strip_position: bool = False) -> CiliumtuiError:
    first = errors[0]
    if strip_position:  # a dict has no lines: "<scenario>:0:0: x" → "<scenario>: x"
        head, _, rest = first.partition(": ")
        first = f"{head.split(':')[0]}: {rest}"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return CiliumtuiError(f"{first}{more}")


def _parse(text: str, where: str) -> dict[str, Any]:
    """The scenario's own mapping, validated against the declaration; errors file:line:col."""
    soft: list[str] = []
    try:
        root = compose(text, where, LIMITS, soft)
    except YamlError as exc:
        raise CiliumtuiError(str(exc)) from None
    if soft:
        raise _fail(soft)
    if root is None:
        return {}
    r = Report(where)
    if convert(Scenario, root, r) is INVALID or not r.ok:
        raise _fail(r.errors or [f"{where}:1:1: not a scenario"])
    return root.plain()


def validate_scenario(own: dict[str, Any], where: str = "<scenario>") -> None:
    """Check an already parsed scenario (a dict: generators, tests) against the declaration."""
    r = Report(where)
    if convert(Scenario, node_from(own), r) is INVALID or not r.ok:
        raise _fail(r.errors or [f"{where}:0:0: not a scenario"], strip_position=True)


def _read_builtin(scenario_id: str) -> tuple[str, str]:
    path = _scenario_dir() / f"{scenario_id}.yaml"
    if not path.is_file():
        known = ", ".join(s[0] for s in list_scenarios()) or "none"
        raise CiliumtuiError(f"unknown scenario {scenario_id!r} (known: {known})")
    return path.read_text(encoding="utf-8"), f"scenarios/{scenario_id}.yaml"


def _read(id_or_path: str | Path) -> tuple[str, str]:
    """The text of a scenario and the name used in error messages."""
    text_id = str(id_or_path)
    looks_like_path = (
        isinstance(id_or_path, Path) or "/" in text_id or text_id.endswith((".yaml", ".yml"))
    )
    if looks_like_path:
        return read_text(text_id, "scenario file", max_bytes=LIMITS.max_bytes), text_id
    return _read_builtin(text_id)


def _base() -> dict[str, Any]:
    text, where = _read_builtin(BASE_ID)
    return _parse(text, where)


def load_scenario(id_or_path: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A complete scenario: the named/given one deep-merged over healthy.yaml.

    Accepts a built-in id ("healthy"), a path to a YAML file, or an already
    parsed dict (merged over healthy too, handy for tests and generators).
    Raises CiliumtuiError (one line, file:line:col) for anything the format does not know.
    """
    if isinstance(id_or_path, dict):
        own, where = id_or_path, "<scenario>"
        validate_scenario(own, where)
    else:
        text, where = _read(id_or_path)
        own = _parse(text, where)
    base = _base()
    merged = deep_merge(base, own)
    if "id" not in own:
        merged["id"] = Path(where).stem if where != "<scenario>" else "custom"
    return merged


def list_scenarios() -> list[tuple[str, str, str]]:
    """(id, title, summary) of every built-in scenario, healthy first."""
    out: list[tuple[str, str, str]] = []
    for entry in sorted(_scenario_dir().iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        sid = entry.name[: -len(".yaml")]
        try:
            data = load(entry.read_text(encoding="utf-8"), entry.name, LIMITS) or {}
        except YamlError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        out.append((sid, str(data.get("title", sid)), str(data.get("summary", "")).strip()))
    out.sort(key=lambda s: (s[0] != BASE_ID, s[0]))
    return out
