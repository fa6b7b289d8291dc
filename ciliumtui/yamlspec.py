"""Declare a YAML format once, as typed dataclasses: validation (file:line:col),
conversion and the JSON Schema for editors all derive from that one declaration.

    @dataclass
    class Retry:
        yaml_label: ClassVar[str] = "retry"
        attempts: int = spec(3, type=Int(min=1, max=1000))
        delay: float = spec(1.0, type=Duration())

    report = Report("pb.yaml")
    retry = convert(Retry, safeyaml.compose(text, "pb.yaml"), report)   # INVALID on errors
    report.errors   # ["pb.yaml:3:12: attempts of retry must be between 1 and 1000, got 0"]
    json_schema(Retry)

A field's YAML type is inferred from its annotation (str, int, float, bool, Any,
list[X], dict[str, X], Literal[...], X | None, unions, nested dataclasses) or given
with `spec(type=...)` (bounds, patterns, durations, enums, custom types). Unknown
keys are errors at every depth, with "did you mean". A record class may declare:

- `yaml_label` / `yaml_label_key`: how its instances are named in messages
  ("step 'purge-iptables'", else "step #2 of steps");
- `yaml_shorthand`: a scalar stands for `{that field: scalar}`;
- `yaml_name_field`: in a `dict[str, Record]`, the attribute that receives the key;
- `yaml_check(self, report)`: cross-field rules, located with `node_of(self, field)`.

Every converted record remembers its nodes (`node_of`), so later semantic checks
(the playbook loader's name and action checks) still point at file:line:col.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import MISSING, dataclass
from typing import Any, Literal, Union, get_args, get_origin

from .safeyaml import Node, type_name


class _Invalid:
    """What a conversion returns after reporting an error (the caller keeps going)."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


class Invalid(ValueError):
    """A value problem without a position: "must be a string, got int 3"."""


class Report:
    """Errors of one file, each `file:line:col: message`, in the order found."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[str] = []

    def error(self, at: Node | None, message: str) -> None:
        line, col = (at.line, at.col) if at is not None else (1, 1)
        self.errors.append(f"{self.file}:{line}:{col}: {message}")

    @property
    def ok(self) -> bool:
        return not self.errors


def suggest(word: Any, options: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" for a close match, else ""."""
    match = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


@dataclass(frozen=True)
class Ctx:
    """Where a value sits, for messages: its owner ("step 'a'") and path ("retry.delay")."""

    owner: str | None = None
    path: str = ""

    def child(self, key: str) -> Ctx:
        return Ctx(self.owner, f"{self.path}.{key}" if self.path else key)

    def item(self, index: int) -> Ctx:
        return Ctx(self.owner, f"{self.path}[{index}]")

    def __str__(self) -> str:
        if self.path and self.owner:
            return f"{self.path} of {self.owner}"
        return self.path or self.owner or "document"


# ---------------------------------------------------------------------------- types


class Type:
    """A kind of YAML value: how it is checked, converted and described in JSON Schema."""

    def describe(self) -> str:
        return "a value"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {}

    def check(self, value: Any) -> Any:
        """A plain scalar value → the converted value; raises Invalid("must …")."""
        return value

    def convert(self, node: Node, r: Report, ctx: Ctx) -> Any:
        if not node.is_scalar:
            r.error(node, f"{ctx} must be {self.describe()}, got {type_name(node)}")
            return INVALID
        try:
            return self.check(node.value)
        except Invalid as exc:
            r.error(node, f"{ctx} {exc}")
            return INVALID

    def coerce(self, value: Any, what: str = "value") -> Any:
        """Check and convert a plain Python value (e.g. a rendered template); raises Invalid."""
        r = Report("")
        out = self.convert(node_from(value), r, Ctx(path=what))
        if r.errors:
            raise Invalid(r.errors[0].split(": ", 1)[1])
        return out


