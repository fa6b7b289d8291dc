"""k3s specifics: the stop hook the k3s docs ask for, flannel left on beside Cilium,
and kube-proxy vs KPR."""

from __future__ import annotations

from ..model import Finding, K3sInfo, Snapshot
from ..ownership import is_cilium_cni_config
from .catalogue import finding
from .facts import cluster_ok, k3s, node_path

_ON = {"true", "strict"}  # "strict" is the pre-1.14 spelling of on
_OFF = {"false", "disabled"}
# What flannel leaves on a node (k3s-killall.sh deletes exactly these links).
FLANNEL_LINKS = ("flannel.1", "flannel-v6.1", "flannel-wg", "flannel-wg-v6", "cni0")
FLANNEL_SUBNET_ENV = "/run/flannel/subnet.env"


def cilium_signs(snap: Snapshot, *, cni: bool = True) -> list[str]:
    """Signs that Cilium runs on this node (its CNI config, links, agent, DaemonSet);
    `cni=False` leaves the config out (alone, it is what an orphan looks like too)."""
    node = snap.node
    if node is None:
        return []
    why = []
    ours = [f for f in node.host.cni_files if is_cilium_cni_config(f.name, f.plugins)]
    if cni and ours:
        why.append(f"{ours[0].name} in {ours[0].dir}")
    links = [link.name for link in node.links if link.cilium]
    if links:
        why.append(f"Cilium links present ({', '.join(links[:3])})")
    if node.agent.alive:
        why.append("a Cilium agent runs on this node")
    cl = cluster_ok(snap)
    if cl is not None and (cl.cilium_daemonset or cl.cilium_pod):
        why.append("a cilium DaemonSet runs in the cluster")
    return why


def _runs_cilium(snap: Snapshot, k: K3sInfo) -> list[str]:
    """Why we believe k3s runs Cilium on this node (empty: it does not)."""
    why = cilium_signs(snap)
    if k.flannel_backend == "none":
        # flannel-backend none alone only says "some other CNI"; require a Cilium sign.
        return ["k3s flannel-backend: none", *why] if why else []
    return why


def role(k: K3sInfo) -> str | None:
    """ "server" | "agent" | None: the probe's answer, else the unit's name."""
    if k.role in ("server", "agent"):
        return k.role
    unit = (k.unit_file or "").rsplit("/", 1)[-1]
    if unit.startswith("k3s-agent"):
        return "agent"
    if unit.startswith("k3s"):
        return "server"
    return None


def flannel_traces(snap: Snapshot) -> list[str]:
    """What flannel left running on this node, one line each (empty: none)."""
    node = snap.node
    if node is None:
        return []
    out = [f"link {link.name}" for link in node.links if link.name in FLANNEL_LINKS]
    out += [
        f"flannel CNI config {f.dir}/{f.name}"
        for f in node.host.cni_files
        if not f.backup and ("flannel" in f.plugins or "flannel" in f.name)
    ]
    if node.host.flannel_subnet_env:
        out.append(f"{FLANNEL_SUBNET_ENV} (flanneld's lease)")
    return out


def flannel_on(snap: Snapshot) -> bool:
    """Does k3s run flannel here? A server's config says; an agent does not carry the
    server's flannel setting, so there flannel's own traces decide."""
    k = k3s(snap)
    if k is None:
        return False
    if k.flannel_backend is not None:
        return k.flannel_backend != "none"
    if role(k) == "server":
        return True  # k3s's default backend is vxlan
    return bool(flannel_traces(snap))


