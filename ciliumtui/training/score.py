"""The debrief: how a training session went, and what the scenario teaches.

Pure: it reads journal records (the runs the trainee made), timestamps, the hints
used and the findings the trainee opened, and returns a Debrief — a plain
dataclass the TUI's debrief screen and the headless output both render.

- solved: a verifying run finished ok — `verify`, or a fixing playbook of the
  expert path that ends with its own verify step (cleanup, pod-cidr-change) — and
  the last diagnosis shows none of the scenario's root-cause findings. A run
  verifies only when it diagnosed (captured findings): a restart that merely
  waited for its pod proves nothing.
- time to root cause: the first time the trainee opened a root-cause finding or
  started a fixing playbook of the expert path. Looking (diagnose, verify) does
  not count, and neither does a playbook off the expert path: restarting a
  crash-looping agent treats the symptom, not its cause.
- risky steps: confirmed mutating steps of risk high/destructive, and any
  mutating step of a playbook outside the expert path.
- what it teaches: the root cause (the scenario's `summary`, the findings that
  name it), the expert path (each playbook with its title: a playbook already
  ends with its own verify, nothing repeats it), and — when the node was not
  solved (given up) — the solution (the scenario's last hint, and the commands).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

# Which findings are the scenario's root cause (a scenario may say `root_cause: [...]`).
# Symptoms (the agent not Ready, pods failing, DNS) are not: they are what the root
# cause explains, and the debrief credits finding the cause.
ROOT_CAUSES: dict[str, list[str]] = {
    "post-reboot": ["stale-cilium-interfaces", "stale-cilium-iptables"],
    "agent-crashloop": ["stale-cilium-interfaces", "stale-cilium-iptables"],
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
    expert_path: list[str] = field(default_factory=list)  # playbook ids
    playbooks_run: list[str] = field(default_factory=list)  # "cleanup: ok"
    remaining: list[str] = field(default_factory=list)  # root-cause findings still present
    root_cause: str = ""  # what was really wrong, in words
    root_cause_ids: list[str] = field(default_factory=list)  # the findings that name it
    expert_steps: list[str] = field(default_factory=list)  # "cleanup — <its title>"
    solution: list[str] = field(default_factory=list)  # shown when not solved
    verified: bool = False  # a verifying run passed (the session can end with this debrief)

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
        ]
        if self.remaining:
            out.append(f"Still present: {', '.join(self.remaining)}")
        if self.root_cause:
            ids = f" ({', '.join(self.root_cause_ids)})" if self.root_cause_ids else ""
            out.append(f"Root cause{ids}: {self.root_cause}")
        out.append(f"Expert path: {' → '.join(self.expert_path) or 'none'}")
        out += [f"    {s}" for s in self.expert_steps]
        if self.solution:
            out.append("Solution:")
            out += [f"    {s}" for s in self.solution]
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


def expert_steps(scenario: dict[str, Any], titles: dict[str, str] | None = None) -> list[str]:
    """One line per playbook of the expert path: `id — title` (titles from the playbooks)."""
    titles = titles or {}
    return [
        f"{pb} — {titles[pb]}" if titles.get(pb) else pb
        for pb in (str(p) for p in scenario.get("expert_path") or [])
    ]


def solution(scenario: dict[str, Any]) -> list[str]:
    """What solves the scenario: its last hint, then the playbooks to run."""
    hints = [str(h) for h in scenario.get("hints") or []]
    out = [hints[-1]] if hints else []
    fixes = [str(p) for p in scenario.get("expert_path") or [] if str(p) not in NOT_A_FIX]
    for pb in fixes or ["verify"]:
        out.append(f"In ciliumtui: :run {pb}   (from a shell: ciliumtui run {pb})")
    return out


def score(
    scenario: dict[str, Any],
    records: list[dict[str, Any]],
    *,
    started: float,
    ended: float,
    hints_used: int = 0,
    opened: list[tuple[str, float]] | None = None,
    gave_up: bool = False,
    playbook_titles: dict[str, str] | None = None,
) -> Debrief:
    """Score a session. `records`: journal records of the session's runs (any order);
    `started`/`ended`/`opened` times: epoch seconds; `opened`: (finding id, when);
    `playbook_titles`: {playbook id: title} for the expert path's lines."""
    causes = set(root_causes(scenario))
    expert = [str(p) for p in scenario.get("expert_path") or []]
    fixing = [p for p in expert if p not in NOT_A_FIX]
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
    diagnosed: set[str] = set()  # runs that captured findings
    verify_ok = False
    for r in recs:
        kind, run = r.get("kind"), str(r.get("run_id"))
        if kind == "run_started":
            pb = str((r.get("data") or {}).get("playbook"))
            playbook_of[run] = pb
            if pb in fixing and not (r.get("data") or {}).get("dry_run"):
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
            diagnosed.add(run)
        elif kind == "run_finished":
            pb = playbook_of.get(run, "?")
            if (r.get("data") or {}).get("dry_run") or r.get("status") == "planned":
                continue
            runs.append(f"{pb}: {r.get('status')}")
            if pb in ("verify", *fixing) and r.get("status") == "ok" and run in diagnosed:
                verify_ok = True
    remaining = sorted(causes & set(last_findings or [])) if last_findings is not None else []
    first = min(candidates, default=None)
    solved = verify_ok and not remaining
    return Debrief(
        scenario=str(scenario.get("id")),
        title=str(scenario.get("title", scenario.get("id"))),
        solved=solved,
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
        root_cause=str(scenario.get("summary") or "").strip(),
        root_cause_ids=sorted(causes),
        expert_steps=expert_steps(scenario, playbook_titles),
        solution=[] if solved else solution(scenario),
        verified=verify_ok,
    )