def node_from(value: Any, line: int = 0, col: int = 0) -> Node:
    """A Node tree for a plain value (no position), so plain values convert like YAML."""
    if isinstance(value, dict):
        pairs = {k: (Node(k, line, col, "k"), node_from(v, line, col)) for k, v in value.items()}
        return Node(pairs, line, col, "map")
    if isinstance(value, (list, tuple)):
        return Node([node_from(v, line, col) for v in value], line, col, "seq")
    return Node(value, line, col, "scalar")


class AnyValue(Type):
    """Anything (free-form maps such as a ConfigMap's data); converted to plain values."""

    def __init__(self, doc: str = "") -> None:
        self.doc = doc

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"description": self.doc} if self.doc else {}

    def convert(self, node: Node, r: Report, ctx: Ctx) -> Any:
        return node.plain()


class Str(Type):
    def __init__(self, pattern: str | None = None, hint: str = "", max_len: int | None = None):
        self.pattern = pattern
        self.regex = re.compile(pattern) if pattern else None
        self.hint = hint
        self.max_len = max_len

    def describe(self) -> str:
        return "a string"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string"}
        if self.pattern:
            out["pattern"] = self.pattern
        if self.max_len:
            out["maxLength"] = self.max_len
        return out

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise Invalid(f"must be a string, got {type_name(value)}")
        if self.max_len is not None and len(value) > self.max_len:
            raise Invalid(f"must be at most {self.max_len} characters long")
        if self.regex is not None and not self.regex.match(value):
            want = self.hint or f"match {self.pattern}"
            raise Invalid(f"must {want}, got {type_name(value)}")
        return value


def _bounds(value: float, lo: float | None, hi: float | None, unit: str = "") -> None:
    if lo is not None and hi is not None and not lo <= value <= hi:
        raise Invalid(f"must be between {lo:g}{unit} and {hi:g}{unit}, got {value:g}")
    if lo is not None and value < lo:
        raise Invalid(f"must be at least {lo:g}{unit}, got {value:g}")
    if hi is not None and value > hi:
        raise Invalid(f"must be at most {hi:g}{unit}, got {value:g}")


class _Bounded(Type):
    """A number type with optional inclusive bounds, which the JSON Schema states too."""

    json_type = "number"

    def __init__(self, min: float | None = None, max: float | None = None) -> None:
        self.min, self.max = min, max

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.json_type}
        if self.min is not None:
            out["minimum"] = self.min
        if self.max is not None:
            out["maximum"] = self.max
        return out


class Int(_Bounded):
    json_type = "integer"

    # No unbounded integers: a 4000-digit `max_pods` is an error, not a slow stringification.
    def __init__(self, min: int | None = None, max: int | None = 2**53) -> None:
        super().__init__(min, max)

    def describe(self) -> str:
        return "an integer"

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be an integer, got {type_name(value)}")
        if (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        ):
            if self.min is not None and self.max is not None:
                want = f"between {self.min} and {self.max}"
            else:
                want = f"at least {self.min}" if self.min is not None else f"at most {self.max}"
            shown = value if abs(value) < 10**30 else f"a {len(str(abs(value)))}-digit number"
            raise Invalid(f"must be {want}, got {shown}")
        return value


class Number(_Bounded):
    """A finite number (int or float). `.nan` and `.inf` are errors."""

    def describe(self) -> str:
        return "a number"

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid(f"must be a number, got {type_name(value)}")
        try:
            f = float(value)
        except OverflowError:
            raise Invalid("must be a number of sensible size") from None
        if not math.isfinite(f):
            raise Invalid(f"must be a finite number, got {value}")
        _bounds(f, self.min, self.max)
        return value


