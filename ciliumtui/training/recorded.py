"""A recorded node: training without root.

Without root there is no network namespace to build a scenario's node in, so the
node is a JSON file holding a NodeState, and its RecordedBackend is the node's
backend (`Options.backend`, the CLI's `--node-file`): the node probes read it,
and the node actions' commands change it instead of the kernel (link.delete,
netfilter.purge, iproute.cilium-cleanup, bpf.cleanup, sysctl.rp-filter, k3s.hook).
Host files (CNI configs, drop-ins) are real files under the backend's host root,
and the recorded host facts are read again from there after each change. Beside
the NodeState the file keeps the world around the node (key "simulated": what its
resolvers answer, ciliumtui.training.recorded_dns), so its DNS queries are
answered as the built node's would be.

`recorded_node_state(scenario)` is pure: it mirrors what
`ciliumtui.sim.node_builder.build_node` + `ciliumtui.sim.host_root.build_host_root`
+ the agent API server lay down, as the probes would read it back (a root test
compares the two). Paths in it are node paths ("/var/run/cilium/cilium.pid"),
not paths under a host root.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import tempfile
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CiliumtuiError
from ..model import (
    SCHEMA_VERSION,
    AgentState,
    BpfAttachment,
    BpfPin,
    BpfProgram,
    BpfState,
    DnsCheck,
    HostInfo,
    IpRule,
    Link,
    NetfilterDump,
    NodeState,
    Route,
)
from ..node.backend import COMMAND_TIMEOUT, Command
from ..ownership import (
    is_cilium_bpf_pin,
    is_cilium_link,
    is_cilium_route,
)
from . import recorded_commands as commands
from . import recorded_dns

if TYPE_CHECKING:
    from ..dns import DnsTarget, Kind

PIDFILE = "/var/run/cilium/cilium.pid"
SOCKET = "/var/run/cilium/cilium.sock"
SIMULATED = "recorded node: simulated"


# ------------------------------------------------------------------ building


def _link(name: str, kind: str | None, addresses: list[str] | None = None, **kw: Any) -> Link:
    return Link(
        name=name,
        index=0,
        kind=kind,
        state=kw.pop("state", "UP"),
        mtu=kw.pop("mtu", 1500),
        addresses=addresses or [],
        cilium=is_cilium_link(name),
        **kw,
    )


def _route(dst: str, dev: str | None, table: str = "main", **kw: Any) -> Route:
    if dst != "default" and "/" not in dst:
        dst += "/32"
    return Route(dst=dst, family=4, table=table, dev=dev, cilium=is_cilium_route(table, dev), **kw)


def _links_and_routes(scenario: dict[str, Any]) -> tuple[list[Link], list[Route]]:
    """The node's links and routes as build_node lays them: the far ends of its veths
    (uplink, lxc endpoints, docker) are in the upstream namespace, so they and the
    service/pod addresses answering there are not the node's (no `peer` either: the
    probes name a peer only when it is in the same namespace)."""
    from ..sim.node_builder import DOCKER_VETH, endpoints

    net = scenario.get("network") or {}
    cil = net.get("cilium") or {}
    links = [_link("lo", None, ["127.0.0.1/8"], state="UNKNOWN", mtu=65536)]
    routes: list[Route] = []

    uplink = net.get("uplink")
    if uplink:
        dev = uplink.get("name", "eth0")
        addr = uplink.get("address")
        links.append(_link(dev, "veth", [str(addr)] if addr else []))
        if addr:
            iface = ipaddress.ip_interface(str(addr))
            src = str(iface.ip)
            routes.append(
                _route(str(iface.network), dev, protocol="kernel", scope="link", prefsrc=src)
            )
            if uplink.get("gateway"):
                routes.append(
                    _route(
                        "default",
                        dev,
                        gateway=str(uplink["gateway"]),
                        protocol="dhcp",
                        prefsrc=src,
                        metric=100,
                    )
                )

    if cil.get("present", False):
        host_ip = str(cil.get("host_ip"))
        pod_cidr = str(cil.get("pod_cidr"))
        links += [
            _link("cilium_host", "veth", [f"{host_ip}/32"], peer="cilium_net"),
            _link("cilium_net", "veth", peer="cilium_host"),
            _link("cilium_vxlan", "vxlan", state="UNKNOWN"),
            _link("lxc_health", "veth"),
        ]
        via = {"gateway": host_ip}
        routes += [
            _route(host_ip, "cilium_host", protocol="kernel", scope="link"),
            _route(pod_cidr, "cilium_host", protocol="kernel", prefsrc=host_ip, **via),
        ]
        for lxc, ip in endpoints(scenario):
            links.append(_link(lxc, "veth"))
            routes.append(_route(ip, lxc, scope="link"))
        for peer in cil.get("peers") or []:
            routes.append(
                _route(
                    str(peer["pod_cidr"]), "cilium_host", protocol="kernel", prefsrc=host_ip, **via
                )
            )
    if cil.get("present", False) or cil.get("leftover_rules", False):
        routes.append(_route("default", "lo", table="2004", type="local", scope="host"))
    _flannel(scenario, links, routes)

    if net.get("decoys", False):
        veth = DOCKER_VETH[0]
        links += [
            _link("lxcbr0", "bridge", state="DOWN"),
            _link("docker0", "bridge", ["172.17.0.1/16"]),
            _link(veth, "veth", master="docker0"),
        ]
        routes.append(
            _route(
                "172.17.0.0/16", "docker0", protocol="kernel", scope="link", prefsrc="172.17.0.1"
            )
        )

    for r in net.get("extra_routes") or []:
        routes.append(
            _route(
                str(r["dst"]), r.get("dev"), table=str(r.get("table", "main")), gateway=r.get("via")
            )
        )
    for i, link in enumerate(links, start=1):
        link.index = i
    return links, routes


def _flannel(scenario: dict[str, Any], links: list[Link], routes: list[Route]) -> None:
    """flannel.1, cni0 and its pods' veths, the subnet and peer routes (node_builder.flannel_batch)."""
    from ..sim.node_builder import flannel_endpoints

    fl = (scenario.get("network") or {}).get("flannel") or {}
    if not fl.get("present", False):
        return
    sub = ipaddress.ip_network(str(fl["pod_cidr"]), strict=False) if fl.get("pod_cidr") else None
    vtep = [f"{sub.network_address}/32"] if sub else []
    links.append(_link("flannel.1", "vxlan", vtep, state="UNKNOWN", mtu=1450))
    if sub is not None:
        gw = str(sub.network_address + 1)
        links.append(_link("cni0", "bridge", [f"{gw}/{sub.prefixlen}"]))
        links += [_link(veth, "veth", master="cni0") for veth, _ in flannel_endpoints(scenario)]
        routes.append(_route(str(sub), "cni0", protocol="kernel", scope="link", prefsrc=gw))
    for peer in fl.get("peers") or []:
        net = ipaddress.ip_network(str(peer["pod_cidr"]), strict=False)
        routes.append(_route(str(net), "flannel.1", gateway=str(net.network_address)))


