"""Rebuild a Snapshot from its JSON form without pydantic.

`Snapshot.from_dict` validates with pydantic, which costs ~150 ms of imports;
`diagnose --from FILE` must stay light, so this walks the dataclass type hints
itself. Strict where it matters (wrong types, unknown schema → ValueError with
the path), lenient where JSON loses information (tuples arrive as lists,
ints where floats are expected, unknown keys from newer versions are ignored).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Literal, Union

from . import model
from .model import SCHEMA_VERSION, Snapshot


class _Bad(Exception):
    def __init__(self, path: list[str], msg: str) -> None:
        self.path, self.msg = path, msg


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(model))


def _build(tp: Any, value: Any, path: list[str]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors: list[_Bad] = []
        for alt in args:
            if alt is type(None):
                continue
            try:
                return _build(alt, value, path)
            except _Bad as exc:
                errors.append(exc)
        raise errors[0] if errors else _Bad(path, "unexpected null")
    if origin is Literal:
        if value not in args:
            raise _Bad(path, f"expected one of {', '.join(map(repr, args))}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise _Bad(path, "expected a list")
        return [_build(args[0], v, [*path, str(i)]) for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise _Bad(path, f"expected a list of {len(args)} items")
        return tuple(
            _build(a, v, [*path, str(i)]) for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise _Bad(path, "expected an object")
        return {str(k): _build(args[1], v, [*path, str(k)]) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _Bad(path, "expected an object")
        hints = _hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if not f.init:
                continue
            if f.name in value:
                kwargs[f.name] = _build(hints[f.name], value[f.name], [*path, f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _Bad([*path, f.name], "field required")
        return tp(**kwargs)
    if tp is bool:
        if not isinstance(value, bool):
            raise _Bad(path, "expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(path, "expected an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Bad(path, "expected a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _Bad(path, "expected a string")
        return value
    raise _Bad(path, f"unsupported type {tp!r}")


def snapshot_from_dict(data: Any) -> Snapshot:
    """Like `Snapshot.from_dict`, same errors (ValueError, one line), no pydantic."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"not a ciliumtui snapshot (schema {SCHEMA_VERSION} expected)")
    try:
        return _build(Snapshot, data, [])
    except _Bad as exc:
        where = ".".join(exc.path) or "top level"
        raise ValueError(f"invalid snapshot at {where}: {exc.msg}") from None
