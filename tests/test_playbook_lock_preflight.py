"""One run per node (issue 11 item 4), preflight before the first change (item 9), and
honest plans (issue 13 item 4): nothing to do is skipped, a dry run does not verify and
its result is its plan's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cilium_node as cn
import pytest
import yaml
from sim_helpers import node_world

from ciliumtui.engine import ratelimit
from ciliumtui.engine.actions.base import REGISTRY, Action, ActionContext, ActionResult
from ciliumtui.engine.events import ConfirmRequest
from ciliumtui.engine.journal import read_journal
from ciliumtui.engine.loader import load_playbook, resolve_inputs
from ciliumtui.engine.lock import lock_path
from ciliumtui.engine.runner import Runner
from ciliumtui.errors import CiliumtuiError
from ciliumtui.options import Options

COMBOS = [(b, f) for b in ("legacy", "nft") for f in (4, 6)]
ASSETS = Path(__file__).resolve().parent.parent / "assets" / "scenarios"


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def write(tmp_path: Path, body: str, name: str = "pb.yaml") -> str:
    p = tmp_path / name
    p.write_text(body)
    return str(p)


async def go(path: str, opts: Options | None = None, **kw: Any):
    pb = load_playbook(path)
    events: list = []
    runner = Runner(
        pb,
        opts or Options(node="node-a"),
        resolve_inputs(pb, {}, "node-a"),
        on_event=events.append,
        **kw,
    )
    return await runner.run(), events


def node_state(ns: str) -> dict:
    routes = [
        r for r in cn.routes(ns, "all") if not str(r.get("dst", "")).startswith(("fe80", "ff00"))
    ]
    return {
        "links": sorted(cn.links(ns)),
        "rules": cn.ip_rules(ns),
        "routes": routes,
        "ipt": {k: cn.normalized(cn.save(ns, *k)) for k in COMBOS},
    }


def cli(world, *args: str, env: dict | None = None, timeout: float = 240) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ciliumtui", "run", *args, *world.flags()],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **(env or {})},
    )


# ------------------------------------------------------------------------ the lock


@pytest.mark.root
def test_two_cleanups_at_once_on_one_node_exactly_one_proceeds(tmp_path):
    scenario = yaml.safe_load((ASSETS / "post-reboot.yaml").read_text())
    scenario["cluster"]["restart_delay"] = 3.0  # the first run holds the node for seconds
    with node_world(scenario, tmp_path, prefix="lk") as w:
        env = {"CILIUMTUI_STATE_DIR": str(tmp_path / "state")}
        procs = [cli(w, "cleanup", "--yes", env=env) for _ in range(2)]
        results = [(p.wait(timeout=240), *p.communicate()) for p in procs]
        refused = [r for r in results if "one run per node at a time" in r[2]]
        went = [r for r in results if "one run per node at a time" not in r[2]]
        assert len(refused) == 1 and len(went) == 1, results
        rc, _out, err = refused[0]
        assert rc == 3 and err.count("\n") == 1, err
        assert f"node {w.node} (netns {w.netns}) is being changed by run " in err
        assert "(playbook cleanup, pid " in err and ", since 20" in err
        assert went[0][0] == 0, went[0]
        # Exactly one run changed anything: one journal, one agent restart.
        runs = [d for d in (tmp_path / "state" / "runs").iterdir()]
        assert len(runs) == 1
        started = [
            r["step_id"]
            for r in read_journal(runs[0] / "journal.jsonl")
            if r.get("kind") == "step_started" and r.get("mutates")
        ]
        assert started.count("restart-cilium-pod") == 1
        deleted = [p for verb, p in w.sim.requests if verb == "DELETE" and "/pods/cilium-" in p]
        assert len(deleted) == 1, deleted


HOLD = """
import sys, time
from ciliumtui.engine.lock import node_lock
with node_lock(sys.argv[1], sys.argv[2] or None, "20260101T000000Z-holder-abcdef", "holder"):
    print("held", flush=True)
    time.sleep(60)
