"""k3s specifics: the stop hook the k3s docs ask for, and kube-proxy vs KPR."""

from __future__ import annotations

from ..model import Finding, Snapshot
from .catalogue import finding
from .facts import cluster_ok, k3s, node_path

_ON = {"true", "strict"}  # "strict" is the pre-1.14 spelling of on
_OFF = {"false", "disabled"}


def _runs_cilium(snap: Snapshot) -> list[str]:
    """Why we believe k3s runs Cilium on this node (empty: it does not)."""
    node, k = snap.node, k3s(snap)
    assert node is not None and k is not None
    why = []
    if k.flannel_backend == "none":
        why.append("k3s flannel-backend: none")
    cni = [f.name for f in node.host.cni_files if f.cilium]
    if cni:
        why.append(f"{cni[0]} in /etc/cni/net.d")
    links = [link.name for link in node.links if link.cilium]
    if links:
        why.append(f"Cilium links present ({', '.join(links[:3])})")
    if cluster_ok(snap) and (snap.cluster.cilium_daemonset or snap.cluster.cilium_pod):  # type: ignore[union-attr]
        why.append("a cilium DaemonSet runs in the cluster")
    # flannel-backend none alone only says "some other CNI"; require a Cilium sign.
    return why if len(why) > (1 if k.flannel_backend == "none" else 0) else []


def k3s_stop_hook_missing(snap: Snapshot) -> list[Finding]:
    k = k3s(snap)
    if k is None or k.stop_hook:
        return []
    why = _runs_cilium(snap)
    if not why:
        return []
    unit = node_path(snap, k.unit_file) if k.unit_file else "the k3s unit"
    ev = [
        f"{unit} has no ExecStopPost removing cilium_host/cilium_net/cilium_vxlan and CILIUM rules",
        *why,
        "without it, stopping k3s can cut the node's network (k3s docs, Cilium section)",
    ]
    return [finding("k3s-stop-hook-missing", ev)]


def _kpr(snap: Snapshot) -> tuple[bool, str] | None:
    if cluster_ok(snap) and snap.cluster.config and snap.cluster.config.kube_proxy_replacement:  # type: ignore[union-attr]
        raw, src = (
            snap.cluster.config.kube_proxy_replacement,
            "cilium-config kube-proxy-replacement",
        )  # type: ignore[union-attr]
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
    if cluster_ok(snap) and snap.cluster.kube_proxy is not None:  # type: ignore[union-attr]
        if snap.cluster.kube_proxy:  # type: ignore[union-attr]
            return True, "a kube-proxy DaemonSet runs in kube-system"
        node = snap.cluster.node  # type: ignore[union-attr]
        if node is not None and "k3s" in (node.kubelet_version or ""):
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


CHECKS = [k3s_stop_hook_missing, kube_proxy_replacement_conflict]
