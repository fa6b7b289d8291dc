"""The probe workers behind the dashboard.

Four cycles (node, cluster, DNS, findings) each run in a Textual worker and
reschedule themselves with `set_timer` after they finish, so a cycle never
overlaps itself (dolphie's pattern); a request while one runs makes it run once
more right after. Two live feeds sit beside them: netlink events, applied as
deltas (netdelta) with the periodic node read as the resync, and the pod
watches, restarted with backoff whenever they end. Handlers never probe: every
read goes through the snapshot source (ciliumtui.sources).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from ..model import ClusterState, DnsState, Finding, NodeState, ProbeStatus, Snapshot
from ..options import Options
from ..probe import one_line
from ..sources import EVENTS_READY, SnapshotSource
from .netdelta import Delta, apply_event

if TYPE_CHECKING:
    from textual.app import App
    from textual.timer import Timer
    from textual.worker import Worker

    from ..node.events import NetEvent


@dataclass
class Timing:
    node_interval: float = 5.0  # the full node read (netfilter, host, agent); also the resync
    # ... once netlink events are live, links and routes arrive by themselves: the full
    # read is then only the resync and the netfilter/agent/host panels' refresh.
    node_interval_live: float = 10.0
    cluster_interval: float = 10.0
    dns_interval: float = 5.0
    backoff_first: float = 2.0
    backoff_max: float = 30.0
    # Netlink deltas are drawn event_redraw after the first event of a burst (a burst of
    # 500 links deleted is one redraw). Redraws are rationed like a token bucket: up to
    # redraw_burst in a row at once, then one per redraw_min_gap seconds while events
    # keep coming (k9s refreshes every 2 s). One repaint after a row came or went costs
    # ~15 ms at 160x45 in Textual's compositor (measured); a veth coming and going ten
    # events a second cost 8% of a core redrawn every second, under 4% every two
    # (benchmarks/bench_tui.py churn).
    event_redraw: float = 0.03  # a burst of 500 links deleted arrives within this: one redraw
    redraw_min_gap: float = 2.0
    redraw_burst: float = 3.0
    # Findings follow node changes at most this often: under link churn the checks would
    # otherwise run 10 times a second for a panel that changes once.
    findings_min_gap: float = 2.0
    pod_debounce: float = 0.1  # a pod deleted and re-created: one cluster re-read, not three
    pod_min_gap: float = 0.5  # pods churning on a busy node: at most ~2 cluster re-reads a second
    watch_restart_max: float = 30.0


@dataclass
class Stats:
    """What benchmarks and tests watch (monotonic perf_counter times)."""

    started_at: float = field(default_factory=time.perf_counter)
    node_shown_at: float | None = None
    node_frame_at: float | None = None  # the first frame with node panels drawn
    last_event_at: float | None = None  # when the last netlink event arrived
    events_ready: bool = False  # the netlink subscription is live
    events_applied: int = 0
    pod_watch_ready: bool = False  # the pod watches are listed and streaming
    pod_watch_error: str | None = None  # why the last pod watch ended
    last_pod_event_at: float | None = None
    pod_events_seen: int = 0
    updates: dict[str, int] = field(
        default_factory=lambda: {"node": 0, "net": 0, "cluster": 0, "dns": 0, "findings": 0}
    )


class ProbeSink(Protocol):
    """Where the workers hand what they read (the app, which draws it)."""

    def node_changed(self, node: NodeState, delta: Delta | None) -> None: ...

    def cluster_changed(self, cluster: ClusterState, note: str) -> None: ...

    def dns_changed(self, dns: DnsState) -> None: ...

    def findings_changed(self, findings: list[Finding], note: str) -> None: ...


class Cycle:
    """One self-rescheduling worker: never two at once; asked while running, it runs
    once more right after; otherwise again `delay` seconds after it finished."""

    def __init__(
        self,
        app: App[Any],
        name: str,
        work: Callable[[], Awaitable[float]],
        periodic: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.name = name
        self.work = work  # returns the delay until the next run (0: none)
        self.periodic = periodic  # what the timer calls (default: request)
        self.running = False
        self.dirty = False
        self.timer: Timer | None = None
        self.worker: Worker[None] | None = None  # the current run's (typed: its result)
        self.live = True

    def request(self) -> bool:
        if self.running:
            self.dirty = True
            return False
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        self.running = True
        # The coroutine function, not a coroutine: Textual creates it when the worker
        # starts, so a request during shutdown leaves no never-awaited coroutine behind.
        self.worker = self.app.run_worker(self._run, group=self.name, exit_on_error=False)
        return True

    @property
    def scheduled(self) -> bool:
        return self.timer is not None

    async def _run(self) -> None:
        delay = 0.0
        try:
            delay = await self.work()
        finally:
            self.running = False
            if self.dirty:
                self.dirty = False
                self.request()
            elif self.live and delay > 0:
                self.timer = self.app.set_timer(delay, self._due, name=f"{self.name}-cycle")

    def _due(self) -> None:
        self.timer = None
        (self.periodic or self.request)()


class Probing:
    """The node, cluster, DNS and findings cycles and the two live feeds."""

    def __init__(
        self,
        app: App[Any],
        sink: ProbeSink,
        source: SnapshotSource,
        opts: Options,
        *,
        live: bool,
        timing: Timing | None = None,
    ) -> None:
        self.app = app
        self.sink = sink
        self.source = source
        self.live = live  # False: probe once, no timers, no events (tests, screenshots)
        self.timing = timing or Timing()
        self.stats = Stats()
        self.snapshot = Snapshot(
            node_name=opts.node_name,
            taken_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            netns=opts.netns,
            host_root=opts.host_root,
        )
        self.findings: list[Finding] = []
        self.cluster_note = "connecting to the apiserver…"
        self.backoff = 0.0
        self.cycles = {
            "node": Cycle(app, "node", self._node_cycle, periodic=self.refresh_node),
            "cluster": Cycle(app, "cluster", self._cluster_cycle),
            "dns": Cycle(app, "dns", self._dns_cycle),
            "findings": Cycle(app, "findings", self._findings_cycle),
        }
        for cycle in self.cycles.values():
            cycle.live = live
        self._node_full = True  # the next node cycle reads everything, not just links/routes
        self._cluster_started = False
        self._after_frame_done = False
        self._early_only = False  # the first frame showed prefetched links/routes only
        self._pending = Delta()  # netlink deltas not drawn yet
        self._redraw_timer: Timer | None = None
        self._tokens = self.timing.redraw_burst  # redraws allowed right away (token bucket)
        self._refilled_at = time.monotonic()
        self._queued: list[NetEvent] = []  # events that arrived during a node read
        self._findings_timer: Timer | None = None
        self._findings_at = -1e9
        self._checked: tuple[object, object, object] | None = None  # what the findings are of
        self._pod_timer: Timer | None = None
        self._pod_refresh_at = -1e9
        self._pod_watch_started = False

    # ------------------------------------------------------------------ start-up

    def start(self) -> None:
        """Called once the dashboard's panels exist."""
        ready = getattr(self.source, "ready_net", None)
        probes: dict[str, ProbeStatus] = {}
        early = ready(probes) if ready is not None else None
        if early is not None:
            links, routes = early
            self._show_node(NodeState(links=links, routes=routes), probes)
        if not self.live:  # tests and screenshots: everything at once, deterministic
            self.refresh_node()
            self._start_cluster_once()
            return
        # Live: the first frame is drawn before anything else competes for the GIL on
        # a small node (the full node read, checks, pyroute2, then kubernetes); all of
        # it starts once the node panels are drawn, or after 1 s if the probes are slow.
        self._early_only = early is not None
        if early is None:
            self.refresh_node()
        self.app.set_timer(1.0, self._after_first_frame)

    def _after_first_frame(self) -> None:
        if self._after_frame_done:
            return
        self._after_frame_done = True
        if self._early_only:
            self.refresh_node()  # the early frame had links and routes only
        self._start_cluster_once()
        events = self.source.events()
        if events is not None:
            self.app.run_worker(self._watch_events(events), group="events", exit_on_error=False)

    def _first_node_frame(self) -> None:
        self.stats.node_frame_at = time.perf_counter()
        if self.live:
            self._after_first_frame()
        else:
            self._start_cluster_once()

    def _start_cluster_once(self) -> None:
        if not self._cluster_started:
            self._cluster_started = True
            self.refresh_cluster()

    # ------------------------------------------------------------------- requests

    def running(self, name: str) -> bool:
        return self.cycles[name].running

    def refresh_node(self, *, full: bool = True) -> None:
        """Re-read the node; `full=False` re-reads links and routes only."""
        self._node_full = self._node_full or full
        self.cycles["node"].request()

    def refresh_cluster(self) -> None:
        self.cycles["cluster"].request()

    def refresh_dns(self) -> None:
        self.cycles["dns"].request()

    def refresh_findings(self) -> None:
        self.cycles["findings"].request()

    def refresh_all(self) -> None:
        self.backoff = 0.0
        self.refresh_node()
        self.refresh_cluster()

    # --------------------------------------------------------------------- cycles

    async def _node_cycle(self) -> float:
        """Links and routes first (fast) when the panels have none yet or only they are
        asked for, then the full node (which reads links and routes too)."""
        full, self._node_full = self._node_full, False
        probes: dict[str, ProbeStatus] = {}
        net = getattr(self.source, "net", None)
        # The periodic full read needs no separate links/routes read first: with 500
        # links that doubled the idle cost (two parses and two redraws every 5 s).
        if net is not None and (not full or self.snapshot.node is None):
            try:
                links, routes = await net(probes)
            except Exception as exc:  # the source broke its promise; keep the UI alive
                probes["net"] = ProbeStatus(False, one_line(exc))
            else:
                base = self.snapshot.node or NodeState()
                self._show_node(dataclasses.replace(base, links=links, routes=routes), probes)
        if full or net is None:
            try:
                node = await self.source.node(probes)
            except Exception as exc:
                probes["node"] = ProbeStatus(False, one_line(exc))
            else:
                self._show_node(node, probes)
        self.refresh_findings()
        self.app.call_later(self._apply_queued)
        t = self.timing
        return (
            max(t.node_interval, t.node_interval_live)
            if self.stats.events_ready
            else t.node_interval
        )

    def _apply_queued(self) -> None:
        queued, self._queued = self._queued, []
        for event in queued:
            self._apply(event)  # the periodic run is a full one: the resync

    def _show_node(
        self, node: NodeState, probes: dict[str, ProbeStatus], delta: Delta | None = None
    ) -> None:
        self.snapshot.probes.update(probes)
        before = self.snapshot.node
        if delta is None:
            self._pending = Delta()  # a full read supersedes deltas not drawn yet
            if before is not None and before == node:
                # The periodic read found nothing new: nothing to draw, and the same
                # object keeps the findings cycle from re-running the checks.
                return
        self.snapshot.node = node
        self.sink.node_changed(node, delta)
        self.stats.updates["node" if delta is None else "net"] += 1
        if self.stats.node_shown_at is None:
            self.stats.node_shown_at = time.perf_counter()
            self.app.call_after_refresh(self._first_node_frame)

    async def _cluster_cycle(self) -> float:
        probes: dict[str, ProbeStatus] = {}
        try:
            cluster = await self.source.cluster(probes)
        except Exception as exc:
            cluster = ClusterState(reachable=False, error=one_line(exc))
        try:
            self.snapshot.probes.update(probes)
            unchanged = self.snapshot.cluster == cluster
            if unchanged and self.snapshot.cluster is not None:
                cluster = self.snapshot.cluster  # the same object: the checks need not re-run
            self.snapshot.cluster = cluster
            if cluster.reachable:
                self.backoff = 0.0
                delay = self.timing.cluster_interval
                self.cluster_note = ""
            else:
                t = self.timing
                self.backoff = min(t.backoff_max, self.backoff * 2 or t.backoff_first)
                delay = self.backoff
                why = cluster.error or "no kubeconfig works"
                self.cluster_note = f"apiserver unreachable: {why} — retry in {delay:g}s"
            self.sink.cluster_changed(cluster, self.cluster_note)
            self.stats.updates["cluster"] += 1
            if not unchanged:
                self.refresh_findings()
            if not self.cycles["dns"].scheduled:
                self.refresh_dns()
        finally:
            self._start_pod_watch_once()
        return delay if self.live else 0.0

    async def _dns_cycle(self) -> float:
        probes: dict[str, ProbeStatus] = {}
        cluster = self.snapshot.cluster or ClusterState()
        try:
            dns: DnsState | None = await self.source.dns(cluster, probes)
        except Exception as exc:
            probes["dns"] = ProbeStatus(False, one_line(exc))
            dns = None
        self.snapshot.probes.update(probes)
        if dns is not None and dns != self.snapshot.dns:
            self.snapshot.dns = dns
            self.sink.dns_changed(dns)
            self.stats.updates["dns"] += 1
            self.refresh_findings()
        return self.timing.dns_interval

    async def _findings_cycle(self) -> float:
        note = ""
        self._findings_at = time.monotonic()
        state = (self.snapshot.node, self.snapshot.cluster, self.snapshot.dns)
        if self._checked is not None and all(
            a is b for a, b in zip(state, self._checked, strict=True)
        ):
            return 0.0  # the same snapshot: the checks are pure, the findings the same
        self._checked = state
        try:
            findings = await self.source.findings(self.snapshot)
        except Exception as exc:
            findings = self.findings
            note = f"checks failed: {one_line(exc)}"
        self.findings = findings
        self.sink.findings_changed(findings, note)
        self.stats.updates["findings"] += 1
        return 0.0

    def _findings_soon(self) -> None:
        """Findings after a netlink delta, at most every findings_min_gap seconds."""
        if self._findings_timer is not None:
            return
        # (never 0: Textual divides by a timer's interval when it stops it)
        wait = max(0.01, self._findings_at + self.timing.findings_min_gap - time.monotonic())
        self._findings_timer = self.app.set_timer(wait, self._findings_due)

    def _findings_due(self) -> None:
        self._findings_timer = None
        self.refresh_findings()

    # ------------------------------------------------------------- netlink events

    async def _watch_events(self, events: AsyncIterator[Any]) -> None:
        # Imported here, after the first frame (ciliumtui.node brings every probe along).
        from ..node.events import NetEvent

        try:
            async for event in events:
                if event == EVENTS_READY:
                    # Anything that changed between the first read and the subscription
                    # would otherwise stay unseen until the periodic re-read.
                    self.stats.events_ready = True
                    self.refresh_node(full=False)
                    continue
                self.stats.last_event_at = time.perf_counter()
                if isinstance(event, NetEvent):
                    self._apply(event)
                else:  # a source that only says "something changed"
                    self.refresh_node(full=False)
        except Exception as exc:
            self.snapshot.probes["node.events"] = ProbeStatus(False, one_line(exc))

    def _apply(self, event: NetEvent) -> None:
        node = self.snapshot.node
        if node is None:
            self.refresh_node(full=False)
            return
        if self.cycles["node"].running:
            # The read under way may or may not include this change: apply it after the
            # read (deltas are idempotent: a link already there is only updated, one
            # already gone stays gone), instead of reading everything once more.
            self._queued.append(event)
            return
        # Copy on write: the checks may be reading the current lists in their thread.
        links, routes = list(node.links), list(node.routes)
        delta = apply_event(links, routes, event)
        self.stats.events_applied += 1
        if not delta:
            return
        self.snapshot.node = dataclasses.replace(node, links=links, routes=routes)
        self._pending.merge(delta)
        if self._pending and self._redraw_timer is None:
            t = self.timing
            now = time.monotonic()
            self._tokens = min(
                t.redraw_burst, self._tokens + (now - self._refilled_at) / t.redraw_min_gap
            )
            self._refilled_at = now
            wait = t.event_redraw + max(0.0, (1.0 - self._tokens) * t.redraw_min_gap)
            self._redraw_timer = self.app.set_timer(wait, self._redraw)

    def _redraw(self) -> None:
        self._redraw_timer = None
        now = time.monotonic()
        t = self.timing
        self._tokens = min(
            t.redraw_burst, self._tokens + (now - self._refilled_at) / t.redraw_min_gap
        )
        self._tokens -= 1.0
        self._refilled_at = now
        delta, self._pending = self._pending, Delta()
        node = self.snapshot.node
        if node is None or not delta:
            return
        self._show_node(node, {}, delta)
        self._findings_soon()

    # ---------------------------------------------------------------- pod watches

    def _start_pod_watch_once(self) -> None:
        """After the first cluster cycle: kubernetes is imported by then, and the
        first frame long drawn. Not in tests/screenshots (live=False)."""
        if self._pod_watch_started or not self.live:
            return
        pod_events = getattr(self.source, "pod_events", None)
        if pod_events is None:
            return
        self._pod_watch_started = True
        self.app.run_worker(self._watch_pods(pod_events), group="pod-watch", exit_on_error=False)

    async def _watch_pods(self, pod_events: Callable[[], AsyncIterator[Any]]) -> None:
        """Each pod event re-reads the cluster (debounced); a watch that ends — apiserver
        gone, RBAC, a proxy cutting the stream — is restarted with backoff. Runs until
        the app quits (the worker is cancelled; the watch threads are stopped)."""
        backoff = 0.0
        stats, t = self.stats, self.timing
        while True:
            began = time.monotonic()
            try:
                async for event in pod_events():
                    kind = event[0]
                    if kind == "ERROR":
                        stats.pod_watch_error = str(event[3])
                        continue
                    if kind == "SYNCED":
                        # Listed afresh: whatever changed before the watch began is unseen.
                        stats.pod_watch_ready = True
                        stats.pod_watch_error = None
                    else:
                        stats.last_pod_event_at = time.perf_counter()
                        stats.pod_events_seen += 1
                    self._pod_changed()
            except Exception as exc:
                stats.pod_watch_error = one_line(exc)
            stats.pod_watch_ready = False
            # A watch that streamed for a while ended normally-ish: retry soon.
            if time.monotonic() - began > t.watch_restart_max:
                backoff = 0.0
            backoff = min(t.watch_restart_max, backoff * 2 or t.backoff_first)
            await asyncio.sleep(backoff)

    def _pod_changed(self) -> None:
        if self._pod_timer is not None:
            return  # a re-read is already due: this event rides along
        t = self.timing
        wait = max(t.pod_debounce, self._pod_refresh_at + t.pod_min_gap - time.monotonic())
        self._pod_timer = self.app.set_timer(wait, self._on_pod_event)

    def _on_pod_event(self) -> None:
        self._pod_timer = None
        self._pod_refresh_at = time.monotonic()
        self.refresh_cluster()  # runs now, or once more right after the running cycle
