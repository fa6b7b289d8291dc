"""Training in the TUI, played start to finish with Textual's Pilot on a real env:
briefing → a hint → a root-cause finding opened → the cleanup wizard (the
destructive step confirmed by typing the node name; it ends with its own verify)
→ debrief (solved). tests/test_training_plays.py plays every scenario with keys only."""

from __future__ import annotations

from typing import Any

import pytest
from ciliumtui.screens.briefing import BriefingScreen
from ciliumtui.screens.confirm import ConfirmScreen
from ciliumtui.screens.debrief import DebriefScreen
from ciliumtui.screens.hints import HintsScreen
from ciliumtui.screens.wizard import WizardScreen
from textual.widgets import Button, Input, Static
from tui_fixtures import wait_for as pilot_wait_for

from ciliumtui.training.env import TrainingEnv
from ciliumtui.training.session import TrainingSession
from ciliumtui.training.tui import TrainingApp


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path, monkeypatch):
    """Where a closed session keeps its journals: the test's own dir."""
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "operator-state"))


async def wait_for(pilot: Any, cond: Any, timeout: float = 60.0) -> None:
    """tui_fixtures.wait_for with a longer default: a real env's steps are slower."""
    await pilot_wait_for(pilot, cond, timeout)


async def run_wizard(app: TrainingApp, pilot: Any, playbook: str, node: str) -> WizardScreen:
    """Start a wizard and answer every confirmation as a trainee would."""
    app.start_wizard(playbook)
    await pilot.pause()
    wizard = app.screen
    assert isinstance(wizard, WizardScreen)
    await pilot.press("s")
    typed = False
    while wizard.state != "done":
        await wait_for(
            pilot, lambda: isinstance(app.screen, ConfirmScreen) or wizard.state == "done"
        )
        if isinstance(app.screen, ConfirmScreen):
            screen = app.screen
            await wait_for(pilot, lambda s=screen: s.focused is not None)
            if screen.needs_typing:  # destructive: the node name, typed
                field = screen.query_one("#confirm-node", Input)
                field.focus()
                # Keys typed before the focus lands would go to Cancel (and decline).
                await wait_for(pilot, lambda s=screen, f=field: s.focused is f)
                await pilot.press(*node)
                await wait_for(pilot, lambda f=field: f.value == node)
                await pilot.press("enter")
                typed = True
            else:
                screen.query_one("#confirm-ok", Button).press()
            await wait_for(pilot, lambda s=screen: app.screen is not s)
    assert typed or playbook != "cleanup"
    return wizard


def text_of(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_pilot_plays_post_reboot_to_a_solved_debrief() -> None:
    with TrainingEnv("post-reboot") as env:  # netns as root, recorded node otherwise
        session = TrainingSession(env)
        node = env.opts.node_name
        app = TrainingApp(session, live=False)
        async with app.run_test(size=(120, 45)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, BriefingScreen)
            briefing = text_of(app.screen, "#briefing-text")
            assert "hard-rebooted" in briefing and "Mode:" in briefing
            await pilot.press("escape")
            await app.workers.wait_for_complete()
            await pilot.pause()

            await pilot.press("h")
            await pilot.pause()
            assert isinstance(app.screen, HintsScreen) and session.hints_used == 1
            assert session.hints[0] in text_of(app.screen, "#hints-text")
            await pilot.press("escape")

            await wait_for(
                pilot, lambda: any(f.id == "stale-cilium-interfaces" for f in app.findings)
            )
            finding = next(f for f in app.findings if f.id == "stale-cilium-interfaces")
            app.show_finding(finding)  # what selecting it on the dashboard does
            await pilot.pause()
            await pilot.press("escape")

            wizard = await run_wizard(app, pilot, "cleanup", node)
            assert wizard.result.status == "ok"
            assert wizard.step_status("purge-iptables") == "ok"
            # cleanup ends with its own verify step: its passing run opens the debrief.
            await wait_for(pilot, lambda: isinstance(app.screen, DebriefScreen))
            await wait_for(pilot, lambda: app.screen.query("#debrief-text"))
            shown = text_of(app.screen, "#debrief-text")
            assert "Solved: yes" in shown and "Hints used: 1 of 3" in shown
            debrief = session.result
            assert debrief is not None and debrief.solved
            assert debrief.root_cause_via == "finding stale-cilium-interfaces"
            assert len(debrief.risky_steps) == 5  # the cleanup wizard's five
            await pilot.press("q")
        assert app.return_value == 0


async def test_pilot_recorded_mode_shows_the_recorded_node_and_gives_up() -> None:
    """Without root: the briefing says so, the panels show the recorded node, ctrl+g debriefs."""
    with TrainingEnv("post-reboot", root=False) as env:
        session = TrainingSession(env)
        app = TrainingApp(session, live=False)
        async with app.run_test(size=(120, 45)) as pilot:
            await pilot.pause()
            assert "Mode: recorded node" in text_of(app.screen, "#briefing-text")
            await pilot.press("escape")
            await app.workers.wait_for_complete()
            await pilot.pause()
            names = {link.name for link in (app.snapshot.node.links if app.snapshot.node else [])}
            assert {"cilium_host", "lxc_health"} <= names  # the file, not this host
            assert not {"gw-eth0", "health-ep"} & names  # a real node's links only
            await wait_for(
                pilot, lambda: any(f.id == "stale-cilium-iptables" for f in app.findings)
            )
            await pilot.press("ctrl+g")  # asks first (Cancel focused): tab to "Give up"
            await wait_for(pilot, lambda: app.screen.query("#ask-yes"))
            await pilot.press("tab", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DebriefScreen))
            assert "Solved: no (gave up)" in text_of(app.screen, "#debrief-text")
            await pilot.press("q")
        assert app.return_value == 1


def test_the_briefing_is_wrapped_by_the_terminal_not_by_the_yaml() -> None:
    """At 80 columns a briefing written at ~88 columns came out as ragged half-lines
    ("It came back, but" / "some pods never start"); paragraphs and lists are kept."""
    from ciliumtui.screens.briefing import briefing_text

    from ciliumtui.sim.scenario import load_scenario

    text = briefing_text(load_scenario("post-reboot"), "Mode: recorded").plain
    assert "It came back, but some pods never start" in text
    scenario = {"title": "t", "briefing": "One\ntwo.\n\n- a\n- b\n"}
    assert "One two.\n\n- a\n- b\n" in briefing_text(scenario, "m").plain


def test_the_mode_line_says_why_the_node_is_recorded() -> None:
    """As root with a namespace tool missing, the mode is not "no root" (it is the tool)."""
    from types import SimpleNamespace

    from ciliumtui.training.tui import mode_line

    def line(notice: str | None) -> str:
        return mode_line(SimpleNamespace(env=SimpleNamespace(mode="recorded", notice=notice)))  # type: ignore[arg-type]

    assert line(None).startswith("Mode: recorded node — no root, ")
    missing = line("iptables-nft-restore not found: training on a recorded node; …")
    assert missing.startswith("Mode: recorded node — iptables-nft-restore not found, ")
    assert "no root" not in missing
