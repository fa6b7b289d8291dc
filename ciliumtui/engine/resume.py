"""Resuming a run by id: what its journal says was done, and what is in doubt.

Refused when the playbook changed (sha256). A step that finished ok (or skipped
for a reason that still holds) is not run again and its captures come back. A
mutating step with `step_started` but no `step_finished` has an unknown outcome:
the runner asks about it again (never retries it silently).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CiliumtuiError
from .journal import journal_path, read_journal
from .schema import Playbook


@dataclass
class ResumeState:
    done: dict[str, dict[str, Any]] = field(default_factory=dict)  # step id -> step_finished
    unknown: set[str] = field(default_factory=set)  # mutating steps started, never finished
    backups: dict[str, Path] = field(default_factory=dict)  # step id -> its backup dir
    inputs: dict[str, Any] = field(default_factory=dict)  # the inputs the run started with
    seq: int = 0  # the journal's last sequence number


def load_resume(run_id: str, pb: Playbook) -> ResumeState:
    path = journal_path(run_id)
    records = read_journal(path)
    if not records:
        raise CiliumtuiError(f"--resume {run_id}: no journal at {path}")
    start = next((r for r in records if r.get("kind") == "run_started"), None)
    if start is None:
        raise CiliumtuiError(f"--resume {run_id}: journal has no run_started record")
    data = start.get("data") or {}
    if data.get("playbook") != pb.id:
        raise CiliumtuiError(
            f"--resume {run_id}: that run is playbook {data.get('playbook')!r}, not {pb.id!r}"
        )
    if data.get("sha256") != pb.sha256:
        raise CiliumtuiError(
            f"--resume {run_id}: playbook {pb.id} changed since the run started "
            f"(sha256 {str(data.get('sha256'))[:12]}… → {pb.sha256[:12]}…); resume refused, "
            "start a new run"
        )
    state = ResumeState(inputs=dict(data.get("inputs") or {}))
    started: dict[str, int] = {}
    for r in records:
        sid = r.get("step_id")
        if not sid:
            continue
        kind, status, rdata = r.get("kind"), r.get("status"), r.get("data") or {}
        if kind == "step_started":
            started[sid] = r.get("seq", 0)
            state.done.pop(sid, None)
        elif kind == "step_finished":
            # refused/declined/planned say nothing about an earlier, interrupted attempt
            if status in ("ok", "failed", "skipped"):
                started.pop(sid, None)
            # "nothing to do" and dry-run verdicts are about the world then: plan again
            if (
                status in ("ok", "skipped")
                and not rdata.get("dry_run")
                and not rdata.get("nothing_to_do")
            ):
                state.done[sid] = r
            else:
                state.done.pop(sid, None)
        elif kind == "backup_saved":
            d = rdata.get("dir")
            if d and sid not in state.backups:
                state.backups[sid] = Path(d)
    for sid in started:
        step = pb.step(sid)
        if step is not None and step.mutates:
            state.unknown.add(sid)
    state.seq = max((r.get("seq", 0) for r in records), default=0)
    return state
