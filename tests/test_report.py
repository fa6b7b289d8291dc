"""`ciliumtui report`: the Markdown incident report of a run (issue 7)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_playbook_sim import world

from ciliumtui.report import render_report

TOKEN = "sha256~Zm9vYmFyYmF6cXV4LXNlY3JldC10b2tlbg"
KEY_DATA = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2Z0lCQURBTkJna3Foa2lHOXcwQkFRRUZBQVND"


def _kubeconfig_with_secrets(src: str, dst: Path) -> str:
    cfg = yaml.safe_load(Path(src).read_text())
    for user in cfg["users"]:
        user["user"] = {"token": TOKEN, "client-key-data": KEY_DATA}
    dst.write_text(yaml.safe_dump(cfg))
    return str(dst)


def _cli(w: dict, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CILIUMTUI_STATE_DIR": str(w["state"])}
    return subprocess.run(
        [sys.executable, "-m", "ciliumtui", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.root
def test_report_of_a_cleanup_run_has_its_timeline_and_no_kubeconfig_secret(tmp_path: Path) -> None:
    with world("post-reboot", tmp_path) as w:
        argv = list(w["argv"])
        argv[argv.index("--kubeconfig") + 1] = _kubeconfig_with_secrets(
            w["sim"].kubeconfig, tmp_path / "kubeconfig-with-token"
        )
        run = _cli(w, "run", "cleanup", "--yes", *argv)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        out = tmp_path / "incident.md"
        rep = _cli(w, "report", "--out", str(out), *argv)
        assert rep.returncode == 0, rep.stderr
    text = out.read_text()
    assert text.startswith("# Incident report: k3s-node1")
    assert "Playbook: `cleanup`" in text and "Outcome: **ok**" in text
    before, after = text.split("## Findings before")[1].split("## Findings after")
    assert "`stale-cilium-interfaces`" in before and "`stale-cilium-iptables`" in before
    assert "stale-cilium-interfaces" not in after.split("## Timeline")[0]
    timeline = text.split("## Timeline")[1].split("## Commands run")[0]
    assert "| run_started |" in timeline and "| run_finished | ok |" in timeline
    assert "step_finished" in timeline
    commands = text.split("## Commands run")[1].split("## Backups taken")[0]
    assert "iptables" in commands
    assert "## Backups taken" in text and "None." not in text.split("## Backups taken")[1]
    # Nothing of the kubeconfig's credentials, anywhere: report or journal.
    assert TOKEN not in text and KEY_DATA not in text
    for journal in (w["state"] / "runs").glob("*/journal.jsonl"):
        body = journal.read_text()
        assert TOKEN not in body and KEY_DATA not in body


def test_report_masks_secret_values_it_is_given_and_says_when_a_run_never_finished() -> None:
    records = [
        {
            "kind": "run_started",
            "ts": "t0",
            "data": {"playbook": "cleanup", "node": "n1", "mode": {"dry_run": True}},
        },
        {
            "kind": "step_started",
            "ts": "t1",
            "step_id": "purge",
            "mutates": True,
            "plan": [f"curl -H 'Authorization: Bearer {TOKEN}' https://x"],
        },
        {"kind": "step_output", "ts": "t2", "message": f"token={TOKEN}"},
    ]
    text = render_report(records, "run-1", secrets=[TOKEN])
    assert TOKEN not in text
    assert "not finished (interrupted?)" in text and "Outcome: **unknown**" in text
    assert "Mode: dry-run" in text
    assert "Not diagnosed in this run." in text


def test_report_without_any_run_is_one_line_and_exit_3(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ciliumtui", "report"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "CILIUMTUI_STATE_DIR": str(tmp_path)},
        timeout=60,
    )
    assert proc.returncode == 3
    assert proc.stderr.count("\n") == 1 and "no runs in the journal yet" in proc.stderr
