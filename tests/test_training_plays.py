"""Every training scenario played to "Solved: yes" in the TUI through keys only (issue 15).

For each scenario in assets/scenarios/ (a new one is covered by listing the dir), a
real training env (netns node, simulated cluster) and the TrainingApp driven with
`pilot.press` alone, as a trainee would: dismiss the briefing, the findings panel,
the cursor onto the scenario's root cause, enter opens it, `w` starts its playbook's
wizard, the input form (when it opens) accepted with the suggested values, `s`
starts, each confirmation answered (tab + enter on Confirm; at a destructive step
the node name typed into the field that has the focus, then enter), and after the
fix the wizard's own next step (`x`, verify) or `:run verify` until the debrief
says "Solved: yes". The test reads the app's state only to wait and to assert.

Half of the scenarios are played at 80×24 (the size issue 15 cares most about), the
rest at 160×45. Each play prints the keys pressed and how long it took.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from ciliumtui.screens.briefing import BriefingScreen
from ciliumtui.screens.confirm import ConfirmScreen
from ciliumtui.screens.dashboard import DashboardScreen
from ciliumtui.screens.debrief import DebriefScreen
from ciliumtui.screens.finding_detail import FindingDetailScreen
from ciliumtui.screens.inputs import InputsScreen
from ciliumtui.screens.wizard import WizardScreen
from textual.widgets import Button, DataTable, Input, Static

from ciliumtui.model import Finding
from ciliumtui.sim.scenario import list_scenarios, load_scenario
from ciliumtui.training.score import root_causes
from ciliumtui.widgets.findings import FindingsPanel

pytestmark = pytest.mark.root

SCENARIOS = [sid for sid, _title, _summary in list_scenarios()]
# Every other scenario at 80×24 (healthy first: 6 of 11 small), the rest at 160×45.
SIZES = {sid: (80, 24) if i % 2 == 0 else (160, 45) for i, sid in enumerate(SCENARIOS)}
WAIT = 120.0  # the longest one wait may take: a fix restarts pods and waits for them
MAX_ROUNDS = 4  # playbooks one play may take before the advice counts as circular


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path, monkeypatch):
    """Where a closed session keeps its journals: the test's own dir."""
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "operator-state"))


class Trainee:
    """Presses keys (and only presses keys), recording each one for the report."""

    def __init__(self, app: Any, pilot: Any) -> None:
        self.app = app
        self.pilot = pilot
        self.keys: list[str] = []

    async def press(self, *keys: str) -> None:
        self.keys += keys
        await self.pilot.press(*keys)

    async def type(self, text: str) -> None:
        """Type text key by key; recorded as one quoted word."""
        self.keys.append(f'"{text}"')
        await self.pilot.press(*(" " if c == " " else c for c in text))

    async def wait(self, cond: Any, what: str, timeout: float = WAIT) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not cond():
            if loop.time() > end:
                raise AssertionError(
                    f"not reached in {timeout:.0f}s: {what}; screen {self.app.screen!r}, "
                    f"focus {self.app.focused!r}, keys {' '.join(self.keys)}"
                )
            await self.pilot.pause(0.05)


async def assert_fits(t: Trainee, screen: Any) -> None:
    """DESIGN §7: every screen and modal fits (its buttons on screen, none cut off);
    checked once the screen is laid out (its buttons have a size)."""
    width, height = t.app.size
    buttons = [b for b in screen.query(Button) if b.display]
    await t.wait(lambda: all(b.region.width for b in buttons), f"{screen!r} laid out", 10)
    for button in buttons:
        r = button.region
        assert r.x >= 0 and r.y >= 0, (screen, button.id, r)
        assert r.right <= width and r.bottom <= height, (screen, button.id, r, (width, height))


