"""The action contract and the typed registry.

An action declares its params (checked when a playbook loads), whether it
`mutates`, a default risk, and implements:

- `async plan(ctx) -> list[str]`: what it would do — exact argv / targets. Called
  for every mutating step (dry-run shows it; confirmation shows it). It may read
  (list pods, dump links) but never change anything.
- `async run(ctx) -> ActionResult`: do it. Never called for a mutating step in
  dry-run or read-only: the runner enforces that, not the action.
- `async backup(ctx) -> list[Path]`: for actions that can be destructive; files
  written under `ctx.backup_dir`. The runner refuses a destructive step when this
  raises or returns nothing (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ...model import Finding
from ...options import Options

if TYPE_CHECKING:
    from ...node.backend import NodeBackend


@dataclass(frozen=True)
class Param:
    type: str  # str | int | float | bool | list | map | duration | any
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass
class ActionResult:
    ok: bool
    rc: int | None = None
    stdout: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    changed: bool = False
    message: str = ""
    findings: list[Finding] | None = None  # a diagnose result: replaces the run's findings


@dataclass
class ActionContext:
    opts: Options
    params: dict[str, Any]
    step_id: str
    run_dir: Path
    dry_run: bool = False
    findings: list[Finding] = field(default_factory=list)
    # step id -> that step's backup directory (netfilter.restore reads them)
    backups: dict[str, Path] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    on_output: Callable[[str], None] | None = None
    backup_path: Path | None = None  # set by the runner (never overwrites an earlier backup)

    @property
    def node(self) -> str:
        return self.opts.node_name

    @property
    def netns(self) -> str | None:
        return self.opts.netns

    @property
    def backend(self) -> NodeBackend:
        """The one way in to the node (DESIGN §3): node actions read and write through it."""
        return self.opts.node_backend

    @property
    def backup_dir(self) -> Path:
        return self.backup_path or self.run_dir / "backups" / self.step_id

    def out(self, line: str) -> None:
        """One line of progress output (shown live, excerpted into the journal)."""
        self.lines.append(line)
        if self.on_output is not None:
            self.on_output(line)


class Action:
    name: ClassVar[str]
    summary: ClassVar[str] = ""
    mutates: ClassVar[bool] = False
    default_risk: ClassVar[str] = "read"
    waits: ClassVar[bool] = False  # waits for a change (skipped in dry-run: nothing changed)
    needs_root: ClassVar[bool] = False  # changes links/iptables/host files: root only
    params: ClassVar[dict[str, Param]] = {}

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        """Extra semantic checks at load time: (param name, message) pairs."""
        return []

    async def plan(self, ctx: ActionContext) -> list[str]:
        return [f"{self.name} {ctx.params}"]

    async def run(self, ctx: ActionContext) -> ActionResult:  # pragma: no cover - abstract
        raise NotImplementedError

    async def backup(self, ctx: ActionContext) -> list[Path]:
        raise NotImplementedError(f"{self.name} cannot back up what it changes")


REGISTRY: dict[str, type[Action]] = {}


def register(cls: type[Action]) -> type[Action]:
    REGISTRY[cls.name] = cls
    return cls


def with_defaults(cls: type[Action], params: dict[str, Any]) -> dict[str, Any]:
    merged = {k: p.default for k, p in cls.params.items() if p.default is not None}
    merged.update(params)
    return merged
