"""The engine's guarantees, with real commands (touch/false/sleep) in a temp dir."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ciliumtui.engine.events import ConfirmRequest
from ciliumtui.engine.journal import read_journal
from ciliumtui.engine.loader import load_playbook, resolve_inputs
from ciliumtui.engine.runner import Runner
from ciliumtui.errors import CiliumtuiError
from ciliumtui.options import Options


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def write(tmp_path: Path, body: str, name: str = "pb.yaml") -> str:
    p = tmp_path / name
    p.write_text(body)
    return str(p)


def touch_pb(target: Path, risk: str = "high", extra: str = "") -> str:
    return f"""
id: touchy
inputs:
  token: {{type: string, secret: true}}
steps:
  - id: look
    phase: diagnose
    action: shell.read
    params: {{argv: [echo, looked]}}
    capture: {{said: {{from: stdout}}}}
  - id: make
    action: shell
    params: {{argv: [touch, "{target}"]}}
    risk: {risk}
{extra}"""


async def go(path: str, given: dict | None = None, **kw):
    pb = load_playbook(path)
    events = []
    opts = kw.pop("opts", Options(node="node-a"))
    runner = Runner(
        pb, opts, resolve_inputs(pb, given or {}, "node-a"), on_event=events.append, **kw
    )
    return await runner.run(), events, runner


async def test_dry_run_runs_reads_and_plans_mutations(tmp_path):
    target = tmp_path / "made"
    result, events, _ = await go(write(tmp_path, touch_pb(target)), dry_run=True)
    assert not target.exists()
    assert result.status == "planned" and result.exit_code == 0
    assert result.steps == {"look": "ok", "make": "planned"}
    planned = next(e for e in events if e.kind == "step_planned")
    assert planned.plan == [f"touch {target}"]


async def test_read_only_refuses_mutations(tmp_path):
    target = tmp_path / "made"
    result, _, _ = await go(
        write(tmp_path, touch_pb(target)),
        assume_yes=True,
        opts=Options(node="node-a", read_only=True),
    )
    assert not target.exists()
    assert result.steps == {"look": "ok", "make": "refused"}
    assert result.exit_code == 3


async def test_headless_without_yes_refuses_and_says_why(tmp_path):
    target = tmp_path / "made"
    result, _, _ = await go(write(tmp_path, touch_pb(target)))
    assert not target.exists()
    assert result.status == "refused" and result.exit_code == 3
    assert "rerun with --yes" in result.message


@pytest.mark.parametrize(
    ("risk", "typed", "runs"),
    [
        ("low", "y", True),
        ("high", "", False),
        ("destructive", "y", False),
        ("destructive", "node-a", True),
    ],
)
async def test_confirmation_follows_risk(tmp_path, risk, typed, runs):
    target = tmp_path / "made"
    asked: list[ConfirmRequest] = []

    async def confirm(req: ConfirmRequest) -> bool:
        asked.append(req)
        return req.accepts(typed)

    body = touch_pb(target, risk=risk)
    if risk == "destructive":  # shell cannot back up: a destructive step needs an action that can
        body = body.replace("action: shell\n", "action: k3s.hook\n").replace(
            f'params: {{argv: [touch, "{target}"]}}', f"params: {{command: [touch, {target}]}}"
        )
        touch = tmp_path / "usr/bin/touch"  # the hook's command must exist on the node
        touch.parent.mkdir(parents=True)
        touch.write_text("#!/bin/sh\n")
        touch.chmod(0o755)
    result, _, _ = await go(
        write(tmp_path, body), confirm=confirm, opts=Options(node="node-a", host_root=str(tmp_path))
    )
    assert len(asked) == 1
    assert asked[0].type_node_name == (risk == "destructive")
    assert asked[0].node == "node-a" and asked[0].risk == risk
    assert asked[0].plan
    assert result.status == ("ok" if runs else "declined")
    assert result.exit_code == (0 if runs else 3)


async def test_destructive_step_without_backup_is_not_run(tmp_path):
    target = tmp_path / "made"
    result, _, _ = await go(write(tmp_path, touch_pb(target, risk="destructive")), assume_yes=True)
    assert not target.exists()
    assert result.steps["make"] == "failed"


async def test_journal_is_written_ahead_and_secrets_never_reach_it(tmp_path, state):
    # The step greps the journal for its own step_started record: it must already be on disk.
    secret = "s3cr3t-T0ken-value"
    body = f"""
id: wal
inputs:
  token: {{type: string, secret: true}}
