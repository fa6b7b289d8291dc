"""`ciliumtui diagnose --from FILE` as a user runs it: a subprocess, exit codes, JSON shape,
human text — and offline analysis giving the same findings as the checks."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from snapshots import creating, healthy, no_agent, set_dns, unreachable

import ciliumtui
from ciliumtui.checks import run_checks
from ciliumtui.model import Snapshot


def _post_reboot() -> Snapshot:
    snap = no_agent(healthy())
    for p in snap.cluster.node_pods[2:]:
        creating(p)
    return set_dns(snap, external="SERVFAIL")


def _operator_down() -> Snapshot:
    snap = healthy()
    snap.cluster.operator.available = 0
    return snap


def _save(tmp_path: Path, snap: Snapshot, name: str = "snap.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(snap.to_dict()))
    return path


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ciliumtui", "diagnose", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_from_file_json_matches_the_checks_and_design_shape(tmp_path):
    snap = _post_reboot()
    res = _run("--from", str(_save(tmp_path, snap)), "--json")
    assert res.returncode == 2, res.stderr
    out = json.loads(res.stdout)
    assert set(out) == {
        "schema",
        "tool_version",
        "generated_at",
        "node",
        "cilium_version",
        "findings",
        "probes",
    }
    assert out["schema"] == 2
    assert out["tool_version"] == ciliumtui.__version__
    generated = datetime.strptime(out["generated_at"], "%Y-%m-%dT%H:%M:%SZ")  # RFC 3339, UTC
    assert abs((datetime.utcnow() - generated).total_seconds()) < 120
    assert out["node"] == "k3s-node1"
    assert out["cilium_version"] == "1.18.4"
    assert out["findings"] == [f.to_json() for f in run_checks(snap)]
    for f in out["findings"]:
        assert set(f) == {
            "id",
            "severity",
            "title",
            "evidence",
            "remediation",
            "root_cause",
            "explained_by",
        }
        assert set(f["remediation"]) == {"playbook", "docs"}
        assert f["severity"] in ("critical", "warning", "info")
        assert f["root_cause"] is (not f["explained_by"])
    assert out["probes"]["apiserver"] == {"ok": True, "error": None, "ms": 80.1}
    # root causes first: the debris, then what it explains, each taking its playbook
    ids = [f["id"] for f in out["findings"]]
    assert ids[:2] == ["stale-cilium-interfaces", "stale-cilium-iptables"]
    by = {f["id"]: f for f in out["findings"]}
    assert by["cilium-agent-not-ready"]["explained_by"] == [
        "stale-cilium-interfaces",
        "stale-cilium-iptables",
    ]
    assert by["dns-external-names-fail"]["explained_by"] == ["cilium-agent-not-ready"]
    assert {f["remediation"]["playbook"] for f in out["findings"]} == {"cleanup"}


def test_offline_round_trip_through_snapshot_json(tmp_path):
    """snapshot --json on the broken node → diagnose --from elsewhere: same findings."""
    for snap in (_post_reboot(), unreachable(_post_reboot()), _operator_down(), healthy()):
        res = _run("--from", str(_save(tmp_path, snap)), "--json")
        assert json.loads(res.stdout)["findings"] == [f.to_json() for f in run_checks(snap)]


@pytest.mark.parametrize(
    ("snap", "extra", "code"),
    [
        (healthy, [], 0),
        (_operator_down, [], 1),
        (_operator_down, ["--fail-on", "critical"], 0),
        (_operator_down, ["--fail-on", "warning"], 1),
        (_post_reboot, [], 2),
        (_post_reboot, ["--fail-on", "critical"], 2),
        (lambda: unreachable(healthy()), [], 2),  # an unreachable apiserver is a finding
    ],
)
def test_exit_codes(tmp_path, snap, extra, code):
    res = _run("--from", str(_save(tmp_path, snap())), *extra)
    assert res.returncode == code, res.stdout + res.stderr


def test_info_only_exits_zero(tmp_path):
    snap = healthy()
    snap.node.host.k3s.stop_hook = False
    res = _run("--from", str(_save(tmp_path, snap)), "--json")
    assert res.returncode == 0
    assert [f["id"] for f in json.loads(res.stdout)["findings"]] == ["k3s-stop-hook-missing"]


def test_human_text_folds_symptoms_under_their_root_cause(tmp_path):
    snap = _post_reboot()
    snap.cluster.operator.available = 0
    res = _run("--from", str(_save(tmp_path, snap)))
    out = res.stdout
    assert "\x1b[" not in out  # not a TTY: no colour
    # root causes by severity: two critical (the debris), one warning (the operator)
    assert out.index("CRITICAL (2)") < out.index("WARNING (1)")
    assert (
        "  ✗ Cilium interfaces are left on the node while no agent runs  [stale-cilium-interfaces]"
        in out
    )
    assert (
        "      no live agent: no pidfile /var/run/cilium/cilium.pid, no socket /var/run/cilium/cilium.sock"
        in out
    )
    assert "fix: ciliumtui run cleanup" in out
    assert (
        "      explains: cilium-agent-not-ready, dns-external-names-fail, pods-failing-on-node"
        in out
    )
    # a symptom once, under its first cause, saying what explains it
    assert out.count("[cilium-agent-not-ready]") == 1
    agent = out.index(
        "      ↳ ✗ The Cilium agent pod on this node is not Ready  [cilium-agent-not-ready]"
    )
    assert out.index("[stale-cilium-interfaces]") < agent < out.index("[stale-cilium-iptables]")
    assert "            explained by: stale-cilium-interfaces, stale-cilium-iptables" in out
    assert out.rstrip().endswith("4 critical, 2 warning, 0 info (3 root causes)")


def test_healthy_text_says_so(tmp_path):
    res = _run("--from", str(_save(tmp_path, healthy())))
    assert res.returncode == 0
    assert "no findings: the node looks healthy" in res.stdout


def _run_on_tty(args: list[str], env: dict) -> str:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ciliumtui", "diagnose", *args],
        stdout=slave,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode()


def test_colour_only_on_a_tty_without_no_color(tmp_path):
    path = str(_save(tmp_path, _post_reboot()))
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert "\x1b[1;31mCRITICAL" in _run_on_tty(["--from", path], env)
    assert "\x1b[" not in _run_on_tty(["--from", path], {**env, "NO_COLOR": "1"})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file or directory"),
        ("{not json", "not JSON (line 1"),
        ('{"schema": 99}', "not a ciliumtui snapshot (schema 1 expected)"),
        ("[1, 2]", "not a ciliumtui snapshot"),
        (
            '{"schema": 1, "node_name": "n", "taken_at": "t", "node": {"links": [{"name": "eth0", "index": "two"}]}}',
            "invalid snapshot at node.links.0.index: expected an integer",
        ),
        ('{"schema": 1, "taken_at": "t"}', "invalid snapshot at node_name: field required"),
    ],
)
def test_unreadable_from_file_is_one_line_exit_3(tmp_path, content, message):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    res = _run("--from", str(path), "--json")
    assert res.returncode == 3
    assert res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert res.stderr.startswith(f"ciliumtui: error: --from {path}: ")
    assert message in res.stderr


def test_bad_fail_on_is_a_usage_error_exit_3(tmp_path):
    res = _run("--from", str(_save(tmp_path, healthy())), "--fail-on", "info")
    assert res.returncode == 3


def test_from_file_does_not_load_heavy_libraries(tmp_path):
    """Offline analysis must start fast: no kubernetes client, pydantic, dnspython, textual."""
    path = _save(tmp_path, _post_reboot())
    code = (
        "import sys, io, contextlib\n"
        "from ciliumtui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = main(['diagnose', '--from', {str(path)!r}, '--json'])\n"
        "heavy = {'kubernetes', 'pydantic', 'dns', 'textual', 'aiohttp', 'pyroute2', 'rich', 'yaml'}\n"
        "print(rc, sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "2 []", res.stdout + res.stderr
