"""The human-readable form of a Snapshot (`ciliumtui snapshot` without --json).

Compact: one line per object, Cilium's objects marked with "*". The local
routing table and IPv6 link-local routes are summarised, not listed (every
interface has them and they say nothing about Cilium).
"""

from __future__ import annotations

from .model import NodeState, Snapshot

MARK = "*"


def _m(cilium: bool) -> str:
    return MARK if cilium else " "


def _links(node: NodeState) -> list[str]:
    n_cil = sum(link.cilium for link in node.links)
    out = [f"Links ({len(node.links)}, {n_cil} Cilium's)"]
    width = max((len(link.name) for link in node.links), default=4)
    for link in node.links:
        extra = []
        if link.peer:
            extra.append(f"peer {link.peer}")
        if link.master:
            extra.append(f"master {link.master}")
        addrs = [a for a in link.addresses if not a.startswith("fe80:")]
        out.append(
            f" {_m(link.cilium)} {link.name:<{width}}  {link.kind or '-':<7} {link.state:<15}"
            f" mtu {link.mtu:<5} {' '.join(addrs) or '-'}{'  (' + ', '.join(extra) + ')' if extra else ''}"
        )
    return out


def _routes(node: NodeState) -> list[str]:
    shown = [r for r in node.routes if r.table != "local" and not r.dst.startswith("fe80:")]
    hidden = len(node.routes) - len(shown)
    n_cil = sum(r.cilium for r in node.routes)
    out = [f"Routes ({len(node.routes)}, {n_cil} Cilium's; {hidden} local/link-local not listed)"]
    for r in shown:
        parts = [r.dst if r.type in (None, "unicast") else f"{r.type} {r.dst}"]
        if r.gateway:
            parts.append(f"via {r.gateway}")
        if r.dev:
            parts.append(f"dev {r.dev}")
        if r.table != "main":
            parts.append(f"table {r.table}")
        if r.prefsrc:
            parts.append(f"src {r.prefsrc}")
        if r.metric is not None and r.family == 4:
            parts.append(f"metric {r.metric}")
        out.append(f" {_m(r.cilium)} {' '.join(parts)}")
    return out


def _rules(node: NodeState) -> list[str]:
    out = [f"IP rules ({len(node.rules)})"]
    for r in node.rules:
        sel = f"from {r.src or 'all'}"
        if r.dst:
            sel += f" to {r.dst}"
        if r.fwmark:
            sel += f" fwmark {r.fwmark}"
        action = f"lookup {r.table}" if r.table else (r.action or "")
        out.append(f" {_m(r.cilium)} v{r.family} {r.priority}: {sel} {action}")
    return out


def _netfilter(node: NodeState) -> list[str]:
    out = [f"Netfilter (kube-proxy/kubelet backend: {node.kube_backend or 'none found'})"]
    for d in node.netfilter:
        name = f"{d.backend} v{d.family}"
        if not d.available:
            out.append(f"   {name:<10} not installed")
        elif d.error:
            out.append(f"   {name:<10} error: {d.error}")
        elif not d.rule_count and not d.tables:
            out.append(f"   {name:<10} empty")
        else:
            tables = ", ".join(t.name for t in d.tables)
            out.append(
                f" {_m(bool(d.cilium_rule_count))} {name:<10} {d.rule_count} rules in {tables};"
                f" {d.cilium_rule_count} Cilium's"
            )
            if d.cilium_chains:
                out.append(f"     Cilium chains: {' '.join(d.cilium_chains)}")
            others = [
                c.name
                for t in d.tables
                for c in t.chains
                if c.policy is None and not c.cilium and not c.name.startswith("KUBE-")
            ]
            if others:
                out.append(f"     other user chains: {' '.join(others)}")
    return out


def _bpf(node: NodeState) -> list[str]:
    """Programs attached per device (and on Cilium's cgroup root), pins summarised."""
    b = node.bpf
    n_att = sum(a.cilium for a in b.attachments)
    n_pin = sum(p.cilium for p in b.pins)
    out = [
        f"BPF ({len(b.attachments)} attached, {n_att} Cilium's;"
        f" {len(b.pins)} pins, {n_pin} Cilium's)"
    ]
    width = max((len(a.target) for a in b.attachments), default=4)
    for a in b.attachments:
        how = [a.detail] if a.detail else []
        if a.link_pin:
            how.append(f"pinned {a.link_pin}")
        out.append(
            f" {_m(a.cilium)} {a.target:<{width}}  {a.hook:<16} {a.program.name or '?':<15}"
            f" id {a.program.id:<6} {a.via}{'  (' + '; '.join(how) + ')' if how else ''}"
        )
    for area in ("/sys/fs/bpf/tc/globals/", "/sys/fs/bpf/cilium/"):
        here = [p for p in b.pins if p.path.startswith(area)]
        if here:
            links = sum(p.kind == "link" for p in here)
            mine = sum(p.cilium for p in here)
            out.append(
                f" {_m(bool(mine))} pins in {area.rstrip('/')}: {len(here)}"
                f" ({mine} Cilium's, {links} bpf_links)"
            )
    out += [f"   could not read: {e}" for e in b.errors]
    return out


