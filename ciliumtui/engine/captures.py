"""Captures: named values a step takes from its action's result (`capture:`)."""

from __future__ import annotations

from typing import Any

from .actions.base import ActionResult
from .schema import Capture


def walk_path(data: Any, path: str) -> Any:
    """`a.b[0].c` (a leading `$.` or `data.` is allowed) over dicts and lists."""
    p = path.strip()
    for prefix in ("$.", "data."):
        if p.startswith(prefix):
            p = p[len(prefix) :]
    cur = data
    for part in p.replace("[", ".[").split("."):
        if not part or part == "$":
            continue
        if part.startswith("[") and part.endswith("]"):
            try:
                idx = int(part[1:-1])
            except ValueError:
                return None
            cur = cur[idx] if isinstance(cur, list) and -len(cur) <= idx < len(cur) else None
        else:
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is None:
            return None
    return cur


def capture_value(cap: Capture, result: ActionResult) -> Any:
    if cap.from_:
        return {
            "rc": result.rc,
            "stdout": result.stdout,
            "ok": result.ok,
            "changed": result.changed,
            "message": result.message,
        }[cap.from_]
    if cap.count:
        v = walk_path(result.data, cap.count)
        return len(v) if isinstance(v, (list, dict, str)) else 0
    return walk_path(result.data, cap.path or "")
