"""Every screen of the TUI in a deterministic state, for the SVG snapshots (and for
looking at them by hand: `make_app(name)` returns the app and the Pilot steps
that open the screen). Hand-built model objects, no timers, no live events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tui_fixtures import (
    NODE,
    healthy_source,
    opts,
    post_reboot_source,
    unreachable_source,
)

from ciliumtui.app import CiliumtuiApp
from ciliumtui.engine.events import ConfirmRequest, Event, RunResult
from ciliumtui.training.env import TrainingEnv

Before = Callable[[Any], Awaitable[None]]

SCENARIO = {
    "id": "post-reboot",
    "title": "The node after a hard reboot",
    "briefing": (
        "k3s-node1 was hard-rebooted by its provider. Since then pods on it stay in"
        " ContainerCreating and CoreDNS answers cluster names but not public ones."
        " Find out why and fix it with the tool's own advice."
    ),
    "hints": ["Look at the findings first.", "What was left behind?", "cleanup"],
}


class ScriptedRunner:
    """Plays a fixed cleanup run: diagnose ok, then asks before delete-links."""

    def __init__(self, playbook: Any, opts: Any, inputs: Any, **kw: Any) -> None:
        self.pb, self.opts, self.kw = playbook, opts, kw
        self.run_id = "20260101T000000Z-cleanup-0000"

    def _ev(self, kind: str, step: Any = None, **kw: Any) -> None:
        ev = Event(kind=kind, run_id=self.run_id, **kw)
        if step is not None:
            ev.step_id, ev.title, ev.risk, ev.phase = step.id, step.label, step.risk, step.phase
        self.kw["on_event"](ev)

    async def run(self) -> RunResult:
        steps = {s.id: s for s in self.pb.steps}
        self._ev("run_started")
        first = self.pb.steps[0]
        self._ev("step_started", first, plan=[])
        self._ev("step_output", first, message="stale-cilium-interfaces: 7 links")
        self._ev("step_finished", first, status="ok")
        step = steps.get("delete-links", self.pb.steps[1])
        plan = [
            "# 7 Cilium links, nothing else",
            f"ip -n {NODE}-ns link delete cilium_host",
            f"ip -n {NODE}-ns link delete cilium_vxlan",
            f"ip -n {NODE}-ns link delete lxc_health",
        ]
        self._ev("confirm_requested", step, plan=plan)
        request = ConfirmRequest(
            step.id, step.label, step.risk, plan, "default", NODE, step.risk == "destructive"
        )
        ok = await self.kw["confirm"](request)
        status = "ok" if ok else "declined"
        self._ev("step_finished", step, status=status)
        self._ev("run_finished", status=status)
        return RunResult(self.run_id, self.pb.id, status, "", {}, None if ok else step.id)


async def settle(pilot: Any) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


class StubEnv:
    """What TrainingApp reads of a TrainingEnv (training/env.py), fixed paths."""

    mode = "recorded"
    kubeconfig = "/tmp/ciliumtui-train-0000/kubeconfig"
    env_file = Path("/tmp/ciliumtui-train-0000/env.sh")

    def __init__(self) -> None:
        self.opts = opts(kubeconfig=self.kubeconfig, host_root="/tmp/ciliumtui-train-0000/root")

    def cli_flags(self) -> list[str]:
        return ["--kubeconfig", self.kubeconfig, "--node", NODE, "--host-root", self.opts.host_root]

    def env_vars(self) -> dict[str, str]:
        return {"CILIUMTUI_STATE_DIR": "/tmp/ciliumtui-train-0000/state"}

    program = ("/usr/bin/python3", "-m", "ciliumtui")  # not this machine's venv: snapshots
    command_line = TrainingEnv.command_line


class StubSession:
    """What TrainingApp reads of a TrainingSession before anything is scored."""

    def __init__(self) -> None:
        self.env = StubEnv()
        self.scenario = SCENARIO
        self.hints = list(SCENARIO["hints"])
        self.hints_used = 0
        self.result = None

    def open_finding(self, finding_id: str) -> None:
        pass


def training_app(source: Any = None) -> CiliumtuiApp:
    from ciliumtui.training.tui import TrainingApp

    session: Any = StubSession()
    return TrainingApp(session, source=source or post_reboot_source(), live=False)


# Every shipped scenario's dashboard (a new one gets its snapshot automatically).
SCENARIOS = sorted(
    p.stem for p in (Path(__file__).resolve().parent.parent / "assets/scenarios").glob("*.yaml")
)


def scenario_source(scenario: str) -> Any:
    """A training scenario as the real probes see it (recorded node + the simulated
    cluster, no root needed), frozen into a StaticSource; the findings come from the
    real checks at draw time. What changes from run to run (the sim's port, paths,
    DNS timings) is pinned so that every run draws the same frame."""
    import dataclasses
    import re

    from ciliumtui import aio
    from ciliumtui.collect import collect
    from ciliumtui.sources import StaticSource
    from ciliumtui.training.env import TrainingEnv

    with TrainingEnv(scenario, root=False) as env:
        snap = aio.run(collect(env.opts))
    cluster = snap.cluster
    if cluster is not None:
        cluster = dataclasses.replace(
            cluster, server="https://127.0.0.1:6443", kubeconfig="/etc/rancher/k3s/k3s.yaml"
        )
    dns = snap.dns
    if dns is not None:
        checks = [
            dataclasses.replace(
                c,
                ms=1.0 if c.ms is not None else None,
                server=re.sub(r":\d+$", ":53", c.server or "") or c.server,
            )
            for c in dns.checks
        ]
        dns = dataclasses.replace(dns, checks=checks)
    return StaticSource(snap.node, cluster, dns)


def make_app(name: str) -> tuple[CiliumtuiApp, Before]:
    """(app, steps) that show screen `name`."""
    if name.startswith("scenario-"):
        app = CiliumtuiApp(opts(), scenario_source(name.removeprefix("scenario-")), live=False)

        async def just_settle(pilot: Any) -> None:
            await settle(pilot)

        return app, just_settle
    if name == "training-dashboard":
        app = training_app()

        async def close_briefing(pilot: Any) -> None:
            await settle(pilot)
            await pilot.press("escape")
            await pilot.pause()

        return app, close_briefing
    source = {
        "dashboard-healthy": healthy_source,
        "dashboard-unreachable": unreachable_source,
    }.get(name, post_reboot_source)()
    app = CiliumtuiApp(
        opts(read_only=name.endswith("read-only")),
        source,
        live=False,
        runner_factory=ScriptedRunner,
    )

    async def before(pilot: Any) -> None:
        await settle(pilot)
        await OPEN.get(name, _nothing)(app, pilot)
        await pilot.pause()

    return app, before


async def _nothing(app: CiliumtuiApp, pilot: Any) -> None:
    return None


async def _detail(app: CiliumtuiApp, pilot: Any) -> None:
    app.show_finding(next(f for f in app.findings if f.id == "cilium-agent-not-ready"))


async def _wizard(app: CiliumtuiApp, pilot: Any) -> None:
    app.start_wizard("cleanup")


async def _wizard_dry(app: CiliumtuiApp, pilot: Any) -> None:
    app.start_wizard("cleanup", dry_run=True)


async def _confirm(app: CiliumtuiApp, pilot: Any, risk: str) -> None:
    from ciliumtui.screens.confirm import ConfirmScreen

    app.start_wizard("cleanup")
    await pilot.pause()
    plan = [
        "# 7 Cilium links, nothing else",
        *(f"ip link delete {n}" for n in ("cilium_host", "cilium_net", "cilium_vxlan")),
        # One entry, as the engine plans it: the here-doc is part of the command.
        "iptables-nft-restore --noflush -w <<'EOF'\n*filter\n"
        "-D FORWARD -m comment --comment cilium-feeder -j CILIUM_FORWARD\nCOMMIT\nEOF",
    ]
    request = ConfirmRequest(
        "delete-links",
        "Delete Cilium's links",
        risk,
        plan,
        "default",
        NODE,
        risk == "destructive",
    )
    app.push_screen(ConfirmScreen(request))


async def _result(app: CiliumtuiApp, pilot: Any, answer: bool) -> None:
    from ciliumtui.screens.confirm import ConfirmScreen

    app.start_wizard("cleanup")
    await pilot.pause()
    await pilot.press("s")
    for _ in range(200):
        if isinstance(app.screen, ConfirmScreen):
            break
        await pilot.pause(0.02)
    app.screen.dismiss(answer)
    for _ in range(200):
        if getattr(app.screen_stack[-1], "result", None) is not None:
            break
        await pilot.pause(0.02)


async def _help(app: CiliumtuiApp, pilot: Any) -> None:
    app.show_help()


async def _journal(app: CiliumtuiApp, pilot: Any) -> None:
    app.show_journal()


async def _env(app: CiliumtuiApp, pilot: Any) -> None:
    app.show_env()


async def _inputs(app: CiliumtuiApp, pilot: Any) -> None:
    app.start_wizard("pod-cidr-change")
    await pilot.pause()


async def _briefing(app: CiliumtuiApp, pilot: Any) -> None:
    from ciliumtui.screens.briefing import BriefingScreen

    env = [
        ". /tmp/ciliumtui-train-0000/env.sh",
        "ciliumtui diagnose   (or: ciliumtui run PLAYBOOK, kubectl ...)",
    ]
    mode = "Mode: recorded node — no root, the node is a recorded file; changes are simulated"
    app.push_screen(BriefingScreen(SCENARIO, mode, env))


async def _debrief(app: CiliumtuiApp, pilot: Any) -> None:
    from ciliumtui.screens.debrief import DebriefScreen

    from ciliumtui.training.score import Debrief

    debrief = Debrief(
        "post-reboot",
        SCENARIO["title"],
        solved=True,
        gave_up=False,
        seconds=312,
        time_to_root_cause=41,
        root_cause_via="finding stale-cilium-interfaces",
        hints_used=1,
        hints_total=3,
        risky_steps=[
            "cleanup/delete-links (destructive)",
            "cleanup/purge-iptables (destructive)",
            "cleanup/detach-bpf (destructive)",
            "cleanup/restart-agent (high)",
            "cleanup/restart-pods (high)",
        ],
        expert_path=["open stale-cilium-interfaces", "cleanup", "verify"],
        playbooks_run=["cleanup: ok", "verify: ok"],
    )
    app.push_screen(DebriefScreen(debrief))


async def _ask(app: CiliumtuiApp, pilot: Any) -> None:
    from ciliumtui.screens.ask import AskScreen

    app.push_screen(
        AskScreen(
            "Give up?",
            "The session ends and the debrief shows the root cause and the solution.",
            yes="Give up",
        )
    )


async def _unfolded(app: CiliumtuiApp, pilot: Any) -> None:
    await pilot.press("z")


OPEN: dict[str, Callable[[CiliumtuiApp, Any], Awaitable[None]]] = {
    "dashboard-unfolded": _unfolded,
    "detail": _detail,
    "wizard-plan": _wizard,
    "wizard-dry-run": _wizard_dry,
    "confirm": lambda app, pilot: _confirm(app, pilot, "high"),
    "confirm-destructive": lambda app, pilot: _confirm(app, pilot, "destructive"),
    "wizard-result": lambda app, pilot: _result(app, pilot, True),
    "wizard-declined": lambda app, pilot: _result(app, pilot, False),
    "help": _help,
    "journal": _journal,
    "env": _env,
    "inputs": _inputs,
    "briefing": _briefing,
    "debrief": _debrief,
    "give-up": _ask,
}
SCREENS = [
    "dashboard",
    "training-dashboard",
    "dashboard-healthy",
    "dashboard-unreachable",
    "dashboard-read-only",
    *OPEN,
    *(f"scenario-{s}" for s in SCENARIOS),
]
