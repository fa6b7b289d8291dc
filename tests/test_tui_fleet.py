"""The TUI's `:fleet` view (issue 16, DESIGN §10) against the simulated cluster: the
real kubernetes client reads Nodes and NodeDiagnoses over HTTP from ciliumtui.sim,
the fleet of tests/fleet_tui_fixtures.py (two nodes with stale Cilium interfaces,
one with stale iptables rules and a symptom under them, one silent for two hours,
one healthy with a warning, seven healthy). The dashboard behind it is a static
snapshot (nothing probes this machine). Asserts what is on the screen."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ciliumtui.screens.fleet import CRD_MISSING, NOT_READ, FleetPanel, FleetScreen, summary_line
from ciliumtui.screens.fleet_node import FleetFindingScreen, NodeFindingsScreen
from ciliumtui.screens.help import HelpScreen
from fleet_tui_fixtures import (
    BROKEN,
    NOW,
    SILENT,
    STALE_RULES,
    WARNED,
    fill,
    frozen_read,
    heal,
    node_names,
    scenario,
)
from textual.widgets import Static
from tui_fixtures import NODE, post_reboot_source, wait_for

from ciliumtui.app import CiliumtuiApp
from ciliumtui.fleet.read import FleetRead, read_fleet
from ciliumtui.fleet.status import FleetStatus, NodeFacts
from ciliumtui.options import Options
from ciliumtui.sim.faults import black_hole_kubeconfig
from ciliumtui.sim.server import SimCluster
from ciliumtui.tui.commands import palette_entries

SIZE = (120, 36)


# ------------------------------------------------------------------ helpers


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimCluster]:
    with SimCluster(scenario(), tmpdir=tmp_path / "sim") as cluster:
        fill(cluster)
        yield cluster


def make_app(kubeconfig: str, timeout: float = 2.0) -> CiliumtuiApp:
    return CiliumtuiApp(
        Options(kubeconfig=kubeconfig, node=NODE, timeout=timeout), post_reboot_source(), live=False
    )


def screen_text(app: CiliumtuiApp) -> str:
    """The screen as a user sees it, one line per row (the compositor's own strips:
    what the terminal gets, borders and all)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def fleet(app: CiliumtuiApp) -> FleetScreen:
    screen = app.screen
    assert isinstance(screen, FleetScreen), type(screen).__name__
    return screen


def node_order(text: str, names: list[str]) -> list[str]:
    """The nodes in the order their rows appear on the screen."""
    at = {n: text.find(f" {n} ") for n in names}
    return sorted((n for n in names if at[n] >= 0), key=lambda n: at[n])


