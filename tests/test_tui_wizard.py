"""Confirmation defaults, the wizard screen (the real engine on a recorded node with
its simulated cluster — no root —, and in dry-run inside a netns), and the journal viewer."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from ciliumtui.screens.ask import AskScreen
from ciliumtui.screens.confirm import ConfirmScreen
from ciliumtui.screens.wizard import WizardScreen
from textual.widgets import Button, Input
from tui_fixtures import NODE, healthy_source, opts, post_reboot_source, wait_for

from ciliumtui.app import CiliumtuiApp
from ciliumtui.engine.events import ConfirmRequest
from ciliumtui.options import Options


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "state"
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(d))
    return d


async def settle(app: CiliumtuiApp, pilot: Any) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def command(pilot: Any, line: str) -> None:
    """`:` + a command line + enter (typing is covered in test_tui_dashboard; this is quicker)."""
    await pilot.press("colon")
    pilot.app.screen.query_one("#command-line").value = line
    await pilot.press("enter")


# ------------------------------------------------------------------- confirm


def request(risk: str) -> ConfirmRequest:
    return ConfirmRequest(
        "delete-links",
        "Delete links",
        risk,
        ["ip link delete cilium_host"],
        "default",
        NODE,
        type_node_name=risk == "destructive",
    )


async def open_confirm(app: CiliumtuiApp, pilot: Any, risk: str) -> list[bool]:
    answers: list[bool] = []
    app.push_screen(ConfirmScreen(request(risk)), callback=answers.append)
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


async def test_destructive_confirm_focuses_the_name_field_and_enter_confirms_only_a_match() -> None:
    app = CiliumtuiApp(opts(), healthy_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        answers = await open_confirm(app, pilot, "destructive")
        screen = app.screen
        field = screen.query_one("#confirm-node", Input)
        ok = screen.query_one("#confirm-ok", Button)
        # The field has the focus; its placeholder cannot pass for a typed value.
        assert screen.focused is field and field.value == ""
        assert field.placeholder == f"type {NODE}"
        assert ok.disabled
        await pilot.press(*"k3s-node2")  # typing goes into the field, straight away
        assert field.value == "k3s-node2" and ok.disabled
        await pilot.press("enter")  # wrong name: enter does not confirm (nor cancel)
        await pilot.pause()
        assert answers == [] and app.screen is screen
        await pilot.press("backspace", "1")
        await pilot.pause()
        assert not ok.disabled
        await pilot.press("enter")
        await pilot.pause()
        assert answers == [True]
        # esc cancels a destructive confirmation too.
        answers = await open_confirm(app, pilot, "destructive")
        await pilot.press(*NODE, "escape")
        await pilot.pause()
        assert answers == [False]


async def focus_path(app: CiliumtuiApp, screen: Any) -> list[str | None]:
    """The ids that have the focus, in turn, while `screen` is pushed and mounts."""
    app.push_screen(screen)
    seen: list[str | None] = []
    for _ in range(200):  # every turn of the loop while the screen mounts
        focused = screen.focused
        if focused is not None and (not seen or seen[-1] != focused.id):
            seen.append(focused.id)
        await asyncio.sleep(0)
    app.pop_screen()
    return seen


async def test_a_modal_never_focuses_its_scroll_area_first() -> None:
    """The focus goes straight to the name field (destructive) or Cancel, and to the
    form's first field: never through the plan's (fields') scroll area first (the
    app's "*" auto-focus did that before on_mount's focus landed, and a key pressed
    then went nowhere)."""
    from ciliumtui.screens.inputs import InputsScreen

    from ciliumtui.engine.loader import load_playbook

    app = CiliumtuiApp(opts(), healthy_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        for risk, first in (("high", "cancel"), ("destructive", "confirm-node")):
            assert await focus_path(app, ConfirmScreen(request(risk))) == [first], risk
            await pilot.pause()
        form = InputsScreen(load_playbook("lb-pool-move"), {}, app.snapshot, NODE)
        assert await focus_path(app, form) == ["field-to"]


def test_confirm_screen_uses_the_engines_acceptance_rule() -> None:
    req = request("destructive")
    screen = ConfirmScreen(req)
    for typed in (NODE, f" {NODE} ", "K3S-NODE1", "k3s-node", ""):
        assert screen._accepted(typed) is req.accepts(typed)


# ------------------------------------------- the real engine, recorded node


async def test_wizard_asks_before_mutating_steps_and_shows_result_and_next(
    recorded_node: Options,
) -> None:
    app = CiliumtuiApp(recorded_node, post_reboot_source(), live=False)
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
                if screen.needs_typing:  # keys only, as an operator types them
                    assert screen.focused is screen.query_one("#confirm-node", Input)
                    await pilot.press(*NODE, "enter")
                else:
                    assert screen.focused is screen.query_one("#cancel", Button)
                    await pilot.press("tab", "enter")  # Cancel → Confirm, then enter
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


async def test_wizard_cancel_on_first_confirmation_stops_the_run(recorded_node: Options) -> None:
    app = CiliumtuiApp(recorded_node, post_reboot_source(), live=False)
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
        await wait_for(pilot, lambda: wizard.result is not None)
        assert "declined" in str(wizard.query_one("#wizard-status").render())
        assert wizard.step_status("purge-iptables") == "pending"


async def test_read_only_run_command_opens_a_dry_run(recorded_node: Options) -> None:
    read_only = dataclasses.replace(recorded_node, read_only=True)
    app = CiliumtuiApp(read_only, post_reboot_source(), live=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        await command(pilot, "run cleanup")
        await pilot.pause()
        wizard = app.screen
        assert isinstance(wizard, WizardScreen) and wizard.dry_run
        assert "DRY-RUN" in str(wizard.query_one("#wizard-title").render())
        await pilot.press("s")
        await wait_for(pilot, lambda: wizard.state == "done")
        # The real engine refuses mutating steps under --read-only before it plans them
        # (the fake runner this test had said "planned"); either way nothing ran.
        assert wizard.step_status("purge-iptables") in ("planned", "refused")
        from ciliumtui.training import recorded

        assert isinstance(read_only.backend, recorded.RecordedBackend)
        assert recorded.has_debris(read_only.backend.path)


async def test_unknown_playbook_is_refused_in_command_mode() -> None:
    app = CiliumtuiApp(opts(), healthy_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await command(pilot, "run nosuch")
        await pilot.pause()
        assert app.screen is app.dashboard
        assert any("no playbook 'nosuch'" in str(n.message) for n in app._notifications)


# --------------------------------------------------- real engine, in a netns


def link_names(ns: str) -> set[str]:
    import json
    import subprocess

    out = subprocess.run(["ip", "-n", ns, "-j", "link"], capture_output=True, text=True).stdout
    return {link["ifname"] for link in json.loads(out)}


@pytest.mark.root
async def test_post_reboot_node_real_probes_then_cleanup_dry_run_on_the_real_engine(
    make_netns: Any, tmp_path: Path, state_dir: Path
) -> None:
    """The whole path: the post-reboot scenario laid into a netns + the sim cluster,
    the dashboard on the real probes and checks, then `:dry-run cleanup` through the
    real engine — it completes, changes nothing, and shows up in the journal."""

    from ciliumtui.sim.host_root import build_host_root
    from ciliumtui.sim.node_builder import build_node
    from ciliumtui.sim.scenario import load_scenario
    from ciliumtui.sim.server import SimCluster

    scenario = load_scenario("post-reboot")
    ns = make_netns("h6w")
    build_node(scenario, ns)
    root = tmp_path / "root"
    with SimCluster(scenario, tmpdir=tmp_path / "sim") as sim:
        build_host_root(scenario, root, kubeconfig=sim.kubeconfig)
        before = link_names(ns)
        o = Options(
            node=scenario["node_name"],
            netns=ns,
            host_root=str(root),
            kubeconfig=sim.kubeconfig,
            timeout=2.0,
        )
        app = CiliumtuiApp(o, live=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(
                pilot,
                lambda: app.stats.updates["findings"] >= 1 and app.stats.updates["dns"] >= 1,
                30,
            )
            await settle(app, pilot)
            ids = {f.id for f in app.findings}
            assert "stale-cilium-interfaces" in ids
            assert "cilium_host" in str(
                app.dashboard.query_one("#interfaces DataTable").get_row("cilium_host")
            )
            await command(pilot, "dry-run cleanup")
            await pilot.pause()
            wizard = app.screen
            assert isinstance(wizard, WizardScreen) and wizard.dry_run
            await pilot.press("s")
            await wait_for(pilot, lambda: wizard.state == "done", timeout=60)
            assert wizard.result.status == "planned", wizard.result
            assert wizard.step_status("delete-links") == "planned"
            assert wizard.step_status("purge-iptables") == "planned"
            log = "\n".join(str(line.text) for line in wizard.query_one("#wizard-log").lines)
            assert "cilium_host" in log and "lxc" in log
            # Nothing changed: the namespace and the cluster are untouched.
            assert link_names(ns) == before
            assert sim.mutations == 0
            # The run is in the journal viewer.
            await pilot.press("escape")
            await pilot.pause()
            await command(pilot, "journal")
            await pilot.pause()
            table = app.screen.query_one("#journal-runs")
            assert table.row_count == 1
            row = [str(getattr(c, "plain", c)) for c in table.get_row_at(0)]
            assert row[1] == "cleanup" and "dry-run" in row[2] and row[3] == "planned"
            await pilot.press("enter")
            await pilot.pause()
            records = "\n".join(
                str(line.text) for line in app.screen.query_one("#journal-log").lines
            )
            assert "run_started" in records and "step_planned" in records
    assert os.listdir(state_dir / "runs")


async def test_run_command_passes_inputs_to_the_wizard() -> None:
    app = CiliumtuiApp(opts(), healthy_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await command(pilot, "dry-run cleanup restart_pods=false")
        await pilot.pause()
        assert isinstance(app.screen, WizardScreen)
        assert app.screen.raw_inputs == {"restart_pods": "false"} and app.screen.dry_run


async def test_journal_viewer_lists_runs_newest_first_and_flags_interrupted(
    state_dir: Path,
) -> None:
    from ciliumtui.engine.journal import Journal, runs_dir

    for run_id, pb, finished in (
        ("20260101T000000Z-verify-aaaa", "verify", True),
        ("20260102T000000Z-cleanup-bbbb", "cleanup", False),
    ):
        (runs_dir() / run_id).mkdir(parents=True)
        j = Journal(runs_dir() / run_id / "journal.jsonl")
        j.write(
            {
                "kind": "run_started",
                "run_id": run_id,
                "ts": "2026-01-01T00:00:00.000+00:00",
                "data": {"playbook": pb, "node": NODE, "mode": {"dry_run": pb == "verify"}},
            }
        )
        j.write({"kind": "step_started", "run_id": run_id, "step_id": "purge-iptables"})
        if finished:
            j.write({"kind": "run_finished", "run_id": run_id, "status": "ok"})
        j.close()
    app = CiliumtuiApp(opts(), healthy_source(), live=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await command(pilot, "journal")
        await pilot.pause()
        table = app.screen.query_one("#journal-runs")
        rows = [
            [str(getattr(c, "plain", c)) for c in table.get_row_at(i)]
            for i in range(table.row_count)
        ]
        assert [r[1] for r in rows] == ["cleanup", "verify"]
        assert rows[0][3] == "interrupted" and rows[1][3] == "ok" and rows[1][2] == "dry-run"
        await pilot.press("enter")
        await pilot.pause()
        records = "\n".join(str(line.text) for line in app.screen.query_one("#journal-log").lines)
        assert "step_started" in records and "purge-iptables" in records
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.dashboard


async def test_quit_during_a_run_needs_a_second_press(
    recorded_node: Options, tmp_path: Path
) -> None:
    """A real run that keeps going (the engine's pod.wait-ready on a label that never
    becomes Ready): q asks, Cancel focused; a second press quits."""
    playbook = tmp_path / "waits.yaml"
    playbook.write_text(WAITS_FOREVER)
    app = CiliumtuiApp(recorded_node, healthy_source(), live=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        app.start_wizard(str(playbook))
        await pilot.pause()
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await pilot.press("s")
        await wait_for(pilot, lambda: wizard.query_one("#wizard-wait").display)
        assert app.change_running()
        await pilot.press("q")  # asks first, Cancel focused
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        ask = app.screen
        assert app.is_running
        assert ask.query_one("#ask-box").border_title == "Quit while a change is running?"
        await pilot.press("enter")  # Enter on the focused Cancel: the run goes on
        await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen))
        assert app.is_running and wizard.state == "running", (wizard.state, wizard.result)
        await pilot.press("escape")  # nor does esc leave a running wizard
        await pilot.pause()
        assert isinstance(app.screen, WizardScreen)
        # The second press while asking is the operator meaning it (k9s's ctrl+c habit).
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_value == 0


WAITS_FOREVER = """\
id: waits
title: A wait that never ends
steps:
  - id: wait
    phase: verify
    title: Nothing with this label ever becomes Ready
    action: pod.wait-ready
    params: {namespace: kube-system, selector: app=never-ready, timeout: 30}
    timeout: 35
