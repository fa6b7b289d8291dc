"""Pilot tests of the dashboard: panels, navigation, filter, command mode, help,
palette, read-only, and the worker cycles (no overlap, backoff)."""

from __future__ import annotations

import dataclasses
import time

from ciliumtui.screens.finding_detail import FindingDetailScreen
from ciliumtui.screens.help import HelpScreen
from textual.widgets import Button, DataTable
from tui_fixtures import (
    NODE,
    healthy_source,
    node_state,
    opts,
    post_reboot_source,
    unreachable_source,
)

from ciliumtui.app import CiliumtuiApp
from ciliumtui.tui.workers import Timing
from ciliumtui.widgets.findings import FindingsPanel


async def settle(app: CiliumtuiApp, pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def rows(app: CiliumtuiApp, panel: str) -> list[list[str]]:
    table = app.screen.query_one(f"#{panel} DataTable", DataTable)
    return [[str(getattr(c, "plain", c)) for c in table.get_row(r.key)] for r in table.ordered_rows]


def cells(app: CiliumtuiApp, panel: str) -> list[dict[str, str]]:
    """Each row as {column key: text} (columns a narrow panel dropped are absent)."""
    table = app.screen.query_one(f"#{panel} DataTable", DataTable)
    keys = [str(k.value) for k in table.columns]
    return [dict(zip(keys, r, strict=True)) for r in rows(app, panel)]


async def test_panels_show_node_cluster_dns_and_root_causes_first() -> None:
    app = CiliumtuiApp(opts(), post_reboot_source(), live=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(app, pilot)
        by_name = {r["name"]: r for r in cells(app, "interfaces")}
        assert {"eth0", "cilium_host", "lxcbr0"} <= set(by_name)
        assert by_name["cilium_host"]["owner"] == "cilium" and by_name["lxcbr0"]["owner"] == ""
        # The BPF programs attached to each device (NodeState.bpf.attachments).
        assert by_name["eth0"]["bpf"].startswith("in:cil_from_netdev eg")  # "…" if cut
        assert by_name["lxcbr0"]["bpf"] == ""
        # Root causes only (symptoms folded under the cause), most severe first.
        panel = app.screen.query_one(FindingsPanel)
        ids = [panel.findings[k].id for k in panel.visible_keys()]
        assert ids == ["stale-cilium-interfaces", "stale-cilium-bpf", "k3s-stop-hook-missing"]
        assert "(+3)" in rows(app, "findings")[0][1]
        cilium = {r[0]: r for r in rows(app, "cilium")}
        assert cilium["agent pod"][1] == "CrashLoopBackOff"
        assert cilium["agent API"][1] == "down"
        dns = {r[0]: r for r in rows(app, "dns")}
        assert dns["external: example.com"][1] == "SERVFAIL"
        header = app.screen.query_one("#header").render().plain
        assert "ctx default" in header and f"node {NODE}" in header and "cilium 1.18.4" in header


async def test_tab_moves_between_panels_and_enter_opens_detail_esc_returns() -> None:
    app = CiliumtuiApp(opts(), post_reboot_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        dash = app.screen
        assert dash.focused_panel().id == "findings"
        seen = []
        for _ in range(5):
            await pilot.press("tab")
            seen.append(dash.focused_panel().id)
        assert seen == ["interfaces", "routes", "cilium", "dns", "findings"]
        # At 80x24 the focused panel is scrolled into view.
        await pilot.press("shift+tab")
        await pilot.pause()
        dns = dash.query_one("#dns")
        assert dns.region.y < 24 and dns.region.bottom > 0
        await pilot.press("tab", "enter")  # the cursor starts on the first root cause
        await pilot.pause()
        assert isinstance(app.screen, FindingDetailScreen)
        text = app.screen.query_one("#detail-text").render()
        shown = str(getattr(text, "plain", text))
        assert "stale-cilium-interfaces" in shown and "(root cause)" in shown
        assert "Evidence" in shown and "playbook: cleanup" in shown
        assert "Explains" in shown and "cilium-agent-not-ready" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.dashboard


async def test_slash_filters_the_focused_table_and_escape_clears() -> None:
    app = CiliumtuiApp(opts(), healthy_source(), live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        app.screen.query_one("#routes DataTable").focus()
        total = len(rows(app, "routes"))
        await pilot.press("slash", *"cilium_host")
        await pilot.pause()
        filtered = rows(app, "routes")
        assert 0 < len(filtered) < total
        assert all("cilium_host" in " ".join(r) for r in filtered)
        # Other panels are not filtered.
        assert len(rows(app, "interfaces")) == len(node_state().links)
        await pilot.press("enter")  # keep the filter, back to the table
        await pilot.pause()
        assert app.screen.focused is app.screen.query_one("#routes DataTable")
        assert "/cilium_host" in str(app.screen.query_one("#routes").border_title)
        await pilot.press("escape")
        await pilot.pause()
        assert len(rows(app, "routes")) == total


async def test_command_mode_theme_unknown_and_quit() -> None:
    app = CiliumtuiApp(opts(), healthy_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.theme == "ansi-dark"
        await pilot.press("colon", *"theme nord", "enter")
        await pilot.pause()
        assert app.theme == "nord"
        await pilot.press("colon", *"frobnicate", "enter")
        await pilot.pause()
        assert any("unknown command :frobnicate" in str(n.message) for n in app._notifications)
        await pilot.press("colon", "q", "enter")
        await pilot.pause()
    assert app.return_value == 0


async def test_help_lists_the_keys_of_the_screen_below() -> None:
    app = CiliumtuiApp(opts(read_only=True), healthy_source(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert "Filter" in text and ":run PLAYBOOK" in text
        assert "Fix" in text and "(disabled: read-only mode)" in text
        assert ":export [FILE]" in text and ":screendump" in text  # the one command table
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.dashboard


async def test_read_only_disables_fixing_visibly() -> None:
    app = CiliumtuiApp(opts(read_only=True), post_reboot_source(), live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        banner = app.screen.query_one("#read-only-banner")
        assert banner.display and "READ-ONLY" in str(banner.render())
        assert "READ-ONLY" in app.screen.query_one("#header").render().plain
        assert app.screen.active_bindings["f"].enabled is False
        await pilot.press("f")  # disabled: nothing opens
        await pilot.pause()
        assert app.screen is app.dashboard
        await pilot.press("enter")
        await pilot.pause()
        button = app.screen.query_one("#start-wizard", Button)
        assert button.disabled and "read-only" in str(button.label)
        assert not app.screen.query_one("#dry-run", Button).disabled


async def test_not_read_only_has_no_banner_and_fix_enabled() -> None:
    app = CiliumtuiApp(opts(), post_reboot_source(), live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert not app.screen.query_one("#read-only-banner").display
        assert app.screen.active_bindings["f"].enabled is True


async def test_palette_lists_the_command_table_and_runs_one() -> None:
    from ciliumtui.tui.commands import palette_entries

    app = CiliumtuiApp(opts(), healthy_source(), live=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        names = [e.name for e in palette_entries(app)]
        assert {"Refresh", "Diagnose", "Help", "Journal", "Quit", "Theme ansi-light"} <= set(names)
        assert {"Run playbook cleanup", "Dry-run playbook verify", "Export"} <= set(names)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"theme nord")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.theme == "nord"


async def test_apiserver_unreachable_says_so_and_retries_with_backoff_node_stays() -> None:
    source = unreachable_source()
    app = CiliumtuiApp(
        opts(), source, live=True, timing=Timing(backoff_first=0.05, node_interval=0.05)
    )
    times: list[float] = []
    original = source.cluster

    async def timed(probes):  # type: ignore[no-untyped-def]
        times.append(time.perf_counter())
        return await original(probes)

    source.cluster = timed  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.perf_counter() + 15
        while len(times) < 4 and time.perf_counter() < deadline:
            await pilot.pause(0.02)
        panel = app.screen.query_one("#cilium")
        assert "apiserver unreachable" in str(panel.border_subtitle)
        assert "timed out" in str(panel.border_subtitle)
        assert "UNREACHABLE" in app.screen.query_one("#header").render().plain
        # Retried with a growing backoff (0.05, 0.1, 0.2 s): each wait at least the last.
        assert len(times) >= 4
        waits = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert waits[0] >= 0.05 and waits[1] >= 0.1 and waits[2] >= 0.2
        # Node panels kept refreshing meanwhile.
        assert source.calls["node"] >= 2
        assert rows(app, "interfaces")


async def test_cycles_never_overlap_even_when_refresh_is_spammed() -> None:
    source = healthy_source()
    source.cluster_delay = 0.5
    app = CiliumtuiApp(opts(), source, live=True)
    async with app.run_test(size=(80, 24)) as pilot:
        start = time.perf_counter()
        for _ in range(10):
            await pilot.press("r")
        await pilot.pause(0.6)
        elapsed = time.perf_counter() - start
        assert source.max_in_flight == 1
        # Presses during a run collapse into one re-run after it: back to back, never more.
        assert source.calls["cluster"] <= elapsed / source.cluster_delay + 1


async def test_rows_update_in_place_by_key() -> None:
    source = healthy_source()
    app = CiliumtuiApp(opts(), source, live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#interfaces DataTable", DataTable)
        cleared = []
        original_clear = table.clear
        table.clear = lambda *a, **k: (cleared.append(1), original_clear(*a, **k))[1]  # type: ignore[method-assign]
        node = node_state()
        node.links[1] = dataclasses.replace(node.links[1], state="DOWN")
        node.links.append(dataclasses.replace(node.links[1], name="eth1", index=30, state="UP"))
        source.set_node(node)
        app.probing.refresh_node()
        await settle(app, pilot)
        assert not cleared
        by_name = {r[0]: r for r in rows(app, "interfaces")}
        assert by_name["eth0"][1] == "DOWN" and by_name["eth1"][1] == "UP"


async def test_findings_panel_enter_posts_selection() -> None:
    app = CiliumtuiApp(opts(), post_reboot_source(), live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        panel = app.screen.query_one(FindingsPanel)
        first = panel.visible_keys()[0]
        assert panel.findings[first].severity == "critical"


async def test_routes_are_capped_but_the_filter_searches_all_of_them() -> None:
    from ciliumtui.model import Route
    from ciliumtui.widgets.routes import ROUTE_CAP

    node = node_state()
    node.routes = [Route(f"10.{i // 256}.{i % 256}.0/24", dev="eth0") for i in range(1000)]
    source = healthy_source()
    source.set_node(node)
    app = CiliumtuiApp(opts(), source, live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert len(rows(app, "routes")) == ROUTE_CAP
        assert f"({ROUTE_CAP}/1000)" in str(app.screen.query_one("#routes").border_title)
        app.screen.query_one("#routes DataTable").focus()
        await pilot.press("slash", *"10.3.231.0", "enter")  # route no. 999, far past the cap
        await pilot.pause()
        assert [r[0] for r in rows(app, "routes")] == ["10.3.231.0/24"]


async def test_keyed_diff_matches_the_wanted_rows_over_random_updates() -> None:
    import random

    from ciliumtui.widgets.interfaces import InterfacesPanel

    rnd = random.Random(6)
    app = CiliumtuiApp(opts(), healthy_source(), live=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(app, pilot)
        panel = app.screen.query_one(InterfacesPanel)
        for _ in range(25):
            keys = sorted(rnd.sample(range(40), rnd.randint(0, 12)))
            wanted = [
                (f"if{k}", (f"if{k}", rnd.choice(["UP", "DOWN"]), "1500", "", "", "", ""))
                for k in keys
            ]
            panel.set_filter(rnd.choice(["", "", "up", "if1"]))
            if rnd.random() < 0.3 and not panel.filter_text:  # a delta, as netlink events do
                panel.set_rows(wanted[: len(wanted) // 2])
                panel.patch(wanted[len(wanted) // 2 :])
            else:
                panel.set_rows(wanted)
            expect = [
                k
                for k, r in wanted
                if not panel.filter_text or panel.filter_text in " ".join(r).lower()
            ]
            assert panel.visible_keys() == expect
            table = panel.table
            for key in expect:
                assert [str(c) for c in table.get_row(key)] == list(dict(wanted)[key])