"""


def touch_pb(target: Path) -> str:
    return (
        "id: touchy\nsteps:\n  - id: make\n    action: shell\n    risk: low\n"
        f"    params: {{argv: [touch, '{target}']}}\n"
    )


async def test_a_held_lock_names_its_holder_and_other_namespaces_are_not_blocked(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, "node-a", "ns-1"],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        target = tmp_path / "made"
        path = write(tmp_path, touch_pb(target))
        with pytest.raises(CiliumtuiError) as exc:
            await go(path, Options(node="node-a", netns="ns-1"), assume_yes=True)
        msg = str(exc.value)
        assert (
            "node node-a (netns ns-1) is being changed by run 20260101T000000Z-holder-abcdef" in msg
        )
        assert f"(playbook holder, pid {holder.pid}, since 20" in msg and "\n" not in msg
        assert not target.exists()
        # Another namespace (a parallel test's node; here the host's own) is another lock.
        result, _ = await go(path, Options(node="node-a"), assume_yes=True)
        assert result.status == "ok" and target.exists()
        # A dry run changes nothing and takes no lock.
        result, _ = await go(path, Options(node="node-a", netns="ns-1"), dry_run=True)
        assert result.status == "planned"
    finally:
        holder.kill()
        holder.wait()


async def test_the_stale_lock_of_a_dead_run_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer exists
    lock = lock_path("node-a", None)
    lock.parent.mkdir(parents=True)
    lock.write_text(
        json.dumps(
            {"run_id": "20250101T000000Z-cleanup-0badc0", "playbook": "cleanup", "pid": dead.pid}
        )
    )
    target = tmp_path / "made"
    result, events = await go(write(tmp_path, touch_pb(target)), assume_yes=True)
    assert result.status == "ok" and target.exists()
    started = next(e for e in events if e.kind == "run_started")
    assert "took over the stale lock of run 20250101T000000Z-cleanup-0badc0" in started.message
    assert f"pid {dead.pid}, gone" in started.message
    assert lock.read_text() == ""  # released cleanly: the next run finds nothing stale


RACE = """
import sys
from ciliumtui.engine import ratelimit
sys.stdin.readline()  # start together
print("ok" if ratelimit.take("node-a", "agent-restart", 3, 1800) is None else "limited")
"""


def test_rate_limit_take_is_atomic_across_processes(tmp_path, state):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "CILIUMTUI_STATE_DIR": str(state)},
        )
        for _ in range(8)
    ]
    time.sleep(1.0)  # all imported and waiting
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    answers = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(answers) == ["limited"] * 5 + ["ok"] * 3, answers
    assert ratelimit.check("node-a", "agent-restart", 3, 1800) is not None
    assert len(json.loads((state / "ratelimit.json").read_text())["node-a/agent-restart"]) == 3


# ------------------------------------------------------------------------ preflight


def closed_port_kubeconfig(tmp_path: Path) -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there any more: connection refused
    kube = tmp_path / "kubeconfig"
    kube.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return str(kube)


async def test_preflight_checks_the_apiserver_before_the_first_change(tmp_path):
    target = tmp_path / "made"
    body = touch_pb(target) + ("  - id: restart\n    action: pod.delete\n    risk: high\n")
    opts = Options(node="node-a", kubeconfig=closed_port_kubeconfig(tmp_path), timeout=1)
    t0 = time.monotonic()
    with pytest.raises(CiliumtuiError) as exc:
        await go(write(tmp_path, body), opts, assume_yes=True)
    assert time.monotonic() - t0 < 4
    msg = str(exc.value)
    assert msg.startswith("playbook touchy not started: step restart needs what is missing: ")
    assert "connection refused by the apiserver 127.0.0.1:" in msg and "Nothing was changed" in msg
    assert not target.exists()  # the step BEFORE the one that needs the apiserver did not run
    # --dry-run plans what it can and ends "unplanned" (exit 3), naming the step.
    result, events = await go(write(tmp_path, body), opts, dry_run=True)
    assert (
        result.status == "unplanned" and result.exit_code == 3 and result.failed_step == "restart"
    )
    assert result.steps == {"make": "planned", "restart": "failed"}
    assert "could not plan step restart: the apiserver is not reachable" in result.message


@pytest.mark.root
def test_cleanup_with_the_apiserver_black_holed_refuses_before_touching_the_node(tmp_path):
    with node_world("post-reboot", tmp_path, prefix="pf") as w:
        before = node_state(w.netns)
        w.sim.set_fault("hang")  # accepts TCP, never answers
        t0 = time.monotonic()
        p = cli(w, "cleanup", "--yes", env={"CILIUMTUI_STATE_DIR": str(tmp_path / "state")})
        rc = p.wait(timeout=60)
        out, err = p.communicate()
        assert rc == 3, (out, err)
        assert time.monotonic() - t0 < 15
        assert err.startswith("ciliumtui: error: playbook cleanup not started: step ")
        assert "apiserver" in err and "did not answer" in err and err.count("\n") == 1, err
        assert node_state(w.netns) == before  # links, ip rules, routes, iptables untouched
        assert w.sim.mutations == 0
        assert not (tmp_path / "state" / "runs").exists()  # no run started at all


def _bin_without(tmp_path: Path, *missing: str) -> str:
    """A PATH directory with this host's tools except `missing`."""
    d = tmp_path / "bin"
    d.mkdir(parents=True, exist_ok=True)
    for src in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        if not Path(src).is_dir():
            continue
        for tool in Path(src).iterdir():
            if tool.name in missing or (d / tool.name).exists():
                continue
            (d / tool.name).symlink_to(tool)
    return str(d)


