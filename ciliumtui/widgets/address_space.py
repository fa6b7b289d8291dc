"""Address-space view: the pod pool, per-node CIDRs, node networks, the service
CIDR, cluster DNS, upstream DNS servers and LB pools drawn on one scale, one row
each, with the overlaps that break things marked.

It draws the checks' facts (`checks.address.address_facts`): a range is marked
exactly when it takes part in an overlap that makes a finding, with that
overlap's words — the panel cannot disagree with `diagnose` (issue 12: it used to
say "3 conflicting" on a healthy native-routing node).

The scale: every range start and end is a tick; each stretch between two ticks
gets one column plus a share of the rest proportional to log2 of its size. So a
range is never narrower than any range it contains, a single address (/32, /128)
is exactly one column and never wider than a /24, ranges that overlap share
columns and disjoint ones never do. IPv4 and IPv6 get a scale each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.widget import Widget

from .. import cidr
from ..checks.address import (
    CLUSTER_DNS,
    LB_POOL,
    NODE_NETWORK,
    POD_CIDR,
    POOL,
    SERVICE_CIDR,
    UPSTREAM_DNS,
    AddressFacts,
    address_facts,
)
from ..model import ClusterState, NodeState, Snapshot

# Old names, kept for callers.
NODE_CIDR, NODE_NET, SERVICE, LB, DNS = POD_CIDR, NODE_NETWORK, SERVICE_CIDR, LB_POOL, UPSTREAM_DNS

STYLE = {
    POOL: "blue",
    POD_CIDR: "cyan",
    NODE_NETWORK: "green",
    SERVICE_CIDR: "magenta",
    CLUSTER_DNS: "magenta",
    LB_POOL: "yellow",
    UPSTREAM_DNS: "white",
}
LEGEND = (
    (POOL, "pod pool"),
    (POD_CIDR, "node CIDR"),
    (NODE_NETWORK, "node network"),
    (SERVICE_CIDR, "services/DNS"),
    (LB_POOL, "LB pool"),
    (UPSTREAM_DNS, "upstream DNS"),
)
MAX_OTHER_NODES = 4  # per-node CIDRs of other nodes drawn (conflicting ones always)
MAX_NODE_NETWORKS = 8  # node networks drawn (conflicting ones always)
_LABEL_W = 16
_MIN_BAR = 10
_NOTE_W = 40  # columns kept beside the bars for notes, at most


@dataclass
class Span:
    kind: str
    label: str
    net: cidr.Net
    notes: list[str] = field(default_factory=list)

    @property
    def bad(self) -> bool:
        return bool(self.notes)


def spans_from_facts(facts: AddressFacts, node_name: str) -> list[Span]:
    """One span per range of the facts, notes from the overlaps that touch it. Every
    conflicting range is drawn; of the rest, this node's CIDR, MAX_OTHER_NODES other
    nodes' and MAX_NODE_NETWORKS node networks (a node can route 10,000 prefixes)."""
    bad = set(facts.conflicting())
    spans: list[Span] = []
    shown = {POD_CIDR: 0, NODE_NETWORK: 0}
    limit = {POD_CIDR: MAX_OTHER_NODES, NODE_NETWORK: MAX_NODE_NETWORKS}
    for r in facts.ranges:
        if r not in bad and r.kind in shown and r.name != f"node {node_name}":
            shown[r.kind] += 1
            if shown[r.kind] > limit[r.kind]:
                continue
        spans.append(Span(r.kind, r.name, r.net, facts.notes(r) if r in bad else []))
    return spans


def collect_spans(
    node: NodeState | None, cluster: ClusterState | None, node_name: str
) -> list[Span]:
    """Every range worth drawing, from whatever the probes saw (either side may be missing)."""
    snap = Snapshot(node_name=node_name, taken_at="", node=node, cluster=cluster)
    return spans_from_facts(address_facts(snap), node_name)


def _columns(spans: list[Span], width: int) -> dict[int, int]:
    """Address → column for every range boundary of one family (see the module doc)."""
    ticks = sorted(
        {int(s.net.network_address) for s in spans}
        | {int(s.net.broadcast_address) + 1 for s in spans}
    )
    if len(ticks) < 2:
        return {t: 0 for t in ticks}
    segments = list(zip(ticks, ticks[1:], strict=False))

    def covered(a: int, b: int) -> bool:
        return any(
            int(s.net.network_address) <= a and b - 1 <= int(s.net.broadcast_address) for s in spans
        )

    used = [covered(a, b) for a, b in segments]
    weight = [math.log2(b - a) if u else 0.0 for (a, b), u in zip(segments, used, strict=False)]
    spare = max(0, width - sum(used))
    total = sum(weight)
    shares = [spare * w / total if total else 0.0 for w in weight]
    cols = [int(x) for x in shares]
    # largest remainder: the columns left go to the largest fractions (ties: larger size)
    left = spare - sum(cols) if total else 0
    order = sorted(range(len(cols)), key=lambda i: (shares[i] - cols[i], weight[i]), reverse=True)
    for i in order[:left]:
        cols[i] += 1
    out, pos = {ticks[0]: 0}, 0
    for (_, b), u, extra in zip(segments, used, cols, strict=False):
        pos += int(u) + extra
        out[b] = pos
    return out


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        while len(w) > width:  # a token longer than the line: cut it
            if line:
                lines.append(line)
                line = ""
            lines.append(w[:width])
            w = w[width:]
        if not line:
            line = w
        elif len(line) + 1 + len(w) <= width:
            line += " " + w
        else:
            lines.append(line)
            line = w
    if line:
        lines.append(line)
    return lines


