"""The fleet (DESIGN §10): the same diagnosis on every node, through Kubernetes itself.

    publisher   `ciliumtui publish`: diagnose this node, publish the result
    verdict     what a diagnose result means for the Node condition (pure)
    objects     the NodeDiagnosis, the condition and the Event as API objects (pure)
    status      `fleet status`: every node's report, grouped by root cause (pure)
    manifest    `fleet manifest`: the CRD, RBAC and the DaemonSet (pure)
    jobs        `fleet run`: the Job per node, the budget (pure)
    roll        `fleet run`: the roll itself (lease, jobs, journal)
    lease       the Lease that keeps two fleet runs from overlapping
    kube        the fleet's API reads and writes, through ciliumtui.cluster.client

Nothing in node/, cluster/, engine/ or checks/ imports this package; it sits on
top of them like the commands do.
"""

from __future__ import annotations

GROUP = "ciliumtui.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "NodeDiagnosis"
PLURAL = "nodediagnoses"
SINGULAR = "nodediagnosis"
SHORT_NAME = "nd"
CRD_NAME = f"{PLURAL}.{GROUP}"
ND_PATH = f"/apis/{GROUP}/{VERSION}/{PLURAL}"

CONDITION = "CiliumNetworkHealthy"
LEASE_NAME = "ciliumtui-fleet"
NAMESPACE = "ciliumtui-system"
# The reporting interval of the DaemonSet's publisher: one heartbeat write per
# node per interval at steady state (DESIGN §9: <= 1 write per node per 10 minutes).
DEFAULT_INTERVAL = 600
# The node playbooks a fleet run may roll (DESIGN §10) and the remediation
# playbooks of findings each one fixes (cleanup-node is cleanup's node-only part).
NODE_PLAYBOOKS: dict[str, tuple[str, ...]] = {
    "cleanup-node": ("cleanup-node", "cleanup"),
    "k3s-stop-hook": ("k3s-stop-hook",),
}
LABEL_APP = "app.kubernetes.io/name"
APP = "ciliumtui"
