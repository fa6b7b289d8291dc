"""Training never strands a network namespace: a dropped SSH session (SIGHUP) tears
down like Ctrl-C, and a SIGKILL'd session's namespace is reaped by the next one."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ciliumtui.training.env import TrainingEnv

pytestmark = pytest.mark.root


def _start(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ciliumtui", "train", "post-reboot", "--headless"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path)},
    )
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"network namespace \((tr-[\w-]+)\)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise AssertionError("training did not come up")


def _exists(ns: str) -> bool:
    return Path("/run/netns", ns).exists()


def test_sighup_tears_the_namespace_down(tmp_path: Path) -> None:
    proc, ns = _start(tmp_path)
    assert _exists(ns)
    proc.send_signal(signal.SIGHUP)
    proc.wait(timeout=30)
    assert not _exists(ns)


def test_a_killed_sessions_namespace_is_reaped_by_the_next_one(tmp_path: Path) -> None:
    proc, ns = _start(tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    try:
        assert _exists(ns)  # SIGKILL leaves no chance to clean up...
        with TrainingEnv("healthy", root=True) as env:
            assert not _exists(ns)  # ...the next session reaps it
            assert env.netns and _exists(env.netns)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
