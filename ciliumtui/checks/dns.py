"""CoreDNS and name resolution: through the kube-dns service, CoreDNS's forward loop,
and the node's own resolvers (`via == "node"`), whose failure is not Cilium's."""

from __future__ import annotations

import ipaddress
import re

from ..model import DnsCheck, Finding, PodInfo, Snapshot
from .bpf import duplicate_lines
from .catalogue import finding
from .facts import known, pod_line

_LOOP_RE = re.compile(r"plugin/loop: Loop .* detected")
_FORWARD_RE = re.compile(r"^\s*forward\s+(\S+)\s+(.+?)\s*(\{.*)?$")
RESOLVED_CONF = "/run/systemd/resolve/resolv.conf"
_LOG_SHOWN = 3


def _result(c: DnsCheck) -> str:
    if c.ok:
        outcome = f"{c.rcode} {', '.join(c.answers[:3])}"
    elif c.rcode:
        outcome = c.rcode + (" (no answers)" if c.rcode == "NOERROR" else "")
    else:
        outcome = c.error or "no answer"
        if c.via == "service" and "not permitted" in outcome.lower():
            # EPERM on send: a Service without ready endpoints is rejected on this node
            # (Cilium's or kube-proxy's reject rule), before any packet leaves.
            outcome = (
                f"kube-dns has no ready endpoints: the query is rejected on this node ({outcome})"
            )
    # No timings: evidence must read the same live and from a saved snapshot.
    return f"{c.qname} @ {c.server} ({c.via}): {outcome}"


def _checks(snap: Snapshot, kind: str) -> list[DnsCheck]:
    """CoreDNS checks of one kind; through the service when there are any (that is
    what pods use). The node's own resolvers are not CoreDNS: never counted here."""
    if snap.dns is None:
        return []
    mine = [c for c in snap.dns.checks if c.kind == kind and c.via != "node"]
    service = [c for c in mine if c.via == "service"]
    return service or mine


def _host(server: str) -> str:
    """'10.43.0.10:53' / '[fd00::a]:53' / 'dns://127.0.0.1:5353' / 'fd00::a' → the address."""
    text = server.split("://", 1)[-1]
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def _is_loopback(text: str) -> bool:
    try:
        return ipaddress.ip_address(_host(text).split("%")[0]).is_loopback
    except ValueError:
        return False


def _loop_lines(snap: Snapshot) -> list[str]:
    cl = known(snap, "coredns")
    return [line.strip() for line in (cl.coredns_log if cl else []) if _LOOP_RE.search(line)]


def _log_lines(snap: Snapshot) -> list[str]:
    cl = known(snap, "coredns")
    lines = [str(x).strip() for x in (cl.coredns_log if cl else []) if str(x).strip()]
    return [f"CoreDNS log: {line}" for line in lines[-_LOG_SHOWN:]]


def coredns_not_ready(snap: Snapshot) -> list[Finding]:
    cl = known(snap, "coredns")
    if cl is None:
        return []
    pods = cl.coredns_pods
    if any(p.ready for p in pods):
        return []
    ev = [pod_line(p) for p in pods] or ["no CoreDNS pod (k8s-app=kube-dns) in kube-system"]
    ev += _log_lines(snap)
    ev += duplicate_lines(snap)
    return [finding("coredns-not-ready", ev)]


def dns_cluster_names_fail(snap: Snapshot) -> list[Finding]:
    cluster = _checks(snap, "cluster")
    if not cluster or any(c.ok for c in cluster):
        return []
    assert snap.dns is not None
    ev = [_result(c) for c in cluster]
    ev += [
        _result(c)
        for c in snap.dns.checks
        if c.kind == "cluster" and c.via not in ("service", "node")
    ]
    ev += duplicate_lines(snap)
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
    ev += duplicate_lines(snap)
    return [finding("dns-external-names-fail", ev)]


def _forwards(corefile: str | None) -> list[tuple[str, list[str]]]:
    """The Corefile's `forward FROM TO...` lines: (zone, targets)."""
    out = []
    for line in (corefile or "").splitlines():
        m = _FORWARD_RE.match(line.split("#", 1)[0])
        if m:
            out.append((m.group(1), m.group(2).split()))
    return out


def _crashing(pods: list[PodInfo]) -> list[PodInfo]:
    return [p for p in pods if not p.ready and (p.restarts or p.reason == "CrashLoopBackOff")]


def coredns_forward_loop(snap: Snapshot) -> list[Finding]:
    cl = known(snap, "coredns")
    if cl is None or snap.node is None:
        return []
    crashing, loop = _crashing(cl.coredns_pods), _loop_lines(snap)
    if not crashing or not loop:
        return []
    host = snap.node.host
    loopback_ns = [n for n in host.nameservers if _is_loopback(n)]
    forwards = _forwards(cl.coredns_corefile)
    direct = [t for _, targets in forwards for t in targets if _is_loopback(t)]
    if not loopback_ns and not direct:
        return []  # a loop through some upstream: coredns-not-ready shows the log line
    ev = [loop[-1], pod_line(crashing[0])]
    for zone, targets in forwards:
        ev.append(f"Corefile: forward {zone} {' '.join(targets)}")
    if loopback_ns:
        ev.append(
            f"the node's resolv.conf names {', '.join(loopback_ns)}: CoreDNS (dnsPolicy "
            "Default) forwards to its own loopback, which is CoreDNS itself"
        )
    if direct:
        ev.append(f"the Corefile forwards to loopback {', '.join(direct)} inside the CoreDNS pod")
    k = host.k3s
    if host.resolved_nameservers:
        fix = (
            f"the real upstreams ({RESOLVED_CONF}): {', '.join(host.resolved_nameservers)}; "
            f"fix: forward . {RESOLVED_CONF}"
        )
        if k is not None and k.present:
            fix += f" (k3s: --resolv-conf {RESOLVED_CONF})"
        ev.append(fix)
    elif k is not None and k.present and k.resolv_conf:
        ev.append(f"k3s --resolv-conf {k.resolv_conf}: point it at a file with real upstreams")
    else:
        ev.append("fix: forward . <the real upstream resolvers> (not a 127.x address)")
    return [finding("coredns-forward-loop", ev)]


def node_upstream_dns_fails(snap: Snapshot) -> list[Finding]:
    if snap.dns is None:
        return []
    mine = [c for c in snap.dns.checks if c.via == "node"]
    if not mine or any(c.ok for c in mine):
        return []
    ev = [_result(c) for c in mine]
    host = snap.node.host if snap.node else None
    stub = [c.server for c in mine if _is_loopback(c.server)]
    if host is not None and stub and host.resolved_nameservers:
        ev.append(
            f"{stub[0]} is systemd-resolved's stub; its upstreams ({RESOLVED_CONF}): "
            f"{', '.join(host.resolved_nameservers)}"
        )
    ev.append(
        f"the node itself cannot resolve {mine[0].qname}: CoreDNS forwards there, so public "
        "names fail in pods too — not Cilium's fault: fix the node's resolvers "
        "(resolv.conf, systemd-resolved) or its uplink, e.g. `resolvectl status`"
    )
    return [finding("node-upstream-dns-fails", ev)]


CHECKS = [
    coredns_not_ready,
    coredns_forward_loop,
    dns_cluster_names_fail,
    dns_external_names_fail,
    node_upstream_dns_fails,
]
