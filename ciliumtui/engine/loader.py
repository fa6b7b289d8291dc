"""Load and validate playbooks. Every error carries file:line:column.

    load_playbook(id_or_path) -> Playbook     # raises CiliumtuiError (first error)
    validate_file(path) -> list[str]          # all errors, "file:line:col: message"
    resolve_inputs(playbook, given, opts) -> dict   # --input k=v checked against `inputs:`
    builtin_ids() -> list[str]

YAML is composed into nodes first (yaml.compose with the safe loader) so each
key and value keeps its position; Python values are built from those nodes here.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from ..errors import CiliumtuiError
from . import expr as exprmod
from .actions import REGISTRY
from .actions.base import Action, Param, with_defaults
from .schema import (
    DEFAULT_PHASES,
    DEFAULT_TIMEOUT,
    INPUT_TYPES,
    ON_FAILURE,
    RISKS,
    Capture,
    Input,
    Playbook,
    RateLimit,
    Retry,
    Step,
    Where,
)

TOP_KEYS = (
    "apiVersion",
    "kind",
    "id",
    "version",
    "title",
    "description",
    "tags",
    "phases",
    "inputs",
    "steps",
    "always",
)
STEP_KEYS = (
    "id",
    "title",
    "phase",
    "action",
    "params",
    "mutates",
    "risk",
    "when",
    "timeout",
    "retry",
    "capture",
    "on_failure",
    "rollback",
    "rate_limit",
    "explain",
)
ROLLBACK_KEYS = ("id", "title", "action", "params", "timeout")
INPUT_KEYS = ("type", "required", "default", "choices", "regex", "secret", "help", "description")
RETRY_KEYS = ("attempts", "delay", "until")
CAPTURE_KEYS = ("path", "count", "from")
CAPTURE_FROM = ("rc", "stdout", "ok", "changed", "message")
RATE_KEYS = ("key", "max", "per")
# Names every expression may read besides inputs and captures.
BUILTIN_NAMES = (
    "run_id",
    "inputs",
    "node",
    "dry_run",
    "findings",
    "context",
    "true",
    "false",
    "True",
    "False",
    "None",
)
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


# ------------------------------------------------------------------ YAML with marks


@dataclass
class _Val:
    """A YAML value with where it starts."""

    value: Any  # python scalar, dict[str, tuple[_Val key, _Val]] or list[_Val]
    line: int
    col: int


class _Errors:
    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[str] = []

    def add(self, at: _Val | None, message: str) -> None:
        line, col = (at.line, at.col) if at is not None else (1, 1)
        self.items.append(f"{self.file}:{line}:{col}: {message}")


def _compose(text: str, file: str, errors: _Errors) -> _Val | None:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(x for x in (exc.context, exc.problem) if x) or "invalid YAML"
        errors.items.append(f"{file}:{line}:{col}: YAML syntax error: {what}")
        return None
    except yaml.YAMLError as exc:
        errors.items.append(
            f"{file}:1:1: YAML error: {str(exc).splitlines()[0] if str(exc) else exc}"
        )
        return None
    except RecursionError:
        errors.items.append(f"{file}:1:1: YAML nested too deeply")
        return None
    if node is None:
        errors.items.append(f"{file}:1:1: empty playbook")
        return None
    constructor = yaml.SafeLoader("")
    try:
        return _convert(node, constructor, errors, 0)
    except RecursionError:
        errors.items.append(f"{file}:1:1: YAML nested too deeply")
        return None


def _convert(node: yaml.Node, ctor: yaml.SafeLoader, errors: _Errors, depth: int) -> _Val:
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    if depth > 50:
        raise RecursionError
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, tuple[_Val, _Val]] = {}
        for knode, vnode in node.value:
            key = _convert(knode, ctor, errors, depth + 1)
            val = _convert(vnode, ctor, errors, depth + 1)
            if isinstance(key.value, (dict, list)):
                errors.add(key, "a mapping key must be a plain value")
                continue
            if key.value in out:
                errors.add(key, f"duplicate key {key.value!r}")
                continue
            out[key.value] = (key, val)
        return _Val(out, line, col)
    if isinstance(node, yaml.SequenceNode):
        return _Val([_convert(n, ctor, errors, depth + 1) for n in node.value], line, col)
    try:
        value = ctor.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        errors.items.append(f"{errors.file}:{line}:{col}: {getattr(exc, 'problem', None) or exc}")
        value = None
    except Exception as exc:  # constructors raise ValueError etc. on odd scalars (!!int x)
        errors.items.append(f"{errors.file}:{line}:{col}: cannot read value: {exc}")
        value = None
    return _Val(value, line, col)


def _plain(v: _Val) -> Any:
    """The python value without marks."""
    if isinstance(v.value, dict):
        return {k: _plain(val) for k, (_, val) in v.value.items()}
    if isinstance(v.value, list):
        return [_plain(x) for x in v.value]
    return v.value


# ----------------------------------------------------------------- field helpers


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"


def _suggest(word: Any, options: tuple[str, ...] | list[str]) -> str:
    match = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _mapping(
    v: _Val, what: str, errors: _Errors, keys: tuple[str, ...]
) -> dict[str, tuple[_Val, _Val]] | None:
    if not isinstance(v.value, dict):
        errors.add(v, f"{what} must be a mapping, got {_type_name(_plain(v))}")
        return None
    for key, (kv, _) in v.value.items():
        if key not in keys:
            errors.add(kv, f"unknown key {key!r} in {what}{_suggest(key, keys)}")
    return v.value


def _get(m: dict[str, tuple[_Val, _Val]], key: str) -> _Val | None:
    pair = m.get(key)
    return pair[1] if pair else None


def _str(v: _Val | None, what: str, errors: _Errors, default: str | None = None) -> str | None:
    if v is None:
        return default
    if not isinstance(v.value, str):
        errors.add(v, f"{what} must be a string, got {_type_name(_plain(v))}")
        return default
    return v.value


def _int(v: _Val | None, what: str, errors: _Errors, default: int) -> int:
    if v is None:
        return default
    if isinstance(v.value, bool) or not isinstance(v.value, int):
        errors.add(v, f"{what} must be an integer, got {_type_name(_plain(v))}")
        return default
    return v.value


def _bool(v: _Val | None, what: str, errors: _Errors, default: bool) -> bool:
    if v is None:
        return default
    if not isinstance(v.value, bool):
        errors.add(v, f"{what} must be true or false, got {_type_name(_plain(v))}")
        return default
    return v.value


def parse_duration(value: Any) -> float:
    """30 → 30 s; "30s", "2m", "1h", "500ms" → seconds. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("a duration, not a boolean")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            n = float(m.group(1))
            return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    raise ValueError(f"not a duration: {value!r} (use 30, '30s', '2m' or '1h')")


