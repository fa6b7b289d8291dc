"""Other pods on this node that cannot start or keep crashing (a networking symptom)."""

from __future__ import annotations

from ..model import Finding, Snapshot
from .bpf import duplicate_lines
from .catalogue import finding
from .facts import cluster_ok, pod_line

# The reasons a broken CNI produces: no sandbox network (ContainerCreating) or
# containers that die on startup because nothing is reachable (CrashLoopBackOff).
FAILING = frozenset({"ContainerCreating", "CrashLoopBackOff", "CreateContainerError"})
_SHOW = 10


def pods_failing_on_node(snap: Snapshot) -> list[Finding]:
    cl = cluster_ok(snap)
    if cl is None:
        return []
    agent = cl.cilium_pod.name if cl.cilium_pod else None
    bad = [
        p
        for p in cl.node_pods
        if p.name != agent
        and not p.deleting
        and p.labels.get("k8s-app") != "cilium"
        and p.reason in FAILING
    ]
    if not bad:
        return []
    ev = [pod_line(p) for p in bad[:_SHOW]]
    if len(bad) > _SHOW:
        ev.append(f"... and {len(bad) - _SHOW} more")
    ev += duplicate_lines(snap)
    return [finding("pods-failing-on-node", ev)]


CHECKS = [pods_failing_on_node]
