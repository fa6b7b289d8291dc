"""Every scenario is solved by following the tool's own advice, headless (issue 13).

For each scenario in assets/scenarios/ (new ones included, by listing the dir): the
training world in a network namespace (ciliumtui.training.env.TrainingEnv: the node,
the simulated cluster, DNS, the agent API, the world reacting to the fix), then as an
operator with nothing but the tool: `ciliumtui diagnose --json`, run the playbook of
the first root cause with `--yes` (its inputs defaulted, as the tool suggests), again
while root causes with a playbook remain, then `ciliumtui run verify` must pass and
none of the scenario's root-cause findings may be left. No step outside the tool.

"First root cause": the first finding with `root_cause: true` (diagnose's JSON lists
root causes first) that names a playbook; a JSON without `root_cause` (before the
causal diagnosis) takes the first finding with a playbook.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from ciliumtui.sim.scenario import list_scenarios, load_scenario
from ciliumtui.training.score import root_causes

pytestmark = pytest.mark.root

SCENARIOS = [sid for sid, _title, _summary in list_scenarios()]
MAX_ROUNDS = 4  # playbooks one scenario may take before the advice counts as circular
# The operator's PATH: system tools only (no venv bin: the stop hook then names the
# node's /usr/local/bin/ciliumtui, which the scenario's host root holds).
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def first_root_cause(findings: list[dict[str, Any]]) -> dict[str, Any] | None:
    causal = any("root_cause" in f for f in findings)
    for f in findings:
        if causal and not f.get("root_cause"):
            continue
        if (f.get("remediation") or {}).get("playbook"):
            return f
    return None


def cli(env: Any, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ciliumtui", *args, *env.cli_flags()],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": PATH, **env.env_vars()},
        stdin=subprocess.DEVNULL,
    )


def diagnose(env: Any) -> list[dict[str, Any]]:
    res = cli(env, "diagnose", "--json", timeout=120)
    assert res.returncode in (0, 1, 2), res.stderr[-2000:]
    return json.loads(res.stdout)["findings"]


def failed_steps(res: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    evs = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    return [
        (e["step_id"], e.get("message") or "")
        for e in evs
        if e["kind"] == "step_finished" and e["status"] == "failed"
    ]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_following_the_tools_advice_solves_the_scenario(scenario, tmp_path, monkeypatch, capsys):
    from ciliumtui.training.env import TrainingEnv

    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "operator-state"))
    causes = set(root_causes(load_scenario(scenario)))
    ran: list[str] = []
    start = time.monotonic()
    with TrainingEnv(scenario, root=True) as env:
        for _ in range(MAX_ROUNDS):
            found = first_root_cause(diagnose(env))
            if found is None:
                break
            playbook = found["remediation"]["playbook"]
            t = time.monotonic()
            res = cli(env, "run", playbook, "--yes", "--json")
            ran.append(f"{playbook} ({found['id']}, {time.monotonic() - t:.0f}s)")
            assert res.returncode == 0, (scenario, playbook, failed_steps(res), res.stderr[-1500:])
        else:
            pytest.fail(f"{scenario}: root causes remain after {ran}")
        res = cli(env, "run", "verify", "--yes", "--json")
        assert res.returncode == 0, (scenario, ran, failed_steps(res))
        left = diagnose(env)
    took = time.monotonic() - start
    remaining = causes & {f["id"] for f in left}
    assert not remaining, (scenario, ran, remaining)
    assert first_root_cause(left) is None, (scenario, ran, [f["id"] for f in left])
    with capsys.disabled():
        print(f"\n  solved {scenario}: {' → '.join(ran) or 'nothing to fix'} → verify; {took:.0f}s")