def _host(node: NodeState) -> list[str]:
    h = node.host
    out = ["Host"]
    out.append(f"   hostname {h.hostname or '?'}, kernel {h.kernel or '?'}")
    out.append(
        f"   bpffs {'mounted' if h.bpffs_mounted else 'NOT mounted'} at /sys/fs/bpf;"
        f" cgroup2: {', '.join(h.cgroup2_mounts) or 'none'}"
    )
    out.append(f"   nameservers: {', '.join(h.nameservers) or 'none'}")
    cni = [
        f"{MARK if f.cilium else ''}{f.name}{' (backup)' if f.backup else ''}" for f in h.cni_files
    ]
    out.append(f"   CNI files: {', '.join(cni) or 'none'}")
    k = h.k3s
    if k is None:
        out.append("   k3s: not found")
    else:
        out.append(
            f"   k3s: unit {k.unit_file or 'none'}; flannel-backend {k.flannel_backend or 'default'};"
            f" cluster-cidr {','.join(k.cluster_cidr) or 'default'};"
            f" service-cidr {','.join(k.service_cidr) or 'default'}; cluster-dns {k.cluster_dns or 'default'}"
        )
        out.append(
            f"        kube-proxy {'disabled' if k.disable_kube_proxy else 'enabled'};"
            f" stop hook cleaning Cilium: {'yes' if k.stop_hook else 'no'}"
            + (f"; max-pods {k.max_pods}" if k.max_pods else "")
        )
    return out


def _agent(node: NodeState) -> list[str]:
    a = node.agent
    pid = (
        "no pidfile"
        if a.pidfile is None
        else f"pid {a.pid} ({'running' if a.pid_alive else 'not running'})"
    )
    out = [f"Cilium agent: {pid}; API socket {a.socket or '?'}"]
    if a.health:
        hl = a.health
        out.append(f"   state {hl.state or '?'}: {hl.msg or ''}".rstrip())
        out.append(
            f"   kubernetes {hl.kubernetes_state or '?'}; routing {hl.routing_mode or '?'}"
            f" [{hl.tunnel_protocol or '-'}]; KPR {hl.kube_proxy_replacement or '?'};"
            f" masquerading {hl.masquerading or '?'}"
        )
        if hl.ipam:
            out.append(f"   IPAM {hl.ipam}")
        for c in hl.failing_controllers:
            out.append(f"   failing controller {c}")
        for s in hl.stale:
            out.append(f"   stale {s}")
    if a.error:
        out.append(f"   {a.error}")
    return out


def _cluster(snap: Snapshot) -> list[str]:
    c = snap.cluster
    if c is None:
        return []
    if not c.reachable:
        return [f"Cluster: unreachable ({c.error or 'unknown error'})"]
    out = [f"Cluster: {c.server or '?'} (context {c.context or '?'})"]
    if c.cilium_pod:
        p = c.cilium_pod
        out.append(
            f"   cilium pod {p.name}: {p.phase or '?'}, ready {p.ready}, restarts {p.restarts}"
        )
    if c.config:
        out.append(f"   pool {' '.join(c.config.pool) or '?'}; ipam {c.config.ipam or '?'}")
    for p in c.coredns_pods:
        out.append(f"   coredns {p.name}: ready {p.ready} ip {p.ip or '?'}")
    return out


def _dns(snap: Snapshot) -> list[str]:
    if snap.dns is None or not snap.dns.checks:
        return []
    out = ["DNS"]
    for chk in snap.dns.checks:
        result = "ok" if chk.ok else (chk.rcode or chk.error or "failed")
        out.append(f"   {chk.qname} via {chk.via} ({chk.server}): {result}")
    return out


def render_text(snap: Snapshot) -> str:
    where = []
    if snap.netns:
        where.append(f"netns {snap.netns}")
    if snap.host_root != "/":
        where.append(f"host root {snap.host_root}")
    head = [
        f"Node {snap.node_name}{' (' + ', '.join(where) + ')' if where else ''} at {snap.taken_at}"
        f"   [{MARK} = Cilium's]"
    ]
    failed = [f"{name}: {p.error}" for name, p in snap.probes.items() if not p.ok]
    ok = [name for name, p in snap.probes.items() if p.ok]
    head.append(f"Probes ok: {', '.join(ok) or 'none'}")
    head += [f"Probe failed: {f}" for f in failed]
    sections: list[list[str]] = [head]
    if snap.node is not None:
        sections += [
            _links(snap.node),
            _routes(snap.node),
            _rules(snap.node),
            _netfilter(snap.node),
            _bpf(snap.node),
            _host(snap.node),
            _agent(snap.node),
        ]
    sections += [s for s in (_cluster(snap), _dns(snap)) if s]
    return "\n\n".join("\n".join(s) for s in sections) + "\n"
