"""The debrief: how a training session went, from the journal and the session's own notes.

Pure: it reads journal records (the runs the trainee made), timestamps, the hints
used and the findings the trainee opened, and returns a Debrief.

- solved: a `verify` run finished ok and its diagnosis shows none of the
  scenario's root-cause findings.
- time to root cause: the first time the trainee opened a root-cause finding or
  started a fixing playbook of the expert path (diagnose/verify do not count).
- risky steps: confirmed mutating steps of risk high/destructive, and any
  mutating step of a playbook outside the expert path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

# Which findings are the scenario's root cause (a scenario may say `root_cause: [...]`).
ROOT_CAUSES: dict[str, list[str]] = {
    "post-reboot": ["stale-cilium-interfaces", "stale-cilium-iptables"],
    "agent-crashloop": [
        "stale-cilium-interfaces",
        "stale-cilium-iptables",
        "cilium-agent-not-ready",
    ],
    "default-pod-cidr-overlap": [
        "pod-cidr-overlaps-node-network",
        "pod-cidr-overlaps-service-cidr",
        "pod-cidr-overlaps-upstream-dns",
    ],
    "stale-ciliumnode-cidr": ["ciliumnode-cidr-stale"],
    "coredns-external-fail": ["dns-external-names-fail"],
    "metallb-overlap": ["lb-pool-overlaps-pod-cidr"],
    "k3s-no-stop-hook": ["k3s-stop-hook-missing"],
}
NOT_A_FIX = ("diagnose", "verify")  # playbooks that look, not fix
RISKY = ("high", "destructive")


@dataclass
class Debrief:
    scenario: str
    title: str
    solved: bool
    gave_up: bool
    seconds: float
    time_to_root_cause: float | None  # seconds after the start; None: never reached
    root_cause_via: str | None  # "finding <id>" | "playbook <id>"
    hints_used: int
    hints_total: int
    risky_steps: list[str] = field(default_factory=list)  # "cleanup/purge-iptables (destructive)"
    expert_path: list[str] = field(default_factory=list)
    playbooks_run: list[str] = field(default_factory=list)  # "cleanup: ok"
    remaining: list[str] = field(default_factory=list)  # root-cause findings still present

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The debrief as plain text lines (headless output and the debrief screen)."""
        ttr = (
            f"{self.time_to_root_cause:.0f} s (via {self.root_cause_via})"
            if self.time_to_root_cause is not None
            else "not reached"
        )
        out = [
            f"Debrief — {self.title} ({self.scenario})",
            f"Solved: {'yes' if self.solved else 'no'}" + (" (gave up)" if self.gave_up else ""),
            f"Time: {self.seconds:.0f} s",
            f"Time to root cause: {ttr}",
            f"Hints used: {self.hints_used} of {self.hints_total}",
            f"Risky steps taken: {len(self.risky_steps)}",
            *(f"  - {s}" for s in self.risky_steps),
            f"Playbooks run: {', '.join(self.playbooks_run) or 'none'}",
            f"Expert path: {' → '.join(self.expert_path)}",
        ]
        if self.remaining:
            out.append(f"Still present: {', '.join(self.remaining)}")
        return out


def root_causes(scenario: dict[str, Any]) -> list[str]:
    own = scenario.get("root_cause")
    if own:
        return [str(x) for x in (own if isinstance(own, list) else [own])]
    return ROOT_CAUSES.get(str(scenario.get("id")), [])


def _ts(record: dict[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(str(record.get("ts"))).timestamp()
    except (TypeError, ValueError):
        return None


def score(
    scenario: dict[str, Any],
    records: list[dict[str, Any]],
    *,
    started: float,
    ended: float,
    hints_used: int = 0,
    opened: list[tuple[str, float]] | None = None,
    gave_up: bool = False,
) -> Debrief:
    """Score a session. `records`: journal records of the session's runs (any order);
    `started`/`ended`/`opened` times: epoch seconds; `opened`: (finding id, when)."""
    causes = set(root_causes(scenario))
    expert = [str(p) for p in scenario.get("expert_path") or []]
    recs = sorted(
        (r for r in records if (_ts(r) or 0) >= started - 1.0),
        key=lambda r: (_ts(r) or 0, r.get("seq", 0)),
    )
    playbook_of: dict[str, str] = {}
    candidates: list[tuple[float, str]] = [
        (t, f"finding {fid}") for fid, t in opened or [] if fid in causes
    ]
    risky: list[str] = []
    seen: set[tuple[str, str]] = set()
    runs: list[str] = []
    last_findings: list[str] | None = None
    verify_ok = False
    for r in recs:
        kind, run = r.get("kind"), str(r.get("run_id"))
        if kind == "run_started":
            pb = str((r.get("data") or {}).get("playbook"))
            playbook_of[run] = pb
            if pb in expert and pb not in NOT_A_FIX:
                candidates.append((_ts(r) or ended, f"playbook {pb}"))
        elif kind == "step_started" and r.get("mutates"):
            pb = playbook_of.get(run, "?")
            key = (run, str(r.get("step_id")))
            if key in seen:
                continue
            seen.add(key)
            if r.get("risk") in RISKY or pb not in expert:
                risky.append(f"{pb}/{r.get('step_id')} ({r.get('risk')})")
        elif kind == "step_finished" and "findings" in (r.get("data") or {}):
            last_findings = [str(f.get("id")) for f in r["data"]["findings"]]
        elif kind == "run_finished":
            pb = playbook_of.get(run, "?")
            if (r.get("data") or {}).get("dry_run") or r.get("status") == "planned":
                continue
            runs.append(f"{pb}: {r.get('status')}")
            if pb == "verify" and r.get("status") == "ok":
                verify_ok = True
    remaining = sorted(causes & set(last_findings or [])) if last_findings is not None else []
    first = min(candidates, default=None)
    return Debrief(
        scenario=str(scenario.get("id")),
        title=str(scenario.get("title", scenario.get("id"))),
        solved=verify_ok and not remaining,
        gave_up=gave_up,
        seconds=max(0.0, ended - started),
        time_to_root_cause=max(0.0, first[0] - started) if first else None,
        root_cause_via=first[1] if first else None,
        hints_used=hints_used,
        hints_total=len(scenario.get("hints") or []),
        risky_steps=risky,
        expert_path=expert,
        playbooks_run=runs,
        remaining=remaining,
    )
