"""Smoke test of the real console script in a real terminal (tmux): the node
panels fill from a network namespace while the apiserver is unreachable."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from tui_fixtures import add_veth, hostname_root

# The console script of the interpreter running the tests: the README's test command
# does not activate the venv, so `ciliumtui` need not be on PATH.
CILIUMTUI = str(Path(sys.executable).with_name("ciliumtui"))


def capture(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=False
    ).stdout


@pytest.mark.root
def test_console_script_in_tmux_shows_node_panels_and_unreachable_apiserver(
    make_netns: Any, tmp_path: Path
) -> None:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (apt-get install -y tmux)")
    script = CILIUMTUI
    ns = make_netns("h6t")
    add_veth(ns, "cilium_host", "cilium_net")
    root = hostname_root(tmp_path)
    session = f"h6-{uuid.uuid4().hex[:8]}"
    cmd = f"{script} --netns {ns} --host-root {root} --kubeconfig /nonexistent --timeout 1"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", cmd], check=True
    )
    try:
        screen = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            screen = capture(session)
            if "cilium_host" in screen and "apiserver unreachable" in screen:
                break
            time.sleep(0.2)
        assert "Interfaces" in screen and "cilium_host" in screen and "cilium_net" in screen, screen
        assert "apiserver unreachable" in screen, screen
        assert "node k3s-node1" in screen, screen
        # `:q` quits cleanly: the session ends with the program.
        subprocess.run(["tmux", "send-keys", "-t", session, ":", "q", "Enter"], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = (
                subprocess.run(
                    ["tmux", "has-session", "-t", session], capture_output=True
                ).returncode
                == 0
            )
            if not alive:
                break
            time.sleep(0.2)
        assert not alive, capture(session)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)


def test_without_a_terminal_the_dashboard_refuses_in_one_line(tmp_path: Path) -> None:
    script = CILIUMTUI
    proc = subprocess.run(
        [script, "--host-root", str(tmp_path), "--kubeconfig", "/nonexistent"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines() == [
        "ciliumtui: error: the dashboard needs an interactive terminal; in scripts use"
        " `ciliumtui diagnose` or `ciliumtui snapshot`"
    ]