def _duration(v: _Val | None, what: str, errors: _Errors, default: float) -> float:
    if v is None:
        return default
    try:
        return parse_duration(v.value)
    except ValueError as exc:
        errors.add(v, f"{what}: {exc}")
        return default


def _expr(v: _Val | None, what: str, errors: _Errors, known: set[str]) -> exprmod.Expr | None:
    if v is None:
        return None
    if not isinstance(v.value, str):
        if isinstance(v.value, bool):  # `when: true` is fine
            return exprmod.parse(str(v.value))
        errors.add(v, f"{what} must be an expression string, got {_type_name(_plain(v))}")
        return None
    try:
        parsed = exprmod.parse(v.value)
    except exprmod.ExprError as exc:
        errors.add(v, f"bad expression in {what}: {exc}")
        return None
    _check_names(parsed, v, what, errors, known)
    return parsed


def _check_names(
    parsed: exprmod.Expr, v: _Val, what: str, errors: _Errors, known: set[str]
) -> None:
    for name in sorted(parsed.names()):
        if name not in known:
            errors.add(v, f"unknown name {name!r} in {what}{_suggest(name, sorted(known))}")


# -------------------------------------------------------------------- the parts


def _inputs(v: _Val | None, errors: _Errors) -> dict[str, Input]:
    out: dict[str, Input] = {}
    if v is None:
        return out
    if not isinstance(v.value, dict):
        errors.add(
            v, f"inputs must be a mapping of name: {{type: ...}}, got {_type_name(_plain(v))}"
        )
        return out
    for name, (kv, val) in v.value.items():
        if not isinstance(name, str) or not _ID_RE.match(name.replace("_", "-")):
            errors.add(kv, f"bad input name {name!r}")
            continue
        m = _mapping(val, f"input {name!r}", errors, INPUT_KEYS)
        if m is None:
            continue
        typ = _str(_get(m, "type"), "type", errors, "string") or "string"
        if typ not in INPUT_TYPES:
            errors.add(_get(m, "type"), f"unknown input type {typ!r}{_suggest(typ, INPUT_TYPES)}")
        choices_v = _get(m, "choices")
        choices = (
            [str(c) for c in _plain(choices_v)]
            if choices_v and isinstance(choices_v.value, list)
            else []
        )
        if typ == "enum" and not choices:
            errors.add(val, f"enum input {name!r} needs choices")
        default_v = _get(m, "default")
        inp = Input(
            name=name,
            type=typ,
            required=_bool(_get(m, "required"), "required", errors, False),
            default=_plain(default_v) if default_v else None,
            choices=choices,
            regex=_str(_get(m, "regex"), "regex", errors),
            secret=_bool(_get(m, "secret"), "secret", errors, False),
            help=_str(_get(m, "help") or _get(m, "description"), "help", errors, "") or "",
        )
        if inp.regex:
            try:
                re.compile(inp.regex)
            except re.error as exc:
                errors.add(_get(m, "regex"), f"bad regex: {exc}")
        if inp.default is not None:
            try:
                inp.default = coerce_input(inp, inp.default)
            except ValueError as exc:
                errors.add(default_v, f"default of input {name!r}: {exc}")
        out[name] = inp
    return out


