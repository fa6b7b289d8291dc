"""The finding catalogue (DESIGN §5): stable ids, severity, title, fixing playbook, docs.

Ids are a contract — outside checks and playbooks (`when: finding(...)`) rely on
them; never rename one. Playbook ids are those of playbooks/ (DESIGN §6).
"""

from __future__ import annotations

from typing import NamedTuple

from ..model import Finding, Severity


class Entry(NamedTuple):
    severity: Severity
    title: str
    playbook: str | None
    docs: str | None


_CILIUM = "https://docs.cilium.io/en/stable"
SYSREQ = f"{_CILIUM}/operations/system_requirements/"
CLUSTER_POOL = f"{_CILIUM}/network/concepts/ipam/cluster-pool/"
TROUBLESHOOTING = f"{_CILIUM}/operations/troubleshooting/"
KPR = f"{_CILIUM}/network/kubernetes/kubeproxy-free/"
LB_IPAM = f"{_CILIUM}/network/lb-ipam/"
K3S_CILIUM = "https://docs.k3s.io/networking/basic-network-options?cni=Cilium#custom-cni"
K3S_ACCESS = "https://docs.k3s.io/cluster-access"
K8S_DNS_DEBUG = "https://kubernetes.io/docs/tasks/administer-cluster/dns-debugging-resolution/"

CATALOGUE: dict[str, Entry] = {
    "apiserver-unreachable": Entry(
        "critical", "The Kubernetes API server is unreachable", None, K3S_ACCESS
    ),
    "kernel-too-old": Entry(
        "critical", "The kernel is older than this Cilium version requires", None, SYSREQ
    ),
    "bpffs-not-mounted": Entry(
        "warning", "The BPF filesystem is not mounted at /sys/fs/bpf", None, SYSREQ
    ),
    "pod-cidr-overlaps-node-network": Entry(
        "critical",
        "The pod CIDR pool overlaps the node's own network",
        "pod-cidr-change",
        CLUSTER_POOL,
    ),
    "pod-cidr-overlaps-service-cidr": Entry(
        "critical",
        "The pod CIDR pool overlaps the service CIDR or the cluster DNS address",
        "pod-cidr-change",
        CLUSTER_POOL,
    ),
    "pod-cidr-overlaps-upstream-dns": Entry(
        "critical",
        "An upstream DNS server of the node lies inside the pod CIDR pool",
        "pod-cidr-change",
        CLUSTER_POOL,
    ),
    "lb-pool-overlaps-pod-cidr": Entry(
        "warning",
        "A load-balancer IP pool overlaps the pod CIDR pool or addresses in use",
        None,
        LB_IPAM,
    ),
    "ciliumnode-cidr-stale": Entry(
        "critical",
        "CiliumNodes keep pod CIDRs outside the configured pool",
        "pod-cidr-change",
        CLUSTER_POOL,
    ),
    "node-ip-missing": Entry(
        "warning", "The Node has no InternalIP or ExternalIP address", None, TROUBLESHOOTING
    ),
    "pod-capacity-exceeds-cidr": Entry(
        "warning",
        "The kubelet allows more pods than one per-node pod CIDR has addresses",
        "pod-cidr-change",
        CLUSTER_POOL,
    ),
    "cilium-agent-missing": Entry(
        "critical", "No Cilium agent pod is scheduled on this node", None, TROUBLESHOOTING
    ),
    "cilium-agent-not-ready": Entry(
        "critical", "The Cilium agent pod on this node is not Ready", "restart", TROUBLESHOOTING
    ),
    "cilium-agent-unhealthy": Entry(
        "critical", "The Cilium agent reports a failure", "restart", TROUBLESHOOTING
    ),
    "cilium-operator-unavailable": Entry(
        "warning", "The cilium-operator has no available replica", "restart", TROUBLESHOOTING
    ),
    "node-taint-agent-not-ready": Entry(
        "warning",
        "The node carries the node.cilium.io/agent-not-ready taint",
        "restart",
        TROUBLESHOOTING,
    ),
    "stale-cilium-interfaces": Entry(
        "critical",
        "Cilium interfaces are left on the node while no agent runs",
        "cleanup",
        K3S_CILIUM,
    ),
    "stale-cilium-iptables": Entry(
        "critical",
        "Cilium iptables chains are left on the node while no agent runs",
        "cleanup",
        K3S_CILIUM,
    ),
    "iptables-backend-split": Entry(
        "warning",
        "Cilium's iptables rules live in a different backend than kube-proxy/kubelet's",
        "cleanup",
        TROUBLESHOOTING,
    ),
    "coredns-not-ready": Entry("critical", "No CoreDNS pod is Ready", "restart", K8S_DNS_DEBUG),
    "dns-cluster-names-fail": Entry(
        "critical",
        "Cluster names do not resolve through the kube-dns service",
        "restart",
        K8S_DNS_DEBUG,
    ),
    "dns-external-names-fail": Entry(
        "critical",
        "Cluster names resolve but public names do not",
        "restart",
        K8S_DNS_DEBUG,
    ),
    "pods-failing-on-node": Entry(
        "warning",
        "Pods on this node are stuck in ContainerCreating or CrashLoopBackOff",
        "restart",
        TROUBLESHOOTING,
    ),
    "k3s-stop-hook-missing": Entry(
        "info",
        "k3s runs Cilium but its unit does not clean Cilium up on stop",
        "k3s-stop-hook",
        K3S_CILIUM,
    ),
    "kube-proxy-replacement-conflict": Entry(
        "warning",
        "kube-proxy replacement disagrees with whether kube-proxy runs",
        None,
        KPR,
    ),
}


def finding(fid: str, evidence: list[str], *, playbook: str | None | bool = True) -> Finding:
    """A Finding from the catalogue entry; `playbook=` overrides the default fix."""
    entry = CATALOGUE[fid]
    return Finding(
        id=fid,
        severity=entry.severity,
        title=entry.title,
        evidence=evidence,
        playbook=entry.playbook if playbook is True else playbook,  # type: ignore[arg-type]
        docs=entry.docs,
    )