async def open_fleet(app: CiliumtuiApp, pilot: Any, line: str = "fleet") -> FleetScreen:
    await pilot.pause()
    await pilot.press("colon", *line, "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.reads >= 1)
    await pilot.pause()
    return fleet(app)


async def reread(app: CiliumtuiApp, pilot: Any, timeout: float = 15.0) -> None:
    screen = fleet(app)
    before = screen.reads
    await pilot.press("r")
    await wait_for(pilot, lambda: screen.reads > before, timeout=timeout)
    await pilot.pause()


def expected_status(sim: SimCluster) -> FleetStatus:
    """What `ciliumtui fleet status` reads of the same cluster, now."""
    return read_fleet(Options(kubeconfig=sim.kubeconfig, timeout=2)).status()


# ------------------------------------------------------------------ the summary line


def test_summary_counts_states_and_root_causes_and_fits_the_width() -> None:
    fs = frozen_read().status(NOW)
    full = summary_line(fs)
    assert full == (
        "12 nodes: 3 broken (stale-cilium-interfaces 2, stale-cilium-iptables 1),"
        " 1 not reporting, 8 healthy (1 with warnings)"
    )
    for width in (78, 60, 50):
        line = summary_line(fs, width)
        assert len(line) <= width, line
        assert line.startswith("12 nodes: 3 broken (") and "1 not reporting" in line
    assert "…" in summary_line(fs, 78)  # the second root cause gave way, not the counts


def test_summary_says_all_healthy_only_when_every_node_is() -> None:
    read = frozen_read()
    silent = FleetRead([NodeFacts(n.name, None) for n in read.nodes], [])  # nobody reports
    assert summary_line(silent.status(NOW)) == "12 nodes: 12 not reporting"
    # Conditions without their NodeDiagnosis: broken, but not why.
    bare = FleetRead(read.nodes, []).status(NOW)
    assert summary_line(bare) == "12 nodes: 3 broken (cause unknown 3), 9 healthy"
    names = {r.node for r in read.status(NOW).nodes if r.state == "healthy" and not r.warning}
    only_healthy = FleetRead(
        [n for n in read.nodes if n.name in names], [r for r in read.reports if r.name in names]
    )
    assert summary_line(only_healthy.status(NOW)) == f"{len(names)} nodes: all healthy"


# ------------------------------------------------------------------ the view


async def test_fleet_opens_with_summary_and_one_row_per_node_in_fleet_status_order(
    sim: SimCluster,
) -> None:
    app = make_app(sim.kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_fleet(app, pilot)
        text = screen_text(app)
        assert (
            "12 nodes: 3 broken (stale-cilium-interfaces 2, stale-cilium-iptables 1),"
            " 1 not reporting, 8 healthy (1 with warnings)" in text
        )
        assert "Nodes (12)" in text
        expected = [r.node for r in (await asyncio.to_thread(expected_status, sim)).nodes]
        shown = node_order(text, node_names(12))
        assert shown == expected == screen.query_one(FleetPanel).visible_keys()
        # Broken first, each root cause together, then the silent node, then the rest.
        assert shown[:4] == ["worker-03", "worker-07", STALE_RULES, SILENT]
        row = next(line for line in text.splitlines() if f" {STALE_RULES} " in line)
        assert "broken" in row and "stale-cilium-iptables" in row and "dns-cluster-names" in row
        silent = next(line for line in text.splitlines() if f" {SILENT} " in line)
        assert "not-reporting" in silent and "2h ago" in silent
        assert "Findings" in text and "Filter" in text and "Refresh" in text  # the footer
        assert screen.error is None and CRD_MISSING not in text


async def test_slash_filters_and_esc_clears_the_filter_before_going_back(
    sim: SimCluster,
) -> None:
    app = make_app(sim.kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_fleet(app, pilot)
        panel = screen.query_one(FleetPanel)
        await pilot.press("slash", *"interfaces")
        await pilot.pause()
        assert panel.visible_keys() == ["worker-03", "worker-07"]
        text = screen_text(app)
        assert "Nodes (2/12) /interfaces" in text
        assert f" {STALE_RULES} " not in text and " worker-01 " not in text
        await pilot.press("enter")  # the filter stays, the table has the keys again
        await pilot.pause()
        await pilot.press("slash", "ctrl+u", *"not-rep")
        await pilot.pause()
        assert panel.visible_keys() == [SILENT]
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("escape")  # first esc: the filter goes, the view stays
        await pilot.pause()
        assert app.screen is screen and len(panel.visible_keys()) == 12
        assert "Nodes (12)" in screen_text(app)
        await pilot.press("escape")  # second esc: back to the dashboard
        await pilot.pause()
        assert not isinstance(app.screen, FleetScreen)


async def test_enter_opens_a_broken_nodes_findings_root_cause_first_with_evidence(
    sim: SimCluster,
) -> None:
    app = make_app(sim.kubeconfig)
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_fleet(app, pilot)
        keys = screen.query_one(FleetPanel).visible_keys()
        await pilot.press(*["down"] * keys.index(STALE_RULES), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NodeFindingsScreen))
        await pilot.pause()
        text = screen_text(app)
        assert f"{STALE_RULES}  BROKEN  root cause: stale-cilium-iptables" in text
        assert "every 10m" in text
        lines = text.splitlines()
        first = next(i for i, line in enumerate(lines) if "CRITICAL" in line)
        assert "iptables rules are left over" in lines[first]  # the root cause, first
        assert "k3s stops without cleaning" in text  # the warning, below
        # The highlighted finding's evidence from the NodeDiagnosis, and its fix there.
        assert "212 CILIUM_* rules in filter, nat, mangle, raw" in text
        assert "root cause of dns-cluster-names-fail" in text
        assert f"fix on {STALE_RULES}: ciliumtui run cleanup --dry-run" in text
        assert "Cluster names do not resolve" not in text  # the symptom is folded
        await pilot.press("z")
        await pilot.pause()
        assert "Cluster names do not resolve" in screen_text(app)
        await pilot.press("y")
        assert copied and "212 CILIUM_* rules" in copied[-1]
        assert f"-l kubernetes.io/hostname={STALE_RULES}" in copied[-1]
        await pilot.press("enter")  # the cursor is still on the root cause
        await wait_for(pilot, lambda: isinstance(app.screen, FleetFindingScreen))
        await pilot.pause()
        detail = screen_text(app)
        assert f"{STALE_RULES} · stale-cilium-iptables" in detail
        assert "no cilium-agent process on the node" in detail
        body = str(app.screen.query_one("#detail-text", Static).render())
        assert (
            f"ciliumtui fleet run cleanup-node -l kubernetes.io/hostname={STALE_RULES} --dry-run"
            in body
        )
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert app.screen is screen


async def test_a_node_that_stopped_reporting_says_its_findings_are_old(sim: SimCluster) -> None:
    app = make_app(sim.kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_fleet(app, pilot)
        keys = screen.query_one(FleetPanel).visible_keys()
        await pilot.press(*["down"] * keys.index(SILENT), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NodeFindingsScreen))
        await pilot.pause()
        text = screen_text(app)
        assert f"{SILENT}  NOT-REPORTING" in text and "reported 2h ago" in text
        assert "Not reporting: its last report said: no critical findings" in text
        assert "Is its publisher running there?" in text


async def test_r_reads_again_and_an_open_node_follows(sim: SimCluster) -> None:
    app = make_app(sim.kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_fleet(app, pilot)
        await asyncio.to_thread(heal, sim, "worker-03")
        await asyncio.sleep(0.2)
        assert "3 broken" in screen_text(app)  # nothing reads by itself within 15 s
        await reread(app, pilot)
        text = screen_text(app)
        assert "12 nodes: 2 broken (stale-cilium-interfaces 1, stale-cilium-iptables 1)" in text
        row = next(line for line in text.splitlines() if " worker-03 " in line)
        assert "healthy" in row and "broken" not in row
        assert node_order(text, node_names(12))[:3] == ["worker-07", STALE_RULES, SILENT]
        # The cursor stayed on its node (row 1 of the view then, further down now).
        panel = screen.query_one(FleetPanel)
        assert panel.selected_node() == "worker-03"
        # A node opened from the view shows its new report after the next read.
        await pilot.press(*["up"] * panel.visible_keys().index("worker-03"))
        await pilot.pause()
        assert panel.selected_node() == "worker-07"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NodeFindingsScreen))
        await asyncio.to_thread(heal, sim, "worker-07")
        before = screen.reads
        screen.action_refresh()
        await wait_for(pilot, lambda: screen.reads > before)
        await pilot.pause()
        assert "worker-07  HEALTHY" in screen_text(app)


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("403", "cannot read the fleet: forbidden"),
        ("500", "cannot read the fleet: apiserver error 500"),
        ("hang", "apiserver unreachable: "),
    ],
)
async def test_an_apiserver_that_fails_is_one_line_and_the_view_keeps_answering(
    sim: SimCluster, fault: str, says: str
) -> None:
    app = make_app(sim.kubeconfig, timeout=2.0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_fleet(app, pilot)
        panel = screen.query_one(FleetPanel)
        sim.set_fault(fault)
        before = screen.reads
        start = time.monotonic()
        await pilot.press("r")
        # While the read is out (a hung apiserver: seconds), the keys still work.
        await pilot.press("slash", *"interfaces")
        await pilot.pause()
        assert panel.visible_keys() == ["worker-03", "worker-07"]
        if fault == "hang":
            assert screen.reads == before, "the hung read came back before the filter"
        await pilot.press("escape")
        await pilot.pause()
        await wait_for(pilot, lambda: screen.reads > before, timeout=25)
        took = time.monotonic() - start
        await pilot.pause()
        text = screen_text(app)
        lines = [line for line in text.splitlines() if says in line]
        assert len(lines) == 1, text
        error = str(screen.query_one("#fleet-error", Static).render())
        assert "\n" not in error and "Traceback" not in text
        # The last good read stays on the screen, marked as such.
        assert len(panel.visible_keys()) == 12 and "(last good read)" in text
        assert "12 nodes: 3 broken" in text
        assert took < 20, f"the failed read took {took:.1f}s"
        # And the view recovers once the apiserver does.
        sim.set_fault(None)
        await reread(app, pilot)
        text = screen_text(app)
        assert says not in text and "(last good read)" not in text and screen.error is None


async def test_an_apiserver_that_refuses_connections_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    kubeconfig = black_hole_kubeconfig(port, tmp_path / "kubeconfig")
    app = make_app(str(kubeconfig))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_fleet(app, pilot)
        text = screen_text(app)
        assert NOT_READ in text and "reading the fleet" not in text
        lines = [line for line in text.splitlines() if "apiserver unreachable: " in line]
        assert len(lines) == 1 and "refused" in lines[0], text
        assert screen.query_one(FleetPanel).visible_keys() == []
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, FleetScreen)