def _check_params(
    cls: type[Action], v: _Val | None, step_id: str, errors: _Errors, known: set[str], at: _Val
) -> dict[str, Any]:
    if v is None:
        params_m: dict[str, tuple[_Val, _Val]] = {}
    else:
        got = _mapping(v, f"params of step {step_id!r}", errors, tuple(cls.params))
        if got is None:
            return {}
        params_m = got
    params: dict[str, Any] = {}
    for key, (_kv, val) in params_m.items():
        if key not in cls.params:
            continue  # reported by _mapping
        spec = cls.params[key]
        plain = _plain(val)
        if _templates(val, f"param {key!r}", errors, known):
            params[key] = plain
            continue
        problem = _param_type_problem(spec, plain)
        if problem:
            errors.add(val, f"param {key!r} of {cls.name}: {problem}")
            continue
        params[key] = plain
    for key, spec in cls.params.items():
        if spec.required and key not in params_m:
            errors.add(v or at, f"{cls.name} needs param {key!r}")
    full = with_defaults(cls, params)
    for key, message in cls.check_params(full):
        pair = params_m.get(key)
        errors.add(pair[1] if pair else (v or at), f"param {key!r} of {cls.name}: {message}")
    return params


def _templates(v: _Val, what: str, errors: _Errors, known: set[str]) -> bool:
    """Validate every {{ }} inside v (recursively); True when v itself is a template string."""
    if isinstance(v.value, dict):
        for _, (_, val) in v.value.items():
            _templates(val, what, errors, known)
        return False
    if isinstance(v.value, list):
        for x in v.value:
            _templates(x, what, errors, known)
        return False
    if not exprmod.has_template(v.value):
        return False
    try:
        parts = exprmod.split_template(v.value)
    except exprmod.ExprError as exc:
        errors.add(v, f"bad template in {what}: {exc}")
        return True
    for p in parts:
        if isinstance(p, exprmod.Expr):
            _check_names(p, v, what, errors, known)
    return True