def text_of(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def target_row(panel: FindingsPanel, causes: set[str]) -> int | None:
    """The row a trainee who knows the answer moves to: the first visible row that is
    one of the scenario's root causes with a playbook, else the first root cause with
    a playbook (what the tool advises first)."""
    table = panel.table
    rows: list[tuple[int, Finding]] = []
    for index in range(table.row_count):
        key = table.coordinate_to_cell_key((index, 0)).row_key.value
        finding = panel.findings.get(str(key))
        if finding is not None and finding.root_cause and finding.playbook:
            rows.append((index, finding))
    named = [i for i, f in rows if f.id in causes]
    return named[0] if named else rows[0][0] if rows else None


async def open_findings(t: Trainee) -> None:
    """Focus on the findings table (tab until it is), as a trainee would."""
    dash = t.app.screen
    assert isinstance(dash, DashboardScreen)
    table = dash.query_one("#findings DataTable", DataTable)
    for _ in range(12):
        if dash.focused is table:
            return
        await t.press("tab")
    raise AssertionError("tab never reaches the findings panel")


async def fill_form(t: Trainee) -> None:
    """Accept the form's suggested values: enter on a text field (next field; the last
    one submits), tab past a choice list, enter on "Use these"."""
    form = t.app.screen
    assert isinstance(form, InputsScreen)
    await assert_fits(t, form)
    for _ in range(20):
        if t.app.screen is not form:
            return
        await t.wait(lambda: form.focused is not None, "a form field has the focus", 10)
        focused = form.focused
        if isinstance(focused, Input) or isinstance(focused, Button) and focused.id == "inputs-ok":
            await t.press("enter")
        else:  # a choice list (its value is the suggestion) or Cancel: on to the next
            await t.press("tab")
        await t.pilot.pause()
    form_errors = [text_of(form, f"#error-{n}") for n in form.playbook.inputs]
    raise AssertionError(f"the input form did not close: {form_errors}")


async def run_wizard(t: Trainee, node: str) -> WizardScreen:
    """The wizard on screen: its form if it asks, s, every confirmation answered."""
    app = t.app
    await t.wait(lambda: isinstance(app.screen, (WizardScreen, InputsScreen)), "the wizard")
    wizard = next(s for s in reversed(app.screen_stack) if isinstance(s, WizardScreen))
    if wizard._needs_form():  # the form opens by itself, right after the wizard
        await t.wait(lambda: isinstance(app.screen, InputsScreen), "the input form", 10)
    if isinstance(app.screen, InputsScreen):
        await fill_form(t)
    await t.wait(lambda: app.screen is wizard and wizard.state == "ready", "the wizard, ready")
    await t.press("s")
    while True:
        await t.wait(
            lambda: (
                isinstance(app.screen, (ConfirmScreen, DebriefScreen)) or wizard.state != "running"
            ),
            f"{wizard.playbook_id}: a confirmation or the end of the run",
        )
        screen = app.screen
        if not isinstance(screen, ConfirmScreen):
            break
        await t.wait(lambda s=screen: s.focused is not None, "the confirmation's focus", 10)
        await assert_fits(t, screen)
        if screen.needs_typing:
            # DESIGN §7: the name field has the focus; what is typed lands there.
            field = screen.query_one("#confirm-node", Input)
            assert screen.focused is field, f"destructive confirm focuses {screen.focused!r}"
            await t.type(node)
            await t.wait(lambda f=field: f.value == node, "the typed node name", 10)
            await t.press("enter")
        else:
            assert screen.focused is screen.query_one("#cancel"), "Cancel has the focus"
            await t.press("tab", "enter")  # Cancel → Confirm
        await t.wait(lambda s=screen: app.screen is not s, "the confirmation closes", 10)
    if isinstance(app.screen, DebriefScreen):
        return wizard
    result = wizard.result
    assert result is not None and result.status == "ok", (
        wizard.playbook_id,
        result,
        [(e.step_id, e.status, e.message) for e in wizard.events if e.kind == "step_finished"],
    )
    return wizard


async def play(app: Any, pilot: Any, scenario: str, node: str) -> Trainee:
    t = Trainee(app, pilot)
    causes = set(root_causes(load_scenario(scenario)))
    await t.wait(lambda: isinstance(app.screen, BriefingScreen), "the briefing", 20)
    await assert_fits(t, app.screen)
    await t.press("enter")
    await t.wait(lambda: isinstance(app.screen, DashboardScreen), "the dashboard", 10)
    await open_findings(t)
    dash = app.screen
    panel = dash.query_one(FindingsPanel)
    if causes:
        await t.wait(lambda: causes & {f.id for f in app.findings}, f"one of {causes}")
    else:
        await t.wait(lambda: app.stats.updates["findings"] > 0, "the first diagnosis")
    for _ in range(MAX_ROUNDS):
        if isinstance(app.screen, DebriefScreen):
            break
        assert app.screen is dash, app.screen
        row = target_row(panel, causes)
        if row is None:  # nothing left to fix (healthy, or fixed): verify
            await t.press("colon")
            await t.type("run verify")
            await t.press("enter")
            await run_wizard(t, node)
            break
        moves = row - panel.table.cursor_row
        if moves:
            await t.press(*(["down"] * moves if moves > 0 else ["up"] * -moves))
        await t.wait(lambda r=row: panel.table.cursor_row == r, "the cursor on the root cause")
        await t.press("enter")
        await t.wait(lambda: isinstance(app.screen, FindingDetailScreen), "the finding's detail")
        await t.press("w")
        wizard = await run_wizard(t, node)
        while not isinstance(app.screen, DebriefScreen) and wizard.next_playbook:
            await t.press("x")  # the wizard's own next step (verify)
            await t.wait(lambda w=wizard: app.screen is not w, "the next wizard")
            wizard = await run_wizard(t, node)
        if isinstance(app.screen, DebriefScreen):
            break
        await t.press("escape")  # wizard → back to the dashboard (the detail, if left open)
        if isinstance(app.screen, FindingDetailScreen):
            await t.press("escape")
        await t.wait(lambda: app.screen is dash, "the dashboard again", 10)
    await t.wait(
        lambda: isinstance(app.screen, DebriefScreen) and app.screen.query("#debrief-text"),
        "the debrief",
    )
    return t


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_a_trainee_solves_the_scenario_with_keys_only(scenario, capsys):
    from ciliumtui.training.env import TrainingEnv
    from ciliumtui.training.session import TrainingSession
    from ciliumtui.training.tui import TrainingApp

    start = time.monotonic()
    with TrainingEnv(scenario, root=True) as env:
        session = TrainingSession(env)
        app = TrainingApp(session, live=False)
        size = SIZES[scenario]
        async with app.run_test(size=size) as pilot:
            t = await play(app, pilot, scenario, env.opts.node_name)
            await assert_fits(t, app.screen)
            shown = text_of(app.screen, "#debrief-text")
            assert "Solved: yes" in shown, shown
            debrief = session.result
            assert debrief is not None and debrief.solved and not debrief.remaining
            await t.press("q")
        assert app.return_value == 0
    took = time.monotonic() - start
    with capsys.disabled():
        print(f"\n  keys {scenario} ({size[0]}x{size[1]}): {' '.join(t.keys)} ({took:.0f} s)")
