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
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from .model import ClusterState, DnsState, Finding, NodeState, ProbeStatus, Snapshot
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


async def in_daemon_thread(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine made by `factory` on a fresh loop in a daemon thread."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(value: T | None, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def target() -> None:
        try:
            value = asyncio.run(factory())
        except BaseException as exc:  # handed to the awaiting side
            loop.call_soon_threadsafe(deliver, None, exc)
        else:
            loop.call_soon_threadsafe(deliver, value, None)

    threading.Thread(target=target, name="ciliumtui-probe", daemon=True).start()
    return await future


class ProbeSource:
    """The real probes (ciliumtui.node / .cluster / .dns / .checks), imported lazily."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts

    async def node(self, probes: Probes) -> NodeState:
        async def work() -> NodeState:
            from .node import collect_node

            return await collect_node(self.opts, probes)

        return await in_daemon_thread(work)

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
        try:
            from .node import events as node_events
        except ImportError:
            return None
        watch = getattr(node_events, "watch", None) or getattr(node_events, "events", None)
        if watch is None:
            return None
        return watch(self.opts)


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
