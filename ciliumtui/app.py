"""The Textual app: the dashboard fed by probe workers, plus detail, help,
wizard and journal screens.

Data flow: workers ask the snapshot source (ciliumtui.sources) for the node
state (fast, first), the cluster state (slow; backs off while the apiserver is
unreachable) and DNS checks; each cycle reschedules itself with `set_timer`
after it finishes, so workers never overlap. Netlink events re-read the node
panels; pod watches (this node's pods, CoreDNS, cilium-operator) re-read the
cluster within a fraction of a second. Findings are recomputed after every
update. Handlers never probe.

Imports stay light: kubernetes, pydantic and dnspython are only imported by
the probes, inside their worker threads, after the first frame.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import datetime, timezone
from functools import partial
from importlib.resources import files
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.timer import Timer

from .model import Finding, NodeState, ProbeStatus, Snapshot
from .options import Options
from .probe import one_line
from .sources import EVENTS_READY, ProbeSource, SnapshotSource

DEFAULT_THEME = "ansi-dark"  # follows the terminal's own palette: right over SSH


def palette_provider() -> Any:
    """The command-palette provider, imported when the palette first opens (start-up
    does not pay for textual.command)."""
    from .widgets.palette import CiliumtuiCommands

    return CiliumtuiCommands


def css_path() -> str:
    return str(files("ciliumtui.assets").joinpath("ciliumtui.tcss"))


def playbook_ids() -> list[str]:
    """Built-in playbook ids (file stems under ciliumtui.playbooks)."""
    try:
        from .engine.loader import builtin_ids

        return builtin_ids()
    except ImportError:
        pass
    try:
        return sorted(
            p.name[: -len(".yaml")]
            for p in files("ciliumtui.playbooks").iterdir()
            if p.name.endswith(".yaml")
        )
    except (ModuleNotFoundError, OSError):
        return []


class CiliumtuiApp(App[int]):
    CSS_PATH = css_path()
    TITLE = "ciliumtui"
    COMMANDS = App.COMMANDS | {palette_provider}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command_mode", "Command"),
        Binding("ctrl+p", "command_palette", "Palette", show=False),
        Binding("q", "quit", "Quit"),
    ]

    NODE_INTERVAL = 5.0  # periodic node re-read besides netlink events
    CLUSTER_INTERVAL = 10.0
    DNS_INTERVAL = 5.0
    BACKOFF_FIRST, BACKOFF_MAX = 2.0, 30.0
    EVENT_DEBOUNCE = 0.03  # collapses a burst (500 links deleted) into one re-read
    POD_DEBOUNCE = 0.1  # a pod deleted and re-created: one cluster re-read, not three
    POD_MIN_GAP = 0.5  # pods churning on a busy node: at most ~2 cluster re-reads a second

    def __init__(
        self,
        opts: Options,
        source: SnapshotSource | None = None,
        *,
        live: bool = True,
        dry_run: bool = False,
        theme: str = DEFAULT_THEME,
        runner_factory: Any = None,
    ) -> None:
        super().__init__()
        self.opts = opts
        self.source: SnapshotSource = source if source is not None else ProbeSource(opts)
        self.live = live  # False: probe once, no timers, no events (tests, screenshots)
        self.dry_run = dry_run
        self._initial_theme = theme
        self.runner_factory = runner_factory  # None: the engine's Runner (tests inject fakes)
        self.snapshot = Snapshot(
            node_name=opts.node_name,
            taken_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            netns=opts.netns,
            host_root=opts.host_root,
        )
        self.findings: list[Finding] = []
        self.cluster_note = "connecting to the apiserver…"
        self._cluster_started = False
        self._node_full = True  # the next node cycle reads everything, not just links/routes
        self._backoff = 0.0
        self._cycles_running: set[str] = set()
        self._cycles_dirty: set[str] = set()
        self._cycle_timers: dict[str, Timer] = {}
        # What the benchmarks and tests watch.
        self.started_at = time.perf_counter()
        self.node_shown_at: float | None = None
        self.node_frame_at: float | None = None  # the first frame with node panels drawn
        self.last_event_at: float | None = None  # when the last netlink event arrived
        self.events_ready = False  # the netlink subscription is live
        self.pod_watch_ready = False  # the pod watches are listed and streaming
        self.pod_watch_error: str | None = None  # why the last pod watch ended
        self.last_pod_event_at: float | None = None
        self.pod_events_seen = 0
        self._pod_watch_started = False
        self._after_frame_done = False
        self._early_only = False  # the first frame showed prefetched links/routes only
        self._pod_refresh_at = -1e9
        self._quit_asked_at = -1e9
        self.updates: dict[str, int] = {"node": 0, "cluster": 0, "dns": 0, "findings": 0}

    # ----------------------------------------------------------------- start-up

    def get_default_screen(self) -> Any:
        from ciliumtui.screens.dashboard import DashboardScreen

        return DashboardScreen()

    @property
    def dashboard(self) -> Any:
        return self.screen_stack[0]

    def on_mount(self) -> None:
        self.theme = self._initial_theme

    def start_probing(self) -> None:
        """Called by the dashboard once its panels exist."""
        self.dashboard.set_header(dry_run=self.dry_run)
        # Links and routes prefetched while the UI was importing go into the very first frame.
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
        # a small node (the full node read, checks, pyroute2 for netlink events, then
        # kubernetes); all of it starts once the node panels are drawn, or after 1 s
        # if the node probes are slow.
        self._early_only = early is not None
        if early is None:
            self.refresh_node()
        self.set_timer(1.0, self._after_first_frame)

    def _after_first_frame(self) -> None:
        if self._after_frame_done:
            return
        self._after_frame_done = True
        if self._early_only:
            self.refresh_node()  # the early frame had links and routes only
        self._start_cluster_once()
        events = self.source.events()
        if events is not None:
            self.run_worker(self._watch_events(events), group="events", exit_on_error=False)

    # ------------------------------------------------------------------ workers

    def _start(self, name: str, work: Any) -> bool:
        """Start cycle `name` unless one runs (then it re-runs once when done)."""
        if name in self._cycles_running:
            self._cycles_dirty.add(name)
            return False
        timer = self._cycle_timers.pop(name, None)
        if timer is not None:
            timer.stop()
        self._cycles_running.add(name)
        self.run_worker(work(), group=name, exit_on_error=False)
        return True

    def _finish(self, name: str, again: Any, delay: float, periodic: Any = None) -> None:
        """A cycle ended: re-run now if asked meanwhile, else in `delay` seconds."""
        self._cycles_running.discard(name)
        if name in self._cycles_dirty:
            self._cycles_dirty.discard(name)
            again()
        elif self.live and delay > 0:
            self._cycle_timers[name] = self.set_timer(
                delay, periodic or again, name=f"{name}-cycle"
            )

    def refresh_node(self, *, full: bool = True) -> None:
        """Re-read the node; `full=False` (netlink events) re-reads links and routes only."""
        self._node_full = self._node_full or full
        self._start("node", self._node_cycle)

    def refresh_cluster(self) -> None:
        self._start("cluster", self._cluster_cycle)

    def refresh_dns(self) -> None:
        self._start("dns", self._dns_cycle)

    def refresh_findings(self) -> None:
        self._start("findings", self._findings_cycle)

    def action_refresh_all(self) -> None:
        self._backoff = 0.0
        self.refresh_node()
        self.refresh_cluster()
        self.notify("Refreshing…", timeout=1.5)

    async def _node_cycle(self) -> None:
        """Links and routes first (fast; all a netlink event needs), then the full node."""
        full, self._node_full = self._node_full, False
        probes: dict[str, ProbeStatus] = {}
        net = getattr(self.source, "net", None)
        try:
            if net is not None:
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
        finally:
            self._finish(
                "node",
                partial(self.refresh_node, full=False),
                self.NODE_INTERVAL,
                self.refresh_node,
            )

    def _show_node(self, node: NodeState, probes: dict[str, ProbeStatus]) -> None:
        self.snapshot.probes.update(probes)
        self.snapshot.node = node
        self.dashboard.show_node(node, self.snapshot.cluster)
        self._show_address_space()
        self.updates["node"] += 1
        if self.node_shown_at is None:
            self.node_shown_at = time.perf_counter()
            self.call_after_refresh(self._first_node_frame)

    def _first_node_frame(self) -> None:
        self.node_frame_at = time.perf_counter()
        if self.live:
            self._after_first_frame()
        else:
            self._start_cluster_once()

    def _start_cluster_once(self) -> None:
        if not self._cluster_started:
            self._cluster_started = True
            self.refresh_cluster()

    async def _cluster_cycle(self) -> None:
        from .model import ClusterState

        probes: dict[str, ProbeStatus] = {}
        delay = self.BACKOFF_FIRST
        try:
            cluster = await self.source.cluster(probes)
        except Exception as exc:
            cluster = ClusterState(reachable=False, error=one_line(exc))
        try:
            self.snapshot.probes.update(probes)
            self.snapshot.cluster = cluster
            if cluster.reachable:
                self._backoff = 0.0
                delay = self.CLUSTER_INTERVAL
                self.cluster_note = ""
                state = f"apiserver ok ({cluster.server or 'connected'})"
            else:
                self._backoff = min(self.BACKOFF_MAX, self._backoff * 2 or self.BACKOFF_FIRST)
                delay = self._backoff
                why = cluster.error or "no kubeconfig works"
                self.cluster_note = f"apiserver unreachable: {why} — retry in {delay:g}s"
                state = "apiserver UNREACHABLE"
            dash = self.dashboard
            dash.set_header(
                context=cluster.context or self.opts.context,
                version=self.snapshot.cilium_version,
                cluster=state,
            )
            dash.show_cluster(self.snapshot.node, cluster, self.cluster_note)
            self._show_address_space()
            self.updates["cluster"] += 1
            self.refresh_findings()
            if "dns" not in self._cycle_timers:
                self.refresh_dns()
        finally:
            self._finish("cluster", self.refresh_cluster, delay if self.live else 0)
            self._start_pod_watch_once()

    async def _dns_cycle(self) -> None:
        from .model import ClusterState

        probes: dict[str, ProbeStatus] = {}
        cluster = self.snapshot.cluster or ClusterState()
        try:
            dns = await self.source.dns(cluster, probes)
        except Exception as exc:
            probes["dns"] = ProbeStatus(False, one_line(exc))
            dns = None
        try:
            self.snapshot.probes.update(probes)
            if dns is not None:
                self.snapshot.dns = dns
                self.dashboard.show_dns(self.snapshot.cluster, dns)
                self.updates["dns"] += 1
                self.refresh_findings()
        finally:
            self._finish("dns", self.refresh_dns, self.DNS_INTERVAL)

    async def _findings_cycle(self) -> None:
        note = ""
        try:
            findings = await self.source.findings(self.snapshot)
        except Exception as exc:
            findings = self.findings
            note = f"checks failed: {one_line(exc)}"
        try:
            self.findings = findings
            self.dashboard.show_findings(findings, note)
            self.updates["findings"] += 1
        finally:
            self._finish("findings", self.refresh_findings, 0)

    async def _watch_events(self, events: Any) -> None:
        """Each netlink burst re-reads the node panels once (debounced)."""
        try:
            async for event in events:
                if event == EVENTS_READY:
                    # Anything that changed between the first read and the subscription
                    # would otherwise stay unseen until the periodic re-read.
                    self.events_ready = True
                    self.refresh_node(full=False)
                    continue
                self.last_event_at = time.perf_counter()
                if "node-event" not in self._cycle_timers:
                    self._cycle_timers["node-event"] = self.set_timer(
                        self.EVENT_DEBOUNCE, self._on_node_event
                    )
        except Exception as exc:
            self.snapshot.probes["node.events"] = ProbeStatus(False, one_line(exc))

    def _on_node_event(self) -> None:
        self._cycle_timers.pop("node-event", None)
        self.refresh_node(full=False)

    # -------------------------------------------------------------- pod watches

    def _start_pod_watch_once(self) -> None:
        """After the first cluster cycle: kubernetes is imported by then, and the
        first frame long drawn. Not in tests/screenshots (live=False)."""
        if self._pod_watch_started or not self.live:
            return
        pod_events = getattr(self.source, "pod_events", None)
        if pod_events is None:
            return
        self._pod_watch_started = True
        self.run_worker(self._watch_pods(pod_events), group="pod-watch", exit_on_error=False)

    async def _watch_pods(self, pod_events: Any) -> None:
        """Each pod event re-reads the cluster (debounced); a watch that ends — apiserver
        gone, RBAC, a proxy cutting the stream — is restarted with backoff. Runs until
        the app quits (the worker is cancelled; the watch threads are stopped)."""
        backoff = 0.0
        while True:
            began = time.monotonic()
            try:
                async for event in pod_events():
                    kind = event[0]
                    if kind == "ERROR":
                        self.pod_watch_error = str(event[3])
                        continue
                    if kind == "SYNCED":
                        # Listed afresh: whatever changed before the watch began is unseen.
                        self.pod_watch_ready = True
                        self.pod_watch_error = None
                    else:
                        self.last_pod_event_at = time.perf_counter()
                        self.pod_events_seen += 1
                    self._pod_changed()
            except Exception as exc:
                self.pod_watch_error = one_line(exc)
            self.pod_watch_ready = False
            # A watch that streamed for a while ended normally-ish: retry soon.
            if time.monotonic() - began > self.BACKOFF_MAX:
                backoff = 0.0
            backoff = min(self.BACKOFF_MAX, backoff * 2 or self.BACKOFF_FIRST)
            await asyncio.sleep(backoff)

    def _pod_changed(self) -> None:
        if "pod-event" in self._cycle_timers:
            return  # a re-read is already due: this event rides along
        wait = max(self.POD_DEBOUNCE, self._pod_refresh_at + self.POD_MIN_GAP - time.monotonic())
        self._cycle_timers["pod-event"] = self.set_timer(wait, self._on_pod_event)

    def _on_pod_event(self) -> None:
        self._cycle_timers.pop("pod-event", None)
        self._pod_refresh_at = time.monotonic()
        self.refresh_cluster()  # runs now, or once more right after the running cycle

    def _show_address_space(self) -> None:
        self.dashboard.show_address_space(
            self.snapshot.node, self.snapshot.cluster, self.snapshot.node_name
        )

    # ---------------------------------------------------------------- navigation

    def wizard_running(self) -> bool:
        return any(getattr(screen, "state", None) == "running" for screen in self.screen_stack)

    async def action_quit(self) -> None:
        """Quitting mid-run would kill a step halfway: ask for a second press."""
        now = time.monotonic()
        if self.wizard_running() and now - self._quit_asked_at > 3.0:
            self._quit_asked_at = now
            self.notify(
                "A wizard run is in progress. Quit anyway (the journal allows --resume)?"
                " Press quit again within 3 s.",
                severity="warning",
            )
            return
        self.exit(0)

    def action_help(self) -> None:
        from ciliumtui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_command_mode(self) -> None:
        if self.screen is self.dashboard:
            self.dashboard.action_command()
        else:
            self.notify("Command mode works on the dashboard (esc to go back).")

    def show_finding(self, finding: Finding) -> None:
        from ciliumtui.screens.finding_detail import FindingDetailScreen

        self.push_screen(FindingDetailScreen(finding, read_only=self.opts.read_only))

    def start_wizard(
        self,
        playbook: str,
        *,
        finding: Finding | None = None,
        dry_run: bool = False,
        inputs: dict[str, str] | None = None,
    ) -> None:
        """Open the wizard; read-only (or --dry-run) always means a dry run."""
        from ciliumtui.screens.wizard import WizardScreen

        forced = self.opts.read_only or self.dry_run
        if forced and not dry_run:
            self.notify(f"read-only: {playbook} runs as a dry run (plan only).", severity="warning")
        self.push_screen(
            WizardScreen(
                playbook,
                dry_run=dry_run or forced,
                finding=finding,
                runner_factory=self.runner_factory,
                inputs=inputs,
            )
        )

    def show_journal(self) -> None:
        from ciliumtui.screens.journal import JournalScreen

        self.push_screen(JournalScreen())

    # -------------------------------------------------------------- command mode

    def execute_command(self, line: str) -> None:
        """`:` commands (k9s habit); unknown ones say so instead of failing silently."""
        words = line.split()
        if not words:
            return
        cmd, args = words[0].lower(), words[1:]
        if cmd in ("q", "q!", "quit", "exit"):
            self.exit(0)
        elif cmd in ("run", "dry-run", "dryrun"):
            dry = cmd != "run" or "--dry-run" in args
            inputs = dict(a.split("=", 1) for a in args if "=" in a and not a.startswith("-"))
            names = [a for a in args if not a.startswith("-") and "=" not in a]
            if not names:
                self.notify(
                    f"usage: :{cmd} PLAYBOOK ({', '.join(playbook_ids()) or 'none found'})",
                    severity="error",
                )
                return
            known = playbook_ids()
            if known and names[0] not in known:
                self.notify(
                    f"no playbook {names[0]!r}; known: {', '.join(known)}", severity="error"
                )
                return
            self.start_wizard(names[0], dry_run=dry, inputs=inputs)
        elif cmd in ("diagnose", "diag"):
            self.action_refresh_all()
            self.dashboard.query_one("#findings DataTable").focus()
        elif cmd in ("refresh", "r"):
            self.action_refresh_all()
        elif cmd == "theme":
            if not args:
                self.notify("themes: " + ", ".join(sorted(self.available_themes)))
            elif args[0] in self.available_themes:
                self.theme = args[0]
            else:
                self.notify(
                    f"no theme {args[0]!r}; try :theme with no name for a list", severity="error"
                )
        elif cmd == "journal":
            self.show_journal()
        elif cmd in ("help", "h", "?"):
            self.action_help()
        else:
            self.notify(f"unknown command :{cmd} (try :help)", severity="error")


def run_tui(opts: Options) -> int:
    import sys

    from .errors import CiliumtuiError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CiliumtuiError(
            "the dashboard needs an interactive terminal; in scripts use"
            " `ciliumtui diagnose` or `ciliumtui snapshot`"
        )
    app = CiliumtuiApp(opts)
    result = app.run()
    return int(result or 0)