def bpf_state(spec: dict[str, Any] | None) -> BpfState:
    """The BpfState the probe reads from a node whose `network.bpf` was laid by
    ciliumtui.sim.bpf_loader.lay_bpf (program ids are made up; tc filters carry the
    names of the pins tc loaded them from, `cil_from_netdev-eth0:[*fsobj]`)."""
    from ..node.bpf import CGROUP_ROOT, CILIUM_BPFFS, TC_GLOBALS, tc_detail
    from ..sim.bpf_loader import tc_filter_name

    spec = spec or {}
    ids = iter(range(4001, 1_000_000))
    atts: list[BpfAttachment] = []
    pins: list[BpfPin] = []

    def prog(name: str, kind: str) -> BpfProgram:
        return BpfProgram(id=next(ids), name=name[:15], type=kind)

    def link_pin(path: str) -> str:
        pins.append(BpfPin(path, "link", is_cilium_bpf_pin(path)))
        return path

    for i, t in enumerate(spec.get("tc") or []):
        name, dev = str(t.get("name", "cil_from_netdev")), str(t["dev"])
        atts.append(
            BpfAttachment(
                f"tc-{t.get('direction', 'ingress')}",
                dev,
                prog(name, "sched_cls"),
                via="tc",
                detail=tc_detail(1, 1 + i, 0, f"{tc_filter_name(name, dev)}:[*fsobj]"),
                cilium=True,
            )
        )
    for t in spec.get("tcx") or []:
        name, dev = str(t.get("name", "cil_from_netdev")), str(t["dev"])
        p = prog(name, "sched_cls")
        pin = link_pin(f"{CILIUM_BPFFS}/devices/{dev}/links/{name}")
        hook = f"tcx-{t.get('direction', 'ingress')}"
        atts.append(BpfAttachment(hook, dev, p, "bpf_link", f"link {p.id}", pin, cilium=True))
    for x in spec.get("xdp") or []:
        name, dev = str(x.get("name", "cil_xdp_entry")), str(x["dev"])
        p = prog(name, "xdp")
        if x.get("link", True):
            pin = link_pin(f"{CILIUM_BPFFS}/devices/{dev}/links/{name}")
            atts.append(
                BpfAttachment("xdp", dev, p, "bpf_link", f"generic link {p.id}", pin, cilium=True)
            )
        else:
            atts.append(BpfAttachment("xdp", dev, p, "xdp", "generic", cilium=True))
    for c in spec.get("socket_lb") or []:
        name, attach = str(c.get("name", "cil_sock4_connect")), str(c.get("attach", "connect4"))
        p = prog(name, "cgroup_sock_addr")
        hook = f"cgroup:{attach}"
        if c.get("link"):
            pin = link_pin(f"{CILIUM_BPFFS}/socketlb/links/cgroup/{name}")
            atts.append(
                BpfAttachment(hook, CGROUP_ROOT, p, "bpf_link", f"link {p.id}", pin, cilium=True)
            )
        else:
            atts.append(BpfAttachment(hook, CGROUP_ROOT, p, "cgroup", cilium=True))
    for m in spec.get("maps") or []:
        path = f"{TC_GLOBALS}/{m}"
        pins.append(BpfPin(path, "map", is_cilium_bpf_pin(path)))
    dirs = {
        "/".join(p.path.split("/")[:n])
        for p in pins
        if p.path.startswith(CILIUM_BPFFS + "/")
        for n in range(len(CILIUM_BPFFS.split("/")) + 1, len(p.path.split("/")))
    }
    pins += [BpfPin(d, "dir", is_cilium_bpf_pin(d)) for d in dirs]
    pins.sort(key=lambda p: p.path)
    return BpfState(attachments=atts, pins=pins)


