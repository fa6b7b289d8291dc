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

from ... import yamlspec as ys
from ...model import Finding
from ...options import Options

# Param.type → its YAML type (ciliumtui.yamlspec): the loader checks and converts params
# with it, the runner converts rendered {{ templates }} with it, json_schema.py describes it.
_PARAM_TYPES: dict[str, ys.Type] = {
    "str": ys.Str(),
    "int": ys.Int(),
    "float": ys.Number(),
    "bool": ys.Bool(),
    "list": ys.ListOf(ys.OneOf(ys.Str(), ys.Int())),
    "map": ys.MapOf(ys.AnyValue()),
    "duration": ys.Duration(),
    "any": ys.AnyValue(),
}

if TYPE_CHECKING:
    from ...node.backend import NodeBackend


@dataclass(frozen=True)
class Param:
    type: str  # str | int | float | bool | list | map | duration (→ seconds) | any
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""

    @property
    def spec(self) -> ys.Type:
        """The YAML type of this param's value (durations convert to seconds)."""
        if self.choices:
            one = ys.Enum(self.choices)
            return ys.ListOf(one) if self.type == "list" else one
        return _PARAM_TYPES[self.type]

    def convert(self, value: Any, name: str = "param") -> Any:
        """A rendered template's value as this param's type; raises yamlspec.Invalid.
        A template renders text: for a non-text param it is read as a YAML scalar first
        ("30" → 30, "2m" stays "2m" for a duration, "true" → True)."""
        if isinstance(value, str) and self.type not in ("str", "any"):
            from ...safeyaml import YamlError, load

            try:
                value = load(value, "<template>")
            except YamlError as exc:
                raise ys.Invalid(f"rendered to {value!r}: {exc.problem}") from None
        return self.spec.coerce(value, name)


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


# What an action's run() needs, checked before a run's FIRST change (engine/preflight.py),
# so a playbook never stops half-way for want of it:
#   "apiserver"  a live apiserver (a bounded liveness check)
#   "ip"         the `ip` tool (iproute2)
#   "iptables"   each selected backend's save and restore tools (params backends/families)
REQUIREMENTS = ("apiserver", "ip", "iptables")


class Action:
    name: ClassVar[str]
    summary: ClassVar[str] = ""
    mutates: ClassVar[bool] = False
    default_risk: ClassVar[str] = "read"
    waits: ClassVar[bool] = False  # waits for a change (skipped in dry-run: nothing changed)
    needs_root: ClassVar[bool] = False  # changes links/iptables/host files: root only
    # Its changes are files under --host-root only: under a host root other than "/" it
    # needs no root (a prepared host root: tests, a simulated node).
    host_files_only: ClassVar[bool] = False
    requires: ClassVar[frozenset[str]] = frozenset()  # see REQUIREMENTS
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


class RestoreAction(Action):
    """A restore: it reads a step's backup (`backup_of`) or a backup directory (`dir`)."""

    mutates = True
    needs_root = True
    default_risk = "high"
    params = {
        "backup_of": Param("str", help="id of the step whose backup to restore"),
        "dir": Param("str", help="a backup directory (instead of backup_of)"),
    }

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        if not params.get("backup_of") and not params.get("dir"):
            return [("backup_of", "give backup_of (a step id) or dir")]
        return []

    def _dir(self, ctx: ActionContext) -> Path:
        if ctx.params.get("dir"):
            return Path(ctx.params["dir"])
        step = ctx.params["backup_of"]
        return ctx.backups.get(step, ctx.run_dir / "backups" / step)


REGISTRY: dict[str, type[Action]] = {}


def register(cls: type[Action]) -> type[Action]:
    REGISTRY[cls.name] = cls
    return cls


def with_defaults(cls: type[Action], params: dict[str, Any]) -> dict[str, Any]:
    merged = {k: p.default for k, p in cls.params.items() if p.default is not None}
    merged.update(params)
    return merged
