"""The Textual app: the dashboard, the screens it opens, and the glue between them.

What lives elsewhere: the probe workers (ciliumtui.tui.workers: four
self-rescheduling cycles, netlink deltas, the pod watches), the command table
that `:`, the palette and help share (ciliumtui.tui.commands), the interface
screens use to reach the app (ciliumtui.tui.control.AppControl, which this class
implements), and where the data comes from (ciliumtui.sources).

Imports stay light: kubernetes, pydantic and dnspython are only imported by
the probes, inside their worker threads, after the first frame.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.binding import Binding
from textual.message import Message

from .model import ClusterState, DnsState, Finding, NodeState, Snapshot
from .options import Options
from .sources import ProbeSource, SnapshotSource
from .tui.control import FindingsChanged, SnapshotChanged
from .tui.workers import Probing, Stats, Timing

if TYPE_CHECKING:
    from .screens.dashboard import DashboardScreen
    from .tui.netdelta import Delta

DEFAULT_THEME = "ansi-dark"  # follows the terminal's own palette: right over SSH


def palette_provider() -> Any:
    """The command-palette provider, imported when the palette first opens (start-up
    does not pay for textual.command)."""
    from .tui.palette import CiliumtuiCommands

    return CiliumtuiCommands


def css_path() -> str:
    return str(files("ciliumtui.assets").joinpath("ciliumtui.tcss"))


class CiliumtuiApp(App[int]):
    CSS_PATH = css_path()
    TITLE = "ciliumtui"
    COMMANDS = App.COMMANDS | {palette_provider}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command_mode", "Cmd", show=False),
        Binding("ctrl+p", "command_palette", "Palette", show=False),
        Binding("q", "quit", "Quit"),
        # k9s and htop users quit with ctrl+c (Textual's default only says "press ctrl+q").
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        opts: Options,
        source: SnapshotSource | None = None,
        *,
        live: bool = True,
        dry_run: bool = False,
        theme: str = DEFAULT_THEME,
        runner_factory: Any = None,
        timing: Timing | None = None,
    ) -> None:
        super().__init__()
        self.opts = opts
        self.dry_run = dry_run
        self._initial_theme = theme
        self.runner_factory = runner_factory  # None: the engine's Runner (tests inject fakes)
        self.probing = Probing(
            self,
            self,
            source if source is not None else ProbeSource(opts),
            opts,
            live=live,
            timing=timing,
        )
        self.current_plan: list[str] = []  # the last wizard's plan lines (:export)
        self.current_plan_title = ""
        self._quit_asking = False
        self._address_space_key: object = None

    # ------------------------------------------------------------- the state

    @property
    def snapshot(self) -> Snapshot:
        return self.probing.snapshot

    @property
    def findings(self) -> list[Finding]:
        return self.probing.findings

    @property
    def stats(self) -> Stats:
        return self.probing.stats

    @property
    def live(self) -> bool:
        return self.probing.live

    # --------------------------------------------------------------- start-up

    def get_default_screen(self) -> DashboardScreen:
        from .screens.dashboard import DashboardScreen

        return DashboardScreen()

    @property
    def dashboard(self) -> DashboardScreen:
        from .screens.dashboard import DashboardScreen

        screen = self.screen_stack[0]
        assert isinstance(screen, DashboardScreen)
        return screen

    def on_mount(self) -> None:
        self.theme = self._initial_theme

    def start_probing(self) -> None:
        """Called by the dashboard once its panels exist."""
        self.dashboard.set_header(dry_run=self.dry_run)
        self.probing.start()

    # ------------------------------------------- what the workers read (ProbeSink)

    def _broadcast(self, message: type[Message]) -> None:
        for screen in self.screen_stack[1:]:
            screen.post_message(message())

    def node_changed(self, node: NodeState, delta: Delta | None) -> None:
        if not self.screen_stack:  # quitting: a late timer has nothing to draw on
            return
        dash = self.dashboard
        dash.show_node(node, self.snapshot.cluster, delta)
        self._show_address_space()
        self._broadcast(SnapshotChanged)

    def cluster_changed(self, cluster: ClusterState, note: str) -> None:
        if not self.screen_stack:  # quitting: a late timer has nothing to draw on
            return
        state = (
            f"apiserver ok ({cluster.server or 'connected'})"
            if cluster.reachable
            else "apiserver UNREACHABLE"
        )
        dash = self.dashboard
        dash.set_header(
            context=cluster.context or self.opts.context,
            version=self.snapshot.cilium_version,
            cluster=state,
        )
        dash.show_cluster(self.snapshot.node, cluster, note)
        self._show_address_space()
        self._broadcast(SnapshotChanged)

    def dns_changed(self, dns: DnsState) -> None:
        if not self.screen_stack:  # quitting: a late timer has nothing to draw on
            return
        self.dashboard.show_dns(self.snapshot.cluster, dns)

    def findings_changed(self, findings: list[Finding], note: str) -> None:
        if not self.screen_stack:  # quitting: a late timer has nothing to draw on
            return
        self.dashboard.show_findings(findings, note)
        self._broadcast(FindingsChanged)

    def _show_address_space(self) -> None:
        """Redrawn only when what it draws from changed: under link churn the veths'
        IPv6 link-local routes come and go, and a redraw repaints the whole panel."""
        snap = self.snapshot
        node = snap.node
        key = (
            id(snap.cluster),
            tuple((r.dst, r.dev, r.table) for r in node.routes if r.family == 4) if node else (),
            tuple(a for link in node.links for a in link.addresses if ":" not in a) if node else (),
        )
        if key == self._address_space_key or not self.screen_stack:
            return
        self._address_space_key = key
        self.dashboard.show_address_space(node, snap.cluster, snap.node_name)

    # ---------------------------------------------------------- navigation

    def change_running(self) -> bool:
        """A wizard is running for real (not a dry run): quitting would stop it halfway."""
        from .screens.wizard import WizardScreen

        return any(
            isinstance(s, WizardScreen) and s.state == "running" and not s.dry_run
            for s in self.screen_stack
        )

    async def action_quit(self) -> None:
        """q / ctrl+c: quit at once, unless a change is running (then ask, Cancel first)."""
        if not self.change_running():
            self.exit(0)
            return
        if self._quit_asking:  # ctrl+c twice: the operator means it
            self.exit(0)
            return
        from .screens.ask import AskScreen

        def answered(yes: bool | None) -> None:
            self._quit_asking = False
            if yes:
                self.exit(0)

        self._quit_asking = True
        self.push_screen(
            AskScreen(
                "Quit while a change is running?",
                "A wizard step is changing the node. Quitting stops it where it is;"
                " the journal records how far it got (ciliumtui run --resume).",
                yes="Quit anyway",
            ),
            callback=answered,
        )

    def action_help(self) -> None:
        self.show_help()

    def action_command_mode(self) -> None:
        open_prompt = getattr(self.screen, "action_command", None)
        if callable(open_prompt):
            open_prompt()
        else:
            self.notify("Command mode works on the dashboard and in wizards (esc to go back).")

    def show_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def show_finding(self, finding: Finding) -> None:
        from .screens.finding_detail import FindingDetailScreen

        self.push_screen(FindingDetailScreen(finding))

    def start_wizard(
        self,
        playbook: str,
        *,
        finding: Finding | None = None,
        dry_run: bool = False,
        inputs: dict[str, str] | None = None,
    ) -> None:
        """Open the wizard; read-only (or --dry-run) always means a dry run."""
        from .screens.wizard import WizardScreen

        forced = self.opts.read_only or self.dry_run
        if forced and not dry_run:
            self.notify(f"read-only: {playbook} runs as a dry run (plan only).", severity="warning")
        self.push_screen(
            WizardScreen(playbook, dry_run=dry_run or forced, finding=finding, inputs=inputs)
        )

    def show_journal(self) -> None:
        from .screens.journal import JournalScreen

        self.push_screen(JournalScreen())

    def show_fleet(self, selector: str | None = None) -> None:
        """`:fleet [SELECTOR]`: every node's report; on the fleet view, a new selector."""
        from .screens.fleet import FleetScreen

        if isinstance(self.screen, FleetScreen):
            self.screen.set_selector(selector)
        else:
            self.push_screen(FleetScreen(selector))

    def env_lines(self) -> list[str]:
        """Where this session looks: what `:env` shows (training adds its flags)."""
        cluster = self.snapshot.cluster
        kubeconfig = (cluster.kubeconfig if cluster else None) or self.opts.kubeconfig
        context = (cluster.context if cluster else None) or self.opts.context
        lines = [
            f"node        {self.opts.node_name}",
            f"kubeconfig  {kubeconfig or '(discovered: $KUBECONFIG, ~/.kube/config, k3s)'}",
            f"context     {context or '(current)'}",
            f"netns       {self.opts.netns or '(this namespace)'}",
            f"host root   {self.opts.host_root}",
        ]
        if self.opts.read_only:
            lines.append("mode        read-only")
        return lines

    def show_env(self) -> None:
        from .screens.info import InfoScreen

        self.push_screen(InfoScreen("Environment — esc to close, y to copy", self.env_lines()))

    # ------------------------------------------------- commands (CommandHost)

    def execute_command(self, line: str) -> None:
        from .tui import commands  # on first use, not on the first frame's path

        commands.execute(self, line)

    def complete_command(self, line: str) -> tuple[str, list[str]]:
        from .tui import commands

        return commands.complete(self, line)

    def say(self, message: str, *, error: bool = False) -> None:
        self.notify(message, severity="error" if error else "information")

    def quit_app(self) -> None:
        self.run_worker(self.action_quit(), group="quit")

    def set_theme(self, name: str) -> None:
        self.theme = name

    def refresh_all(self) -> None:
        self.probing.refresh_all()
        self.notify("Refreshing…", timeout=1.5)

    def action_refresh_all(self) -> None:
        self.refresh_all()

    def focus_findings(self) -> None:
        self.focus_panel("findings")

    def focus_panel(self, panel: str) -> bool:
        if self.screen is not self.dashboard:
            return False
        return self.dashboard.focus_panel(panel)

    def screendump(self, path: str | None) -> str:
        if path is None:
            return self.save_screenshot()
        target = Path(path)
        return self.save_screenshot(filename=target.name, path=str(target.parent or "."))


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