def _rules(scenario: dict[str, Any]) -> list[IpRule]:
    cil = (scenario.get("network") or {}).get("cilium") or {}
    if cil.get("present", False) or cil.get("leftover_rules", False):
        v4 = [
            IpRule(9, 4, src="all", fwmark="0x200/0xf00", table="2004", cilium=True),
            IpRule(100, 4, src="all", table="local"),
        ]
    else:
        v4 = [IpRule(0, 4, src="all", table="local")]
    v4 += [IpRule(32766, 4, src="all", table="main"), IpRule(32767, 4, src="all", table="default")]
    v6 = [IpRule(0, 6, src="all", table="local"), IpRule(32766, 6, src="all", table="main")]
    return v4 + v6


def _netfilter(scenario: dict[str, Any]) -> tuple[list[NetfilterDump], str | None]:
    from ..node.netfilter import SAVE_BINARIES, kube_backend, parse_save
    from ..sim.node_builder import iptables_texts

    texts = iptables_texts(scenario)
    dumps = []
    for backend, family in SAVE_BINARIES:
        text = texts.get(backend, "") if family == 4 else ""
        dumps.append(parse_save(text, backend, family))
    return dumps, kube_backend(dumps)


def _host(scenario: dict[str, Any]) -> HostInfo:
    # Read by the real host probe from the scenario's files in a temp root, so the
    # recorded node shows every host fact (CNI plugins, k3s role, sysctls ...) exactly.
    from ..sim.host_root import host_facts

    return host_facts(scenario)


