"""Screenshots of the dashboard (pytest-textual-snapshot): healthy and after a
hard reboot, at 80x24 and 160x48. Hand-built snapshots, no timers, no live
events: every run draws the same frame. Update with `--snapshot-update`."""

from __future__ import annotations

from typing import Any

import pytest
from tui_fixtures import healthy_source, opts, post_reboot_source

from ciliumtui.app import CiliumtuiApp

SIZES = [(80, 24), (160, 48)]


async def settle(pilot: Any) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard_healthy(snap_compare: Any, size: tuple[int, int]) -> None:
    app = CiliumtuiApp(opts(), healthy_source(), live=False)
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard_post_reboot(snap_compare: Any, size: tuple[int, int]) -> None:
    app = CiliumtuiApp(opts(), post_reboot_source(), live=False)
    assert snap_compare(app, terminal_size=size, run_before=settle)


def test_dashboard_post_reboot_read_only_80x24(snap_compare: Any) -> None:
    app = CiliumtuiApp(opts(read_only=True), post_reboot_source(), live=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)
