"""`diagnose --format npd|prom|junit` (issue 16 item 5, DESIGN §4) as monitoring runs it:
a subprocess on a saved snapshot, its exit code, its stdout or `--out` file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from snapshots import creating, healthy, no_agent, set_dns

from ciliumtui.checks import CATALOGUE
from ciliumtui.model import Snapshot


def _post_reboot() -> Snapshot:
    snap = no_agent(healthy())
    for p in snap.cluster.node_pods[2:]:
        creating(p)
    return set_dns(snap, external="SERVFAIL")


def _mtu_only() -> Snapshot:
    snap = healthy()
    next(lk for lk in snap.node.links if lk.name == "eth0").mtu = 1450
    return snap


def _save(tmp_path: Path, snap: Snapshot) -> str:
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(snap.to_dict()))
    return str(path)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ciliumtui", "diagnose", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


# ------------------------------------------------------------------------- npd


def test_npd_problem_names_the_root_cause_in_80_bytes(tmp_path):
    res = _run("--from", _save(tmp_path, _post_reboot()), "--format", "npd")
    assert res.returncode == 1, res.stderr  # NPD: 1 = problem
    first = res.stdout.splitlines()[0]
    assert len(first.encode()) <= 80
    assert first.startswith("stale-cilium-interfaces: ")
    assert "fix: ciliumtui run cleanup" in res.stdout
    assert res.stderr == ""


def test_npd_ok_and_fail_on(tmp_path):
    res = _run("--from", _save(tmp_path, healthy()), "--format", "npd")
    assert (res.returncode, res.stdout) == (0, "ok: Cilium networking looks healthy\n")
    warn = _save(tmp_path, _mtu_only())
    assert _run("--from", warn, "--format", "npd").returncode == 1
    res = _run("--from", warn, "--format", "npd", "--fail-on", "critical")
    assert res.returncode == 0
    assert res.stdout.startswith("ok: ")
    assert len(res.stdout.splitlines()[0].encode()) <= 80


def test_npd_unknown_when_it_cannot_diagnose(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = _run("--from", str(bad), "--format", "npd")
    assert res.returncode == 2  # NPD: 2 = unknown, never 3
    (line,) = res.stdout.splitlines()
    assert line.startswith("unknown: --from ")
    assert len(line.encode()) <= 80
    assert "Traceback" not in res.stderr


def test_npd_line_is_cut_on_a_character_boundary():
    from ciliumtui.commands.diagnose_formats import first_line

    text = "x" * 77 + "é" * 5
    cut = first_line(text)
    assert len(cut.encode()) <= 80 and cut.endswith("…")
    assert first_line("short\nand two lines") == "short and two lines"


# ------------------------------------------------------------------------ prom

_SAMPLE = re.compile(r'^([a-z_]+)(\{([a-z_]+="[^"\\]*(\\.[^"\\]*)*",?)*\})? (-?[0-9.e+]+)$')


def _parse_prom(text: str) -> dict[str, dict[str, float]]:
    """Validate the exposition format; return {metric: {labels: value}}."""
    out: dict[str, dict[str, float]] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind == "gauge"
            typed.add(name)
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        assert m.group(1) in typed, f"{m.group(1)} sampled before its TYPE"
        out.setdefault(m.group(1), {})[m.group(2) or ""] = float(m.group(5))
    return out


def test_prom_metrics_to_a_file_atomically(tmp_path):
    out = tmp_path / "ciliumtui.prom"
    out.write_text("old content\n")
    with open(out) as before:  # a reader holding the old file keeps the old content (rename)
        start = time.time()
        res = _run("--from", _save(tmp_path, _post_reboot()), "--format", "prom", "--out", str(out))
        assert res.returncode == 2, res.stderr  # the exit code is diagnose's
        assert res.stdout == ""
        assert before.read() == "old content\n"
    metrics = _parse_prom(out.read_text())
    assert metrics["ciliumtui_finding"]['{id="stale-cilium-interfaces",severity="critical"}'] == 1
    assert metrics["ciliumtui_finding"]['{id="pods-failing-on-node",severity="warning"}'] == 1
    assert set(metrics["ciliumtui_root_cause"]) == {
        '{id="stale-cilium-interfaces"}',
        '{id="stale-cilium-iptables"}',
    }
    assert metrics["ciliumtui_findings"] == {
        '{severity="critical"}': 4,
        '{severity="warning"}': 1,
        '{severity="info"}': 0,
    }
    assert metrics["ciliumtui_probe_duration_seconds"]['{probe="apiserver"}'] == 0.0801
    assert metrics["ciliumtui_probe_ok"]['{probe="apiserver"}'] == 1
    stamp = metrics["ciliumtui_last_run_timestamp_seconds"][""]
    assert start - 1 <= stamp <= time.time() + 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    assert oct(out.stat().st_mode & 0o777) == "0o644"  # node_exporter reads it


def test_prom_healthy_has_no_finding_series(tmp_path):
    res = _run("--from", _save(tmp_path, healthy()), "--format", "prom")
    assert res.returncode == 0
    metrics = _parse_prom(res.stdout)
    assert "ciliumtui_finding" not in metrics
    assert set(metrics["ciliumtui_findings"].values()) == {0}


def test_prom_label_values_are_escaped():
    from ciliumtui.commands.diagnose_formats import prom
    from ciliumtui.model import ProbeStatus

    snap = healthy()
    snap.probes = {'we"ird\\probe': ProbeStatus(True, None, 5.0)}
    assert 'ciliumtui_probe_ok{probe="we\\"ird\\\\probe"} 1' in prom(snap, [])
    _parse_prom(prom(snap, []))


def test_out_to_a_missing_directory_is_one_line_exit_3(tmp_path):
    res = _run(
        "--from",
        _save(tmp_path, healthy()),
        "--format",
        "prom",
        "--out",
        str(tmp_path / "no" / "such" / "dir" / "x.prom"),
    )
    assert res.returncode == 3
    assert len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith("ciliumtui: error: --out ")


@pytest.mark.parametrize("fmt", ["prom", "junit", "npd", "text"])
def test_json_flag_and_another_format_contradict(tmp_path, fmt):
    res = _run("--from", _save(tmp_path, healthy()), "--json", "--format", fmt)
    assert res.returncode == 3
    assert "contradict" in res.stderr


def test_format_json_is_json(tmp_path):
    path = _save(tmp_path, _post_reboot())
    a = json.loads(_run("--from", path, "--format", "json").stdout)
    b = json.loads(_run("--from", path, "--json").stdout)
    a.pop("generated_at"), b.pop("generated_at")
    assert a == b and a["schema"] == 2


# ----------------------------------------------------------------------- junit


def test_junit_one_testcase_per_catalogue_id(tmp_path):
    out = tmp_path / "report.xml"
    res = _run("--from", _save(tmp_path, _post_reboot()), "--format", "junit", "--out", str(out))
    assert res.returncode == 2
    root = ET.parse(out).getroot()
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == list(CATALOGUE)
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failed) == {
        "stale-cilium-interfaces",
        "stale-cilium-iptables",
        "cilium-agent-not-ready",
        "dns-external-names-fail",
        "pods-failing-on-node",
    }
    assert suite.get("failures") == "5" and suite.get("tests") == str(len(CATALOGUE))
    agent = failed["cilium-agent-not-ready"]
    assert agent.get("type") == "critical"
    assert agent.get("message") == "The Cilium agent pod on this node is not Ready"
    assert "explained by: stale-cilium-interfaces, stale-cilium-iptables" in agent.text
    assert "fix: ciliumtui run cleanup" in agent.text


def test_junit_below_fail_on_passes_with_output(tmp_path):
    res = _run("--from", _save(tmp_path, _mtu_only()), "--format", "junit", "--fail-on", "critical")
    assert res.returncode == 0
    suite = ET.fromstring(res.stdout).find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    mtu = next(c for c in suite.findall("testcase") if c.get("name") == "mtu-mismatch")
    assert mtu.find("failure") is None
    out = mtu.find("system-out")
    assert out is not None and "uplink eth0 (default route via 192.168.1.1) MTU 1450" in out.text


def test_the_npd_sample_config_runs_this_command():
    """deploy/node-problem-detector: the plugin config names `diagnose --format npd`."""
    root = Path(__file__).resolve().parent.parent / "deploy" / "node-problem-detector"
    config = json.loads((root / "ciliumtui-plugin-monitor.json").read_text())
    assert config["plugin"] == "custom"
    assert config["pluginConfig"]["max_output_length"] == 80
    rule = next(r for r in config["rules"] if r["type"] == "permanent")
    assert rule["condition"] == "CiliumNetworkProblem"
    assert rule["path"].endswith("ciliumtui")
    assert rule["args"][:3] == ["diagnose", "--format", "npd"]
    assert "--read-only" in rule["args"]
    assert [c["type"] for c in config["conditions"]] == ["CiliumNetworkProblem"]
    assert os.path.exists(root / "README.md")