class Bool(Type):
    def describe(self) -> str:
        return "true or false"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "boolean"}

    def check(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise Invalid(f"must be true or false, got {type_name(value)}")
        return value


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"
WEEK = 7 * 86400.0


def parse_duration(value: Any) -> float:
    """30 → 30.0 s; "30s", "2m", "1h", "1d", "500ms" → seconds. Raises Invalid."""
    if isinstance(value, bool):
        raise Invalid(f"must be a duration (30, '30s', '2m', '1h'), got {type_name(value)}")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            raise Invalid("must be a duration of sensible size") from None
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise Invalid(f"must be a duration (30, '30s', '2m', '1h'), got {type_name(value)}")
    if not math.isfinite(seconds):
        raise Invalid(f"must be a finite duration, got {value}")
    if seconds < 0:
        raise Invalid(f"cannot be negative, got {value}")
    return seconds


class Duration(Type):
    """Seconds as a float. Bounded above: asyncio's timers overflow on huge values, and a
    step that may wait a week is a typo."""

    def __init__(self, min: float = 0.0, max: float = WEEK, positive: bool = False) -> None:
        self.min, self.max, self.positive = min, max, positive

    def describe(self) -> str:
        return "a duration"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        exclusive = {"exclusiveMinimum": 0} if self.positive else {"minimum": self.min}
        return {
            "oneOf": [
                {"type": "number", **exclusive, "maximum": self.max},
                {"type": "string", "pattern": DURATION_PATTERN},
            ],
            "description": "seconds, or a number with ms, s, m, h or d",
        }

    def check(self, value: Any) -> Any:
        seconds = parse_duration(value)
        if self.positive and seconds <= 0:
            raise Invalid(f"must be more than 0, got {value}")
        _bounds(seconds, self.min, self.max, " s")
        return seconds


class Enum(Type):
    def __init__(self, choices: Iterable[str], hint: str = "") -> None:
        self.choices = tuple(choices)
        self.hint = hint

    def describe(self) -> str:
        return f"one of {', '.join(self.choices)}"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        if len(self.choices) == 1:
            return {"const": self.choices[0]}
        return {"enum": list(self.choices)}

    def check(self, value: Any) -> Any:
        # YAML reads `apiserver: 500` as an int; the choice is the text "500".
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str) or text not in self.choices:
            hint = f" ({self.hint})" if self.hint else ""
            raise Invalid(
                f"must be one of {', '.join(self.choices)}, got {type_name(value)}"
                f"{suggest(value, self.choices)}{hint}"
            )
        return text


class ListOf(Type):
    def __init__(self, item: Type, min_items: int = 0, max_items: int | None = None) -> None:
        self.item, self.min_items, self.max_items = item, min_items, max_items

    def describe(self) -> str:
        return "a list"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array", "items": self.item.schema(defs)}
        if self.min_items:
            out["minItems"] = self.min_items
        if self.max_items is not None:
            out["maxItems"] = self.max_items
        return out

    def convert(self, node: Node, r: Report, ctx: Ctx) -> Any:
        if not node.is_seq:
            r.error(node, f"{ctx} must be a list, got {type_name(node)}")
            return INVALID
        if len(node.value) < self.min_items:
            r.error(
                node,
                f"{ctx} must not be empty"
                if self.min_items == 1
                else f"{ctx} needs at least {self.min_items} items",
            )
        if self.max_items is not None and len(node.value) > self.max_items:
            r.error(node, f"{ctx} has more than {self.max_items} items")
        out = []
        bad = False
        for i, x in enumerate(node.value):
            if isinstance(self.item, Record):
                # A broken record is left out and the others still checked (more errors
                # reported at once); a broken scalar makes the whole list invalid, so no
                # later rule sees a list shorter than the one written.
                v = self.item.convert_item(x, r, ctx, i)
            else:
                v = self.item.convert(x, r, ctx.item(i))
                bad = bad or v is INVALID
            if v is not INVALID:
                out.append(v)
        return INVALID if bad else out