steps:
  - id: check-wal
    action: shell
    risk: low
    params: {{argv: [grep, -qE, '"kind": "step_started", .*"step_id": "check-wal"', "{state}/runs/{{{{ run_id }}}}/journal.jsonl"]}}
  - id: leak
    action: shell.read
    params: {{argv: [echo, "{{{{ inputs.token }}}} Authorization: Bearer abc.def.ghi client-key-data: LS0tQUJD password=hunter2"]}}
    capture: {{said: {{from: stdout}}}}
"""
    result, events, _ = await go(write(tmp_path, body), {"token": secret}, assume_yes=True)
    assert result.status == "ok", result
    text = Path(result.journal).read_text()
    assert (
        secret not in text
        and "abc.def.ghi" not in text
        and "LS0tQUJD" not in text
        and "hunter2" not in text
    )
    shown = json.dumps([e.to_dict() for e in events])  # what the CLI prints and the TUI shows
    assert secret not in shown and "abc.def.ghi" not in shown and "hunter2" not in shown
    assert "looked" not in text
    kinds = [r["kind"] for r in read_journal(Path(result.journal))]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert "step_output" not in kinds


async def test_when_captures_retry_until_and_timeout(tmp_path):
    counter = tmp_path / "n"
    body = f"""
id: logic
steps:
  - id: count
    phase: diagnose
    action: shell.read
    params: {{argv: [sh, -c, 'echo x >> {counter}; wc -l < {counter}']}}
    capture: {{n: {{from: stdout}}}}
    retry: {{attempts: 5, delay: 0, until: "n.strip() == '3'"}}
  - id: skipped-one
    phase: diagnose
    action: shell.read
    when: "len(n) > 100"
    params: {{argv: ["true"]}}
  - id: slow
    phase: diagnose
    action: shell.read
    params: {{argv: [sleep, "5"]}}
    timeout: 0.3
    on_failure: continue
  - id: after
    phase: verify
    action: shell.read
    params: {{argv: ["true"]}}
"""
    # `n.strip()` is a call: refused at load time. Prove that, then use the allowed form.
    with pytest.raises(CiliumtuiError, match="call to 'n.strip' not allowed"):
        load_playbook(write(tmp_path, body))
    body = body.replace("n.strip() == '3'", "n == '3\\\\n'")
    t0 = time.monotonic()
    result, events, runner = await go(write(tmp_path, body))
    assert time.monotonic() - t0 < 4
    assert counter.read_text().count("x") == 3
    assert result.steps == {
        "count": "ok",
        "skipped-one": "skipped",
        "slow": "failed",
        "after": "ok",
    }
    slow = next(e for e in events if e.kind == "step_finished" and e.step_id == "slow")
    assert "timed out after 0.3s" in slow.message
    assert result.status == "failed" and result.exit_code == 1


async def test_rollback_runs_in_reverse_order_and_always_runs(tmp_path):
    log = tmp_path / "log"
    body = f"""
id: rb
steps:
  - id: one
    action: shell
    risk: low
    params: {{argv: [sh, -c, 'echo one >> {log}']}}
    rollback: {{action: shell, params: {{argv: [sh, -c, 'echo undo-one >> {log}']}}}}
  - id: two
    action: shell
    risk: low
    params: {{argv: [sh, -c, 'echo two >> {log}']}}
    rollback: {{action: shell, params: {{argv: [sh, -c, 'echo undo-two >> {log}']}}}}
  - id: boom
    action: shell
    risk: low
    params: {{argv: ["false"]}}
    on_failure: rollback
  - id: never
    action: shell
    risk: low
    params: {{argv: [sh, -c, 'echo never >> {log}']}}
always:
  - id: tidy
    action: shell
    risk: low
    params: {{argv: [sh, -c, 'echo always >> {log}']}}
"""
    result, events, _ = await go(write(tmp_path, body), assume_yes=True)
    assert log.read_text().split() == ["one", "two", "undo-two", "undo-one", "always"]
    assert result.status == "failed" and result.failed_step == "boom"


async def test_rate_limit_survives_runs(tmp_path):
    body = """
id: restarts
steps:
  - id: restart
    action: shell
    risk: low
    params: {argv: ["true"]}
    rate_limit: {key: agent-restart, max: 2, per: 30m}
"""
    path = write(tmp_path, body)
    for _ in range(2):
        result, _, _ = await go(path, assume_yes=True)
        assert result.status == "ok"
    result, events, _ = await go(path, assume_yes=True)
    assert result.status == "failed"
    msg = next(e.message for e in events if e.kind == "step_finished")
    assert "rate limit: at most 2 agent-restart per 30 min on node node-a" in msg
    other, _, _ = await go(path, assume_yes=True, opts=Options(node="node-b"))
    assert other.status == "ok"  # per node


async def test_resume_skips_finished_steps_and_refuses_a_changed_playbook(tmp_path):
    log = tmp_path / "log"
    body = f"""
