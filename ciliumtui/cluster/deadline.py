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
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from ..options import Options

T = TypeVar("T")

# The whole process must end within --timeout + 1 s (DESIGN §9). The cluster side
# gets --timeout + SLACK from the moment it starts; the rest of the second is for
# what happens outside it: interpreter start and imports before, checks and output
# after (measured 0.3-0.4 s on the black-holed apiserver, 2 shared cores).
SLACK = 0.5


class Deadline:
    """A point on the monotonic clock that everything of one collection must meet."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    @classmethod
    def for_cluster(cls, opts: Options) -> Deadline:
        return cls(opts.timeout + SLACK)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def bound(self, seconds: float) -> float:
        """`seconds`, or less when the deadline comes first."""
        return min(seconds, self.remaining())


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
