"""Confirmation defaults, the wizard screen (fake runner for the UI contract, the
real engine in dry-run inside a netns), and the journal viewer."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from ciliumtui.screens.confirm import ConfirmScreen
from ciliumtui.screens.wizard import WizardScreen
from textual.widgets import Button, Input
from tui_fixtures import NODE, healthy_source, opts, post_reboot_source

from ciliumtui.app import CiliumtuiApp
from ciliumtui.engine.events import ConfirmRequest, Event, RunResult


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "state"
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(d))
    return d


async def settle(app: CiliumtuiApp, pilot: Any) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def wait_for(pilot: Any, cond: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


# ------------------------------------------------------------------- confirm


async def open_confirm(app: CiliumtuiApp, pilot: Any, risk: str) -> list[bool]:
    answers: list[bool] = []
    app.push_screen(
        ConfirmScreen(
            "Delete links", ["ip link delete cilium_host"], risk=risk, node=NODE, context="default"
        ),
        callback=answers.append,
    )
    await pilot.pause()
    return answers


async def test_confirm_has_cancel_focused_and_enter_cancels() -> None:
    app = CiliumtuiApp(opts(), healthy_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        answers = await open_confirm(app, pilot, "high")
        assert app.screen.focused is app.screen.query_one("#cancel", Button)
        assert not app.screen.query("#confirm-node")  # high: no typing needed
        await pilot.press("enter")
        await pilot.pause()
        assert answers == [False]
        answers = await open_confirm(app, pilot, "high")
        await pilot.press("escape")
        await pilot.pause()
        assert answers == [False]


async def test_destructive_confirm_needs_the_node_name_typed() -> None:
    app = CiliumtuiApp(opts(), healthy_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        answers = await open_confirm(app, pilot, "destructive")
        ok = app.screen.query_one("#confirm-ok", Button)
        assert app.screen.focused is app.screen.query_one("#cancel", Button)
        assert ok.disabled
        app.screen.query_one("#confirm-node", Input).focus()
        await pilot.press(*"k3s-node2")
        assert ok.disabled
        await pilot.press("enter")  # wrong name: enter does nothing
        await pilot.pause()
        assert answers == []
        await pilot.press("backspace", "1")
        await pilot.pause()
        assert not ok.disabled
        await pilot.click("#confirm-ok")
        await pilot.pause()
        assert answers == [True]


# -------------------------------------------------------------- fake runner


class FakeRunner:
    """Speaks the engine's contract: events, and confirm() before mutating steps."""

    def __init__(
        self,
        playbook: Any,
        opts: Any,
        inputs: dict[str, Any],
        *,
        dry_run: bool,
        confirm: Any,
        on_event: Any,
    ) -> None:
        self.pb, self.opts, self.dry_run = playbook, opts, dry_run
        self.confirm, self.on_event = confirm, on_event
        self.seq = 0

    def emit(self, kind: str, step: Any = None, **kw: Any) -> None:
        self.seq += 1
        ev = Event(kind=kind, run_id="run-1", seq=self.seq, **kw)
        if step is not None:
            ev.step_id, ev.title, ev.risk, ev.phase = step.id, step.label, step.risk, step.phase
        self.on_event(ev)

    async def run(self) -> RunResult:
        self.emit("run_started")
        statuses = {}
        for step in self.pb.steps:
            if step.mutates and self.dry_run:
                self.emit("step_planned", step, plan=[f"plan of {step.id}"])
                statuses[step.id] = "planned"
                self.emit("step_finished", step, status="planned")
                continue
            if step.mutates:
                req = ConfirmRequest(
                    step.id,
                    step.label,
                    step.risk,
                    [f"do {step.id}"],
                    "default",
                    self.opts.node_name,
                    step.risk == "destructive",
                )
                self.emit("confirm_requested", step)
                if not await self.confirm(req):
                    self.emit("confirm_declined", step)
                    self.emit("step_finished", step, status="declined")
                    statuses[step.id] = "declined"
                    self.emit("run_finished", status="declined")
                    return RunResult("run-1", self.pb.id, "declined", "declined", statuses, step.id)
            self.emit("step_started", step, plan=[f"run {step.id}"])
            self.emit("step_output", step, message=f"output of {step.id}")
            self.emit("step_finished", step, status="ok")
            statuses[step.id] = "ok"
        status = "planned" if self.dry_run else "ok"
        self.emit("run_finished", status=status)
        return RunResult("run-1", self.pb.id, status, "", statuses)


