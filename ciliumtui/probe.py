"""The probe boundary: a probe never raises past it.

Each probe's outcome (ok, one-line error, duration) is recorded under its name in
`Snapshot.probes`; the caller gets the value, or the fallback on failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .model import ProbeStatus

T = TypeVar("T")


def one_line(exc: BaseException) -> str:
    """A short, single-line description of an exception for users."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not text:
        return "timed out"
    return text if text else name


async def guarded(
    probes: dict[str, ProbeStatus],
    name: str,
    work: Awaitable[T] | Callable[[], T],
    fallback: T,
    *,
    timeout: float | None = None,
) -> T:
    """Await `work` (or run a blocking callable in a thread), record how it went."""
    start = time.perf_counter()
    try:
        if callable(work):
            work = asyncio.to_thread(work)
        value = await asyncio.wait_for(work, timeout) if timeout else await work
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # the boundary: every failure becomes data
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        msg = (
            f"timed out after {timeout:g}s"
            if isinstance(exc, asyncio.TimeoutError) and timeout
            else one_line(exc)
        )
        probes[name] = ProbeStatus(False, msg, round((time.perf_counter() - start) * 1000, 2))
        return fallback
    probes[name] = ProbeStatus(True, None, round((time.perf_counter() - start) * 1000, 2))
    return value
