"""The playbook schema as dataclasses (reference/runbooks-and-diagnosis-tools.md §5).

A playbook is YAML (see playbooks/*.yaml and playbooks/schema.json):

    id: cleanup                      # stable id (resume and the journal use it)
    version: 1
    title: ...
    description: ...
    phases: [diagnose, remediate, verify]   # optional; this is the default
    inputs:
      node: {type: node}              # string | int | bool | enum | node | duration
    steps:
      - id: purge-iptables            # unique, [a-z0-9-]
        phase: remediate
        title: Remove Cilium's iptables chains and rules
        action: netfilter.purge       # a registered action (ciliumtui.engine.actions)
        params: {backends: [legacy, nft]}
        risk: destructive             # read | low | high | destructive
        when: "finding('stale-cilium-iptables')"
        timeout: 60                   # seconds, or "2m"
        retry: {attempts: 5, delay: 2, until: "ready"}
        capture: {removed: {path: removed_rules}}
        on_failure: rollback          # abort | continue | rollback
        rollback: {action: netfilter.restore, params: {backup_of: purge-iptables}}
        rate_limit: {key: agent-restart, max: 3, per: 30m}
    always: [ ...steps run at the end, whatever happened... ]

`mutates` comes from the action (a step may restate it, never contradict it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .expr import Expr

Risk = Literal["read", "low", "high", "destructive"]
RISKS: tuple[str, ...] = ("read", "low", "high", "destructive")
ON_FAILURE: tuple[str, ...] = ("abort", "continue", "rollback")
INPUT_TYPES: tuple[str, ...] = ("string", "int", "bool", "enum", "node", "duration")
DEFAULT_PHASES: tuple[str, ...] = ("diagnose", "remediate", "verify")
DEFAULT_TIMEOUT = 60.0


@dataclass
class Where:
    """A position in a playbook file (1-based line and column)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class Input:
    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    choices: list[str] = field(default_factory=list)  # for enum
    regex: str | None = None
    secret: bool = False  # never journaled
    help: str = ""


@dataclass
class Retry:
    attempts: int = 1
    delay: float = 1.0
    until: Expr | None = None


@dataclass
class Capture:
    """One named value taken from an action's result.

    `path` walks ActionResult.data (dots and [n]); `count` is len() of that path;
    `from_` is one of rc | stdout | ok | changed (whole-result fields).
    """

    name: str
    path: str | None = None
    count: str | None = None
    from_: str | None = None


@dataclass
class RateLimit:
    key: str
    max: int
    per: float  # seconds


@dataclass
class Step:
    id: str
    action: str
    title: str = ""
    phase: str = "remediate"
    params: dict[str, Any] = field(default_factory=dict)
    mutates: bool = False  # from the action's declaration
    risk: str = "read"
    when: Expr | None = None
    timeout: float = DEFAULT_TIMEOUT
    retry: Retry = field(default_factory=Retry)
    capture: list[Capture] = field(default_factory=list)
    on_failure: str = "abort"
    rollback: Step | None = None
    rate_limit: RateLimit | None = None
    explain: str = ""
    where: Where | None = None

    @property
    def label(self) -> str:
        return self.title or self.id


@dataclass
class Playbook:
    id: str
    title: str
    source: str  # file path or "builtin:<id>"
    sha256: str  # of the file's bytes: resume is refused when it changed
    version: int = 1
    description: str = ""
    phases: list[str] = field(default_factory=lambda: list(DEFAULT_PHASES))
    inputs: dict[str, Input] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    always: list[Step] = field(default_factory=list)

    def all_steps(self) -> list[Step]:
        return [*self.steps, *self.always]

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.all_steps() if s.id == step_id), None)
