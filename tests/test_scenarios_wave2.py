"""The wave-2 training scenarios are solvable by following the tool's own advice
(issue 14 item 9, DESIGN §8): headless, as a trainee in a second terminal would —
`ciliumtui diagnose --json`, run the first root cause's playbook with `--yes`, repeat
until no critical root cause is left, then `ciliumtui run verify --yes` — on a node in
a network namespace (real BPF programs, a real flannel.1) and on a recorded node.

Needs the wave-2 checks (stale-cilium-bpf, k3s-flannel-not-disabled,
coredns-forward-loop and the causal order), the cluster probes' CoreDNS Corefile and
previous log, and the remedy playbooks k3s-disable-flannel and coredns-forward-fix.
The scenarios themselves are tested in tests/test_scenarios_wave2_build.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from ciliumtui.training.env import TrainingEnv
from ciliumtui.training.session import TrainingSession

# scenario -> (the root cause diagnose must put first, the playbook it must name)
ADVICE = {
    "bpf-leftovers": ("stale-cilium-bpf", "cleanup"),
    "flannel-still-on": ("k3s-flannel-not-disabled", "k3s-disable-flannel"),
    "coredns-loop": ("coredns-forward-loop", "coredns-forward-fix"),
}
MODES = [pytest.param("netns", marks=pytest.mark.root), "recorded"]
MAX_ROUNDS = 4  # a scenario needing more fixes than this is not following one piece of advice


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "operator-state"))


def cli(env: TrainingEnv, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ciliumtui", *args, *env.cli_flags()],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env.env_vars()},
    )


def diagnose(env: TrainingEnv) -> dict[str, Any]:
    res = cli(env, "diagnose", "--json")
    assert res.returncode in (0, 1, 2), res.stderr
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def critical_roots(diag: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in diag["findings"] if f["root_cause"] and f["severity"] == "critical"]


def advised(diag: dict[str, Any]) -> list[dict[str, Any]]:
    """The root causes the tool names a playbook for, first first."""
    return [f for f in diag["findings"] if f["root_cause"] and f["remediation"]["playbook"]]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scenario_id", sorted(ADVICE))
def test_following_the_tools_advice_solves_the_scenario(scenario_id: str, mode: str) -> None:
    cause, playbook = ADVICE[scenario_id]
    with TrainingEnv(scenario_id, root=mode == "netns") as env:
        session = TrainingSession(env)
        first = diagnose(env)
        roots = critical_roots(first)
        assert roots, first["findings"]
        assert roots[0]["id"] == cause, [f["id"] for f in roots]
        assert roots[0]["remediation"]["playbook"] == playbook
        assert roots[0]["evidence"]
        ran: list[str] = []
        diag = first
        for _ in range(MAX_ROUNDS):
            roots = advised(diag)
            if not roots:
                break
            pb = roots[0]["remediation"]["playbook"]
            assert ran.count(pb) < 2, f"{pb} ran twice and {roots[0]['id']} is still there"
            res = cli(env, "run", pb, "--yes")
            ran.append(pb)
            assert res.returncode in (0, 1), res.stdout[-2000:] + res.stderr[-2000:]
            diag = diagnose(env)
        left = [(f["id"], f["evidence"][:2]) for f in critical_roots(diag)]
        assert not left, (ran, left)
        assert ran[0] == playbook
        verify = cli(env, "run", "verify", "--yes")
        assert verify.returncode == 0, verify.stdout[-3000:]
        assert env.fixed, env.fixed_events
        debrief = session.finish()
    assert debrief.solved, debrief.lines()
    assert cause in debrief.root_cause_ids


@pytest.mark.root
def test_the_snapshot_shows_corednss_corefile_and_last_words() -> None:
    """What coredns-forward-loop reads, in `ciliumtui snapshot --json`."""
    with TrainingEnv("coredns-loop", root=True) as env:
        res = cli(env, "snapshot", "--json")
        assert res.returncode == 0, res.stderr
        data = json.loads(res.stdout)
    cluster = data["cluster"]
    assert "forward . /etc/resolv.conf" in cluster["coredns_corefile"]
    assert any(
        "[FATAL] plugin/loop: Loop (127.0.0.1:55340 -> :53)" in x for x in cluster["coredns_log"]
    )
    host = data["node"]["host"]
    assert host["resolved_nameservers"] == ["192.168.1.1"]
    assert host["k3s"]["resolv_conf"] == "/etc/resolv.conf"