@pytest.mark.root
def test_missing_ip_or_backend_tools_refuse_before_any_change(make_netns, tmp_path):
    ns, pod_ns = make_netns("pf"), make_netns("pf")
    cn.build(ns, pod_ns)
    before = node_state(ns)
    base = [sys.executable, "-m", "ciliumtui", "run", "cleanup-node", "--netns", ns]
    base += ["--node", "k3s-node1"]
    env = {"CILIUMTUI_STATE_DIR": str(tmp_path / "state")}
    for missing, named in (
        (("ip",), "ip is not installed"),
        # only where that backend has tables (no nft IPv6 here: its tool is not needed),
        # and the refusal names them
        (("iptables-nft-save", "ip6tables-nft-save"), "but this node has nft IPv4 tables"),
    ):
        path = _bin_without(tmp_path / missing[0], *missing)
        for mode in ("--yes", "--dry-run"):
            res = subprocess.run(
                [*base, mode], capture_output=True, text=True, env={**env, "PATH": path}, timeout=60
            )
            assert res.returncode == 3, (mode, res.stdout, res.stderr)
            assert named in res.stderr, (mode, res.stderr)
            assert "Traceback" not in res.stderr
        assert node_state(ns) == before


# ----------------------------------------------------------------- honest plans

CALLS: list[str] = []


class NothingToDo(Action):
    """A real action (a test fixture, registered for these tests) whose plan finds
    nothing to do: only a note."""

    name = "test.nothing"
    mutates = True
    default_risk = "destructive"

    async def plan(self, ctx: ActionContext) -> list[str]:
        return ["# nothing of Cilium's here"]

    async def backup(self, ctx: ActionContext) -> list[Path]:
        CALLS.append("backup")
        return []

    async def run(self, ctx: ActionContext) -> ActionResult:
        CALLS.append("run")
        return ActionResult(ok=True, changed=True)


class CannotPlan(Action):
    name = "test.cannot-plan"
    mutates = True
    default_risk = "low"

    async def plan(self, ctx: ActionContext) -> list[str]:
        raise CiliumtuiError("the thing to plan against is gone")

    async def run(self, ctx: ActionContext) -> ActionResult:
        CALLS.append("run")
        return ActionResult(ok=True)


@pytest.fixture
def test_actions():
    CALLS.clear()
    REGISTRY[NothingToDo.name] = NothingToDo
    REGISTRY[CannotPlan.name] = CannotPlan
    yield
    del REGISTRY[NothingToDo.name], REGISTRY[CannotPlan.name]


HONEST = """
id: honest
steps:
  - id: look
    phase: diagnose
    action: shell.read
    params: {argv: [echo, looked]}
  - id: clean
    action: test.nothing
  - id: check
    phase: verify
    action: shell.read
    params: {argv: ["false"]}
"""


async def test_a_step_with_nothing_to_do_is_skipped_asks_nothing_and_counts_nothing(
    tmp_path, test_actions
):
    asked: list[ConfirmRequest] = []

    async def confirm(req: ConfirmRequest) -> bool:
        asked.append(req)
        return False

    body = HONEST.replace('["false"]', '["true"]')
    result, events = await go(write(tmp_path, body), confirm=confirm)
    assert not asked and CALLS == []  # no question, no backup, no run
    assert result.status == "ok" and result.steps["clean"] == "skipped"
    finished = next(e for e in events if e.kind == "step_finished" and e.step_id == "clean")
    assert finished.message == "nothing to do" and finished.data["nothing_to_do"] is True
    records = read_journal(Path(result.journal))
    assert not [r for r in records if r["kind"] == "step_started" and r.get("step_id") == "clean"]
    # Headless without --yes it is not a refusal either: there was nothing to confirm.
    result, _ = await go(write(tmp_path, body))
    assert result.status == "ok"


async def test_a_dry_run_does_not_verify_and_its_result_is_its_plans(tmp_path, test_actions):
    result, events = await go(write(tmp_path, HONEST), dry_run=True)
    assert result.status == "planned" and result.exit_code == 0
    assert result.steps == {"look": "ok", "clean": "skipped", "check": "skipped"}
    check = next(e for e in events if e.kind == "step_finished" and e.step_id == "check")
    assert check.message == "not run (dry run)"
    # A step whose plan cannot be made: the dry run says so and exits 3.
    body = HONEST.replace("action: test.nothing", "action: test.cannot-plan")
    result, _ = await go(write(tmp_path, body), dry_run=True)
    assert result.status == "unplanned" and result.exit_code == 3
    assert result.message == (
        "dry-run: could not plan step clean: the thing to plan against is gone"
    )
    assert CALLS == []
    # The verify playbook itself, dry: nothing is verified, nothing is red.
    result, _ = await go("verify", dry_run=True)
    assert result.status == "planned" and set(result.steps.values()) == {"skipped"}


def test_confirmation_acceptance_is_one_rule():
    base = dict(step_id="s", title="t", plan=[], context=None, node="node-a")
    low = ConfirmRequest(risk="low", type_node_name=False, **base)
    destructive = ConfirmRequest(risk="destructive", type_node_name=True, **base)
    assert low.accepts("y") and low.accepts(" YES\n") and not low.accepts("")
    assert not low.accepts("node-a")
    assert destructive.accepts("node-a\n") and not destructive.accepts("y")
    assert destructive.name_matches(" node-a ") and not destructive.name_matches("node-b")