def _param_type_problem(spec: Param, value: Any) -> str | None:
    t = spec.type
    if value is None:
        return None if not spec.required else "must be set"
    if t == "any":
        return None
    if t == "str" and not isinstance(value, str):
        return f"must be a string, got {_type_name(value)}"
    if t == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"must be an integer, got {_type_name(value)}"
    if t == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"must be a number, got {_type_name(value)}"
    if t == "bool" and not isinstance(value, bool):
        return f"must be true or false, got {_type_name(value)}"
    if t == "list" and not (
        isinstance(value, list) and all(isinstance(x, (str, int)) for x in value)
    ):
        return f"must be a list of strings, got {_type_name(value)}"
    if t == "map" and not isinstance(value, dict):
        return f"must be a mapping, got {_type_name(value)}"
    if t == "duration":
        try:
            parse_duration(value)
        except ValueError as exc:
            return str(exc)
    if spec.choices:
        vals = value if isinstance(value, list) else [value]
        for x in vals:
            if x not in spec.choices:
                return f"{x!r} is not one of {', '.join(spec.choices)}{_suggest(x, spec.choices)}"
    return None


def _action(v: _Val | None, step_id: str, errors: _Errors, at: _Val) -> type[Action] | None:
    name = _str(v, "action", errors)
    if v is None:
        errors.add(at, f"step {step_id!r} needs an action")
        return None
    if name is None:
        return None
    cls = REGISTRY.get(name)
    if cls is None:
        errors.add(v, f"unknown action {name!r}{_suggest(name, sorted(REGISTRY))}")
    return cls