class MapOf(Type):
    """A mapping of names (checked with `key`) to values of one type."""

    def __init__(self, value: Type, key: Str | None = None, label: str = "") -> None:
        self.value, self.key, self.label = value, key or Str(), label

    def describe(self) -> str:
        return "a mapping"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object", "additionalProperties": self.value.schema(defs)}
        if self.key.pattern:
            out["propertyNames"] = {"pattern": self.key.pattern}
        return out

    def convert(self, node: Node, r: Report, ctx: Ctx) -> Any:
        if not node.is_map:
            r.error(node, f"{ctx} must be a mapping, got {type_name(node)}")
            return INVALID
        out: dict[str, Any] = {}
        for knode, vnode in node.items():
            try:
                name = self.key.check(knode.value)
            except Invalid as exc:
                r.error(knode, f"key of {ctx} {exc}")
                continue
            if isinstance(self.value, Record):
                v = self.value.convert_named(vnode, r, ctx, name)
            else:
                v = self.value.convert(vnode, r, ctx.child(str(name)))
            if v is not INVALID:
                out[name] = v
        return out


class OneOf(Type):
    """One of several shapes; the node's shape (mapping, list, scalar) picks the candidates."""

    def __init__(self, *alts: Type) -> None:
        self.alts = alts

    def describe(self) -> str:
        return " or ".join(a.describe() for a in self.alts)

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"anyOf": [a.schema(defs) for a in self.alts]}

    @staticmethod
    def _shape(t: Type) -> str:
        if isinstance(t, (Record, MapOf)):
            return "map"
        if isinstance(t, ListOf):
            return "seq"
        if isinstance(t, AnyValue):
            return "any"
        return "scalar"

    def convert(self, node: Node, r: Report, ctx: Ctx) -> Any:
        shape = "map" if node.is_map else "seq" if node.is_seq else "scalar"
        fits = [a for a in self.alts if self._shape(a) in (shape, "any")]
        last: list[str] = []
        for alt in fits:
            trial = Report(r.file)
            value = alt.convert(node, trial, ctx)
            if trial.ok:
                return value
            last = trial.errors
            if shape != "scalar":  # a mapping or list: the one candidate's errors are the news
                r.errors.extend(last)
                return INVALID
        if len(fits) == 1 and last:
            r.errors.extend(last)
        else:
            r.error(node, f"{ctx} must be {self.describe()}, got {type_name(node)}")
        return INVALID


# -------------------------------------------------------------------------- records


@dataclass(frozen=True)
class FieldInfo:
    type: Type | None = None
    key: str | None = None
    aliases: tuple[str, ...] = ()
    doc: str = ""
    yaml: bool = True


def spec(
    default: Any = MISSING,
    *,
    type: Type | None = None,
    key: str | None = None,
    aliases: tuple[str, ...] = (),
    doc: str = "",
    yaml: bool = True,
) -> Any:
    """A dataclass field with its YAML declaration (a list/dict default is copied per instance)."""
    meta = {"yamlspec": FieldInfo(type, key, aliases, doc, yaml)}
    if isinstance(default, (list, dict)):
        value = default
        return dataclasses.field(default_factory=lambda: type_copy(value), metadata=meta)
    if default is MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def type_copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else dict(value)


@dataclass(frozen=True)
class FieldSpec:
    name: str  # the Python attribute
    key: str  # the YAML key
    aliases: tuple[str, ...]
    type: Type
    required: bool
    optional: bool  # null is allowed (the annotation says `| None`)
    doc: str


