"""Address-space view: the pod pool, per-node CIDRs, node networks, the service
CIDR, LB pools and upstream DNS servers drawn on one scale, one line each, with
overlaps that break things marked.

The scale is ordinal: every range start/end is a tick and ticks are spread
evenly, so a /24 next to a /8 is still visible and ranges that overlap share
columns. IPv4 only (the pool checks are IPv4 too).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from rich.text import Text
from textual.widget import Widget

from ..model import ClusterState, NodeState

Net = ipaddress.IPv4Network

POOL, NODE_CIDR, NODE_NET, SERVICE, LB, DNS = (
    "pool",
    "node-cidr",
    "node-net",
    "service",
    "lb",
    "dns",
)
STYLE = {
    POOL: "blue",
    NODE_CIDR: "cyan",
    NODE_NET: "green",
    SERVICE: "magenta",
    LB: "yellow",
    DNS: "white",
}
# Pairs of kinds whose overlap breaks networking (DESIGN §5). Per-node CIDRs are
# meant to sit inside the pool; node routes overlapping link networks are normal.
CONFLICTS = {
    frozenset({POOL, NODE_NET}),
    frozenset({POOL, SERVICE}),
    frozenset({POOL, LB}),
    frozenset({POOL, DNS}),
    frozenset({NODE_CIDR, NODE_NET}),
    frozenset({NODE_CIDR, SERVICE}),
    frozenset({NODE_CIDR, LB}),
    frozenset({NODE_CIDR, DNS}),
    frozenset({NODE_CIDR}),  # two nodes with the same/overlapping CIDR
    frozenset({NODE_NET, LB}),
    frozenset({NODE_NET, SERVICE}),
    frozenset({SERVICE, LB}),
    frozenset({SERVICE, DNS}),
}
MAX_OTHER_NODES = 4


@dataclass
class Span:
    kind: str
    label: str
    net: Net
    notes: list[str] = field(default_factory=list)

    @property
    def bad(self) -> bool:
        return bool(self.notes)


def _net(text: str) -> Net | None:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return net if isinstance(net, ipaddress.IPv4Network) else None


def collect_spans(
    node: NodeState | None, cluster: ClusterState | None, node_name: str
) -> list[Span]:
    """Every range worth drawing, from whatever the probes saw (either side may be missing)."""
    spans: list[Span] = []
    seen: set[tuple[str, Net]] = set()

    def add(kind: str, label: str, text: str | None) -> None:
        net = _net(text) if text else None
        if net is not None and (kind, net) not in seen:
            seen.add((kind, net))
            spans.append(Span(kind, label, net))

    k3s = node.host.k3s if node is not None else None
    pool = list(cluster.config.pool) if cluster and cluster.config and cluster.config.pool else []
    if not pool and k3s is not None:
        pool = list(k3s.cluster_cidr)
    for cidr in pool:
        add(POOL, "pod pool", cidr)

    if cluster is not None:
        mine = [c for c in cluster.ciliumnodes if c.name == node_name]
        others = [c for c in cluster.ciliumnodes if c.name != node_name]
        for cn in mine + others[:MAX_OTHER_NODES]:
            for cidr in cn.pod_cidrs:
                add(NODE_CIDR, f"node {cn.name}", cidr)
        if not mine and cluster.node is not None:
            for cidr in cluster.node.pod_cidrs:
                add(NODE_CIDR, f"node {cluster.node.name}", cidr)

    if node is not None:
        for link in node.links:
            if link.cilium or link.name == "lo":
                continue
            for addr in link.addresses:
                net = _net(addr)
                if net is not None:
                    add(NODE_NET, link.name, str(net))
        for route in node.routes:
            if route.cilium or route.table != "main" or route.dst == "default" or route.family != 4:
                continue
            net = _net(route.dst)
            if net is not None and net.prefixlen < 32:
                add(NODE_NET, f"route {route.dev or ''}".strip(), route.dst)

    service = list(cluster.service_cidr) if cluster and cluster.service_cidr else []
    if not service and k3s is not None:
        service = list(k3s.service_cidr)
    for cidr in service:
        add(SERVICE, "services", cidr)
    if cluster is not None:
        for lb in cluster.lb_pools:
            for cidr in lb.cidrs:
                add(LB, f"lb {lb.name}", cidr)
    if node is not None:
        for ns in node.host.nameservers:
            add(DNS, "upstream dns", ns)
    mark_overlaps(spans)
    return spans


def mark_overlaps(spans: list[Span]) -> None:
    """Note on each span every conflicting span it overlaps (pure; mutates notes)."""
    pools = [s.net for s in spans if s.kind == POOL]
    for i, a in enumerate(spans):
        for j, b in enumerate(spans):
            if i == j or frozenset({a.kind, b.kind}) not in CONFLICTS:
                continue
            if a.net.overlaps(b.net):
                a.notes.append(f"overlaps {b.label} {b.net}")
        if a.kind == NODE_CIDR and pools and not any(a.net.subnet_of(p) for p in pools):
            a.notes.append("outside the pool (stale?)")


def _column_map(spans: list[Span], width: int) -> dict[int, int]:
    """Address → column for every range boundary, ticks spread evenly."""
    ticks = sorted(
        {int(s.net.network_address) for s in spans}
        | {int(s.net.broadcast_address) + 1 for s in spans}
    )
    if len(ticks) == 1:
        return {ticks[0]: 0}
    return {t: round(i * width / (len(ticks) - 1)) for i, t in enumerate(ticks)}


def render_lines(spans: list[Span], width: int) -> list[Text]:
    """One Text per span: label, CIDR, a bar on the shared scale, and the overlap notes."""
    if not spans:
        return [Text("no address ranges known yet", style="dim")]
    label_w = min(16, max(len(s.label) for s in spans))
    cidr_w = max(len(str(s.net)) for s in spans)
    notes_w = max((len("; ".join(s.notes)) + 3 for s in spans if s.bad), default=0)
    bar_w = max(10, width - label_w - cidr_w - 4 - min(notes_w, 40))
    cols = _column_map(spans, bar_w)
    lines: list[Text] = []
    for s in spans:
        start = cols[int(s.net.network_address)]
        end = max(start + 1, cols[int(s.net.broadcast_address) + 1])
        end = min(end, bar_w)
        start = min(start, bar_w - 1)
        line = Text()
        line.append(f"{s.label[:label_w]:<{label_w}} ", style=STYLE.get(s.kind, ""))
        line.append(f"{str(s.net):<{cidr_w}} ")
        line.append("│" + "·" * start, style="dim")
        line.append("█" * (end - start), style="bold red" if s.bad else STYLE.get(s.kind, ""))
        line.append("·" * (bar_w - end) + "│", style="dim")
        if s.bad:
            line.append(" ✗ " + "; ".join(s.notes), style="bold red")
        lines.append(line)
    return lines


class AddressSpacePanel(Widget):
    """Redraws from the last node/cluster state when resized or updated."""

    DEFAULT_CSS = "AddressSpacePanel { height: auto; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.spans: list[Span] = []
        self.border_title = "Address space"

    def show(self, node: NodeState | None, cluster: ClusterState | None, node_name: str) -> None:
        self.spans = collect_spans(node, cluster, node_name)
        bad = sum(1 for s in self.spans if s.bad)
        self.border_title = "Address space" + (f" — {bad} conflicting" if bad else "")
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:  # type: ignore[no-untyped-def]
        return max(1, len(self.spans))

    def render(self) -> Text:
        return Text("\n").join(render_lines(self.spans, self.content_size.width or 80))