def k3s_stop_hook_missing(snap: Snapshot) -> list[Finding]:
    k = k3s(snap)
    if k is None:
        return []
    why = _runs_cilium(snap, k)
    if not why:
        return []
    unit = node_path(snap, k.unit_file) if k.unit_file else "the k3s unit"
    if not k.stop_hook:
        ev = [
            f"{unit} has no ExecStopPost removing cilium_host/cilium_net/cilium_vxlan and CILIUM rules",
            *why,
            "without it, stopping k3s can cut the node's network (k3s docs, Cilium section)",
        ]
        return [finding("k3s-stop-hook-missing", ev)]
    if k.stop_hook_binary and not k.stop_hook_binary_exists:
        binary = node_path(snap, k.stop_hook_binary)
        ev = [
            f"{unit} ExecStopPost runs {binary}, which does not exist on this node: "
            "the hook never runs (a leading '-' makes systemd ignore the failure)",
            *why,
        ]
        return [finding("k3s-stop-hook-missing", ev)]
    return []


def k3s_flannel_not_disabled(snap: Snapshot) -> list[Finding]:
    k = k3s(snap)
    if k is None:
        return []
    cilium = cilium_signs(snap)
    if not cilium:
        return []
    ev: list[str] = []
    if role(k) == "server" and k.flannel_backend != "none":
        if k.flannel_backend is None:
            ev.append(
                "k3s server: no 'flannel-backend: none' in /etc/rancher/k3s/config.yaml, "
                "config.yaml.d/*.yaml or the unit's ExecStart (flannel runs by default)"
            )
        else:
            where = f" ({k.flannel_backend_source})" if k.flannel_backend_source else ""
            ev.append(f"k3s server: flannel-backend: {k.flannel_backend}{where}")
    traces = flannel_traces(snap)
    if traces:
        ev.append("flannel beside Cilium: " + ", ".join(traces))
    if not ev:
        return []
    ev += cilium
    ev.append(
        "flannel.1 holds UDP 8472, the port cilium_vxlan needs: the agent crash-loops; "
        "fix: flannel-backend: none and disable-network-policy: true, then restart k3s"
    )
    return [finding("k3s-flannel-not-disabled", ev)]


def _kpr(snap: Snapshot) -> tuple[bool, str] | None:
    cl = cluster_ok(snap)
    if cl is not None and cl.config and cl.config.kube_proxy_replacement:
        raw, src = cl.config.kube_proxy_replacement, "cilium-config kube-proxy-replacement"
    elif snap.node and snap.node.agent.health and snap.node.agent.health.kube_proxy_replacement:
        raw, src = snap.node.agent.health.kube_proxy_replacement, "agent kube-proxy replacement"
    else:
        return None
    v = raw.strip().lower()
    if v in _ON:
        return True, f"{src}: {raw}"
    if v in _OFF:
        return False, f"{src}: {raw}"
    return None  # partial/probe: a hybrid mode, not a plain conflict


def _kube_proxy(snap: Snapshot) -> tuple[bool, str] | None:
    k = k3s(snap)
    if k is not None:  # k3s embeds kube-proxy: no DaemonSet, a config flag
        if k.disable_kube_proxy:
            return False, "k3s disable-kube-proxy: true"
        return True, "k3s runs its embedded kube-proxy (no disable-kube-proxy)"
    cl = cluster_ok(snap)
    if cl is not None and cl.kube_proxy is not None:
        if cl.kube_proxy:
            return True, "a kube-proxy DaemonSet runs in kube-system"
        if cl.node is not None and "k3s" in (cl.node.kubelet_version or ""):
            # A k3s node whose config we cannot read: its kube-proxy is embedded, so
            # the absence of a DaemonSet says nothing.
            return None
        return False, "no kube-proxy DaemonSet in kube-system"
    return None


def kube_proxy_replacement_conflict(snap: Snapshot) -> list[Finding]:
    kpr, kp = _kpr(snap), _kube_proxy(snap)
    if kpr is None or kp is None or kpr[0] != kp[0]:
        return []
    if kpr[0]:
        tail = "both program service load-balancing; set kubeProxyReplacement=false or disable kube-proxy"
    else:
        tail = "nothing implements Services: enable kubeProxyReplacement or run kube-proxy"
    return [finding("kube-proxy-replacement-conflict", [kpr[1], kp[1], tail])]


CHECKS = [k3s_stop_hook_missing, k3s_flannel_not_disabled, kube_proxy_replacement_conflict]
