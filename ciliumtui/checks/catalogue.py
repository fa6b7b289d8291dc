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
METALLB_POOLS = "https://metallb.io/configuration/"
CLEANUP_CMD = f"{_CILIUM}/cmdref/cilium-dbg_post-uninstall-cleanup/"
CNI_CONF = f"{_CILIUM}/installation/cni-chaining/"
COREDNS_LOOP = "https://coredns.io/plugins/loop/#troubleshooting"
CILIUM_MTU = f"{_CILIUM}/network/concepts/routing/"

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
        "lb-pool-move",
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
    # ---- wave 2 (DESIGN §5)
    "stale-cilium-bpf": Entry(
        "critical",
        "Cilium BPF programs stay attached while no agent runs",
        "cleanup",
        CLEANUP_CMD,
    ),
    "cni-config-conflict": Entry(
        "critical",
        "The CNI config the container runtime uses is not Cilium's",
        "cni-config-fix",
        CNI_CONF,
    ),
    "cni-config-orphaned": Entry(
        "critical",
        "Cilium's CNI config is left on the node but Cilium is not installed",
        "cleanup",
        CLEANUP_CMD,
    ),
    "k3s-flannel-not-disabled": Entry(
        "critical",
        "k3s runs Cilium but flannel is not disabled",
        "k3s-disable-flannel",
        K3S_CILIUM,
    ),
    "coredns-forward-loop": Entry(
        "critical",
        "CoreDNS forwards to a loopback resolver and detects a loop",
        "coredns-forward-fix",
        COREDNS_LOOP,
    ),
    "rp-filter-strict": Entry(
        "warning",
        "Reverse-path filtering is on for Cilium's devices",
        "rp-filter-fix",
        SYSREQ,
    ),
    "mtu-mismatch": Entry(
        "warning",
        "Cilium's devices have a larger MTU than the node's uplink",
        "mtu-fix",
        CILIUM_MTU,
    ),
    "node-upstream-dns-fails": Entry(
        "critical",
        "The node's own DNS servers do not answer public names",
        None,
        K8S_DNS_DEBUG,
    ),
}


def finding(
    fid: str, evidence: list[str], *, playbook: str | None = None, docs: str | None = None
) -> Finding:
    """A Finding from the catalogue entry; `playbook=`/`docs=` override the defaults."""
    entry = CATALOGUE[fid]
    return Finding(
        id=fid,
        severity=entry.severity,
        title=entry.title,
        evidence=evidence,
        playbook=playbook if playbook is not None else entry.playbook,
        docs=docs if docs is not None else entry.docs,
    )