"""


async def test_a_wait_step_shows_elapsed_limit_and_what_it_waits_on_and_a_aborts(
    recorded_node: Options, tmp_path: Path
) -> None:
    """The real engine's pod.wait-ready against the simulated cluster: the wizard shows
    elapsed / limit and what it waits on, and `a` aborts the run."""
    playbook = tmp_path / "waits.yaml"
    playbook.write_text(WAITS_FOREVER)
    app = CiliumtuiApp(recorded_node, healthy_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.start_wizard(str(playbook))
        await pilot.pause()
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await pilot.press("s")
        await wait_for(pilot, lambda: wizard.query_one("#wizard-wait").display)
        await pilot.pause(1.2)
        line = str(wizard.query_one("#wizard-wait").render())
        assert "waiting on app=never-ready in kube-system to be Ready" in line, line
        assert "/ 30s limit" in line and "a: abort" in line
        assert wizard.active_bindings["a"].enabled
        await pilot.press("a")
        await wait_for(pilot, lambda: wizard.result is not None)
        assert wizard.result.status == "aborted"
        assert not wizard.query_one("#wizard-wait").display
        assert "aborted" in str(wizard.query_one("#wizard-status").render())


async def test_decline_then_s_resumes_on_the_real_engine_with_the_node_name_typed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real Runner on the recorded post-reboot node (no root needed): decline the
    first change, `s` resumes the same journaled run from that step (the diagnose step
    is not run again), then the destructive step is confirmed by typing the node name."""
    from ciliumtui.sources import ProbeSource
    from ciliumtui.training.env import TrainingEnv

    with TrainingEnv("post-reboot", root=False) as env:
        for key, value in env.env_vars().items():
            monkeypatch.setenv(key, value)
        app = CiliumtuiApp(env.opts, ProbeSource(env.opts), live=False)
        node = env.opts.node_name
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            app.start_wizard("cleanup")
            await pilot.pause()
            wizard = app.screen
            assert isinstance(wizard, WizardScreen)
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 60)
            first = app.screen.request.step_id
            await pilot.press("escape")
            await wait_for(pilot, lambda: wizard.result is not None, 60)
            assert wizard.result.status == "declined"
            run_id = wizard.result.run_id
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 60)
            assert app.screen.request.step_id == first
            events = [e for e in wizard.events if e.run_id == run_id and e.kind == "step_finished"]
            assert any(e.step_id == "diagnose" and "earlier" in (e.message or "") for e in events)
            # Answer everything from here on, typing the node name where asked.
            while wizard.state == "running" or isinstance(app.screen, ConfirmScreen):
                if isinstance(app.screen, ConfirmScreen):
                    screen = app.screen
                    await wait_for(pilot, lambda s=screen: s.focused is not None)
                    if screen.needs_typing:
                        await pilot.press(*node, "enter")
                    else:
                        await pilot.press("tab", "enter")
                    await wait_for(pilot, lambda s=screen: app.screen is not s)
                await pilot.pause(0.05)
            assert wizard.result is not None and wizard.result.run_id == run_id
            assert wizard.result.status == "ok", wizard.result