def infer(tp: Any) -> tuple[Type, bool]:
    """(YAML type, null allowed) from a resolved annotation."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        optional = len(args) < len(get_args(tp))
        if len(args) == 1:
            return infer(args[0])[0], optional
        return OneOf(*(infer(a)[0] for a in args)), optional
    if tp is Any:
        return AnyValue(), True
    if tp is str:
        return Str(), False
    if tp is bool:
        return Bool(), False
    if tp is int:
        return Int(), False
    if tp is float:
        return Number(), False
    if origin is list:
        return ListOf(infer(get_args(tp)[0])[0]), False
    if origin is dict:
        return MapOf(infer(get_args(tp)[1])[0]), False
    if origin is Literal:
        return Enum(str(a) for a in get_args(tp)), False
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return Record(tp), False
    raise TypeError(f"yamlspec: no YAML type for annotation {tp!r}: give spec(type=...)")


_FIELDS: dict[type, list[FieldSpec]] = {}


def fields_of(cls: type) -> list[FieldSpec]:
    """The YAML fields of a record class (cached)."""
    if cls in _FIELDS:
        return _FIELDS[cls]
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        info = f.metadata.get("yamlspec", FieldInfo())
        if not info.yaml:
            continue
        inferred, optional = infer(hints[f.name])
        required = f.default is MISSING and f.default_factory is MISSING
        out.append(
            FieldSpec(
                name=f.name,
                key=info.key or f.name,
                aliases=info.aliases,
                type=info.type or inferred,
                required=required,
                optional=optional,
                doc=info.doc,
            )
        )
    _FIELDS[cls] = out
    return out


class Record(Type):
    """A mapping with declared keys: a dataclass."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    @property
    def label(self) -> str | None:
        return getattr(self.cls, "yaml_label", None)

    def describe(self) -> str:
        return "a mapping"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        name = self.cls.__name__
        if name not in defs:
            defs[name] = {}  # placeholder: records may nest themselves
            defs[name] = self.body(defs)
        return {"$ref": f"#/$defs/{name}"}

    def body(self, defs: dict[str, Any]) -> dict[str, Any]:
        props: dict[str, Any] = {}
        required = []
        for f in fields_of(self.cls):
            s = dict(f.type.schema(defs))
            if f.doc and "description" not in s:
                s["description"] = f.doc
            if f.optional and s:
                s = {"anyOf": [s, {"type": "null"}]}
            props[f.key] = s
            for alias in f.aliases:
                props[alias] = s
            if f.required:
                required.append(f.key)
        out: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "properties": props,
        }
        if required:
            out["required"] = required
        doc = (self.cls.__doc__ or "").strip().split("\n\n")[0]
        if doc:
            out["description"] = " ".join(doc.split())
        short = getattr(self.cls, "yaml_shorthand", None)
        if short:
            field = next(f for f in fields_of(self.cls) if f.name == short)
            return {"anyOf": [field.type.schema(defs), out]}
        return out

    def _owner(self, node: Node, fallback: str) -> str:
        """ "step 'purge-iptables'" when the item names itself validly, else the fallback."""
        label = self.label or ""
        key = getattr(self.cls, "yaml_label_key", None)
        field = next((f for f in fields_of(self.cls) if f.key == key), None)
        named = node.get(key) if key and node.is_map else None
        if field is not None and named is not None and named.value:
            try:
                field.type.check(named.value)
            except Invalid:
                return fallback
            return f"{label} {named.value!r}"
        return fallback

    def convert_item(self, node: Node, r: Report, ctx: Ctx, index: int) -> Any:
        """The `index`th item of the list at `ctx`."""
        if self.label:
            fallback = f"{self.label} #{index + 1} of {ctx.path or 'the list'}"
            return self.convert_record(node, r, Ctx(self._owner(node, fallback)))
        return self.convert_record(node, r, ctx.item(index))

    def convert_named(self, node: Node, r: Report, ctx: Ctx, name: str) -> Any:
        """The value at `name` in the mapping at `ctx`."""
        if self.label:
            return self.convert_record(node, r, Ctx(f"{self.label} {name!r}"), name=name)
        return self.convert_record(node, r, ctx.child(name), name=name)

    def convert(self, node: Node, r: Report, ctx: Ctx) -> Any:
        return self.convert_record(node, r, ctx)

    def convert_record(self, node: Node, r: Report, ctx: Ctx, name: str | None = None) -> Any:
        specs = fields_of(self.cls)
        desc = str(ctx) if (ctx.owner or ctx.path) else (self.label or "document")
        short = getattr(self.cls, "yaml_shorthand", None)
        if short and not node.is_map:
            key = next(f.key for f in specs if f.name == short)
            node = Node(
                {key: (Node(key, node.line, node.col, "k"), node)}, node.line, node.col, "map"
            )
        if not node.is_map:
            r.error(node, f"{desc} must be a mapping, got {type_name(node)}")
            return INVALID
        by_key: dict[str, FieldSpec] = {}
        for f in specs:
            by_key[f.key] = f
            for alias in f.aliases:
                by_key[alias] = f
        values: dict[str, Any] = {}
        marks: dict[str, tuple[Node, Node]] = {}  # the fields given AND valid
        seen: set[str] = set()
        failed: set[str] = set()
        for knode, vnode in node.items():
            found = by_key.get(knode.value) if isinstance(knode.value, str) else None
            if found is None:
                keys = [k for k in by_key if k not in {a for x in specs for a in x.aliases}]
                r.error(knode, f"unknown key {knode.value!r} in {desc}{suggest(knode.value, keys)}")
                continue
            f = found
            if f.name in seen:
                r.error(knode, f"{desc}: {knode.value!r} repeats {f.key!r}")
                continue
            seen.add(f.name)
            if vnode.value is None and f.optional:
                values[f.name] = None
                marks[f.name] = (knode, vnode)
                continue
            value = f.type.convert(vnode, r, ctx.child(f.key))
            if value is INVALID:
                failed.add(f.name)
            else:
                values[f.name] = value
                marks[f.name] = (knode, vnode)
        missing = [f for f in specs if f.required and f.name not in seen]
        for f in missing:
            r.error(node, f"{desc} needs {f.key!r}")
        if missing or any(f.required for f in specs if f.name in failed):
            return INVALID
        obj = self.cls(**values)
        obj.__dict__["_yaml_node"] = node
        obj.__dict__["_yaml_marks"] = marks
        obj.__dict__["_yaml_ctx"] = desc
        name_field = getattr(self.cls, "yaml_name_field", None)
        if name is not None and name_field:
            setattr(obj, name_field, name)  # a mapping's key names its value (inputs, captures)
        check: Callable[[Report], None] | None = getattr(obj, "yaml_check", None)
        if check is not None:
            check(r)
        return obj