class _StepParser:
    def __init__(self, errors: _Errors, phases: list[str], known: set[str]) -> None:
        self.errors = errors
        self.phases = phases
        self.known = known
        self.ids: dict[str, _Val] = {}

    def _id(self, v: _Val | None, at: _Val, fallback: str) -> str:
        sid = _str(v, "step id", self.errors)
        if v is None:
            self.errors.add(at, "step needs an id")
            return fallback
        if sid is None:
            return fallback
        if not _ID_RE.match(sid):
            self.errors.add(v, f"bad step id {sid!r}: use lower-case letters, digits, '-' and '_'")
        if sid in self.ids:
            first = self.ids[sid]
            self.errors.add(v, f"duplicate step id {sid!r} (first at line {first.line})")
        else:
            self.ids[sid] = v
        return sid

    def step(self, v: _Val, index: int, section: str) -> Step | None:
        e = self.errors
        m = _mapping(v, f"{section} step #{index + 1}", e, STEP_KEYS)
        if m is None:
            return None
        sid = self._id(_get(m, "id"), v, f"{section}-{index + 1}")
        cls = _action(_get(m, "action"), sid, e, v)
        params = _check_params(cls, _get(m, "params"), sid, e, self.known, v) if cls else {}
        mutates = cls.mutates if cls else False
        mv = _get(m, "mutates")
        declared = _bool(mv, "mutates", e, mutates)
        if cls and mv is not None and declared != mutates:
            e.add(
                mv,
                f"step {sid!r} says mutates: {str(declared).lower()} but action {cls.name} "
                f"{'changes' if mutates else 'does not change'} the node/cluster",
            )
        rv = _get(m, "risk")
        risk = _str(rv, "risk", e) or (cls.default_risk if cls else "read")
        if risk not in RISKS:
            e.add(
                rv, f"unknown risk {risk!r}{_suggest(risk, RISKS)} (read, low, high, destructive)"
            )
            risk = "high"
        if mutates and risk == "read":
            e.add(
                rv or v,
                f"step {sid!r} mutates, so its risk cannot be 'read' (low, high or destructive)",
            )
        if not mutates and risk != "read":
            e.add(rv, f"step {sid!r} only reads, so its risk must be 'read'")
        phase = _str(_get(m, "phase"), "phase", e, self.phases[min(1, len(self.phases) - 1)])
        if phase not in self.phases:
            e.add(_get(m, "phase") or v, f"unknown phase {phase!r}{_suggest(phase, self.phases)}")
        step = Step(
            id=sid,
            action=cls.name
            if cls
            else str(_plain(_get(m, "action")) if _get(m, "action") else "?"),
            title=_str(_get(m, "title"), "title", e, "") or "",
            phase=phase or "remediate",
            params=params,
            mutates=mutates,
            risk=risk,
            when=_expr(_get(m, "when"), f"when of step {sid!r}", e, self.known),
            timeout=_duration(_get(m, "timeout"), "timeout", e, DEFAULT_TIMEOUT),
            on_failure=_str(_get(m, "on_failure"), "on_failure", e, "abort") or "abort",
            explain=_str(_get(m, "explain"), "explain", e, "") or "",
            where=Where(e.file, v.line, v.col),
        )
        if step.on_failure not in ON_FAILURE:
            e.add(
                _get(m, "on_failure"),
                f"unknown on_failure {step.on_failure!r}{_suggest(step.on_failure, ON_FAILURE)} (abort, continue, rollback)",
            )
        step.retry = self._retry(_get(m, "retry"), sid)
        step.capture = self._captures(_get(m, "capture"))
        step.rate_limit = self._rate(_get(m, "rate_limit"))
        rb = _get(m, "rollback")
        if rb is not None:
            step.rollback = self._rollback(rb, sid)
        return step

    def _retry(self, v: _Val | None, sid: str) -> Retry:
        if v is None:
            return Retry()
        m = _mapping(v, "retry", self.errors, RETRY_KEYS)
        if m is None:
            return Retry()
        r = Retry(
            attempts=_int(_get(m, "attempts"), "retry.attempts", self.errors, 3),
            delay=_duration(_get(m, "delay"), "retry.delay", self.errors, 1.0),
            until=_expr(_get(m, "until"), f"until of step {sid!r}", self.errors, self.known),
        )
        if not 1 <= r.attempts <= 1000:
            self.errors.add(_get(m, "attempts"), "retry.attempts must be between 1 and 1000")
        return r

    def _captures(self, v: _Val | None) -> list[Capture]:
        if v is None:
            return []
        if not isinstance(v.value, dict):
            self.errors.add(
                v, f"capture must be a mapping of name: {{path: ...}}, got {_type_name(_plain(v))}"
            )
            return []
        out = []
        for name, (kv, val) in v.value.items():
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
                self.errors.add(kv, f"capture name {name!r} must be an identifier")
                continue
            if isinstance(val.value, str):  # shorthand: `pods: data.pods` is a path
                out.append(Capture(name, path=val.value))
                continue
            m = _mapping(val, f"capture {name!r}", self.errors, CAPTURE_KEYS)
            if m is None:
                continue
            cap = Capture(
                name,
                path=_str(_get(m, "path"), "path", self.errors),
                count=_str(_get(m, "count"), "count", self.errors),
                from_=_str(_get(m, "from"), "from", self.errors),
            )
            if sum(x is not None for x in (cap.path, cap.count, cap.from_)) != 1:
                self.errors.add(val, f"capture {name!r} needs exactly one of path, count, from")
            if cap.from_ is not None and cap.from_ not in CAPTURE_FROM:
                self.errors.add(
                    _get(m, "from"),
                    f"capture from {cap.from_!r} is not one of {', '.join(CAPTURE_FROM)}",
                )
            out.append(cap)
        return out

    def _rate(self, v: _Val | None) -> RateLimit | None:
        if v is None:
            return None
        m = _mapping(v, "rate_limit", self.errors, RATE_KEYS)
        if m is None:
            return None
        key = _str(_get(m, "key"), "rate_limit.key", self.errors)
        if not key:
            self.errors.add(v, "rate_limit needs a key (e.g. agent-restart)")
        return RateLimit(
            key=key or "?",
            max=_int(_get(m, "max"), "rate_limit.max", self.errors, 3),
            per=_duration(_get(m, "per"), "rate_limit.per", self.errors, 1800.0),
        )

    def _rollback(self, v: _Val, sid: str) -> Step | None:
        m = _mapping(v, f"rollback of step {sid!r}", self.errors, ROLLBACK_KEYS)
        if m is None:
            return None
        rid = self._id(_get(m, "id"), v, f"{sid}-rollback") if _get(m, "id") else f"{sid}-rollback"
        cls = _action(_get(m, "action"), rid, self.errors, v)
        if cls is None:
            return None
        return Step(
            id=rid,
            action=cls.name,
            title=_str(_get(m, "title"), "title", self.errors, "") or f"Roll back {sid}",
            phase="rollback",
            params=_check_params(cls, _get(m, "params"), rid, self.errors, self.known, v),
            mutates=cls.mutates,
            risk=cls.default_risk,
            timeout=_duration(_get(m, "timeout"), "timeout", self.errors, DEFAULT_TIMEOUT),
            where=Where(self.errors.file, v.line, v.col),
        )


