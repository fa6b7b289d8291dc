"""Training never strands anything: a dropped SSH session (SIGHUP) tears down like
Ctrl-C, and a SIGKILL'd session's namespaces (the node's and its `.upstream`) and
its temp dir (`ciliumtui-train-<id>-…`) are reaped by the next session, which keeps
the dead session's journals for `ciliumtui report`."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ciliumtui.training.env import OWNER_FILE, TMP_PREFIX, TrainingEnv

pytestmark = pytest.mark.root
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def _start(tmp_path: Path, path: str = PATH) -> tuple[subprocess.Popen, str]:
    """A headless session; returns it and its namespace (or "recorded")."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ciliumtui", "train", "post-reboot", "--headless"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": path, "HOME": str(tmp_path), "CILIUMTUI_STATE_DIR": str(tmp_path / "st")},
    )
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"network namespace \((tr-[\w-]+)\)", line)
        if m:
            return proc, m.group(1)
        if "Mode: recorded node" in line:
            return proc, "recorded"
    proc.kill()
    raise AssertionError("training did not come up")


def _exists(ns: str) -> bool:
    return Path("/run/netns", ns).exists()


def _tmpdir_of(pid: int) -> Path:
    for d in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}post-reboot-*"):
        try:
            if json.loads((d / OWNER_FILE).read_text())["pid"] == pid:
                return d
        except (OSError, ValueError, KeyError):
            continue
    raise AssertionError(f"no temp dir owned by {pid}")


def test_sighup_tears_the_namespace_down(tmp_path: Path) -> None:
    proc, ns = _start(tmp_path)
    tmpdir = _tmpdir_of(proc.pid)
    assert _exists(ns) and _exists(f"{ns}.upstream")
    proc.send_signal(signal.SIGHUP)
    proc.wait(timeout=30)
    assert not _exists(ns) and not _exists(f"{ns}.upstream") and not tmpdir.exists()


def test_a_killed_sessions_namespace_and_temp_dir_are_reaped_by_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc, ns = _start(tmp_path)
    tmpdir = _tmpdir_of(proc.pid)
    # A run the killed session made: its journal must survive the reaping.
    run = tmpdir / "state/runs/20260101T000000Z-dead0001"
    run.mkdir(parents=True)
    (run / "journal.jsonl").write_text('{"kind": "run_started", "run_id": "dead0001"}\n')
    proc.kill()
    proc.wait(timeout=10)
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "operator"))
    try:
        assert _exists(ns) and tmpdir.exists()  # SIGKILL leaves no chance to clean up...
        with TrainingEnv("healthy", root=True) as env:
            assert not _exists(ns) and not _exists(f"{ns}.upstream")  # ...the next one reaps
            assert not tmpdir.exists()
            assert env.netns and _exists(env.netns)
        assert (tmp_path / "operator/runs" / run.name / "journal.jsonl").is_file()
    finally:
        for name in (f"{ns}.upstream", ns):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def test_a_killed_recorded_session_is_reaped_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No iptables on PATH: the session runs on a recorded node (no namespace), and
    its temp dir still goes once it is killed and the next session starts."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ip = subprocess.run(["sh", "-c", "command -v ip"], capture_output=True, text=True).stdout
    (bin_dir / "ip").symlink_to(ip.strip())
    proc, mode = _start(tmp_path, str(bin_dir))
    assert mode == "recorded"
    tmpdir = _tmpdir_of(proc.pid)
    proc.kill()
    proc.wait(timeout=10)
    assert tmpdir.exists()
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "operator"))
    with TrainingEnv("healthy", root=False):
        assert not tmpdir.exists()
