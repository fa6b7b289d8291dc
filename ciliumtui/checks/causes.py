"""Which finding explains which (DESIGN §4, issue 13): a declared, pure relation.

`EXPLAINS[cause]` lists the findings `cause` directly brings about: stale debris,
CIDR overlaps, an old kernel, a missing bpffs, a competing CNI config or flannel
keep the agent from coming up; a broken agent or CoreDNS breaks DNS and the pods
on the node; the node's own dead resolver breaks CoreDNS's public names (not
Cilium's fault). An unreachable apiserver explains nothing: what it hides is not
in the result, and what the node shows (debris, the agent's own API) has causes
of its own.

`link(findings)` fills each finding's `explained_by` with the *nearest* present
causes: a present cause C explains a present symptom S when S is reachable from
C in the relation and no other present finding lies on the way (so when the
agent finding is absent, stale debris explains the DNS failure directly; when it
is present, the agent finding does, and the debris explains the agent). Findings
nothing explains are root causes. Roots come first — by severity, then by how
much they explain — then the symptoms, and a symptom's playbook is the playbook
of the first of its root causes that has one (None when none has: `restart`
cannot fix an old kernel).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from ..model import Finding, severity_order

AGENT_DOWN = ("cilium-agent-not-ready", "cilium-agent-unhealthy")
DATAPATH_SYMPTOMS = (
    "coredns-not-ready",
    "dns-cluster-names-fail",
    "dns-external-names-fail",
    "pods-failing-on-node",
)
STALE = ("stale-cilium-interfaces", "stale-cilium-iptables", "stale-cilium-bpf")

EXPLAINS: dict[str, tuple[str, ...]] = {
    # What keeps the agent from coming up (or healthy).
    "kernel-too-old": AGENT_DOWN,
    "bpffs-not-mounted": AGENT_DOWN,
    "node-ip-missing": AGENT_DOWN,
    "pod-cidr-overlaps-node-network": (
        *AGENT_DOWN,
        "node-upstream-dns-fails",  # the gateway or the resolver's route now points into pods
        "dns-external-names-fail",
        "pods-failing-on-node",
    ),
    "pod-cidr-overlaps-service-cidr": (
        *AGENT_DOWN,  # the agent reaches the apiserver through the kubernetes Service
        "coredns-not-ready",
        "dns-cluster-names-fail",
        "pods-failing-on-node",
    ),
    "pod-cidr-overlaps-upstream-dns": ("node-upstream-dns-fails", "dns-external-names-fail"),
    # Debris of a dead agent: the datapath still steers traffic (cilium#30609).
    **{s: (*AGENT_DOWN, "node-upstream-dns-fails") for s in STALE},
    "cni-config-conflict": (*AGENT_DOWN, "coredns-not-ready", "pods-failing-on-node"),
    "cni-config-orphaned": ("coredns-not-ready", "pods-failing-on-node"),
    # flannel.1 holds UDP 8472 (the agent crash-loops); flannel's config wins the CNI dir.
    "k3s-flannel-not-disabled": (*AGENT_DOWN, "cni-config-conflict"),
    "iptables-backend-split": (
        "dns-cluster-names-fail",
        "dns-external-names-fail",
        "pods-failing-on-node",
    ),
    "rp-filter-strict": DATAPATH_SYMPTOMS,  # replies from local pods dropped as spoofed
    "kube-proxy-replacement-conflict": (
        "coredns-not-ready",
        "dns-cluster-names-fail",
        "pods-failing-on-node",
    ),
    "pod-capacity-exceeds-cidr": ("pods-failing-on-node",),  # IPAM: range is full
    # The agent: the taint is its own, and no datapath without it.
    "cilium-agent-unhealthy": (
        "cilium-agent-not-ready",
        "node-taint-agent-not-ready",
        *DATAPATH_SYMPTOMS,
    ),
    "cilium-agent-not-ready": ("node-taint-agent-not-ready", *DATAPATH_SYMPTOMS),
    "cilium-agent-missing": ("node-taint-agent-not-ready", *DATAPATH_SYMPTOMS),
    # DNS.
    "coredns-forward-loop": (
        "coredns-not-ready",
        "dns-cluster-names-fail",
        "dns-external-names-fail",
    ),
    "coredns-not-ready": (
        "dns-cluster-names-fail",
        "dns-external-names-fail",
        "pods-failing-on-node",
    ),
    "node-upstream-dns-fails": ("dns-external-names-fail",),
}


def closure(relation: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """Every id reachable from each cause. Raises ValueError on a cycle."""
    out: dict[str, frozenset[str]] = {}

    def visit(node: str, path: tuple[str, ...]) -> frozenset[str]:
        if node in path:
            raise ValueError(f"cycle in the explains relation: {' -> '.join((*path, node))}")
        if node in out:
            return out[node]
        reach: set[str] = set()
        for nxt in relation.get(node, ()):
            reach.add(nxt)
            reach |= visit(nxt, (*path, node))
        out[node] = frozenset(reach)
        return out[node]

    for cause in relation:
        visit(cause, ())
    return out


REACHES = closure(EXPLAINS)


def explains(cause: str, symptom: str) -> bool:
    """`cause` leads to `symptom` through the declared relation (directly or not)."""
    return symptom in REACHES.get(cause, frozenset())


def explainers(symptom: str, present: Iterable[str]) -> list[str]:
    """The nearest present causes of `symptom` (sorted by id)."""
    here = set(present) - {symptom}
    causes = {c for c in here if explains(c, symptom)}
    return sorted(
        c
        for c in causes
        if not any(d != c and explains(c, d) and explains(d, symptom) for d in causes)
    )


def roots_of(fid: str, explained_by: Mapping[str, list[str]]) -> set[str]:
    """The root causes behind `fid` (itself when nothing explains it)."""
    parents = explained_by.get(fid) or []
    if not parents:
        return {fid}
    out: set[str] = set()
    for p in parents:
        out |= roots_of(p, explained_by)
    return out


def link(findings: list[Finding]) -> list[Finding]:
    """Copies of `findings` with `explained_by` filled, symptoms taking their root
    cause's playbook, ordered root causes first (see the module doc)."""
    by_id = {f.id: f for f in findings}
    parents = {fid: explainers(fid, by_id) for fid in by_id}
    reach = {fid: {s for s in by_id if explains(fid, s)} for fid in by_id}

    def root_key(fid: str) -> tuple[int, int, str]:
        return (severity_order(by_id[fid].severity), -len(reach[fid]), fid)

    roots = sorted((fid for fid in by_id if not parents[fid]), key=root_key)
    rank = {fid: i for i, fid in enumerate(roots)}
    out: list[Finding] = []
    for f in findings:
        mine = parents[f.id]
        playbook = f.playbook
        if mine:
            # root causes among the explainers first (in root order), then the others
            mine = sorted(mine, key=lambda c: (bool(parents[c]), rank.get(c, 0), c))
            roots_here = sorted(roots_of(f.id, parents), key=rank.__getitem__)
            playbook = next((by_id[r].playbook for r in roots_here if by_id[r].playbook), None)
        out.append(dataclasses.replace(f, explained_by=mine, playbook=playbook))
    return order(out)


def order(findings: list[Finding]) -> list[Finding]:
    """Root causes first (severity, then how much each explains, then id), then the
    symptoms (severity, then id)."""
    present = {f.id for f in findings}
    reach = {f.id: sum(1 for s in present if explains(f.id, s)) for f in findings}

    def key(f: Finding) -> tuple[int, int, int, str]:
        if f.root_cause:
            return (0, severity_order(f.severity), -reach[f.id], f.id)
        return (1, severity_order(f.severity), 0, f.id)

    return sorted(findings, key=key)


def symptoms_of(root: str, findings: list[Finding]) -> list[Finding]:
    """The findings (in order) whose root causes include `root`."""
    parents = {f.id: f.explained_by for f in findings}
    return [
        f for f in findings if f.id != root and f.explained_by and root in roots_of(f.id, parents)
    ]
