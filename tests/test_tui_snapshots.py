"""SVG snapshots (pytest-textual-snapshot) of every screen at 80x24 and 160x45:
the dashboard (post-reboot, healthy, apiserver unreachable, read-only, symptoms
unfolded), the finding detail, the wizard (plan, dry run, confirm, destructive
confirm, result, declined), help, journal, :env, the inputs form, briefing,
debrief, the give-up question, and the `:fleet` view. Hand-built model objects,
no timers, no live events: every run draws the same frame (tests/screen_fixtures.py,
tests/fleet_tui_fixtures.py). Update with `--snapshot-update`, then look at them
(snapshot_report.html, or the text dump of tests/screen_fixtures.py's screens)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleet_tui_fixtures import fleet_snapshot_app
from screen_fixtures import SCREENS, make_app

SIZES = [(80, 24), (160, 45)]
# The journal screen names its directory: a fixed one keeps the frame the same.
STATE = Path("/tmp/ciliumtui-snapshot-state")


@pytest.fixture(autouse=True)
def fixed_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from ciliumtui.engine.journal import Journal

    shutil.rmtree(STATE, ignore_errors=True)
    run_id = "20260101T000000Z-cleanup-0000"
    (STATE / "runs" / run_id).mkdir(parents=True)
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(STATE))
    j = Journal(STATE / "runs" / run_id / "journal.jsonl")
    j.write(
        {
            "kind": "run_started",
            "run_id": run_id,
            "ts": "2026-01-01T00:00:00.000+00:00",
            "data": {"playbook": "cleanup", "node": "k3s-node1", "mode": {}},
        }
    )
    j.write({"kind": "run_finished", "run_id": run_id, "status": "declined"})
    j.close()
    yield
    shutil.rmtree(STATE, ignore_errors=True)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", SCREENS)
def test_screen(snap_compare: Any, screen: str, size: tuple[int, int]) -> None:
    app, before = make_app(screen)
    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.fixture
def utc() -> Iterator[None]:
    # The fleet view shows when it read in local time: the frame must not depend on TZ.
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_fleet_screen(snap_compare: Any, size: tuple[int, int], utc: None) -> None:
    """The `:fleet` view of tests/fleet_tui_fixtures.py's fleet, frozen at its NOW."""
    app, before = fleet_snapshot_app()
    assert snap_compare(app, terminal_size=size, run_before=before)
