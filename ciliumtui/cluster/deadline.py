"""One deadline for the whole cluster side, and the means to keep it.

`--timeout` bounds each apiserver request, but a per-request timeout does not
bound a request: a server that sends its headers and then one byte every 0.5 s
satisfies every read timeout forever (measured before this module: `diagnose
--timeout 2` still running after 100 s), and an exec credential plugin that
blocks has no timeout at all in the kubernetes client (60 s, its own sleep).
So the cluster side (kubeconfig, exec plugin, liveness, reads, the DNS queries
that follow) shares one `Deadline`, and three things make it hold:

- blocking calls run in daemon threads (`in_daemon_thread`): asyncio.to_thread's
  executor threads are joined when the loop and the interpreter end, so one
  stuck read kept the whole process alive;
- `SocketRegistry` knows every connection an ApiClient opened; `abort()` shuts
  them down (shutdown(2) wakes a thread blocked in recv at once), so no thread
  is left reading a drip after we gave up;
- the exec plugin is run with the time that is left, and killed after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from ..options import Options

T = TypeVar("T")

# A collection on its own (a TUI refresh) gets --timeout + SLACK from its start:
# the slack pays for the kubernetes import and for the DNS queries after the reads.
SLACK = 0.5
# A command (`diagnose`, `snapshot`) must end, spawn to exit, within --timeout + 1 s
# (DESIGN §9). Outside the cluster side: interpreter start and imports before it
# (0.15 s on a quiet machine), checks, output and the interpreter's finalization
# with the kubernetes client loaded after it (0.15 s; both 0.5-0.8 s at load 6 on
# 2 shared cores). So the deadline is counted from the process's start, leaving
# EXIT_RESERVE for the end...
EXIT_RESERVE = 0.4
# ...but never less than --timeout + MIN_SLACK from the collection's start: the
# apiserver always gets its full timeout and the client import its time, or a slow
# machine would report a healthy apiserver as unreachable (a false critical
# finding is worse than a late exit).
MIN_SLACK = 0.3
INNER_MARGIN = 0.15  # seconds; thread start and connect(2) under load come before the read


def process_age() -> float | None:
    """Seconds since this process started (Linux: /proc/self/stat), None if unknown."""
    try:
        with open("/proc/self/stat") as f:
            stat = f.read()
        # Fields after the ")" of the command name start at field 3; starttime is 22.
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        now = time.clock_gettime(time.CLOCK_BOOTTIME)
        return max(0.0, now - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class Deadline:
    """A point on the monotonic clock that everything of one collection must meet."""

    def __init__(self, seconds: float, label: str | None = None) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        # How errors name it: the user set --timeout, not this deadline's seconds.
        self.label = label or f"{seconds:.1f}s"

    @classmethod
    def for_cluster(cls, opts: Options) -> Deadline:
        """--timeout + SLACK from now."""
        return cls(opts.timeout + SLACK, _label(opts))

    @classmethod
    def for_command(cls, opts: Options) -> Deadline:
        """For the collection of a command that just started: counted from the process's
        spawn so that it ends within --timeout + 1 s, and at least --timeout + MIN_SLACK."""
        age = process_age()
        if age is None:
            return cls.for_cluster(opts)
        seconds = max(opts.timeout + MIN_SLACK, opts.timeout + 1 - EXIT_RESERVE - age)
        return cls(seconds, _label(opts))

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def bound(self, seconds: float) -> float:
        """`seconds`, or less when the deadline comes first."""
        return min(seconds, self.remaining())

    def inner(self, seconds: float) -> float:
        """A timeout for a step that says itself what timed out: it ends a little
        before the deadline, so that its own line, not "out of time", is reported."""
        return max(0.0, min(seconds, self.remaining() - INNER_MARGIN))


def _label(opts: Options) -> str:
    return f"the --timeout of {opts.timeout:g}s"


async def in_daemon_thread(
    fn: Callable[..., T], *args: Any, discard: Callable[[T], object] | None = None
) -> T:
    """`fn(*args)` in a daemon thread: neither the loop nor the interpreter waits for
    it at exit. Cancelling the await abandons the call: the thread finishes alone,
    and `discard` receives a result that arrives after nobody waits for it."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if fut.done():  # cancelled: nobody is waiting any more
            if ok and discard is not None:
                with contextlib.suppress(Exception):
                    discard(value)
            return
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)

    def work() -> None:
        try:
            result: Any = fn(*args)
            ok = True
        except BaseException as exc:  # handed to the awaiting task, raised there
            result, ok = exc, False
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
            loop.call_soon_threadsafe(settle, ok, result)

    threading.Thread(target=work, daemon=True, name=getattr(fn, "__name__", "call")).start()
    return await fut


class SocketRegistry:
    """The live connections of one ApiClient, so that they can be aborted from any thread."""

    def __init__(self) -> None:
        self._conns: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.aborted = False

    def add(self, conn: Any) -> None:
        with self._lock:
            self._conns.add(conn)
            late = self.aborted
        if late:  # connected after the abort: it must not live either
            _shutdown(conn)

    def abort(self) -> None:
        """Wake every thread blocked on one of these connections; they fail at once."""
        with self._lock:
            self.aborted = True
            conns = list(self._conns)
        for conn in conns:
            _shutdown(conn)


def _shutdown(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    # The plain socket method even on an SSLSocket: it shuts the fd down without
    # touching the TLS state another thread may be using in its blocked read.
    with contextlib.suppress(OSError, ValueError, TypeError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def track_connections(api: Any) -> SocketRegistry:
    """Make `api` (a kubernetes ApiClient) register every connection it opens.

    Each pool class of its urllib3 pool manager (plain, TLS, or a SOCKS proxy's) is
    replaced by a subclass whose connections report themselves once connected.
    """
    registry = SocketRegistry()

    def tracked(conn_cls: type[Any]) -> type[Any]:
        def connect(self: Any) -> None:
            conn_cls.connect(self)
            registry.add(self)

        return type(f"Tracked{conn_cls.__name__}", (conn_cls,), {"connect": connect})

    manager = api.rest_client.pool_manager
    # Per instance: PoolManager looks its pool classes up on itself when it makes a pool.
    manager.pool_classes_by_scheme = {
        scheme: type(
            f"Tracked{pool.__name__}", (pool,), {"ConnectionCls": tracked(pool.ConnectionCls)}
        )
        for scheme, pool in manager.pool_classes_by_scheme.items()
    }
    return registry
