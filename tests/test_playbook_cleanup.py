"""Cleanup end to end on a Cilium node built in a network namespace (root)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cilium_node as cn
import pytest

from ciliumtui.engine.journal import read_journal
from ciliumtui.engine.loader import load_playbook, resolve_inputs
from ciliumtui.engine.runner import Runner
from ciliumtui.options import Options

pytestmark = pytest.mark.root
COMBOS = [(b, f) for b in ("legacy", "nft") for f in (4, 6)]


@pytest.fixture
def node(make_netns, tmp_path, monkeypatch):
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    ns, pod_ns = make_netns("pb"), make_netns("pb")
    cn.build(ns, pod_ns)
    return ns


def state(ns: str) -> dict:
    return {
        "links": sorted(cn.links(ns)),
        "rules": cn.ip_rules(ns),
        "t2004": cn.routes(ns, "all"),
        "ipt": {k: cn.normalized(cn.save(ns, *k)) for k in COMBOS},
    }


async def run(ns: str, playbook: str, **kw) -> tuple:
    opts = Options(netns=ns, node="k3s-node1", read_only=kw.pop("read_only", False))
    pb = load_playbook(playbook)
    events = []
    runner = Runner(pb, opts, resolve_inputs(pb, {}, "k3s-node1"), on_event=events.append, **kw)
    return await runner.run(), events


async def test_cleanup_removes_exactly_cilium_state_and_backup_restores_it(node, tmp_path):
    before = {k: cn.save(node, *k) for k in COMBOS}
    before_routes_100 = cn.routes(node, "100")
    result, _ = await run(node, "cleanup-node", assume_yes=True)
    assert result.status == "ok", result
    assert result.exit_code == 0

    links = cn.links(node)
    assert not [n for n in links if n in cn.CILIUM_LINKS]
    for decoy in cn.DECOY_LINKS:
        assert decoy in links, f"decoy {decoy} was deleted"
    assert links["vethd0c4e1"].get("master") == "docker0"
    rules = cn.ip_rules(node)
    assert not [r for r in rules if r.get("table") == "2004"]
    assert [r for r in rules if r.get("table") == "100"], "the user's fwmark rule was removed"
    assert not [r for r in cn.routes(node, "all") if r.get("table") == "2004"]
    assert cn.routes(node, "100") == before_routes_100
    assert any(r["dst"] == "10.5.0.0/24" for r in cn.routes(node))

    for key in COMBOS:
        after = cn.save(node, *key)
        assert not re.search(r"(^:|-A |-j )(OLD_)?CILIUM_", after, re.M), after
        if key[1] == 4:
            assert ":MY_CILIUM_X" in after and ":CILIUMX" in after and ":USER-FW" in after
        assert cn.normalized(after) == cn.without_cilium(before[key]), key
        assert "allow cilium health checks" in after or key[1] == 6
        assert '--comment "cilium: user note" -j USER6' in after or key[1] == 4

    # The backup holds the original tables; restoring it brings them back.
    backup = Path(result.backups["purge-iptables"])
    for b, f in COMBOS:
        assert cn.normalized((backup / f"iptables-{b}-v{f}.rules").read_text()) == cn.normalized(
            before[(b, f)]
        )
    pb_file = tmp_path / "restore.yaml"
    pb_file.write_text(
        "id: restore-ipt\nsteps:\n  - id: restore\n    action: netfilter.restore\n"
        f"    params: {{dir: {backup}}}\n    risk: high\n"
    )
    result2, _ = await run(node, str(pb_file), assume_yes=True)
    assert result2.status == "ok", result2
    for key in COMBOS:
        assert cn.normalized(cn.save(node, *key)) == cn.normalized(before[key]), key


async def test_dry_run_and_read_only_change_nothing(node):
    before = state(node)
    result, events = await run(node, "cleanup-node", dry_run=True)
    assert result.status == "planned" and result.exit_code == 0
    planned = [e for e in events if e.kind == "step_planned"]
    assert [e.step_id for e in planned] == ["delete-links", "purge-iptables", "cleanup-ip-rules"]
    # Honest plans: the commands that run, as a shell takes them (issue 13 item 4).
    links_batch, delete, _check, *_notes = planned[0].plan
    group = delete.split()[-1]
    assert links_batch.startswith(f"ip -n {node} -force -batch - <<'EOF'\n")
    assert f"link set cilium_host group {group}\n" in links_batch
    assert delete == f"ip -n {node} link delete group {group}"
    nft = [x for x in planned[1].plan if x.startswith(f"ip netns exec {node} iptables-nft-")]
    assert nft and nft[0].startswith(
        f"ip netns exec {node} iptables-nft-restore --noflush -w <<'EOF'\n*"
    )
    assert "\n-X CILIUM_INPUT\n" in nft[0] and nft[0].endswith("\nCOMMIT\nEOF")
    assert planned[2].plan == [
        f"ip -n {node} -4 -force -batch - <<'EOF'\n"
        "rule del priority 9 fwmark 0x200/0xf00 table 2004\nroute flush table 2004\nEOF"
    ]
    assert state(node) == before

    result, events = await run(node, "cleanup-node", read_only=True, assume_yes=True)
    assert result.status == "refused" and result.exit_code == 3
    assert set(result.steps.values()) == {"refused"}
    assert state(node) == before


async def test_failure_rolls_back_iptables_in_reverse_order(node, tmp_path):
    before = {k: cn.normalized(cn.save(node, *k)) for k in COMBOS}
    pb_file = tmp_path / "fails.yaml"
    pb_file.write_text("""
