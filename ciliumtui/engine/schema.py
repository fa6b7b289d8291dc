"""The playbook format, declared once (reference/runbooks-and-diagnosis-tools.md §5).

These dataclasses ARE the format: `ciliumtui.yamlspec` derives from them the
validation with file:line:col (unknown keys at any depth, types, bounds), the
conversion (durations become seconds, expressions are parsed) and the JSON
Schema for editors (playbooks/schema.json). The loader adds only what needs the
whole document: action params, names in expressions, phases, duplicate ids.

    id: cleanup                      # stable id (resume and the journal use it)
    version: 1
    phases: [diagnose, remediate, verify]   # optional; this is the default
    inputs:
      node: {type: node}              # string | int | bool | enum | node | duration
    steps:
      - id: purge-iptables            # unique, [a-z0-9-]
        phase: remediate
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

from dataclasses import dataclass
from typing import Any, ClassVar

from ..safeyaml import Node, type_name
from ..yamlspec import (
    INVALID,
    AnyValue,
    Ctx,
    Duration,
    Enum,
    Int,
    Invalid,
    ListOf,
    MapOf,
    Record,
    Report,
    Str,
    Type,
    node_of,
    parse_duration,
    spec,
    suggest,
)
from . import expr as exprmod
from .expr import Expr

API_VERSION = "ciliumtui.io/v1alpha1"
RISKS: tuple[str, ...] = ("read", "low", "high", "destructive")
ON_FAILURE: tuple[str, ...] = ("abort", "continue", "rollback")
INPUT_TYPES: tuple[str, ...] = ("string", "int", "bool", "enum", "node", "duration")
CAPTURE_FROM: tuple[str, ...] = ("rc", "stdout", "ok", "changed", "message")
DEFAULT_PHASES: tuple[str, ...] = ("diagnose", "remediate", "verify")
DEFAULT_TIMEOUT = 60.0
MAX_INPUT_CHARS = 64 * 1024  # an --input value; a node name or a CIDR is far shorter
# A regex match on an input value may take this long. Catastrophic patterns such as
# ^(a|aa)+$ then fail in 0.25 s with a clear line instead of hanging `run` (measured:
# Python's re needs minutes for ^(a+)+$ on 30 a's and a '!').
REGEX_TIMEOUT = 0.25

ID = Str(
    pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
    hint="be lower-case letters, digits, '-' and '_' (at most 63)",
)
INPUT_NAME = Str(
    pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", hint="be lower-case letters, digits, '_' and '-'"
)
CAPTURE_NAME = Str(
    pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$",
    hint="be an identifier (letters, digits and '_', not first)",
)


@dataclass
class Where:
    """A position in a playbook file (1-based line and column)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


# ------------------------------------------------------------- engine value types


class ExprType(Type):
    """A `when:`/`until:` expression, parsed (and whitelist-checked) at load time."""

    def describe(self) -> str:
        return "an expression"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": ["string", "boolean"],
            "description": "expression: names, ==, in, and/or/not, finding('id'), "
            "any_finding('critical'), len(x)",
        }

    def convert(self, node: Node, r: Report, ctx: Ctx) -> Any:
        value = node.value
        if isinstance(value, bool):  # `when: true` is fine
            return exprmod.parse(str(value))
        if not isinstance(value, str):
            r.error(node, f"{ctx} must be an expression string, got {type_name(node)}")
            return INVALID
        try:
            return exprmod.parse(value)
        except exprmod.ExprError as exc:
            r.error(node, f"bad expression in {ctx}: {exc}")
            return INVALID


class ActionName(Type):
    """A registered action's name."""

    def describe(self) -> str:
        return "an action name"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        from .actions import REGISTRY

        return {"enum": sorted(REGISTRY), "description": "a registered action"}

    def check(self, value: Any) -> Any:
        from .actions import REGISTRY

        if not isinstance(value, str):
            raise Invalid(f"must be an action name, got {type_name(value)}")
        if value not in REGISTRY:
            raise Invalid(f"unknown action {value!r}{suggest(value, sorted(REGISTRY))}")
        return value

    def convert(self, node: Node, r: Report, ctx: Ctx) -> Any:
        try:
            return self.check(node.value)
        except Invalid as exc:
            r.error(node, str(exc))
            return INVALID