def _agent_log(scenario: dict[str, Any]) -> tuple[list[str], str | None]:
    """The agent's last words as the agent-log probe reads them from the scenario's
    `host.agent_log` files (written to a temporary root, like `_host`)."""
    if not (scenario.get("host") or {}).get("agent_log"):
        return [], None
    from ..node.agent_log import read_agent_log
    from ..sim.host_root import build_host_root

    with tempfile.TemporaryDirectory(prefix="ciliumtui-host-") as tmp:
        build_host_root(scenario, Path(tmp))
        return read_agent_log(tmp)


def agent_state(running: Any, api_mode: str, pid: int = 0) -> AgentState:
    """What probe_agent reports for a pidfile state and an AgentApiServer mode."""
    from ..node.agent import parse_healthz

    state = AgentState(socket=SOCKET)
    if running:
        state.pidfile = PIDFILE
        state.pid = pid or 1
        state.pid_alive = running is True
    if api_mode == "none":
        state.error = f"no agent API socket at {SOCKET}"
        return state
    state.socket_present = True
    if api_mode == "hang":
        state.error = "agent API did not answer within 1s"
    elif api_mode == "garbage":
        state.error = "agent API answered HTTP 200 with an unreadable body"
    else:
        sample = files("ciliumtui.assets").joinpath(f"samples/healthz-v1-{api_mode}.json")
        state.reachable = True
        state.health = parse_healthz(json.loads(sample.read_text()))
    return state


def recorded_node_state(scenario: dict[str, Any]) -> NodeState:
    """The NodeState a built node of `scenario` shows the probes (pure)."""
    links, routes = _links_and_routes(scenario)
    netfilter, kube = _netfilter(scenario)
    host = scenario.get("host") or {}
    agent = agent_state(host.get("agent_running", False), str(scenario.get("agent_api", "none")))
    agent.last_log, agent.last_log_path = _agent_log(scenario)
    return NodeState(
        links=links,
        routes=routes,
        rules=_rules(scenario),
        netfilter=netfilter,
        kube_backend=kube,
        host=_host(scenario),
        agent=agent,
        bpf=bpf_state((scenario.get("network") or {}).get("bpf")),
    )


# ------------------------------------------------------------------ the file


WORLD_KEY = "simulated"  # beside the NodeState's keys (which a snapshot loader ignores)


def save_node(path: str | Path, node: NodeState, world: dict[str, Any] | None = None) -> None:
    """Write atomically: the TUI may read while an action edits. `world` (what the
    node's resolvers answer, recorded_dns.simulated_world): None keeps the file's."""
    path = Path(path)
    if world is None:
        world = load_world(path)
    data = dataclasses.asdict(node)
    if world is not None:
        data[WORLD_KEY] = world
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".recorded-")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def load_world(path: str | Path) -> dict[str, Any] | None:
    """The world the file records around its node; None when it records none."""
    try:
        world = json.loads(Path(path).read_text()).get(WORLD_KEY)
    except (OSError, ValueError, AttributeError):
        return None
    return world if isinstance(world, dict) else None


def record_node(path: str | Path, scenario: dict[str, Any]) -> None:
    """The scenario's node, and the world around it, as a recorded-node file."""
    node = recorded_node_state(scenario)
    save_node(path, node, recorded_dns.simulated_world(scenario, node.bpf))


def load_node(path: str | Path) -> NodeState:
    """The NodeState in a recorded-node file; ValueError (one line) when it is not one."""
    from ..snapshot_load import snapshot_from_dict

    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"recorded node {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"recorded node {path}: not JSON ({exc.msg})") from None
    snap = snapshot_from_dict(
        {"schema": SCHEMA_VERSION, "node_name": "", "taken_at": "", "node": data}
    )
    assert snap.node is not None
    return snap.node


def has_debris(path: str | Path) -> bool:
    """Cilium links, iptables chains or BPF programs and pins left on the recorded node."""
    node = load_node(path)
    return (
        any(link.cilium for link in node.links)
        or any(d.cilium_chains for d in node.netfilter)
        or any(a.cilium for a in node.bpf.attachments)
        or any(p.cilium for p in node.bpf.pins)
    )