id: purge-then-fail
steps:
  - id: purge
    action: netfilter.purge
    risk: destructive
    rollback: {action: netfilter.restore, params: {backup_of: purge}}
  - id: breaks
    action: shell
    params: {argv: ["false"]}
    risk: low
    on_failure: rollback
""")
    result, events = await run(node, str(pb_file), assume_yes=True)
    assert result.status == "failed" and result.exit_code == 1
    assert result.steps["breaks"] == "failed"
    assert result.steps["purge-rollback"] == "ok"
    kinds = [e.kind for e in events]
    assert kinds.index("rollback_started") < kinds.index("rollback_finished")
    for key in COMBOS:
        assert cn.normalized(cn.save(node, *key)) == before[key]


def _cli(ns: str, *extra: str, env: dict) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "ciliumtui",
        "run",
        "cleanup-node",
        "--yes",
        "--netns",
        ns,
        "--node",
        "k3s-node1",
        *extra,
    ]
    return subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _journal_records(state: Path) -> int:
    files = list((state / "runs").glob("*/journal.jsonl")) if (state / "runs").exists() else []
    return sum(len(f.read_text().splitlines()) for f in files)


def test_sigkill_at_random_points_then_resume_completes(make_netns, tmp_path):
    seed = int(os.environ.get("PB_SEED", time.time_ns()))
    rnd = random.Random(seed)
    for attempt in range(4):
        ns, pod_ns = make_netns("pb"), make_netns("pb")
        cn.build(ns, pod_ns, extra_lxc=40)
        before = {k: cn.save(ns, *k) for k in COMBOS}
        state = tmp_path / f"state{attempt}"
        env = {**os.environ, "CILIUMTUI_STATE_DIR": str(state)}
        proc = _cli(ns, env=env)
        # Kill once the journal holds a random number of records (a run writes ~16),
        # plus a few random ms: the kill lands inside steps, between them, anywhere.
        point = rnd.randint(1, 15)
        deadline = time.monotonic() + 20
        while (
            proc.poll() is None and _journal_records(state) < point and time.monotonic() < deadline
        ):
            time.sleep(0.002)
        time.sleep(rnd.uniform(0, 0.03))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        where = f"seed {seed}, attempt {attempt}, killed after {_journal_records(state)} records"
        runs = sorted((state / "runs").glob("*")) if (state / "runs").exists() else []
        journaled = runs and read_journal(runs[-1] / "journal.jsonl")
        extra = ["--resume", runs[-1].name] if journaled else []
        print(where, extra)
        done = subprocess.run(
            _cli(ns, *extra, env=env).args, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{where}: {done.stdout}\n{done.stderr}"
        links = cn.links(ns)
        assert not [n for n in links if n in cn.CILIUM_LINKS or n.startswith("lxc1000")], where
        for decoy in cn.DECOY_LINKS:
            assert decoy in links, where
        for key in COMBOS:
            assert cn.normalized(cn.save(ns, *key)) == cn.without_cilium(before[key]), (where, key)
        # The first backup holds the original tables, matches its manifest, and was never
        # overwritten by the resumed attempt (that one writes purge-iptables.attemptN).
        backups = sorted((state / "runs").glob("*/backups/purge-iptables"))
        assert backups, f"{where}: no iptables backup"
        manifest = json.loads((backups[0] / "MANIFEST.json").read_text())
        for f in manifest["files"]:
            assert hashlib.sha256(Path(f["path"]).read_bytes()).hexdigest() == f["sha256"], where
        for b, f in COMBOS:
            saved = (backups[0] / f"iptables-{b}-v{f}.rules").read_text()
            assert cn.normalized(saved) == cn.normalized(before[(b, f)]), (where, b, f)
