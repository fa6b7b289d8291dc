"""Facts derived from a Snapshot that several checks share. Pure, no I/O.

Each helper answers None (or an empty list) when the data needed is absent, so
a check can tell "not applicable" from "fine". Address facts cover IPv4 and
IPv6 alike and routes of every table (DESIGN §5), not only `main`.
"""

from __future__ import annotations

import ipaddress
import re

from .. import cidr
from ..cidr import Space, relation
from ..model import ClusterState, K3sInfo, PodInfo, Snapshot
from ..record import record

__all__ = ["Space", "relation"]  # re-exported: the address vocabulary lives in ciliumtui.cidr

# Links whose addresses are not "the node's network": loopback (node-local DNS puts
# service IPs there), kube-proxy's IPVS dummy (it holds every ClusterIP, which the
# service-CIDR check covers) and flannel's own devices — another CNI's pod network
# (k3s-flannel-not-disabled names them; they are not a pool overlap to move away from).
_NOT_NODE_NETWORK = frozenset(
    {"lo", "kube-ipvs0", "nodelocaldns", "flannel.1", "flannel-v6.1", "flannel-wg", "cni0"}
)
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)")
_LAST_LOG_LINES = 3  # the last fatal/error lines shown; the file has the rest
_LOG_LINE_MAX = 300


