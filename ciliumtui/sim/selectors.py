"""Label and field selectors as the apiserver parses them (pure functions).

labelSelector: comma-separated requirements `k`, `!k`, `k=v`, `k==v`, `k!=v`,
`k in (a,b)`, `k notin (a,b)`. fieldSelector: `path=v`, `path==v`, `path!=v`
where path is a dotted field (metadata.name, spec.nodeName, status.phase ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Matcher = Callable[[dict[str, Any]], bool]


class SelectorError(ValueError):
    """A selector the apiserver would refuse with 400 BadRequest."""


_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|!=|=)\s*([A-Za-z0-9_.-]*)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside `( ... )`."""
    terms: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced parenthesis in {text!r}")
        if ch == "," and depth == 0:
            terms.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise SelectorError(f"unbalanced parenthesis in {text!r}")
    terms.append("".join(cur))
    return [t for t in (t.strip() for t in terms) if t]


def parse_label_selector(text: str | None) -> list[tuple[str, str, tuple[str, ...]]]:
    """[(key, op, values)] with op in =, !=, in, notin, exists, !exists."""
    if not text:
        return []
    reqs: list[tuple[str, str, tuple[str, ...]]] = []
    for term in _split_terms(text):
        m = _EQ_RE.match(term)
        if m:
            key, op, value = m.groups()
            reqs.append((key, "!=" if op == "!=" else "=", (value,)))
            continue
        m = _SET_RE.match(term)
        if not m:
            raise SelectorError(f"unable to parse requirement: {term!r}")
        bang, key, op, values = m.groups()
        if op:
            if bang:
                raise SelectorError(f"unable to parse requirement: {term!r}")
            vals = tuple(v.strip() for v in values.split(",") if v.strip())
            reqs.append((key, op, vals))
        else:
            reqs.append((key, "!exists" if bang else "exists", ()))
    return reqs


def label_matcher(text: str | None) -> Matcher | None:
    reqs = parse_label_selector(text)
    if not reqs:
        return None

    def match(obj: dict[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        for key, op, values in reqs:
            present = key in labels
            value = labels.get(key)
            if op == "=":
                ok = present and value == values[0]
            elif op == "!=":
                ok = not present or value != values[0]
            elif op == "in":
                ok = present and value in values
            elif op == "notin":
                ok = not present or value not in values
            elif op == "exists":
                ok = present
            else:
                ok = not present
            if not ok:
                return False
        return True

    return match


def parse_field_selector(text: str | None) -> list[tuple[str, str, str]]:
    """[(dotted path, "=" | "!=", value)]."""
    if not text:
        return []
    out = []
    for term in (t.strip() for t in text.split(",")):
        if not term:
            continue
        m = re.match(r"^([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*)$", term)
        if not m:
            raise SelectorError(f"invalid field selector: {term!r}")
        path, op, value = m.groups()
        out.append((path, "!=" if op == "!=" else "=", value.strip()))
    return out


def field_value(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def field_matcher(reqs: list[tuple[str, str, str]]) -> Matcher | None:
    if not reqs:
        return None

    def match(obj: dict[str, Any]) -> bool:
        for path, op, value in reqs:
            actual = field_value(obj, path)
            if (actual == value) != (op == "="):
                return False
        return True

    return match
