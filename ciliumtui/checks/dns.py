"""CoreDNS and name resolution through the kube-dns service."""

from __future__ import annotations

from ..model import DnsCheck, Finding, Snapshot
from .catalogue import finding
from .facts import known, pod_line


def _result(c: DnsCheck) -> str:
    if c.ok:
        outcome = f"{c.rcode} {', '.join(c.answers[:3])}"
    elif c.rcode:
        outcome = c.rcode + (" (no answers)" if c.rcode == "NOERROR" else "")
    else:
        outcome = c.error or "no answer"
    # No timings: evidence must read the same live and from a saved snapshot.
    return f"{c.qname} @ {c.server} ({c.via}): {outcome}"


def _checks(snap: Snapshot, kind: str) -> list[DnsCheck]:
    """Checks of one kind; through the service when there are any (that is what pods use)."""
    if snap.dns is None:
        return []
    mine = [c for c in snap.dns.checks if c.kind == kind]
    service = [c for c in mine if c.via == "service"]
    return service or mine


def coredns_not_ready(snap: Snapshot) -> list[Finding]:
    if not known(snap, "coredns"):
        return []
    pods = snap.cluster.coredns_pods  # type: ignore[union-attr]
    if any(p.ready for p in pods):
        return []
    ev = [pod_line(p) for p in pods] or ["no CoreDNS pod (k8s-app=kube-dns) in kube-system"]
    return [finding("coredns-not-ready", ev)]


def dns_cluster_names_fail(snap: Snapshot) -> list[Finding]:
    cluster = _checks(snap, "cluster")
    if not cluster or any(c.ok for c in cluster):
        return []
    ev = [_result(c) for c in cluster]
    ev += [_result(c) for c in snap.dns.checks if c.kind == "cluster" and c.via != "service"]  # type: ignore[union-attr]
    return [finding("dns-cluster-names-fail", list(dict.fromkeys(ev)))]


def dns_external_names_fail(snap: Snapshot) -> list[Finding]:
    cluster, external = _checks(snap, "cluster"), _checks(snap, "external")
    if not external or any(c.ok for c in external):
        return []
    ok = [c for c in cluster if c.ok]
    if not ok:
        return []  # nothing resolves: dns-cluster-names-fail (or no data) says it better
    ev = [_result(c) for c in external] + [_result(ok[0])]
    if snap.node and snap.node.host.nameservers:
        ev.append(
            f"CoreDNS forwards to the node's resolv.conf: {', '.join(snap.node.host.nameservers)}"
        )
    return [finding("dns-external-names-fail", ev)]


CHECKS = [coredns_not_ready, dns_cluster_names_fail, dns_external_names_fail]