class ParamsType(AnyValue):
    """An action's params: a mapping here; each action's declared Params check the values
    (the loader, with the action known)."""

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object"}

    def convert(self, node: Node, r: Report, ctx: Ctx) -> Any:
        if not node.is_map:
            r.error(node, f"{ctx} must be a mapping, got {type_name(node)}")
            return INVALID
        return node.plain()


class RegexType(Str):
    """A regular expression (the `regex` module's syntax, a superset of `re`'s)."""

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "string", "format": "regex"}

    def check(self, value: Any) -> Any:
        import regex

        super().check(value)
        try:
            regex.compile(value)
        except regex.error as exc:
            raise Invalid(f"is not a valid regex: {exc}") from None
        return value


def fullmatch_bounded(pattern: str, text: str, timeout: float = REGEX_TIMEOUT) -> bool:
    """`pattern` matches all of `text`, decided within `timeout` seconds (else Invalid)."""
    import regex

    try:
        return regex.fullmatch(pattern, text, timeout=timeout) is not None
    except TimeoutError:
        raise Invalid(
            f"regex {pattern!r} did not finish within {timeout:g}s on {len(text)} characters "
            "(catastrophic backtracking?): simplify the playbook's regex"
        ) from None


# --------------------------------------------------------------------- the records


@dataclass
class Input:
    """A typed input (`--input name=value`, or a wizard field)."""

    yaml_label: ClassVar[str] = "input"
    yaml_name_field: ClassVar[str] = "name"
    name: str = spec("", yaml=False)
    type: str = spec("string", type=Enum(INPUT_TYPES))
    required: bool = False
    default: Any = spec(None, doc="a value of the input's type")
    choices: list[str] = spec([], doc="for type: enum")
    regex: str | None = spec(None, type=RegexType(), doc="the whole value must match")
    secret: bool = spec(False, doc="never journaled, logged or shown")
    help: str = spec("", aliases=("description",))

    def coerce(self, raw: Any) -> Any:
        """A raw value (from --input k=v or YAML) as this input's type; raises Invalid."""
        t = self.type
        if isinstance(raw, str) and len(raw) > MAX_INPUT_CHARS:
            raise Invalid(f"is longer than {MAX_INPUT_CHARS} characters")
        if t == "int":
            if isinstance(raw, bool):
                raise Invalid(f"{raw!r} is not an integer")
            try:
                number = int(raw)
            except (TypeError, ValueError):  # includes Python's 4300-digit limit
                shown = raw if len(str(raw)) <= 40 else f"{str(raw)[:37]}..."
                raise Invalid(f"{shown!r} is not an integer") from None
            return Int(min=-(2**53), max=2**53).check(number)
        if t == "bool":
            if isinstance(raw, bool):
                return raw
            low = str(raw).strip().lower()
            if low in ("true", "yes", "1", "on"):
                return True
            if low in ("false", "no", "0", "off"):
                return False
            raise Invalid(f"{raw!r} is not true/false")
        if t == "duration":
            return parse_duration(raw)
        value = str(raw)
        if t == "enum" and value not in self.choices:
            raise Invalid(
                f"{value!r} is not one of {', '.join(self.choices)}{suggest(value, self.choices)}"
            )
        if self.regex and not fullmatch_bounded(self.regex, value):
            raise Invalid(f"{value!r} does not match {self.regex}")
        return value

    def yaml_check(self, r: Report) -> None:
        if self.type == "enum" and not self.choices:
            r.error(node_of(self), f"enum input {self.name!r} needs choices")
        if self.default is not None:
            try:
                self.default = self.coerce(self.default)
            except Invalid as exc:
                r.error(node_of(self, "default"), f"default of input {self.name!r}: {exc}")


@dataclass
class Retry:
    """Run the action again until it succeeds (and `until` holds)."""

    attempts: int = spec(3, type=Int(min=1, max=1000))
    delay: float = spec(1.0, type=Duration())
    until: Expr | None = spec(None, type=ExprType())