def version_tuple(text: str | None) -> tuple[int, int] | None:
    """'v1.18.4' / '1.18.4' / '6.1.0-18-amd64' → (major, minor); None when unparsable."""
    if not text or not isinstance(text, str):
        return None
    m = _VERSION_RE.match(text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def cilium_cli(snap: Snapshot) -> str:
    """The in-pod CLI: `cilium` until 1.14, `cilium-dbg` from 1.15 (and when unknown)."""
    v = version_tuple(snap.cilium_version)
    return "cilium" if v is not None and v < (1, 15) else "cilium-dbg"


def k3s(snap: Snapshot) -> K3sInfo | None:
    if snap.node and snap.node.host.k3s and snap.node.host.k3s.present:
        return snap.node.host.k3s
    return None


def node_path(snap: Snapshot, path: str) -> str:
    """A path as it is on the node: probes read under --host-root, users think in /."""
    root = snap.host_root.rstrip("/")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path


def cluster_ok(snap: Snapshot) -> ClusterState | None:
    """The cluster state when its data is usable (the apiserver answered), else None."""
    cl = snap.cluster
    return cl if cl is not None and cl.reachable else None


def probe_failed(snap: Snapshot, name: str) -> bool:
    """The named probe raised: its part of the snapshot is a fallback, not an observation."""
    st = snap.probes.get(name)
    return st is not None and not st.ok


def known(snap: Snapshot, probe: str) -> ClusterState | None:
    """The cluster state when data from `probe` can be trusted: apiserver up and that
    read succeeded; else None."""
    cl = cluster_ok(snap)
    return cl if cl is not None and not probe_failed(snap, probe) else None


# ------------------------------------------------------------------------ pods


def pod_line(pod: PodInfo) -> str:
    """'cilium-abcde in kube-system: CrashLoopBackOff, exit code 1, 12 restarts'."""
    parts: list[str] = []
    reason = pod.reason
    if reason:
        parts.append(reason)
    elif pod.deleting:
        parts.append("Terminating")
    else:
        parts.append(f"{pod.phase or 'Unknown'}, {'Ready' if pod.ready else 'not Ready'}")
    codes = [
        c.exit_code if c.exit_code is not None else c.last_exit_code
        for c in pod.init_containers + pod.containers
    ]
    code = next((c for c in codes if c not in (None, 0)), None)
    if code is not None:
        parts.append(f"exit code {code}")
    if pod.restarts:
        parts.append(f"{pod.restarts} restart{'s' if pod.restarts != 1 else ''}")
    return f"{pod.name} in {pod.namespace}: {', '.join(parts)}"


# ----------------------------------------------------------------------- agent


@record
class AgentVerdict:
    running: bool
    evidence: list[str]


def agent_verdict(snap: Snapshot) -> AgentVerdict | None:
    """Does a Cilium agent run on this node? None when the node was not probed.

    "No agent runs" = no Ready cilium pod on this node AND no live agent (API or
    pid). With a working agent, Cilium's links and chains are normal.
    """
    if snap.node is None:
        return None
    agent = snap.node.agent
    if agent.alive:
        how = "agent API answers" if agent.reachable else f"agent pid {agent.pid} runs"
        return AgentVerdict(True, [how])
    pods = known(snap, "cilium-pod")
    pod = pods.cilium_pod if pods is not None else None
    if pod is not None and pod.ready:
        return AgentVerdict(True, [f"{pod.name} in {pod.namespace} is Ready"])
    if probe_failed(snap, "agent"):
        return None  # the agent probe itself broke: we do not know
    evidence: list[str] = []
    if pods is not None:
        evidence.append(
            f"no Ready cilium pod on this node ({pod_line(pod)})"
            if pod
            else "no cilium pod on this node"
        )
    elif snap.cluster is None:
        evidence.append("cilium pod not checked (node-only snapshot)")
    elif not snap.cluster.reachable:
        evidence.append("cilium pod unknown (apiserver unreachable)")
    else:
        err = snap.probes["cilium-pod"].error
        evidence.append(f"cilium pod unknown (reading it failed: {err})")
    pidfile = node_path(snap, agent.pidfile or "/var/run/cilium/cilium.pid")
    sock = node_path(snap, agent.socket or "/var/run/cilium/cilium.sock")
    if agent.pidfile:
        pid_part = f"pidfile {pidfile} names pid {agent.pid}, not running"
    else:
        pid_part = f"no pidfile {pidfile}"
    if agent.socket_present:
        sock_part = f"socket {sock} does not answer" + (f" ({agent.error})" if agent.error else "")
    else:
        sock_part = f"no socket {sock}"
    evidence.append(f"no live agent: {pid_part}, {sock_part}")
    return AgentVerdict(False, evidence)


def agent_last_words(snap: Snapshot) -> list[str]:
    """The agent container's last fatal/error lines, read from its previous log on disk
    (DESIGN §5): the reason shows even when `kubectl logs --previous` cannot run."""
    if snap.node is None:
        return []
    agent = snap.node.agent
    lines = [str(line).strip() for line in agent.last_log if str(line).strip()]
    if not lines:
        return []
    path = node_path(snap, agent.last_log_path) if agent.last_log_path else "the agent's log"
    out = []
    for line in lines[-_LAST_LOG_LINES:]:
        if len(line) > _LOG_LINE_MAX:
            line = line[: _LOG_LINE_MAX - 1] + "…"
        out.append(f"agent's last log ({path}): {line}")
    return out


# ----------------------------------------------------------------- address space


def _ipam(snap: Snapshot) -> str | None:
    """The IPAM mode when the cluster's Cilium config is known."""
    cl = cluster_ok(snap)
    if cl is None or cl.config is None:
        return None
    return cl.config.ipam or "cluster-pool"


def pools(snap: Snapshot) -> list[Space]:
    """Cilium's pod pool(s), IPv4 and IPv6: cilium-config (cluster-pool), k3s
    cluster-cidr (ipam kubernetes).

    When Cilium's config is unknown (apiserver down, cilium-config unreadable) the
    node's own view stands in: the k3s cluster-cidr and the per-node pod CIDRs Cilium
    routed via cilium_host — those overlapping the node network is just as fatal.
    """
    cl = cluster_ok(snap)
    ipam = _ipam(snap)
    if cl is not None and cl.config is not None and ipam is not None:
        cfg = cl.config
        if ipam.startswith("cluster-pool"):
            texts = (list(cfg.pool) if cfg.enable_ipv4 else []) + (
                list(cfg.pool_v6) if cfg.enable_ipv6 else []
            )
            return [Space(n, f"pool {n}") for n in cidr.nets(texts)]
        if ipam == "kubernetes":
            k = k3s(snap)
            src = (k.cluster_cidr if k else []) or (cl.node.pod_cidrs if cl.node else [])
            return [Space(n, f"pod CIDR {n}") for n in cidr.nets(src)]
        return []  # eni, azure, multi-pool...: pools live elsewhere
    if snap.node is None:
        return []
    k = k3s(snap)
    out = [Space(n, f"k3s cluster-cidr {n}") for n in cidr.nets(k.cluster_cidr if k else [])]
    for r in snap.node.routes:
        # The cheap tests first: parsing 10,000 routes' CIDRs cost ~0.4 s of a diagnose.
        if not (r.cilium and r.table == "main" and r.dev == "cilium_host"):
            continue
        n = cidr.try_net(r.dst)
        if (
            n is not None
            and n.prefixlen < n.max_prefixlen
            and not any(cidr.contains(s.net, n) for s in out)
        ):
            out.append(Space(n, f"pod CIDR {n} (route dev cilium_host)"))
    return out


def configured_pools(snap: Snapshot) -> list[cidr.Net]:
    """The cluster-pool CIDRs cilium-config names (v4, and v6 when IPv6 is enabled);
    empty when the config is unknown or the IPAM mode is not cluster-pool."""
    ipam = _ipam(snap)
    if ipam is None or not ipam.startswith("cluster-pool"):
        return []
    return [s.net for s in pools(snap)]


def per_node_cidrs(snap: Snapshot) -> set[cidr.Net]:
    """Every per-node pod CIDR the cluster knows (CiliumNodes, Node.spec.podCIDRs)."""
    cl = snap.cluster
    if cl is None:
        return set()
    texts = [c for cn in cl.ciliumnodes for c in cn.pod_cidrs]
    if cl.node:
        texts += cl.node.pod_cidrs
    return set(cidr.nets(texts))


def _not_the_network(n: cidr.Net) -> bool:
    return n.prefixlen == 0 or n.is_link_local or n.is_loopback or n.is_multicast


def node_networks(snap: Snapshot) -> list[Space]:
    """The node's own address space: non-Cilium interface addresses and routes of
    every table, IPv4 and IPv6.

    Cilium's links/routes (model `cilium` flags), loopback, link-local, multicast,
    default routes and routes to known per-node pod CIDRs (native-routing peers)
    are not the node's network. A connected route duplicating an address is
    reported once.
    """
    if snap.node is None:
        return []
    out: list[Space] = []
    connected: set[tuple[str, cidr.Net]] = set()
    for link in snap.node.links:
        if link.cilium or link.name in _NOT_NODE_NETWORK:
            continue
        for a in link.addresses:
            try:
                iface = ipaddress.ip_interface(a)
            except (ValueError, TypeError):
                continue
            if iface.ip.is_link_local or iface.ip.is_loopback:
                continue
            connected.add((link.name, iface.network))
            out.append(Space(iface.network, f"{link.name} {a}", iface.ip, link.name))
    pod_routes = per_node_cidrs(snap)
    pod_lens = {n.prefixlen for n in pod_routes}
    connected_devs = {dev for dev, _ in connected}
    for r in snap.node.routes:
        if r.cilium or r.table == "local" or r.dev in _NOT_NODE_NETWORK:
            continue
        if r.type not in (None, "unicast"):
            continue  # throw/unreachable/blackhole/local: no traffic goes out there
        n = cidr.try_net(r.dst) if r.dst != "default" else None
        if n is None or _not_the_network(n):
            continue
        # (hashing a network costs ~2 µs: test the cheap conditions first — 10,000 routes)
        if n.prefixlen in pod_lens and n in pod_routes:
            continue
        if r.dev in connected_devs and (r.dev, n) in connected:
            continue
        where = f" dev {r.dev}" if r.dev else ""
        via = f" via {r.gateway}" if r.gateway else ""
        table = f" table {r.table}" if r.table not in ("main", None) else ""
        short = f"route {r.dev or ''}".strip() + (f" t{r.table}" if table else "")
        out.append(Space(n, f"route {r.dst}{via}{where}{table}", short=short))
    return out


def service_cidrs(snap: Snapshot) -> list[Space]:
    """The service CIDR(s): from the cluster when it says, else from the k3s config.
    Dual-stack values come comma-separated ('10.43.0.0/16,2001:cafe:43::/112')."""
    cl, k = snap.cluster, k3s(snap)
    if cl is not None and cl.service_cidr:
        src, texts = "service CIDR", cl.service_cidr
    elif k is not None and k.service_cidr:
        src, texts = "k3s service-cidr", k.service_cidr
    else:
        return []
    return [Space(n, f"{src} {n}") for n in cidr.nets(texts)]


def cluster_dns(snap: Snapshot) -> list[Space]:
    """The cluster DNS address(es): the kube-dns Service's ClusterIP, else k3s cluster-dns."""
    cl, k = cluster_ok(snap), k3s(snap)
    texts: list[str] = []
    src = ""
    if cl is not None and cl.kube_dns and cl.kube_dns.cluster_ip:
        texts, src = [cl.kube_dns.cluster_ip], "cluster DNS (kube-dns Service)"
    elif k is not None and k.cluster_dns:
        texts, src = [k.cluster_dns], "k3s cluster-dns"
    out = []
    for n in cidr.nets(texts):
        if n.num_addresses == 1:
            out.append(Space(n, f"{src} {n.network_address}", n.network_address))
    return out


def nameservers(snap: Snapshot) -> list[Space]:
    """The node's resolv.conf nameservers (v4 and v6; zone-scoped link-local skipped)."""
    if snap.node is None:
        return []
    out = []
    for n in cidr.nets(snap.node.host.nameservers):
        if n.num_addresses == 1:
            out.append(Space(n, f"nameserver {n.network_address} (resolv.conf)", n.network_address))
    return out