def _capture_names(steps_v: list[_Val]) -> set[str]:
    names: set[str] = set()
    for sv in steps_v:
        if isinstance(sv.value, dict):
            cap = _get(sv.value, "capture")
            if cap is not None and isinstance(cap.value, dict):
                names.update(k for k in cap.value if isinstance(k, str))
    return names


def parse_playbook(text: str, file: str) -> tuple[Playbook | None, list[str]]:
    """Parse a playbook's text; returns (playbook or None, errors)."""
    errors = _Errors(file)
    root = _compose(text, file, errors)
    if root is None:
        return None, errors.items
    top = _mapping(root, "playbook", errors, TOP_KEYS)
    if top is None:
        return None, errors.items
    pid_v = _get(top, "id")
    pid = _str(pid_v, "id", errors)
    if pid_v is None:
        errors.add(root, "playbook needs an id")
    elif pid and not _ID_RE.match(pid):
        errors.add(pid_v, f"bad playbook id {pid!r}")
    phases_v = _get(top, "phases")
    phases = list(DEFAULT_PHASES)
    if phases_v is not None:
        raw = _plain(phases_v)
        if not (isinstance(raw, list) and raw and all(isinstance(p, str) for p in raw)):
            errors.add(phases_v, "phases must be a non-empty list of names")
        else:
            phases = raw
    inputs = _inputs(_get(top, "inputs"), errors)
    steps_v = _get(top, "steps")
    always_v = _get(top, "always")
    lists: dict[str, list[_Val]] = {}
    for name, sv in (("steps", steps_v), ("always", always_v)):
        if sv is None:
            lists[name] = []
        elif not isinstance(sv.value, list):
            errors.add(sv, f"{name} must be a list of steps, got {_type_name(_plain(sv))}")
            lists[name] = []
        else:
            lists[name] = sv.value
    if steps_v is None:
        errors.add(root, "playbook needs steps")
    elif not lists["steps"] and isinstance(steps_v.value, list):
        errors.add(steps_v, "steps is empty")
    known = set(BUILTIN_NAMES) | _capture_names(lists["steps"] + lists["always"])
    parser = _StepParser(errors, phases + (["always"] if "always" not in phases else []), known)
    steps = [s for i, sv in enumerate(lists["steps"]) if (s := parser.step(sv, i, "steps"))]
    always = [s for i, sv in enumerate(lists["always"]) if (s := parser.step(sv, i, "always"))]
    # Phases run in order: a step may not go back to an earlier phase.
    order = {p: i for i, p in enumerate(parser.phases)}
    last = 0
    for s in steps:
        rank = order.get(s.phase, last)
        if rank < last:
            errors.items.append(
                f"{s.where}: step {s.id!r} is in phase {s.phase!r} after a later phase "
                f"(phases run in order: {', '.join(phases)})"
            )
        last = max(last, rank)
    for s in always:
        if s.phase not in order or s.phase == "remediate":
            s.phase = "always"
    version = _int(_get(top, "version"), "version", errors, 1)
    pb = Playbook(
        id=pid or "?",
        title=_str(_get(top, "title"), "title", errors, "") or (pid or ""),
        source=file,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        version=version,
        description=_str(_get(top, "description"), "description", errors, "") or "",
        phases=phases,
        inputs=inputs,
        steps=steps,
        always=always,
    )
    return (pb if not errors.items else None), errors.items


# ----------------------------------------------------------------------- entry points


