"""`ciliumtui fleet status`: every node's report, one row each, grouped by root cause.

Pure: Node and NodeDiagnosis objects (as the API returns them) in, `FleetStatus`
out — what the command prints (text or the JSON of DESIGN §10) and what the
TUI's `:fleet` view draws. The objects are reduced page by page (`node_facts`,
`report_facts`), so a 5,000-node read never holds every raw object at once.

A node is *not reporting* when it has no report at all, or when its newest
report (the NodeDiagnosis's generated_at or the condition's lastHeartbeatTime,
whichever is later) is older than 3 of its publisher's intervals (never, for
interval 0: a `--once` publisher promises nothing more).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import objects as O
from .verdict import verdict

STALE_INTERVALS = 3
STATES = ("broken", "unknown", "not-reporting", "healthy")  # display order
EXIT_HEALTHY, EXIT_WARNINGS, EXIT_BROKEN, EXIT_UNREADABLE = 0, 1, 2, 3


@dataclass(frozen=True)
class NodeFacts:
    name: str
    condition: dict[str, Any] | None


@dataclass(frozen=True)
class ReportFacts:
    """What fleet status needs of one NodeDiagnosis (its findings kept for the TUI)."""

    name: str
    status: str  # the verdict: True | False | Unknown
    root_cause: str | None
    critical: tuple[str, ...]
    warning: tuple[str, ...]
    info: tuple[str, ...]
    playbooks: tuple[str, ...]
    generated_at: str | None
    interval_s: int
    message: str
    findings: tuple[dict[str, Any], ...] = ()
    last_run: dict[str, Any] | None = None


@dataclass(frozen=True)
class NodeRow:
    node: str
    state: str  # healthy | broken | unknown | not-reporting
    root_cause: str | None
    critical: tuple[str, ...]
    warning: tuple[str, ...]
    info: tuple[str, ...]
    generated_at: str | None
    age_s: float | None  # seconds since the newest report; None: never reported
    interval_s: int | None
    message: str
    findings: tuple[dict[str, Any], ...] = ()
    last_run: dict[str, Any] | None = None

    @property
    def findings_count(self) -> int:
        return len(self.critical) + len(self.warning) + len(self.info)

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "state": self.state,
            "root_cause": self.root_cause,
            "critical": list(self.critical),
            "warning": list(self.warning),
            "generated_at": self.generated_at,
        }


@dataclass(frozen=True)
class FleetStatus:
    nodes: list[NodeRow]
    by_root_cause: dict[str, list[str]] = field(default_factory=dict)

    def count(self, state: str) -> int:
        return sum(1 for r in self.nodes if r.state == state)

    @property
    def exit_code(self) -> int:
        """0 all healthy, 1 warnings only (or nodes unknown / not reporting), 2 a broken node."""
        if any(r.state == "broken" for r in self.nodes):
            return EXIT_BROKEN
        if any(r.state != "healthy" or r.warning for r in self.nodes):
            return EXIT_WARNINGS
        return EXIT_HEALTHY

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": [r.to_json() for r in self.nodes],
            "by_root_cause": {k: list(v) for k, v in self.by_root_cause.items()},
        }

    def row(self, node: str) -> NodeRow | None:
        return next((r for r in self.nodes if r.node == node), None)


def node_facts(obj: Mapping[str, Any]) -> NodeFacts:
    return NodeFacts(str((obj.get("metadata") or {}).get("name")), O.condition_of(obj))


def report_facts(obj: Mapping[str, Any]) -> ReportFacts:
    raw = obj.get("status")
    status: dict[str, Any] = raw if isinstance(raw, dict) else {}
    v = verdict(status) if status else verdict(None, "the NodeDiagnosis has no status")
    try:
        interval = int(status.get("interval_s") or 0)
    except (TypeError, ValueError):
        interval = 0
    findings = tuple(f for f in status.get("findings") or [] if isinstance(f, dict))
    last_run = status.get("last_run") if isinstance(status.get("last_run"), dict) else None
    return ReportFacts(
        name=str((obj.get("metadata") or {}).get("name")),
        status=v.status,
        root_cause=v.root_cause,
        critical=v.critical,
        warning=v.warning,
        info=v.info,
        playbooks=v.playbooks,
        generated_at=status.get("generated_at")
        if isinstance(status.get("generated_at"), str)
        else None,
        interval_s=max(0, interval),
        message=v.message,
        findings=findings,
        last_run=last_run,
    )


def _row(node: NodeFacts, report: ReportFacts | None, now: datetime) -> NodeRow:
    cond = node.condition
    times = [
        t
        for t in (
            O.parse_time(report.generated_at) if report else None,
            O.parse_time((cond or {}).get("lastHeartbeatTime")),
        )
        if t is not None
    ]
    newest = max(times) if times else None
    age = (now - newest).total_seconds() if newest else None
    if report is None:
        # A condition without a NodeDiagnosis: its status is all we know.
        if cond is None:
            return NodeRow(
                node.name, "not-reporting", None, (), (), (), None, None, None, "no report"
            )
        state = {"True": "healthy", "False": "broken"}.get(str(cond.get("status")), "unknown")
        reason = str(cond.get("reason") or "")
        return NodeRow(
            node.name,
            state,
            None,
            (),
            (),
            (),
            None,
            age,
            None,
            f"{reason}: {cond.get('message', '')}",
        )
    interval = report.interval_s
    if interval > 0 and (age is None or age > STALE_INTERVALS * interval):
        state = "not-reporting"
    else:
        state = {"True": "healthy", "False": "broken"}.get(report.status, "unknown")
    return NodeRow(
        node.name,
        state,
        report.root_cause,
        report.critical,
        report.warning,
        report.info,
        report.generated_at,
        age,
        interval,
        report.message,
        report.findings,
        report.last_run,
    )


def fleet_status(
    nodes: Iterable[NodeFacts], reports: Iterable[ReportFacts], now: datetime
) -> FleetStatus:
    """One row per node (reports of nodes not listed are ignored), ordered by state
    (broken first), then root cause, then name; by_root_cause of reporting nodes."""
    by_name = {r.name: r for r in reports}
    rows = [_row(n, by_name.get(n.name), now) for n in nodes]
    rank = {s: i for i, s in enumerate(STATES)}
    rows.sort(key=lambda r: (rank.get(r.state, 9), r.root_cause or "", r.node))
    groups: dict[str, list[str]] = {}
    for r in rows:
        if r.root_cause and r.state in ("broken", "healthy"):
            groups.setdefault(r.root_cause, []).append(r.node)
    return FleetStatus(rows, dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))))


def human_age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def render_text(fs: FleetStatus) -> str:
    if not fs.nodes:
        return "no nodes (check -l)\n"
    head = ("NODE", "STATE", "ROOT CAUSE", "CRIT", "WARN", "REPORTED")
    rows = [
        (
            r.node,
            r.state,
            r.root_cause or "-",
            str(len(r.critical)),
            str(len(r.warning)),
            human_age(r.age_s) + (" ago" if r.age_s is not None else ""),
        )
        for r in fs.nodes
    ]
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [head, *rows]
    ]
    if fs.by_root_cause:
        lines += ["", "by root cause:"]
        for cause, names in fs.by_root_cause.items():
            shown = ", ".join(names[:10]) + (
                f" and {len(names) - 10} more" if len(names) > 10 else ""
            )
            lines.append(f"  {cause} ({len(names)}): {shown}")
    others = [r for r in fs.nodes if r.state in ("unknown", "not-reporting")]
    for state in ("unknown", "not-reporting"):
        names = [r.node for r in others if r.state == state]
        if names:
            lines.append(
                f"  {state} ({len(names)}): {', '.join(names[:10])}"
                + (" …" if len(names) > 10 else "")
            )
    counts = ", ".join(f"{fs.count(s)} {s.replace('-', ' ')}" for s in STATES)
    lines += ["", f"{len(fs.nodes)} nodes: {counts}"]
    return "\n".join(lines) + "\n"
