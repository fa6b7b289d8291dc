"""The checks: pure functions from a Snapshot to Findings (DESIGN §3, §5).

`run_checks(snap)` runs every check and returns the findings sorted by severity
(critical first), then id. `CATALOGUE` maps every stable id to
(severity, title, playbook, docs). No I/O here: checks are trivially testable
and `diagnose --from FILE` gives the same answer anywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from ..model import SEVERITY_RANK, Finding, Snapshot
from . import agent, apiserver, cidr, debris, dns, k3s, kernel, pods
from .catalogue import CATALOGUE, Entry

Check = Callable[[Snapshot], list[Finding]]

ALL_CHECKS: list[Check] = [
    *apiserver.CHECKS,
    *kernel.CHECKS,
    *cidr.CHECKS,
    *agent.CHECKS,
    *debris.CHECKS,
    *dns.CHECKS,
    *pods.CHECKS,
    *k3s.CHECKS,
]


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-SEVERITY_RANK[f.severity], f.id))


def run_checks(snap: Snapshot) -> list[Finding]:
    """Every finding the snapshot supports, critical first, then by id."""
    found: list[Finding] = []
    for check in ALL_CHECKS:
        found.extend(check(snap))
    return sort_findings(found)


__all__ = ["ALL_CHECKS", "CATALOGUE", "Entry", "run_checks", "sort_findings"]