def builtin_ids() -> list[str]:
    root = files("ciliumtui.playbooks")
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def _read(id_or_path: str) -> tuple[str, str]:
    """(text, display name) of a built-in id or a file path."""
    looks_like_path = "/" in id_or_path or id_or_path.endswith((".yaml", ".yml"))
    if not looks_like_path:
        res = files("ciliumtui.playbooks") / f"{id_or_path}.yaml"
        if res.is_file():
            return res.read_text(encoding="utf-8"), f"playbooks/{id_or_path}.yaml"
        hint = _suggest(id_or_path, builtin_ids())
        raise CiliumtuiError(
            f"no playbook {id_or_path!r}{hint}; built-in: {', '.join(builtin_ids())} (or give a file path)"
        )
    path = Path(id_or_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CiliumtuiError(f"{id_or_path}: no such file") from None
    except IsADirectoryError:
        raise CiliumtuiError(f"{id_or_path}: is a directory") from None
    except OSError as exc:
        raise CiliumtuiError(f"{id_or_path}: cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8"), id_or_path
    except UnicodeDecodeError as exc:
        raise CiliumtuiError(f"{id_or_path}:1:1: not UTF-8 text (byte {exc.start})") from None


def validate_text(text: str, file: str) -> list[str]:
    try:
        return parse_playbook(text, file)[1]
    except RecursionError:
        return [f"{file}:1:1: playbook nested too deeply"]


def validate_file(path: str) -> list[str]:
    """All errors of one playbook file (or built-in id), each `file:line:col: message`."""
    try:
        text, name = _read(path)
    except CiliumtuiError as exc:
        msg = str(exc)
        return [msg if re.match(r"^.+:\d+:\d+: ", msg) else f"{path}:1:1: {msg.split(': ', 1)[-1]}"]
    return validate_text(text, name)


def load_playbook(id_or_path: str) -> Playbook:
    """A validated Playbook, or CiliumtuiError naming the first error's file:line:col."""
    text, name = _read(id_or_path)
    try:
        pb, errors = parse_playbook(text, name)
    except RecursionError:
        raise CiliumtuiError(f"{name}:1:1: playbook nested too deeply") from None
    if errors or pb is None:
        more = (
            f" (+{len(errors) - 1} more; see `ciliumtui playbooks validate`)"
            if len(errors) > 1
            else ""
        )
        raise CiliumtuiError(f"{errors[0]}{more}")
    return pb


# ---------------------------------------------------------------------------- inputs


def coerce_input(inp: Input, raw: Any) -> Any:
    """A raw value (from --input k=v or YAML) as the input's type; ValueError if it is not."""
    t = inp.type
    if t == "int":
        if isinstance(raw, bool):
            raise ValueError(f"{raw!r} is not an integer")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{raw!r} is not an integer") from None
    if t == "bool":
        if isinstance(raw, bool):
            return raw
        low = str(raw).strip().lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise ValueError(f"{raw!r} is not true/false")
    if t == "duration":
        return parse_duration(raw)
    value = str(raw)
    if t == "enum" and value not in inp.choices:
        raise ValueError(
            f"{value!r} is not one of {', '.join(inp.choices)}{_suggest(value, inp.choices)}"
        )
    if inp.regex and not re.fullmatch(inp.regex, value):
        raise ValueError(f"{value!r} does not match {inp.regex}")
    return value


def resolve_inputs(
    playbook: Playbook, given: dict[str, str], node_name: str | None = None
) -> dict[str, Any]:
    """The inputs for a run: given values (typed), defaults, `node` inputs default to this node."""
    out: dict[str, Any] = {}
    for key in given:
        if key not in playbook.inputs:
            known = ", ".join(playbook.inputs) or "none"
            raise CiliumtuiError(
                f"playbook {playbook.id} has no input {key!r}{_suggest(key, list(playbook.inputs))} (inputs: {known})"
            )
    for name, inp in playbook.inputs.items():
        if name in given:
            try:
                out[name] = coerce_input(inp, given[name])
            except ValueError as exc:
                raise CiliumtuiError(f"--input {name}: {exc}") from None
        elif inp.default is not None:
            out[name] = inp.default
        elif inp.type == "node" and node_name:
            out[name] = node_name
        elif inp.required:
            raise CiliumtuiError(
                f"{playbook.source}: missing required input {name!r}: pass --input {name}=VALUE"
                + (f" ({inp.help})" if inp.help else "")
            )
        else:
            out[name] = None
    return out


def parse_input_args(pairs: list[str]) -> dict[str, str]:
    """`--input k=v` strings → dict; a malformed pair is a usage error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CiliumtuiError(f"--input {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out