async def test_wizard_asks_before_mutating_steps_and_shows_result_and_next() -> None:
    app = CiliumtuiApp(opts(), post_reboot_source(), live=False, runner_factory=FakeRunner)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        app.start_wizard("cleanup")
        await pilot.pause()
        wizard = app.screen
        assert (
            isinstance(wizard, WizardScreen) and wizard.step_status("purge-iptables") == "pending"
        )
        await pilot.press("s")
        answered = 0
        while wizard.state != "done":
            await wait_for(
                pilot, lambda: isinstance(app.screen, ConfirmScreen) or wizard.state == "done"
            )
            if isinstance(app.screen, ConfirmScreen):
                screen = app.screen
                await wait_for(pilot, lambda s=screen: s.focused is not None)
                assert screen.focused is screen.query_one("#cancel", Button)
                if screen.needs_typing:
                    screen.query_one("#confirm-node", Input).focus()
                    await pilot.press(*NODE, "enter")
                else:
                    screen.query_one("#confirm-ok", Button).press()
                answered += 1
                await wait_for(pilot, lambda s=screen: app.screen is not s)
        assert answered >= 2
        assert wizard.step_status("purge-iptables") == "ok"
        assert wizard.step_status("diagnose") == "ok"
        status = str(wizard.query_one("#wizard-status").render())
        assert "Result: ok" in status and "verify" in status
        await pilot.press("x")  # the next playbook
        await pilot.pause()
        assert isinstance(app.screen, WizardScreen) and app.screen.playbook_id == "verify"


async def test_wizard_cancel_on_first_confirmation_stops_the_run() -> None:
    app = CiliumtuiApp(opts(), post_reboot_source(), live=False, runner_factory=FakeRunner)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        app.start_wizard("cleanup")
        await pilot.pause()
        wizard = app.screen
        await pilot.press("s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen.focused is not None
        )
        await pilot.press("enter")  # Cancel has the focus
        await wait_for(pilot, lambda: wizard.state == "done")
        assert "declined" in str(wizard.query_one("#wizard-status").render())
        assert wizard.step_status("purge-iptables") == "pending"


async def test_read_only_run_command_opens_a_dry_run() -> None:
    app = CiliumtuiApp(
        opts(read_only=True), post_reboot_source(), live=False, runner_factory=FakeRunner
    )
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("colon", *"run cleanup", "enter")
        await pilot.pause()
        wizard = app.screen
        assert isinstance(wizard, WizardScreen) and wizard.dry_run
        assert "DRY-RUN" in str(wizard.query_one("#wizard-title").render())
        await pilot.press("s")
        await wait_for(pilot, lambda: wizard.state == "done")
        assert wizard.step_status("purge-iptables") == "planned"


async def test_unknown_playbook_is_refused_in_command_mode() -> None:
    app = CiliumtuiApp(opts(), healthy_source(), live=False, runner_factory=FakeRunner)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("colon", *"run nosuch", "enter")
        await pilot.pause()
        assert app.screen is app.dashboard
        assert any("no playbook 'nosuch'" in str(n.message) for n in app._notifications)


# --------------------------------------------------- real engine, in a netns


@pytest.mark.root
async def test_real_engine_dry_run_in_a_netns_completes_and_is_journaled(
    make_netns: Any, tmp_path: Path, state_dir: Path
) -> None:
    import subprocess

    ns = make_netns("h6w")
    # A small Cilium-looking node: cilium_host/cilium_net and one endpoint veth.
    subprocess.run(
        [
            "ip",
            "-n",
            ns,
            "link",
            "add",
            "cilium_host",
            "type",
            "veth",
            "peer",
            "name",
            "cilium_net",
        ],
        check=True,
    )
    subprocess.run(
        ["ip", "-n", ns, "link", "add", "lxc0123456789ab", "type", "veth", "peer", "name", "peer0"],
        check=True,
    )
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text(f"{NODE}\n")
    o = opts(
        netns=ns, host_root=str(root), kubeconfig=str(tmp_path / "missing-kubeconfig"), timeout=1.0
    )
    app = CiliumtuiApp(o, post_reboot_source(), live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("colon", *"dry-run cleanup", "enter")
        await pilot.pause()
        wizard = app.screen
        assert isinstance(wizard, WizardScreen) and wizard.dry_run
        await pilot.press("s")
        await wait_for(pilot, lambda: wizard.state == "done", timeout=60)
        assert wizard.result.status == "planned"
        assert wizard.step_status("delete-links") == "planned"
        log = "\n".join(str(line.text) for line in wizard.query_one("#wizard-log").lines)
        assert "cilium_host" in log and "lxc0123456789ab" in log
        # Nothing changed in the namespace.
        links = subprocess.run(
            ["ip", "-n", ns, "-o", "link"], capture_output=True, text=True
        ).stdout
        assert "cilium_host" in links and "lxc0123456789ab" in links
        # The run is in the journal viewer.
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("colon", *"journal", "enter")
        await pilot.pause()
        table = app.screen.query_one("#journal-runs")
        assert table.row_count == 1
        row = [str(getattr(c, "plain", c)) for c in table.get_row_at(0)]
        assert row[1] == "cleanup" and "dry-run" in row[2] and row[3] == "planned"
        await pilot.press("enter")
        await pilot.pause()
        records = "\n".join(str(line.text) for line in app.screen.query_one("#journal-log").lines)
        assert "run_started" in records and "step_planned" in records
    assert os.listdir(state_dir / "runs")