async def test_a_cluster_without_the_nodediagnosis_crd_says_so(tmp_path: Path) -> None:
    with SimCluster(scenario(), tmpdir=tmp_path / "sim") as bare:
        app = make_app(bare.kubeconfig)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_fleet(app, pilot)
            text = screen_text(app)
            assert "no NodeDiagnosis CRD: no publisher reports here" in text
            assert "ciliumtui fleet manifest" in text
            assert "12 nodes: 12 not reporting" in text and "all healthy" not in text
            assert len(screen.query_one(FleetPanel).visible_keys()) == 12
            row = next(line for line in text.splitlines() if " worker-01 " in line)
            assert "not-reporting" in row and "never" in row
            assert screen.error is None  # a fact about the cluster, not a failed read


async def test_a_selector_narrows_the_view_and_nodes_is_an_alias(sim: SimCluster) -> None:
    app = make_app(sim.kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_fleet(app, pilot, f"nodes kubernetes.io/hostname={WARNED}")
        text = screen_text(app)
        assert screen.query_one(FleetPanel).visible_keys() == [WARNED]
        assert f"-l kubernetes.io/hostname={WARNED}" in text
        assert "1 node: 1 healthy (1 with warnings)" in text
        before = screen.reads
        await pilot.press("colon", *"fleet", "enter")  # on the view: every node again
        await wait_for(pilot, lambda: screen.reads > before)
        await pilot.pause()
        assert app.screen is screen and len(screen.query_one(FleetPanel).visible_keys()) == 12
        assert set(BROKEN) <= set(screen.query_one(FleetPanel).visible_keys())


async def test_help_and_palette_list_fleet(sim: SimCluster) -> None:
    app = make_app(sim.kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "Fleet" in [e.name for e in palette_entries(app)]
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        assert ":fleet [SELECTOR]" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"fleet")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.reads)
        await pilot.press("question_mark")  # the view's own keys in its help
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        text = screen_text(app)
        assert "Findings" in text and "Filter" in text and "Refresh" in text
