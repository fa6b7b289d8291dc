"""What the runner tells its caller (the CLI prints these, the TUI wizard shows them).

    Event            one progress record; also exactly what the journal stores
    ConfirmRequest   what a confirm callback is asked (step, risk, plan, context, node)
    RunResult        how the run ended; `exit_code` follows `ciliumtui run`'s contract

Event kinds, in the order a step produces them:
    run_started
    step_started        (journaled + fsync'd BEFORE a mutating step runs)
    step_planned        (dry-run: the plan of a mutating step; nothing ran)
    confirm_requested / confirm_granted / confirm_declined
    backup_saved        (data.files: [{path, sha256}])
    step_output         (one live output line in `message`; not journaled)
    step_finished       (status: ok | failed | skipped | refused | planned | declined;
                         a mutating step with nothing to do is "skipped" with
                         data.nothing_to_do; in a dry run a verify step is "skipped",
                         "not run (dry run)")
    rollback_started / rollback_finished
    run_finished        (status: ok | failed | refused | declined | planned | unplanned:
                         a dry run some step of which could not be planned)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STEP_STATUSES = ("ok", "failed", "skipped", "refused", "planned", "declined")
RUN_STATUSES = ("ok", "failed", "refused", "declined", "planned", "unplanned")


@dataclass
class Event:
    kind: str
    run_id: str
    seq: int = 0
    ts: str = ""
    step_id: str | None = None
    phase: str | None = None
    title: str | None = None
    action: str | None = None
    mutates: bool | None = None
    risk: str | None = None
    status: str | None = None
    rc: int | None = None
    ms: float | None = None
    attempt: int | None = None
    plan: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)  # excerpt (last lines) of the step's output
    message: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Compact JSON form: empty fields left out."""
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if v is None or v == [] or v == {}:
                continue
            out[k] = v
        return out


@dataclass
class ConfirmRequest:
    step_id: str
    title: str
    risk: str  # low | high | destructive
    plan: list[str]
    context: str | None  # kube context
    node: str
    type_node_name: bool  # destructive: the operator must type the node name
    unknown_outcome: bool = False  # resume: the step started before but never finished
    message: str = ""

    def prompt(self) -> str:
        if self.type_node_name:
            return (
                f"Type the node name ({self.node}) to run {self.step_id}, anything else cancels: "
            )
        return f"Run {self.step_id} ({self.risk})? [y/N] "

    def name_matches(self, typed: str) -> bool:
        """Does `typed` name this node? (A destructive step's Confirm enables only then.)"""
        return typed.strip() == self.node

    def accepts(self, answer: str) -> bool:
        """Whether an answer confirms: the node name for a destructive step, else y/yes.
        Cancel/No is the default. The one rule for every UI (terminal prompt, TUI modal)."""
        if self.type_node_name:
            return self.name_matches(answer)
        return answer.strip().lower() in ("y", "yes")


@dataclass
class RunResult:
    run_id: str
    playbook: str
    status: str
    message: str = ""
    steps: dict[str, str] = field(default_factory=dict)  # step id -> status
    failed_step: str | None = None
    journal: Path | None = None
    backups: dict[str, str] = field(default_factory=dict)  # step id -> backup dir

    @property
    def exit_code(self) -> int:
        """0 success (or a clean dry-run), 1 a step/verify failed, 3 refused/declined or a
        dry run that could not be planned."""
        return {"ok": 0, "planned": 0, "failed": 1}.get(self.status, 3)


def plan_line(line: str) -> str:
    """How a plan line is shown: notes (a leading "#") as they are, commands after "$ "."""
    return line if line.startswith("#") else f"$ {line}"
