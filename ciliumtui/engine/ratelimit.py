"""Rate limits on remediations (`rate_limit: {key, max, per}`), per node, across runs.

One JSON file in the state dir, read-modify-written under a file lock so that runs on
different nodes (or a TUI and a CLI) never lose each other's records, and `take`
checks and records in one locked step: two concurrent runs cannot both pass.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .journal import state_dir
from .lock import FileLock


def _file() -> Path:
    return state_dir() / "ratelimit.json"


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _reason(node: str, key: str, max_: int, per: float, recent: list[float], now: float) -> str:
    wait = per - (now - min(recent))
    return (
        f"rate limit: at most {max_} {key} per {per / 60:g} min on node {node} "
        f"({len(recent)} already); next allowed in {wait / 60:.0f} min"
    )


def _recent(data: dict[str, Any], node: str, key: str, per: float, now: float) -> list[float]:
    times = data.get(f"{node}/{key}", [])
    return [t for t in times if isinstance(t, (int, float)) and now - t < per]


def check(node: str, key: str, max_: int, per: float, now: float | None = None) -> str | None:
    """None when allowed now, else a one-line reason (advisory: `take` decides)."""
    now = time.time() if now is None else now
    recent = _recent(_load(_file()), node, key, per, now)
    return _reason(node, key, max_, per, recent, now) if len(recent) >= max_ else None


def take(node: str, key: str, max_: int, per: float, now: float | None = None) -> str | None:
    """Record one use if allowed (None), else the reason; atomic across processes."""
    now = time.time() if now is None else now
    path = _file()
    lock = FileLock(path.with_name(path.name + ".lock"))
    lock.acquire_wait({"pid": os.getpid()}, timeout=10.0)
    try:
        data = _load(path)
        recent = _recent(data, node, key, per, now)
        if len(recent) >= max_:
            return _reason(node, key, max_, per, recent, now)
        data[f"{node}/{key}"] = [*recent, now]
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)
        return None
    finally:
        lock.release()