def relay_fixed(path: str | Path, scenario: dict[str, Any], pid: int) -> None:
    """A restarted agent on the recorded node: datapath laid again, API healthy, pidfile.

    The host is the one the trainee left (an agent restart changes no k3s config,
    sysctl file or CNI file but its own): its facts are kept, plus what the agent
    lays when it starts — its CNI config and its cgroup2 mount.
    """
    old = load_node(path)
    fixed = {**scenario, "network": {**(scenario.get("network") or {})}}
    fixed["network"]["cilium"] = {**(fixed["network"].get("cilium") or {}), "present": True}
    fresh = recorded_node_state(fixed)
    host = old.host
    have = {(f.dir, f.name) for f in host.cni_files}
    host.cni_files += [f for f in fresh.host.cni_files if f.cilium and (f.dir, f.name) not in have]
    if "/run/cilium/cgroupv2" not in host.cgroup2_mounts and fresh.host.cgroup2_mounts:
        host.cgroup2_mounts.append("/run/cilium/cgroupv2")
    fresh.host = host
    fresh.agent = agent_state(True, "healthy", pid)
    save_node(path, fresh, recorded_dns.simulated_world(fixed, fresh.bpf))


# ------------------------------------------------------------------ the backend


@dataclass(frozen=True)
class RecordedBackend:
    """The NodeBackend of a recorded node (DESIGN §3): training without root.

    Probes read the file's NodeState. Node actions hand it the very commands the
    kernel backend would run — their plans are the same — and it applies them to
    the file (ciliumtui.training.recorded_commands), and the bpf(2) detaches to the
    file's BPF state; bpffs pins are the file's too. Other host files (CNI configs,
    drop-ins) are real files under `host_root` (never this machine's own: with host
    root / they are refused), and the recorded host facts follow each change. The
    node's DNS queries are answered from the file (recorded_dns).
    """

    path: str
    host_root: str = "/"
    live: bool = False  # no kernel: no netlink events
    needs_root: bool = False  # changes only a file
    netns: None = None  # no namespace: commands are applied to the file
    # link groups marked by `ip link set X group G` until `ip link delete group G`
    _groups: dict[int, set[str]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def _node(self) -> NodeState:
        return load_node(self.path)

    # ----------------------------------------------------------------- reads
    async def links(self) -> list[Link]:
        return self._node().links

    async def routes(self) -> list[Route]:
        return self._node().routes

    async def rules(self) -> list[IpRule]:
        return self._node().rules

    async def netfilter(self) -> tuple[list[NetfilterDump], str | None]:
        node = self._node()
        return node.netfilter, node.kube_backend

    async def host(self) -> HostInfo:
        return self._node().host

    async def agent(self) -> AgentState:
        return self._node().agent

    async def rp_filter(self) -> dict[str, int]:
        return self._node().rp_filter

    async def agent_log(self) -> tuple[list[str], str | None]:
        agent = self._node().agent
        return agent.last_log, agent.last_log_path

    async def bpf(self) -> BpfState:
        return self._node().bpf

    async def iptables_save(self, backend: str, family: int) -> bytes | None:
        for dump in self._node().netfilter:
            if dump.backend == backend and dump.family == family and dump.available:
                return commands.render_save(dump)
        return None

    async def link_group(self, group: int) -> set[str]:
        names = {link.name for link in self._node().links}
        return self._groups.get(group, set()) & names

    def has_tool(self, name: str) -> bool:
        return True  # every simulated command is there

    # ---------------------------------------------------------------- writes
    def argv(self, command: Command) -> list[str]:
        return list(command.argv)  # the node's own commands, as on the node itself

    def plan_notes(self) -> list[str]:
        return [f"# {SIMULATED}: these commands change the file {self.path}, not a kernel"]

    def _put(self, node: NodeState) -> None:
        save_node(self.path, node)

    async def run(self, command: Command, timeout: float = COMMAND_TIMEOUT) -> bytes:
        argv = list(command.argv)
        tool = argv[0] if argv else ""
        if argv == ["systemctl", "daemon-reload"]:
            return b""  # nothing to reload: the recorded host facts follow the file write
        node = self._node()
        if tool == "ip":
            commands.ip(node, argv, command.stdin, self._groups)
        elif tool.startswith(("iptables-", "ip6tables-")) and tool.endswith("-restore"):
            dump = self._dump(node, tool)
            commands.restore(dump, command.stdin or b"", "--noflush" in argv, tool)
        elif tool.startswith(("iptables-", "ip6tables-")) and tool.endswith("-save"):
            return commands.render_save(self._dump(node, tool))
        elif tool == "tc":
            commands.tc(node, argv)
        elif tool == "sysctl":
            out = commands.sysctl(node, argv)
            self._put(node)
            return out
        else:
            raise commands.not_simulated(argv)
        self._put(node)
        return b""

    @staticmethod
    def _dump(node: NodeState, tool: str) -> NetfilterDump:
        family = 6 if tool.startswith("ip6") else 4
        backend = "legacy" if "-legacy-" in tool else "nft"
        for dump in node.netfilter:
            if dump.backend == backend and dump.family == family:
                return dump
        dump = NetfilterDump(backend, family)  # type: ignore[arg-type]
        node.netfilter.append(dump)
        return dump

    def host_path(self, path: str) -> Path:
        return Path(self.host_root) / path.lstrip("/")

    # ------------------------------------------------------------ host files
    def _host_file(self, path: str) -> Path:
        """Where a host file of the node lies; never one of this machine's own."""
        if Path(self.host_root).resolve() == Path("/"):
            raise CiliumtuiError(
                f"recorded node: {path} would be this machine's own file: "
                "give the recorded node's --host-root"
            )
        return self.host_path(path)

    def _host_changed(self, path: str) -> None:
        """Read the host facts a change of `path` touches again, as the host probe
        would on a real node (the other recorded facts stay as they are)."""
        from ..sim.host_root import read_host_facts

        fresh = read_host_facts(Path(self.host_root))
        node = self._node()
        host = node.host
        if "/cni/" in path:
            host.cni_dirs, host.cni_files = fresh.cni_dirs, fresh.cni_files
        if "sysctl" in path:
            host.sysctl_files = fresh.sysctl_files
        if path.startswith(("/etc/rancher/k3s", "/etc/systemd/system/k3s")):
            host.k3s = fresh.k3s
        if "flannel" in path:
            host.flannel_subnet_env = fresh.flannel_subnet_env
        self._put(node)

    async def write_host_file(self, path: str, data: bytes) -> Path:
        return self.put_host_file(path, data)

    def put_host_file(self, path: str, data: bytes) -> Path:
        from ..node.backend import replace_file

        target = replace_file(self._host_file(path), data)
        self._host_changed(path)
        return target

    def remove_host_file(self, path: str, *, directory: bool = False) -> None:
        node = self._node()
        pin = next((p for p in node.bpf.pins if p.path == path), None)
        if pin is not None:  # the node's bpffs is in the file
            commands.remove_pin(node, pin, directory)
            self._put(node)
            return
        target = self._host_file(path)
        (os.rmdir if directory else os.unlink)(target)
        self._host_changed(path)

    def rename_host_file(self, src: str, dst: str) -> None:
        from ..node.backend import rename_no_replace

        rename_no_replace(self._host_file(src), self._host_file(dst))
        self._host_changed(dst)

    # ------------------------------------------------------------------ bpf(2)
    async def detach_bpf_program(self, hook: str, target: str, prog_id: int) -> None:
        node = self._node()
        commands.prog_detach(node, hook, target, prog_id)
        self._put(node)

    async def detach_bpf_link(self, link_id: int) -> bool:
        node = self._node()
        found = commands.link_detach(node, link_id)
        self._put(node)
        return found

    # ------------------------------------------------------- its own resolvers
    async def nameservers(self) -> list[str]:
        return self._node().host.nameservers

    async def dns_query(
        self, qname: str, target: DnsTarget, kind: Kind, timeout: float
    ) -> DnsCheck:
        from ..dns import hostport

        world = load_world(self.path)
        return recorded_dns.answer(
            self._node(), world, qname, target.server, hostport(target), target.via, kind, timeout
        )
