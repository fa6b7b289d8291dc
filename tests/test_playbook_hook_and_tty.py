"""The k3s stop hook (files under a host root) and confirmation on a real terminal (pty)."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

from ciliumtui.engine.events import RunResult
from ciliumtui.engine.loader import load_playbook, resolve_inputs
from ciliumtui.engine.runner import Runner
from ciliumtui.options import Options

DROPIN = "etc/systemd/system/{unit}.d/10-ciliumtui-cleanup.conf"


async def test_k3s_hook_installs_a_dropin_idempotently_and_backs_up(tmp_path, monkeypatch):
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    root = tmp_path / "root"
    root.mkdir()
    pb = load_playbook("k3s-stop-hook")
    opts = Options(host_root=str(root), node="k3s-node1")

    # no ciliumtui on this node: no hook that would fail at every stop (issue 13.5)
    dry = await Runner(pb, opts, resolve_inputs(pb, {}, "k3s-node1"), dry_run=True).run()
    assert dry.status == "unplanned" and "no ciliumtui executable on the node" in dry.message
    assert "--input binary=PATH" in dry.message and not (root / "etc").exists()
    stub = root / "opt/ciliumtui/bin/ciliumtui"
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    given = resolve_inputs(pb, {"binary": "/opt/ciliumtui/bin/ciliumtui"}, "k3s-node1")
    dry = await Runner(pb, opts, given, dry_run=True).run()
    assert dry.status == "unplanned" and "not executable" in dry.message  # there, but not +x
    stub.chmod(0o755)
    dry = await Runner(pb, opts, given, dry_run=True).run()
    assert dry.status == "planned" and not (root / "etc").exists()
    fallback = root / "usr/local/bin/ciliumtui"  # where the hook looks last
    fallback.parent.mkdir(parents=True)
    fallback.write_text("#!/bin/sh\nexit 0\n")
    fallback.chmod(0o755)

    events = []

    async def install() -> RunResult:  # the same run, twice: the second must change nothing
        return await Runner(
            pb,
            opts,
            resolve_inputs(pb, {"unit": "k3s-agent.service"}, "k3s-node1"),
            assume_yes=True,
            on_event=events.append,
        ).run()

    first = await install()
    assert first.status == "ok"
    dropin = root / DROPIN.format(unit="k3s-agent.service")
    text = dropin.read_text()
    # no leading '-': a failed cleanup shows as a failed unit instead of a silent success
    assert "[Service]\nExecStopPost=/usr/local/bin/ciliumtui run cleanup-node --yes\n" in text
    out = [e.message for e in events if e.kind == "step_output"]
    assert any("skipped systemctl daemon-reload: host root is" in (m or "") for m in out)
    assert (Path(first.backups["install-hook"]) / "10-ciliumtui-cleanup.conf.absent").exists()

    mtime = dropin.stat().st_mtime_ns
    events.clear()
    again = await install()
    assert again.status == "ok" and dropin.stat().st_mtime_ns == mtime
    # an identical hook: nothing to do (skipped), or said to be there already
    assert again.steps["install-hook"] == "skipped" or any(
        "already installed" in (e.message or "") for e in events if e.kind == "step_output"
    )


def _run_in_pty(argv: list[str], answer: str, env: dict, timeout: float = 30) -> tuple[int, str]:
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execvpe(argv[0], argv, env)
    out = b""
    answered = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if not answered and (b"[y/N]" in out or b"Type the node name" in out):
                os.write(fd, answer.encode() + b"\n")
                answered = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_terminal_confirmation_default_is_cancel_and_destructive_needs_the_node_name(tmp_path):
    env = {**os.environ, "CILIUMTUI_STATE_DIR": str(tmp_path / "state")}
    root = tmp_path / "root"
    stub = root / "usr/local/bin/ciliumtui"  # the node has a ciliumtui for the hook to run
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    base = [
        sys.executable,
        "-m",
        "ciliumtui",
        "run",
        "k3s-stop-hook",
        "--host-root",
        str(root),
        "--node",
        "k3s-node1",
    ]
    code, out = _run_in_pty(base, "", env)  # Enter alone: the default, Cancel
    assert code == 3 and "declined" in out and "context:" in out and "node: k3s-node1" in out
    assert not (root / "etc").exists()
    code, out = _run_in_pty(base, "y", env)
    assert code == 0 and (root / DROPIN.format(unit="k3s.service")).exists()

    pbf = tmp_path / "destructive.yaml"
    pbf.write_text(
        "id: d\nsteps:\n  - id: hook\n    action: k3s.hook\n    risk: destructive\n"
        "    params: {unit: other.service}\n"
    )
    argv = [*base[:4], str(pbf), *base[5:]]
    code, out = _run_in_pty(argv, "y", env)  # "y" is not the node name
    assert code == 3 and "Type the node name (k3s-node1)" in out
    assert not (root / DROPIN.format(unit="other.service")).exists()
    code, out = _run_in_pty(argv, "k3s-node1", env)
    assert code == 0, out
    assert (root / DROPIN.format(unit="other.service")).exists()
