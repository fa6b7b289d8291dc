"""Where the TUI's data comes from: a snapshot source.

The app never probes in a handler. It asks a source, from workers, for the node
state (fast), the cluster state (slow, may hang on a black-holed apiserver) and
the DNS checks, and for the findings of a snapshot. `ProbeSource` wraps the real
probes; `StaticSource` serves hand-built model objects (tests, benchmarks,
screenshots). Anything with the same methods works.

The real probes run on their own event loop in a daemon thread: a probe that
blocks (an import of the kubernetes client, a DNS socket, a parser chewing
20,000 iptables rules) can then never stall the UI loop, and quitting never
waits for a hung apiserver.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from functools import partial
from typing import Any, Protocol, TypeVar

from . import aio
from .model import ClusterState, DnsState, Finding, Link, NodeState, ProbeStatus, Route, Snapshot
from .options import Options

T = TypeVar("T")
Probes = dict[str, ProbeStatus]


class SnapshotSource(Protocol):
    async def node(self, probes: Probes) -> NodeState: ...

    async def cluster(self, probes: Probes) -> ClusterState: ...

    async def dns(self, cluster: ClusterState, probes: Probes) -> DnsState: ...

    async def findings(self, snapshot: Snapshot) -> list[Finding]: ...

    def events(self) -> AsyncIterator[Any] | None:
        """Netlink events (links, addresses, routes), or None when not live."""
        ...


class FastNetSource(Protocol):
    """Optional: links and routes alone (`ip -j`, tens of ms) for the first frame and
    for netlink events, ahead of the full node state (netfilter, agent API...)."""

    async def net(self, probes: Probes) -> tuple[list[Link], list[Route]]: ...


class _DaemonExecutor(concurrent.futures.ThreadPoolExecutor):  # asyncio insists on the type
    """The default executor of a probe loop: every `asyncio.to_thread` call on its own
    daemon thread. ThreadPoolExecutor workers are joined at interpreter exit, so one
    stuck on a black-holed apiserver (check_alive, the client's first GET) held up
    quitting the TUI for the whole request timeout."""

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=run, name="ciliumtui-io", daemon=True).start()
        return future


async def _with_daemon_executor(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    asyncio.get_running_loop().set_default_executor(_DaemonExecutor())
    return await factory()


def _run_in_thread(factory: Callable[[], Coroutine[Any, Any, T]]) -> concurrent.futures.Future[T]:
    """Start the coroutine made by `factory` on a fresh loop in a daemon thread."""
    result: concurrent.futures.Future[T] = concurrent.futures.Future()

    def target() -> None:
        try:
            value = aio.run(_with_daemon_executor(factory))
        except BaseException as exc:  # handed to whoever awaits the future
            with contextlib.suppress(concurrent.futures.InvalidStateError):  # cancelled: app quit
                result.set_exception(exc)
        else:
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                result.set_result(value)

    threading.Thread(target=target, name="ciliumtui-probe", daemon=True).start()
    return result


async def in_daemon_thread(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Await the coroutine made by `factory`, run on its own loop in a daemon thread.

    Unlike asyncio.to_thread, the thread is a daemon: quitting never waits for a
    probe stuck on a black-holed apiserver.
    """
    return await asyncio.wrap_future(_run_in_thread(factory))


async def _collect_net(opts: Options, probes: Probes) -> tuple[list[Link], list[Route]]:
    from .probe import guarded

    node = opts.node_backend
    no_links: list[Link] = []
    no_routes: list[Route] = []
    links, routes = await asyncio.gather(
        guarded(probes, "links", node.links(), no_links, timeout=10.0),
        guarded(probes, "routes", node.routes(), no_routes, timeout=10.0),
    )
    return links, routes


async def _collect_node(opts: Options, probes: Probes) -> NodeState:
    from .node import collect_node

    return await collect_node(opts.node_backend, probes)


# Started by `prefetch_node` before the UI is even imported; consumed once.
_prefetched: dict[str, tuple[Options, Probes, concurrent.futures.Future[Any]]] = {}


def prefetch_node(opts: Options) -> None:
    """Start the links and routes probes now, so they overlap the UI's imports and
    start-up and fill the first frame. The full node read (both iptables backends,
    host files, the agent API) is not prefetched: parsing it in a thread slowed the
    UI's imports down (one GIL, two cores), and the app starts it right after the
    first frame."""
    for name, collect in (("net", _collect_net),):
        probes: Probes = {}
        _prefetched[name] = (opts, probes, _run_in_thread(partial(collect, opts, probes)))


async def _take_prefetched(name: str, opts: Options, probes: Probes) -> Any:
    opts_then, probes_then, future = _prefetched.pop(name)
    value = await asyncio.wrap_future(future)
    probes.update(probes_then)
    return value


class ProbeSource:
    """The real probes (ciliumtui.node / .cluster / .dns / .checks), imported lazily."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts

    def _prefetched(self, name: str) -> bool:
        entry = _prefetched.get(name)
        return entry is not None and entry[0] == self.opts

    def ready_net(self, probes: Probes) -> tuple[list[Link], list[Route]] | None:
        """The prefetched links and routes if they are already in (never waits)."""
        entry = _prefetched.get("net")
        if entry is None or entry[0] != self.opts or not entry[2].done() or entry[2].exception():
            return None
        del _prefetched["net"]
        probes.update(entry[1])
        return entry[2].result()

    async def net(self, probes: Probes) -> tuple[list[Link], list[Route]]:
        if self._prefetched("net"):
            return await _take_prefetched("net", self.opts, probes)
        return await in_daemon_thread(partial(_collect_net, self.opts, probes))

    async def node(self, probes: Probes) -> NodeState:
        if self._prefetched("node"):
            return await _take_prefetched("node", self.opts, probes)
        return await in_daemon_thread(partial(_collect_node, self.opts, probes))

    async def cluster(self, probes: Probes) -> ClusterState:
        async def work() -> ClusterState:
            from .cluster import collect_cluster

            return await collect_cluster(self.opts, probes)

        return await in_daemon_thread(work)

    async def dns(self, cluster: ClusterState, probes: Probes) -> DnsState:
        async def work() -> DnsState:
            from .dns import collect_dns

            return await collect_dns(self.opts, cluster, probes)

        return await in_daemon_thread(work)

    async def findings(self, snapshot: Snapshot) -> list[Finding]:
        async def work() -> list[Finding]:
            from .checks import run_checks

            return list(run_checks(snapshot))

        return await in_daemon_thread(work)

    def events(self) -> AsyncIterator[Any] | None:
        if not self.opts.node_backend.live:
            return None  # no kernel behind the node's backend: nothing to watch
        return netlink_events(self.opts.netns)

    watch_seconds = 60  # server-side timeout of one pod watch request (then it re-watches)

    def pod_events(self) -> AsyncIterator[Any]:
        """Pod watches (this node's pods, CoreDNS, cilium-operator); see pod_watch_events."""
        return pod_watch_events(self.opts, self.watch_seconds)


EVENTS_READY = "subscribed"  # yielded once, when the netlink subscription is live


async def netlink_events(netns: str | None) -> AsyncIterator[Any]:
    """ciliumtui.node.events.NetEvents, subscribed and parsed in a daemon thread.

    A burst (500 links deleted at once) is parsed off the UI loop; events reach
    the caller through a queue. Errors (no such netns, no permission) end the
    iteration by raising them here.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    done = object()
    stop = threading.Event()

    def post(item: tuple[str, Any]) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the UI loop is gone (app quit): stop quietly
            stop.set()

    async def pump() -> None:
        from .node.events import NetEvents

        async with NetEvents(netns=netns) as events:
            post(("ready", None))
            async for event in events:
                if stop.is_set():
                    return
                post(("event", event))

    def target() -> None:
        try:
            asyncio.run(pump())
        except BaseException as exc:
            post(("error", exc))
            return
        post(("end", done))

    threading.Thread(target=target, name="ciliumtui-netlink", daemon=True).start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == "error":
                raise value
            if kind == "end":
                return
            if kind == "event":
                yield value
            elif kind == "ready":
                yield EVENTS_READY
    finally:
        stop.set()


async def pod_watch_events(opts: Options, watch_seconds: int = 60) -> AsyncIterator[Any]:
    """ciliumtui.cluster.watch.PodEvent tuples from every pod watch, each run in a
    daemon thread (the kubernetes import and blocking reads stay off the UI loop).

    Ends after the first watch that ends (its ERROR event is yielded first); the
    other watches are stopped then, and whenever the caller stops iterating (app
    quit), so no thread lingers on an open watch. A thread stuck connecting to a
    black-holed apiserver is a daemon and gives up after the request timeout.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    watches: list[Any] = []
    stop = threading.Event()
    end = object()

    def post(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the UI loop is gone (app quit): stop quietly
            stop.set()

    def target(watch: Any) -> None:
        try:
            for event in watch.events():
                if stop.is_set():
                    return
                post(event)
        except BaseException as exc:  # never a silent death: say why, then end
            post(exc)
        finally:
            post(end)

    def start() -> None:
        try:
            from .cluster.watch import PodWatch, pod_watch_specs
        except BaseException as exc:
            post(exc)
            return
        for spec in pod_watch_specs(opts):
            watch = PodWatch(opts, spec, timeout_seconds=watch_seconds)
            watches.append(watch)
            if stop.is_set():
                return
            threading.Thread(
                target=target, args=(watch,), name=f"ciliumtui-watch-{spec.name}", daemon=True
            ).start()

    # The import of ciliumtui.cluster.watch (and kubernetes) happens in a thread too.
    threading.Thread(target=start, name="ciliumtui-watch", daemon=True).start()
    try:
        while True:
            item = await queue.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        for watch in list(watches):
            watch.stop()


class StaticSource:
    """Serves fixed model objects; optional delays mimic slow probes."""

    def __init__(
        self,
        node: NodeState | None = None,
        cluster: ClusterState | None = None,
        dns: DnsState | None = None,
        findings: list[Finding] | None = None,
        *,
        cluster_delay: float = 0.0,
        events: AsyncIterator[Any] | None = None,
    ) -> None:
        self._node = node or NodeState()
        self._cluster = cluster or ClusterState()
        self._dns = dns or DnsState()
        self._findings = findings
        self.cluster_delay = cluster_delay
        self._events = events
        self.calls: dict[str, int] = {"node": 0, "cluster": 0, "dns": 0, "findings": 0}
        self.in_flight = 0
        self.max_in_flight = 0  # cluster probes running at once (must stay 1)

    async def node(self, probes: Probes) -> NodeState:
        self.calls["node"] += 1
        probes["node.links"] = ProbeStatus(True)
        return self._node

    async def cluster(self, probes: Probes) -> ClusterState:
        self.calls["cluster"] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.cluster_delay:
                await asyncio.sleep(self.cluster_delay)
        finally:
            self.in_flight -= 1
        probes["cluster"] = ProbeStatus(self._cluster.reachable, self._cluster.error)
        return self._cluster

    def set_node(self, node: NodeState) -> None:
        self._node = node

    async def dns(self, cluster: ClusterState, probes: Probes) -> DnsState:
        self.calls["dns"] += 1
        return self._dns

    async def findings(self, snapshot: Snapshot) -> list[Finding]:
        self.calls["findings"] += 1
        if self._findings is not None:
            return list(self._findings)
        from .checks import run_checks

        return list(run_checks(snapshot))

    def events(self) -> AsyncIterator[Any] | None:
        return self._events