id: res
steps:
  - id: first
    action: shell
    risk: low
    params: {{argv: [sh, -c, 'echo first >> {log}']}}
  - id: second
    action: shell
    risk: low
    params: {{argv: [sh, -c, 'test -e {tmp_path}/go && echo second >> {log}']}}
"""
    path = write(tmp_path, body)
    result, _, _ = await go(path, assume_yes=True)
    assert result.status == "failed"
    (tmp_path / "go").touch()
    again, _, _ = await go(path, assume_yes=True, resume=result.run_id)
    assert again.status == "ok" and again.run_id == result.run_id
    assert log.read_text().split() == ["first", "second"]
    write(tmp_path, body + "\n# edited\n")
    with pytest.raises(CiliumtuiError, match="changed since the run started"):
        await go(path, assume_yes=True, resume=result.run_id)


async def test_resume_asks_about_a_step_with_unknown_outcome(tmp_path, state):
    target = tmp_path / "made"
    path = write(tmp_path, touch_pb(target, risk="low"))
    pb = load_playbook(path)
    # A journal as a killed run leaves it: step_started for `make`, no step_finished.
    run_id = "20260101T000000Z-touchy-abcdef"
    jdir = state / "runs" / run_id
    jdir.mkdir(parents=True)
    recs = [
        {
            "kind": "run_started",
            "run_id": run_id,
            "seq": 1,
            "data": {"playbook": "touchy", "sha256": pb.sha256, "inputs": {}},
        },
        {
            "kind": "step_finished",
            "run_id": run_id,
            "seq": 2,
            "step_id": "look",
            "status": "ok",
            "data": {"captures": {"said": "looked\n"}},
        },
        {"kind": "step_started", "run_id": run_id, "seq": 3, "step_id": "make"},
    ]
    (jdir / "journal.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in recs) + '{"kind": "torn'
    )
    result, events, runner = await go(path, resume=run_id)
    assert result.status == "refused" and "outcome in run" in result.message
    assert not target.exists()
    asked = []

    async def confirm(req):
        asked.append(req)
        return True

    result, events, runner = await go(path, resume=run_id, confirm=confirm)
    assert asked[0].unknown_outcome and "never finished" in asked[0].message
    assert result.status == "ok" and target.exists()
    assert runner.vars["said"] == "looked\n"  # restored from the journal


def test_cli_exit_codes(tmp_path, state):
    target = tmp_path / "made"
    path = write(tmp_path, touch_pb(target, risk="low"))
    env_run = [sys.executable, "-m", "ciliumtui", "run"]

    def run(*args):
        return subprocess.run(
            [*env_run, *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env={**__import__("os").environ, "CILIUMTUI_STATE_DIR": str(state)},
        )

    r = run(path)
    assert r.returncode == 3 and "rerun with --yes" in r.stderr and not target.exists()
    r = run(path, "--dry-run")
    assert r.returncode == 0 and f"$ touch {target}" in r.stdout and not target.exists()
    r = run(path, "--yes", "--json")
    assert r.returncode == 0 and target.exists()
    kinds = [json.loads(x)["kind"] for x in r.stdout.splitlines()]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    r = run(path, "--input", "nope=1")
    assert r.returncode == 3 and "has no input 'nope'" in r.stderr
    r = run("no-such-playbook")
    assert r.returncode == 3 and "no playbook" in r.stderr and "Traceback" not in r.stderr
    r = run(path, "--resume", "19990101T000000Z-x-000000")
    assert r.returncode == 3 and "no journal" in r.stderr
    bad = write(
        tmp_path,
        'id: x\nsteps:\n  - {id: a, action: shell, params: {argv: ["true"]}, risk: read}\n',
        "bad.yaml",
    )
    r = run(bad)
    assert (
        r.returncode == 3
        and f"{bad}:3:60: step 'a' mutates, so its risk cannot be 'read'" in r.stderr
    )


async def test_node_changes_without_root_are_refused_up_front(tmp_path, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(CiliumtuiError, match="run it as root, or look first with --dry-run"):
        await go("cleanup-node", assume_yes=True)
    result, _, _ = await go(
        "cleanup-node", assume_yes=True, opts=Options(node="node-a", read_only=True)
    )
    assert result.status == "refused"
