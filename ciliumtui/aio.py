"""asyncio.run without Python 3.11's hidden cost on big results.

On 3.11, asyncio.run() ends with `signal.getsignal(SIGINT)`, which (through
`Handlers(partial(..., main_task=task))` failing and formatting its ValueError)
reprs the finished main task, and with it the task's *result*. For a Snapshot of
a node with 20,000 iptables rules that repr costs hundreds of milliseconds.
Returning None from the main task and handing the value over on the side
avoids it. Use `run()` wherever a command does `asyncio.run(...)` of a probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]