@dataclass
class Capture:
    """One named value taken from an action's result.

    `path` walks ActionResult.data (dots and [n]); `count` is len() of that path;
    `from` is one of rc | stdout | ok | changed | message (whole-result fields).
    A plain string is a path."""

    yaml_shorthand: ClassVar[str] = "path"
    yaml_name_field: ClassVar[str] = "name"
    name: str = spec("", yaml=False)
    path: str | None = None
    count: str | None = None
    from_: str | None = spec(None, key="from", type=Enum(CAPTURE_FROM))

    def yaml_check(self, r: Report) -> None:
        if sum(x is not None for x in (self.path, self.count, self.from_)) != 1:
            r.error(node_of(self), f"capture {self.name!r} needs exactly one of path, count, from")


@dataclass
class RateLimit:
    """At most `max` runs of steps with this key per `per`, per node (kept in the state dir)."""

    key: str = spec(doc="e.g. agent-restart")
    max: int = spec(3, type=Int(min=1, max=10_000))
    per: float = spec(1800.0, type=Duration(positive=True, max=30 * 86400.0))


@dataclass
class Rollback:
    """The compensating step offered (in reverse order) when a later step fails."""

    action: str = spec(type=ActionName())
    id: str | None = spec(None, type=ID)
    title: str = ""
    params: dict[str, Any] = spec({}, type=ParamsType())
    timeout: float = spec(DEFAULT_TIMEOUT, type=Duration(positive=True))


@dataclass
class Step:
    """One step: an action with its params, risk, conditions and failure handling."""

    yaml_label: ClassVar[str] = "step"
    yaml_label_key: ClassVar[str] = "id"
    id: str = spec(type=ID)
    action: str = spec(type=ActionName())
    title: str = ""
    phase: str = spec("remediate", doc="default: the playbook's second phase")
    params: dict[str, Any] = spec({}, type=ParamsType())
    mutates: bool = spec(False, doc="restates the action's own declaration")
    risk: str = spec("read", type=Enum(RISKS), doc="default: the action's")
    when: Expr | None = spec(None, type=ExprType())
    timeout: float = spec(DEFAULT_TIMEOUT, type=Duration(positive=True))
    retry: Retry | None = None
    capture: dict[str, Capture] = spec({}, type=MapOf(Record(Capture), key=CAPTURE_NAME))
    on_failure: str = spec("abort", type=Enum(ON_FAILURE))
    rollback: Rollback | None = None
    rate_limit: RateLimit | None = None
    explain: str = spec("", doc="Markdown shown to the operator (why this step)")
    # Set by the loader:
    undo: Step | None = spec(None, yaml=False)  # `rollback` as a runnable step
    where: Where | None = spec(None, yaml=False)
    # params whose values are {{ templates }}: converted by type once rendered
    templated: tuple[str, ...] = spec((), yaml=False)

    @property
    def label(self) -> str:
        return self.title or self.id

    @property
    def attempts(self) -> int:
        return self.retry.attempts if self.retry is not None else 1


@dataclass
class Playbook:
    """A ciliumtui playbook (a wizard): typed inputs, phases, steps."""

    yaml_label: ClassVar[str] = "playbook"
    id: str = spec(type=ID)
    steps: list[Step] = spec(type=ListOf(Record(Step), min_items=1))
    apiVersion: str | None = spec(None, type=Enum([API_VERSION]))  # noqa: N815 (the YAML key)
    kind: str | None = spec(None, type=Enum(["Playbook"]))
    version: int = spec(1, type=Int(min=1, max=1_000_000))
    title: str = ""
    description: str = ""
    tags: list[str] = spec([])
    phases: list[str] = spec(list(DEFAULT_PHASES), type=ListOf(ID, min_items=1))
    inputs: dict[str, Input] = spec({}, type=MapOf(Record(Input), key=INPUT_NAME))
    always: list[Step] = spec([], doc="steps run at the end, whatever happened")
    # Set by the loader:
    source: str = spec("", yaml=False)  # file path or "playbooks/<id>.yaml"
    sha256: str = spec("", yaml=False)  # of the file's bytes: resume is refused when it changed

    def all_steps(self) -> list[Step]:
        return [*self.steps, *self.always]

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.all_steps() if s.id == step_id), None)