def convert(cls: type, node: Node | None, r: Report) -> Any:
    """A `cls` instance from the document's root node, or INVALID (errors in `r`)."""
    rec = Record(cls)
    if node is None:
        r.error(None, f"empty {rec.label or 'document'}")
        return INVALID
    return rec.convert(node, r, Ctx())


def node_of(obj: Any, field: str | None = None, *, key: bool = False) -> Node | None:
    """The node a converted record (or one of its fields: value, or key) came from."""
    if field is None:
        return obj.__dict__.get("_yaml_node")
    pair = obj.__dict__.get("_yaml_marks", {}).get(field)
    if pair is None:
        return None
    return pair[0] if key else pair[1]


def at(obj: Any, field: str | None = None) -> Node | None:
    """Where to point for `field` of `obj`: its value when given, else the record itself."""
    return (node_of(obj, field) if field else None) or node_of(obj)


def given(obj: Any, field: str) -> bool:
    """Was `field` written in the YAML (not defaulted)?"""
    return field in obj.__dict__.get("_yaml_marks", {})


def label_of(obj: Any) -> str:
    """How messages name a converted record ("step 'a'")."""
    return str(obj.__dict__.get("_yaml_ctx", type(obj).__name__))


def json_schema(cls: type, **top: Any) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a record class, records under $defs."""
    defs: dict[str, Any] = {}
    body = Record(cls).body(defs)
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema", **top, **body}
    if defs:
        out["$defs"] = defs
    return out
