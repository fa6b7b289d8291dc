"""What a dead agent leaves behind: links, iptables chains — and rules split across backends.

Only reported while no agent runs: a working agent owns these and replaces stale
ones itself on start (it renames CILIUM_* to OLD_CILIUM_* and rebuilds).
"""

from __future__ import annotations

from ..model import Finding, NetfilterDump, Snapshot
from .catalogue import finding
from .facts import agent_last_words, agent_verdict, cluster_ok

_SHOW = 8  # names listed before "… and N more"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOW])
    return shown + (f" and {len(names) - _SHOW} more" if len(names) > _SHOW else "")


def _dump_label(d: NetfilterDump) -> str:
    return f"iptables-{d.backend} (IPv{d.family})"


def stale_cilium_interfaces(snap: Snapshot) -> list[Finding]:
    verdict = agent_verdict(snap)
    if verdict is None or verdict.running:
        return []
    node = snap.node
    assert node is not None
    links = [link.name for link in node.links if link.cilium]
    if not links:
        return []
    ev = [f"{len(links)} Cilium link{'s' if len(links) != 1 else ''}: {_names(links)}"]
    rules = [r for r in node.rules if r.cilium]
    routes = [r for r in node.routes if r.cilium and r.table in ("2004", "2005")]
    if rules:
        ev.append(f"ip rule {rules[0].priority}: fwmark {rules[0].fwmark} lookup {rules[0].table}")
    if routes:
        ev.append(
            f"{len(routes)} route{'s' if len(routes) != 1 else ''} in Cilium's tables 2004/2005"
        )
    return [finding("stale-cilium-interfaces", ev + verdict.evidence + _last_words(snap))]


def _last_words(snap: Snapshot) -> list[str]:
    """The agent's last log lines, when the apiserver is down (cilium-agent-not-ready,
    which carries them otherwise, cannot be known then)."""
    return agent_last_words(snap) if cluster_ok(snap) is None else []


def stale_cilium_iptables(snap: Snapshot) -> list[Finding]:
    verdict = agent_verdict(snap)
    if verdict is None or verdict.running or snap.node is None:
        return []
    ev = [
        f"{_dump_label(d)}: {len(d.cilium_chains)} Cilium chains, {d.cilium_rule_count} rules"
        f" ({_names(d.cilium_chains)})"
        for d in snap.node.netfilter
        if d.available and d.cilium_chains
    ]
    if not ev:
        return []
    return [finding("stale-cilium-iptables", ev + verdict.evidence + _last_words(snap))]


def kube_backend(snap: Snapshot) -> str | None:
    """Where kube-proxy/kubelet rules live: the probe's answer, else where KUBE-* chains are."""
    if snap.node is None:
        return None
    if snap.node.kube_backend in ("legacy", "nft"):  # a loaded file may say anything
        return snap.node.kube_backend
    for d in snap.node.netfilter:
        if any(c.name.startswith("KUBE-") for t in d.tables for c in t.chains):
            return d.backend
    return None


def iptables_backend_split(snap: Snapshot) -> list[Finding]:
    kube = kube_backend(snap)
    if kube is None:
        return []
    assert snap.node is not None  # kube_backend() is None without a node
    wrong = [d for d in snap.node.netfilter if d.cilium_chains and d.backend != kube]
    if not wrong:
        return []
    ev = [f"Cilium chains in {_dump_label(d)}: {_names(d.cilium_chains)}" for d in wrong]
    ev.append(f"kube-proxy/kubelet (KUBE-*) rules in iptables-{kube}")
    ev.append(
        "packets traverse both backends; rules in the wrong one act out of order or not at all"
    )
    return [finding("iptables-backend-split", ev)]


CHECKS = [stale_cilium_interfaces, stale_cilium_iptables, iptables_backend_split]
