"""k9s habits and the operator's path through findings: Tab completion in the `:`
line, `y` copies (OSC 52), `:export`, `:screendump`, `:env`, the findings tree
(root causes first, symptoms folded under them), the live finding detail, the
playbook inputs form, and the pure helpers behind them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from ciliumtui.screens.finding_detail import FindingDetailScreen
from ciliumtui.screens.info import InfoScreen
from ciliumtui.screens.inputs import InputsScreen
from ciliumtui.screens.wizard import WizardScreen
from textual.widgets import Input
from tui_fixtures import (
    NODE,
    POST_REBOOT_FINDINGS,
    healthy_source,
    node_state,
    opts,
    post_reboot_source,
    wait_for,
)

from ciliumtui.app import CiliumtuiApp
from ciliumtui.model import Finding
from ciliumtui.options import Options
from ciliumtui.tui import commands
from ciliumtui.widgets.findings import FindingsPanel, tree
from ciliumtui.widgets.table_panel import Column, fit_cell, fit_widths


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "state"
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(d))
    return d


async def settle(app: CiliumtuiApp, pilot: Any) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def notes(app: CiliumtuiApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


# ------------------------------------------------------------ pure helpers


def test_findings_tree_puts_root_causes_first_and_symptoms_under_them() -> None:
    pairs = tree(list(POST_REBOOT_FINDINGS))
    roots = [r.id for r, _ in pairs]
    assert roots == ["stale-cilium-interfaces", "stale-cilium-bpf", "k3s-stop-hook-missing"]
    under = {r.id: [s.id for s in symptoms] for r, symptoms in pairs}
    # A chain (bpf/interfaces → agent → pods, DNS) folds under the first root reached.
    assert under["stale-cilium-interfaces"] == [
        "dns-external-names-fail",
        "cilium-agent-not-ready",
        "pods-failing-on-node",
    ]
    assert under["stale-cilium-bpf"] == [] and under["k3s-stop-hook-missing"] == []


def test_findings_tree_survives_causes_that_are_absent_or_loop() -> None:
    a = Finding("a", "warning", "A", explained_by=["b"])
    b = Finding("b", "critical", "B", explained_by=["a"])
    c = Finding("c", "info", "C", explained_by=["gone"])  # its cause is not in the result
    ids = sorted(f.id for root, symptoms in tree([a, b, c]) for f in (root, *symptoms))
    assert ids == ["a", "b", "c"]  # nothing lost, nothing twice
    assert tree([c])[0][0] is c


def test_fit_widths_shrinks_then_drops_and_never_overflows() -> None:
    cols = [
        Column("Name", "name", shrink=6),
        Column("State", "state"),
        Column("Addresses", "addr", shrink=8),
        Column("Owner", "owner", drop=1),
    ]
    natural = {"name": 15, "state": 14, "addr": 30, "owner": 6}
    roomy = fit_widths(cols, natural, 200)
    assert roomy == {"name": 15, "state": 14, "addr": 30, "owner": 6}
    tight = fit_widths(cols, natural, 60)
    assert sum(w + 2 for w in tight.values()) <= 60 and "owner" in tight
    assert tight["state"] == 14  # not shrinkable: never cut
    tighter = fit_widths(cols, natural, 40)
    assert "owner" not in tighter and sum(w + 2 for w in tighter.values()) <= 40
    assert str(fit_cell("abcdefghij", 5)) == "abcd…" and fit_cell("abc", 5) == "abc"


def test_command_completion() -> None:
    class Host:
        available_themes = ["nord", "ansi-dark", "ansi-light"]

    host: Any = Host()
    assert commands.complete(host, "scr") == ("screendump ", [])
    line, options = commands.complete(host, "d")
    assert line == "d" and {"diagnose", "dry-run", "dryrun"} <= set(options)
    assert commands.complete(host, "run cl") == ("run cleanup", ["cleanup", "cleanup-node"])
    assert commands.complete(host, "run cleanup-n") == ("run cleanup-node ", [])
    assert commands.complete(host, "theme ansi-") == ("theme ansi-", ["ansi-dark", "ansi-light"])
    assert commands.complete(host, "frob ") == ("frob ", [])


# ----------------------------------------------------------------- in the app


async def test_tab_completes_in_the_command_line_instead_of_moving_focus() -> None:
    app = CiliumtuiApp(opts(), healthy_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("colon", *"jour", "tab")
        line = app.screen.query_one("#command-line", Input)
        assert app.screen.focused is line and line.value == "journal "
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "JournalScreen"


async def test_y_copies_the_selected_findings_evidence_and_command() -> None:
    app = CiliumtuiApp(opts(), post_reboot_source(), live=False)
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("y")
        assert copied and "stale-cilium-interfaces" in copied[-1]
        assert "agent pid 1234 is not running" in copied[-1]
        assert "ciliumtui run cleanup --dry-run" in copied[-1]


async def test_export_writes_the_wizards_plan_as_a_script_and_screendump_an_svg(
    recorded_node: Options, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real engine's dry run on the recorded post-reboot node: `:export` writes the
    plan's commands as a script, `:screendump` an SVG."""
    monkeypatch.chdir(tmp_path)
    app = CiliumtuiApp(recorded_node, post_reboot_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.execute_command("export")
        await pilot.pause()
        assert "no plan yet" in notes(app)
        app.execute_command("dry-run cleanup")
        await pilot.pause()
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await pilot.press("s")
        while wizard.result is None:
            await pilot.pause(0.05)
        await pilot.press("colon", *"export plan.sh", "enter")  # the prompt works here too
        await pilot.pause()
        script = (tmp_path / "plan.sh").read_text()
        assert script.startswith("#!/bin/sh") and "link delete group" in script
        assert "# step purge-iptables" in script and "iptables-nft-restore --noflush" in script
        app.execute_command(f"screendump {tmp_path / 'shot.svg'}")
        assert (tmp_path / "shot.svg").read_text().lstrip().startswith("<svg")


async def test_env_shows_kubeconfig_context_and_node() -> None:
    app = CiliumtuiApp(opts(), post_reboot_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.execute_command("env")
        await pilot.pause()
        assert isinstance(app.screen, InfoScreen)
        text = str(app.screen.query_one("#info-text").render())
        assert "/etc/rancher/k3s/k3s.yaml" in text and f"node        {NODE}" in text


async def test_z_unfolds_the_symptoms_under_their_root_cause() -> None:
    app = CiliumtuiApp(opts(), post_reboot_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        panel = app.screen.query_one(FindingsPanel)
        assert len(panel.visible_keys()) == 3
        assert panel.selected() is not None and panel.selected().id == "stale-cilium-interfaces"
        await pilot.press("z")
        await pilot.pause()
        ids = [panel.findings[k].id for k in panel.visible_keys()]
        assert ids[:4] == [
            "stale-cilium-interfaces",
            "dns-external-names-fail",
            "cilium-agent-not-ready",
            "pods-failing-on-node",
        ]
        assert panel.selected().id == "stale-cilium-interfaces"  # the cursor stays put


async def test_finding_detail_is_live_shows_last_log_and_links() -> None:
    source = post_reboot_source()
    app = CiliumtuiApp(opts(), source, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        agent = next(f for f in app.findings if f.id == "cilium-agent-not-ready")
        app.show_finding(agent)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FindingDetailScreen)

        def shown() -> str:
            return str(screen.query_one("#detail-text").render())

        assert "(symptom)" in shown() and "Explained by" in shown()
        assert "stale-cilium-bpf" in shown() and "Explains" in shown()
        assert "failed to start: cilium_host already exists" in shown()  # AgentState.last_log
        # The agent restarted once more: a new last log line, more evidence; the open
        # detail follows (it does not keep what it saw when it was opened).
        node = node_state(agent_alive=False)
        node.agent.last_log = [*node.agent.last_log, 'level=fatal msg="restart 8: still there"']
        source.set_node(node)
        source._findings = [
            dataclasses.replace(f, evidence=[*f.evidence, "restarts: 8"]) if f.id == agent.id else f
            for f in POST_REBOOT_FINDINGS
        ]
        app.probing.refresh_node()
        await wait_for(pilot, lambda: "restarts: 8" in shown())
        assert "restart 8: still there" in shown()
        # A link opens the cause.
        links = screen.query_one("#detail-links")
        links.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FindingDetailScreen)
        assert app.screen.finding.id == "stale-cilium-bpf"
        # Fixed: it says so instead of showing stale evidence.
        source._findings = []
        source.set_node(node_state())
        app.probing.refresh_node()
        await wait_for(
            pilot, lambda: "No longer found" in str(app.screen.query_one("#detail-text").render())
        )


async def test_inputs_form_validates_with_the_engine_and_suggests_the_pool(
    recorded_node: Options,
) -> None:
    app = CiliumtuiApp(recorded_node, post_reboot_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.start_wizard("pod-cidr-change")
        await pilot.pause()
        await pilot.pause()
        form = app.screen
        assert isinstance(form, InputsScreen)  # pool has no default: asked before the plan
        pool = form.query_one("#field-pool", Input)
        assert form.focused is pool
        suggested = pool.value
        assert suggested and suggested != "10.42.0.0/16"  # the tool's own suggestion
        await pilot.press("ctrl+a", *"not a cidr!", "enter")
        await pilot.pause()
        assert "does not match" in str(form.query_one("#error-pool").render())
        pool.value = ""
        pool.insert_text_at_cursor(suggested)
        form.action_submit()
        await pilot.pause()
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        assert wizard.raw_inputs["pool"] == suggested and wizard.raw_inputs["release"] == "cilium"
        assert f"pool={suggested}" in str(wizard.query_one("#wizard-status").render())


async def test_training_env_shows_the_scenarios_kubeconfig_and_flags_and_give_up_asks() -> None:
    from ciliumtui.screens.ask import AskScreen
    from screen_fixtures import training_app

    app = training_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("escape")  # the briefing
        await pilot.press("colon", *"env", "enter")
        await pilot.pause()
        assert isinstance(app.screen, InfoScreen)
        text = str(app.screen.query_one("#info-text").render())
        assert "export KUBECONFIG=/tmp/ciliumtui-train-0000/kubeconfig" in text
        assert "--host-root /tmp/ciliumtui-train-0000/root" in text
        await pilot.press("escape", "ctrl+g")
        await pilot.pause()
        assert isinstance(app.screen, AskScreen)  # asks first; Cancel has the focus
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is app.dashboard and app.session.result is None


async def test_q_on_the_training_briefing_quits_as_everywhere_else() -> None:
    from ciliumtui.screens.briefing import BriefingScreen
    from screen_fixtures import training_app

    app = training_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, BriefingScreen)
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0  # quit, not ignored (a trainee tried q first)
