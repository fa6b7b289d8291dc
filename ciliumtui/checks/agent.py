"""The Cilium agent and operator: present, Ready, healthy; the agent-not-ready taint."""

from __future__ import annotations

from ..model import Finding, Snapshot
from .bpf import duplicate_lines
from .catalogue import finding
from .facts import agent_last_words, cilium_cli, cluster_ok, known, pod_line

AGENT_NOT_READY_TAINT = "node.cilium.io/agent-not-ready"


def cilium_agent_missing(snap: Snapshot) -> list[Finding]:
    cl = known(snap, "cilium-pod")
    if cl is None or cl.cilium_pod is not None:
        return []
    ev = [f"no cilium agent pod on node {snap.node_name}"]
    ds = cl.cilium_daemonset
    if ds is None and known(snap, "cilium-workloads"):
        ev.append("no cilium DaemonSet in kube-system: is Cilium installed?")
    elif ds is not None:
        ev.append(
            f"DaemonSet {ds.namespace}/{ds.name}: {ds.desired} desired, {ds.ready} ready"
            " (check its nodeSelector/tolerations against this node)"
        )
    if cl.node is None and known(snap, "node"):
        ev.append(f"no Node named {snap.node_name} in the cluster (see --node)")
    return [finding("cilium-agent-missing", ev)]


def cilium_agent_not_ready(snap: Snapshot) -> list[Finding]:
    cl = cluster_ok(snap)
    pod = cl.cilium_pod if cl is not None else None
    if pod is None or pod.ready:
        return []
    ev = [pod_line(pod)]
    for c in pod.init_containers + pod.containers:
        if not c.ready and c.reason and c.reason not in ("Completed",):
            last = f", last: {c.last_reason} exit {c.last_exit_code}" if c.last_reason else ""
            ev.append(f"container {c.name}: {c.state or '?'} {c.reason}{last}")
    words = agent_last_words(snap)
    if words:
        ev += words  # read from disk: works when the kubelet is unreachable for `kubectl logs`
    else:
        ev.append(f"logs: kubectl -n {pod.namespace} logs {pod.name} -c cilium-agent --previous")
    ev += duplicate_lines(snap)
    return [finding("cilium-agent-not-ready", ev)]


def cilium_agent_unhealthy(snap: Snapshot) -> list[Finding]:
    if snap.node is None or snap.node.agent.health is None:
        return []
    h = snap.node.agent.health
    if (h.state or "").lower() != "failure":
        return []
    ev = [f"agent API: cilium {h.state}" + (f": {h.msg}" if h.msg else "")]
    if (h.kubernetes_state or "").lower() == "failure":
        ev.append(f"kubernetes {h.kubernetes_state}: {h.kubernetes_msg or ''}".rstrip(": "))
    for name, state in sorted(h.components.items()):
        if name not in ("cilium", "kubernetes") and state.lower() == "failure":
            ev.append(f"{name}: {state}")
    ev += [f"controller {c}" for c in h.failing_controllers[:5]]
    cl = cluster_ok(snap)
    pod = cl.cilium_pod if cl is not None else None
    target = pod.name if pod else "ds/cilium"
    ev.append(
        f"details: kubectl -n kube-system exec {target} -c cilium-agent -- "
        f"{cilium_cli(snap)} status --verbose"
    )
    ev += duplicate_lines(snap)
    return [finding("cilium-agent-unhealthy", ev)]


def cilium_operator_unavailable(snap: Snapshot) -> list[Finding]:
    cl = known(snap, "cilium-workloads")
    if cl is None:
        return []
    op = cl.operator
    if op is None:
        if cl.cilium_daemonset is None:
            return []  # Cilium not installed: cilium-agent-missing says so
        return [
            finding("cilium-operator-unavailable", ["no cilium-operator Deployment in kube-system"])
        ]
    if op.available > 0:
        return []
    return [
        finding(
            "cilium-operator-unavailable",
            [
                f"Deployment {op.namespace}/{op.name}: {op.available} available of {op.desired} desired",
                "without the operator new nodes get no pod CIDR (CiliumNode spec.ipam.podCIDRs)",
            ],
        )
    ]


def node_taint_agent_not_ready(snap: Snapshot) -> list[Finding]:
    cl = cluster_ok(snap)
    if cl is None or cl.node is None:
        return []
    node = cl.node
    ev = [
        f"Node {node.name} taint {t.key}"
        + (f"={t.value}" if t.value else "")
        + (f":{t.effect}" if t.effect else "")
        for t in node.taints
        if t.key == AGENT_NOT_READY_TAINT
    ]
    if not ev:
        return []
    ev.append("the agent removes it once it is Ready; until then new pods are not scheduled here")
    return [finding("node-taint-agent-not-ready", ev)]


CHECKS = [
    cilium_agent_missing,
    cilium_agent_not_ready,
    cilium_agent_unhealthy,
    cilium_operator_unavailable,
    node_taint_agent_not_ready,
]