def legend_lines(width: int) -> list[Text]:
    """The legend, broken into rows that fit `width`."""
    items = [(STYLE[k], name) for k, name in LEGEND] + [("bold red", "overlap that breaks things")]
    rows: list[Text] = []
    row = Text()
    for style, name in items:
        cell = len(name) + 4  # "█ name  "
        if row.plain and len(row.plain) + cell > width:
            rows.append(row)
            row = Text()
        row.append("█", style=style)
        row.append(f" {name}  ")
    tail = "widths ~ log2(size)"
    if row.plain and len(row.plain) + len(tail) > width:
        rows.append(row)
        row = Text()
    row.append(tail, style="dim")
    rows.append(row)
    return rows


def render_lines(spans: list[Span], width: int) -> list[Text]:
    """Rows of label, CIDR and a bar on the family's shared scale; a conflicting row's
    notes follow it — on the same row when they fit, else indented on the next rows —
    and no row is wider than `width` (a long note never wraps to column 0)."""
    if not spans:
        return [Text("no address ranges known yet", style="dim")]
    width = max(width, 24)
    label_w = min(_LABEL_W, max(len(s.label) for s in spans))
    cidr_w = min(max(len(str(s.net)) for s in spans), 43)
    lead = label_w + 1 + cidr_w + 1
    # Room beside the bar for a short note ("✗ overlaps pool 10.0.0.0/8"); longer ones
    # go on the rows below, aligned under the bar.
    fits = [n for n in (len("; ".join(s.notes)) + 3 for s in spans if s.bad) if n <= _NOTE_W]
    reserve = max(fits, default=0)
    if width - lead - 2 - reserve < 2 * _MIN_BAR:
        reserve = 0  # a narrow panel: the bars first, every note below
    bar_w = max(_MIN_BAR, width - lead - 2 - reserve)
    lines: list[Text] = []
    families = [[s for s in spans if s.net.version == v] for v in (4, 6)]
    both = all(families)
    for fam in families:
        if not fam:
            continue
        if both:
            lines.append(Text(f"IPv{fam[0].net.version}", style="bold"))
        cols = _columns(fam, bar_w)
        for s in fam:
            start = min(cols[int(s.net.network_address)], bar_w - 1)
            end = min(max(start + 1, cols[int(s.net.broadcast_address) + 1]), bar_w)
            line = Text()
            line.append(f"{s.label[:label_w]:<{label_w}} ", style=STYLE.get(s.kind, ""))
            line.append(f"{str(s.net)[:cidr_w]:<{cidr_w}} ")
            line.append("│" + "·" * start, style="dim")
            line.append("█" * (end - start), style="bold red" if s.bad else STYLE.get(s.kind, ""))
            line.append("·" * (bar_w - end) + "│", style="dim")
            note = "✗ " + "; ".join(s.notes) if s.bad else ""
            room = width - len(line.plain) - 1
            if note and len(note) <= room:
                line.append(" " + note, style="bold red")
                note = ""
            lines.append(line)
            for part in _wrap(note, width - lead):
                lines.append(Text(" " * lead + part, style="bold red"))
    return lines


class AddressSpacePanel(Widget):
    """Redraws from the last node/cluster state when resized or updated."""

    DEFAULT_CSS = "AddressSpacePanel { height: auto; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.spans: list[Span] = []
        self.hidden = 0  # ranges not drawn (see spans_from_facts)
        self.border_title = "Address space"

    def show(self, node: NodeState | None, cluster: ClusterState | None, node_name: str) -> None:
        snap = Snapshot(node_name=node_name, taken_at="", node=node, cluster=cluster)
        facts = address_facts(snap)
        self.spans = spans_from_facts(facts, node_name)
        self.hidden = len(facts.ranges) - len(self.spans)
        bad = sum(1 for s in self.spans if s.bad)
        self.border_title = "Address space" + (f" — {bad} conflicting" if bad else "")
        self.refresh(layout=True)

    def _lines(self, width: int) -> list[Text]:
        body = render_lines(self.spans, width)
        if self.hidden:
            body.append(Text(f"… and {self.hidden} more ranges in use, none conflicting", "dim"))
        return [*body, *legend_lines(width)] if self.spans else body

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        return max(1, len(self._lines(width)))

    def render(self) -> Text:
        return Text("\n").join(self._lines(self.content_size.width or 80))
