"""The checks: pure functions from a Snapshot to Findings (DESIGN §3, §5).

`run_checks(snap)` runs every check, links each finding to the findings that
explain it (`causes.link`: `explained_by`, a symptom's playbook = its root
cause's) and returns them root causes first, then symptoms, each by severity.
`CATALOGUE` maps every stable id to (severity, title, playbook, docs). No I/O
here: checks are trivially testable and `diagnose --from FILE` gives the same
answer anywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from ..model import Finding, Snapshot
from . import (
    address,
    agent,
    apiserver,
    bpf,
    causes,
    cidr,
    cni,
    debris,
    dns,
    k3s,
    kernel,
    mtu,
    pods,
    rp_filter,
)
from .catalogue import CATALOGUE, Entry

Check = Callable[[Snapshot], list[Finding]]

ALL_CHECKS: list[Check] = [
    *apiserver.CHECKS,
    *kernel.CHECKS,
    *cidr.CHECKS,
    *agent.CHECKS,
    *debris.CHECKS,
    *bpf.CHECKS,
    *cni.CHECKS,
    *dns.CHECKS,
    *pods.CHECKS,
    *k3s.CHECKS,
    *rp_filter.CHECKS,
    *mtu.CHECKS,
]


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Root causes first (by severity, then by how much each explains), then symptoms."""
    return causes.order(findings)


def run_checks(snap: Snapshot) -> list[Finding]:
    """Every finding the snapshot supports, causes linked, root causes first."""
    found: list[Finding] = []
    with address.memoized():
        for check in ALL_CHECKS:
            found.extend(check(snap))
    return causes.link(found)


__all__ = ["ALL_CHECKS", "CATALOGUE", "Entry", "run_checks", "sort_findings"]
