"""Shared fixtures.

Tests marked `root` need root and network namespaces. Without root they skip —
except in CI (CI=true or CILIUMTUI_REQUIRE_ROOT=1), where any skipped root test
turns the run red: a green CI must mean the real-kernel tests ran.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ciliumtui.options import Options

# The simulated Cilium node fixtures (cilium_node, node_factory).
pytest_plugins = ["fixtures_node"]

IS_ROOT = os.geteuid() == 0
REQUIRE_ROOT_TESTS = (
    os.environ.get("CI") == "true" or os.environ.get("CILIUMTUI_REQUIRE_ROOT") == "1"
)

_skipped_root: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason="needs root (network namespaces, iptables)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # A fixture that skips for want of root (make_netns, node_factory) counts too.
    reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
    if report.skipped and ("root" in report.keywords or "root" in reason.lower()):
        _skipped_root.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REQUIRE_ROOT_TESTS and _skipped_root:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if REQUIRE_ROOT_TESTS and _skipped_root:
        terminalreporter.write_line(
            f"FAILED: {len(_skipped_root)} root/netns test(s) were skipped in CI:", red=True
        )
        for nodeid in _skipped_root[:20]:
            terminalreporter.write_line(f"  {nodeid}", red=True)


@pytest.fixture
def make_netns() -> Iterator[Callable[[str], str]]:
    """Create uniquely named network namespaces; every one is removed afterwards."""
    if not IS_ROOT:
        pytest.skip("needs root")
    created: list[str] = []

    def make(prefix: str = "ct") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        created.append(name)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        return name

    yield make
    for name in created:
        # build_node lays what a node talks to into `<name>.upstream`: it goes too.
        for ns in (f"{name}.upstream", name):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


@pytest.fixture
def recorded_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Options]:
    """The post-reboot node as a recorded file (its backend: no root, no kernel) with
    its simulated cluster: wizards and playbooks run the real engine on it (DESIGN §3).
    The run state goes to a private state dir."""
    from ciliumtui.training.env import TrainingEnv

    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    with TrainingEnv("post-reboot", root=False) as env:
        yield env.opts
