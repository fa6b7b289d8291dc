"""Training mode (issue 7.1): every scenario solved by its expert path and scored,
the recorded node (no root), the world reacting to the fix, and teardown.

Real parts: network namespaces built by build_node, real iptables, the simulated
apiserver and DNS, the real playbook engine and, for one scenario, the real CLI
in a subprocess (`ciliumtui run … ` with the flags the env prints).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ciliumtui.errors import CiliumtuiError
from ciliumtui.training.env import TrainingEnv
from ciliumtui.training.session import TrainingSession

ROOT = os.geteuid() == 0


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path, monkeypatch):
    """The operator's state dir, where a closed session keeps its journals: the test's own."""
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "operator-state"))


def netns_list() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    # Only ours: other engineers' tests create and delete namespaces meanwhile.
    return {x.split()[0] for x in out.splitlines() if x.strip() and x.startswith("tr-")}


def run_pb(env: TrainingEnv, playbook: str, **inputs: str) -> str:
    """Run a playbook in-process with the real engine, every step confirmed (like --yes)."""
    from ciliumtui.engine.loader import load_playbook, resolve_inputs
    from ciliumtui.engine.runner import Runner

    pb = load_playbook(playbook)
    resolved = resolve_inputs(pb, inputs, env.opts.node_name)
    result = asyncio.run(Runner(pb, env.opts, resolved, assume_yes=True).run())
    return result.status


def kubectl(env: TrainingEnv, *args: str) -> None:
    subprocess.run(
        ["kubectl", "--kubeconfig", str(env.opts.kubeconfig), *args],
        check=True,
        capture_output=True,
        timeout=30,
    )


# scenario -> (risky steps the expert path takes, manual step before the fix playbook, inputs)
EXPERT: dict[str, tuple[int, Any, dict[str, dict[str, str]]]] = {
    # cleanup: delete-links, purge-iptables, cleanup-ip-rules, restart pod, restart pods
    "agent-crashloop": (5, None, {}),
    "coredns-external-fail": (1, None, {}),  # restart-agent
    # patch-cilium-config (no helm here), restart-operator, delete-stale-ciliumnodes,
    # restart-agents, restart-node-pods; the pool is the suggested one (inputs default)
    "default-pod-cidr-overlap": (5, None, {}),
    # the pool is kept: restart-operator, delete-stale-ciliumnodes, restart-agents, restart-node-pods
    "stale-ciliumnode-cidr": (4, None, {}),
    "k3s-no-stop-hook": (0, None, {}),  # the hook is risk low and on the expert path
    "healthy": (0, None, {}),  # nothing to fix: verify alone
    "metallb-overlap": (1, None, {}),  # lb-pool-move's move-pool
}


def solve(env: TrainingEnv, manual: Any = None, inputs: dict[str, dict[str, str]] | None = None):
    session = TrainingSession(env)
    for playbook in env.scenario["expert_path"]:
        if manual is not None and playbook != "diagnose":
            manual(env)  # right before the first fixing step
            manual = None
        status = run_pb(env, playbook, **(inputs or {}).get(playbook, {}))
        assert status == "ok", f"{env.scenario_id}: {playbook} ended {status}"
    return session


@pytest.mark.root
@pytest.mark.parametrize("scenario_id", sorted(EXPERT))
def test_expert_path_solves_and_scores(scenario_id: str) -> None:
    risky, manual, inputs = EXPERT[scenario_id]
    with TrainingEnv(scenario_id, root=True) as env:
        ns = env.opts.netns
        assert env.mode == "netns" and ns in netns_list()
        session = solve(env, manual, inputs)
        assert session.verify_passed()
        debrief = session.finish()
    assert debrief.solved, debrief.lines()
    assert len(debrief.risky_steps) == risky, debrief.risky_steps
    assert debrief.expert_path == env.scenario["expert_path"]
    assert not debrief.solution  # solved: the solution is not spelled out
    assert ns not in netns_list()  # teardown left no namespace behind
    assert not Path("/run/netns", f"{ns}.upstream").exists()


@pytest.mark.root
def test_post_reboot_via_cli_flags_in_netns() -> None:
    """The flags the env prints drive the real CLI; the node reacts to the fix."""
    with TrainingEnv("post-reboot", root=True) as env:
        ns = env.opts.netns
        session = TrainingSession(env)
        cli_env = {**os.environ, **env.env_vars()}
        for playbook in env.scenario["expert_path"]:
            done = subprocess.run(
                [sys.executable, "-m", "ciliumtui", "run", playbook, "--yes", *env.cli_flags()],
                capture_output=True, text=True, timeout=120, env=cli_env,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr
        # What a restarted agent leaves: API socket answering, datapath laid again.
        assert (env.host_root / "var/run/cilium/cilium.sock").is_socket()
        links = subprocess.run(
            ["ip", "-n", env.opts.netns, "-j", "link"], capture_output=True, text=True
        ).stdout
        assert "cilium_host" in links
        debrief = session.finish()
    assert debrief.solved and len(debrief.risky_steps) == 5
    assert debrief.root_cause_via == "playbook cleanup"
    assert ns not in netns_list()


def test_a_second_terminal_that_sources_env_sh_acts_on_the_session_node(tmp_path) -> None:
    """The briefing's one line (`. env.sh`): plain `ciliumtui diagnose` and `kubectl`
    then reach the session's node and cluster, and a run journals into its state dir."""
    import json

    with TrainingEnv("post-reboot", root=False) as env:
        assert env.env_file is not None and len(f". {env.env_file}") < 76  # fits 80 columns
        # A clean shell as README line 1 leaves it: no KUBECONFIG, no state dir, and the
        # venv that runs the session on nobody's PATH (only sh's and kubectl's).
        kubectl_bin = shutil.which("kubectl")
        assert kubectl_bin, "CI installs kubectl"
        path = ":".join(dict.fromkeys([str(Path(kubectl_bin).parent), "/usr/bin", "/bin"]))
        assert shutil.which("ciliumtui", path=path) is None, path
        clean = {"PATH": path, "HOME": str(tmp_path)}

        def sh(cmd: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["sh", "-c", f". {env.env_file} && {cmd}"],
                capture_output=True, text=True, timeout=120, env=clean,
            )  # fmt: skip

        diag = sh("ciliumtui diagnose --json")
        assert diag.returncode == 2, diag.stderr  # critical findings: the broken node
        report = json.loads(diag.stdout)
        assert report["node"] == "k3s-node1"
        assert "stale-cilium-interfaces" in {f["id"] for f in report["findings"]}
        assert sh("ciliumtui run verify --yes").returncode in (0, 1)
        assert list((env.state_dir / "runs").glob("*/journal.jsonl"))  # this session's
        pods = sh("kubectl get pods -n kube-system --request-timeout=10s")  # CI installs it
        assert pods.returncode == 0 and "cilium-" in pods.stdout, pods.stderr
        # The briefing's "or, spelled out" lines (:env, --headless) run on that PATH too.
        envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.env_vars().items())
        spelled = subprocess.run(
            ["sh", "-c", f"KUBECONFIG={env.opts.kubeconfig} {envs} "
             f"{env.command_line('diagnose')} --format npd"],
            capture_output=True, text=True, timeout=120, env=clean,
        )  # fmt: skip
        assert spelled.returncode == 1, spelled.stderr  # npd: 1 = a problem, not 127
        assert "stale-cilium-interfaces" in spelled.stdout


@pytest.mark.root
def test_restart_over_debris_does_not_fix() -> None:
    """Restarting the agent without cleaning up: it crash-loops again, nothing is fixed."""
    with TrainingEnv("post-reboot", root=True) as env:
        session = TrainingSession(env)
        kubectl(env, "-n", "kube-system", "delete", "pod", "-l", "k8s-app=cilium")
        assert not env.fixed and env.sim.rejected_restarts == 1
        assert not (env.host_root / "var/run/cilium/cilium.sock").exists()
        assert run_pb(env, "diagnose") == "ok"
        debrief = session.finish(gave_up=True)
    assert not debrief.solved and debrief.gave_up
    assert {"stale-cilium-interfaces", "stale-cilium-iptables"} <= set(debrief.remaining)


def test_post_reboot_recorded_node_in_process() -> None:
    """Recorded mode (what non-root gets): the node file is probed and edited, then fixed."""
    from ciliumtui.training import recorded

    with TrainingEnv("post-reboot", root=False) as env:
        assert env.mode == "recorded" and env.opts.netns is None
        assert isinstance(env.opts.backend, recorded.RecordedBackend)
        path = env.opts.backend.path
        assert recorded.has_debris(path)
        session = solve(env)
        assert env.fixed
        node = recorded.load_node(path)
        assert node.agent.reachable and node.agent.pid_alive
        assert any(link.name == "cilium_host" for link in node.links)
        debrief = session.finish()
    assert debrief.solved and len(debrief.risky_steps) == 5
    assert not os.path.exists(path)  # torn down


# ----------------------------------------------------------- non-root, real user

SYSTEM_PY = "/usr/bin/python3"
SITE = f"{sys.prefix}/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
# The venv's interpreter lives under /root (0700) here, so the unprivileged user runs
# the system python of the same version with the venv's packages added.
BOOT = (
    f"import site,sys,runpy; site.addsitedir({SITE!r}); sys.argv=['ciliumtui',*sys.argv[1:]]; "
    "runpy.run_module('ciliumtui', run_name='__main__')"
)


def _system_python_ok() -> bool:
    try:
        out = subprocess.run([SYSTEM_PY, "-c", "import sys;print(sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=10).stdout  # fmt: skip
    except OSError:
        return False
    return out.strip() == str(tuple(sys.version_info[:2]))


@pytest.mark.root
def test_train_headless_as_nobody_recorded_mode(request) -> None:
    if not _system_python_ok():
        pytest.skip(f"{SYSTEM_PY} is not Python {sys.version_info[:2]}")
    # Not under tmp_path: pytest's base dir is 0700, the unprivileged user could not
    # reach its home (nor its state dir, where the session's journals are kept).
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="ciliumtui-test-home-"))
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    os.chmod(home, 0o755)
    os.chown(home, 65534, 65534)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", SYSTEM_PY, "-c", BOOT]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CILIUMTUI_")}
    env.update(HOME=str(home), XDG_STATE_HOME=str(home / "state"))
    proc = subprocess.Popen(
        [*nobody, "train", "post-reboot", "--headless"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=home,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while not any("ciliumtui run PLAYBOOK" in x for x in lines):
            line = proc.stdout.readline()
            assert line, "train exited early:\n" + "".join(lines)
            lines.append(line)
        text = "".join(lines)
        assert "Mode: recorded node" in text
        cmd = next(x for x in lines if "ciliumtui run PLAYBOOK" in x).split()
        state = cmd[0].split("=", 1)[1]
        flags = cmd[cmd.index("PLAYBOOK") + 1 :]
        # The expert path: cleanup, which ends with its own verify (the session sees it).
        done = subprocess.run(
            [*nobody, "run", "cleanup", "--yes", *flags],
            capture_output=True, text=True, timeout=120,
            env={**env, "CILIUMTUI_STATE_DIR": state}, cwd=home,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr
        assert "# recorded node: simulated" in done.stdout
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Solved: yes" in rest, rest
    assert proc.returncode == 0
    assert not os.path.exists(state)  # the session's temp dir is gone
    # ...but its journal is the user's now: `ciliumtui report RUN` works after quitting.
    kept = [x for x in rest.splitlines() if x.startswith("Journals kept:")]
    assert kept, rest
    run_id = kept[0].rsplit("ciliumtui report ", 1)[1].strip()
    report = subprocess.run([*nobody, "report", run_id], capture_output=True, text=True,
                            timeout=60, env=env, cwd=home)  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "Playbook: `cleanup`" in report.stdout


# --------------------------------------------------------------- the command


# Words that would name the fault of some scenario (the list must not give it away).
ANSWERS = ("stale", "overlap", "ciliumnode", "stop hook", "metallb", "pod cidr", "pool",
           "cleanup", "debris", "crash-loop", "crashloop", "coredns")  # fmt: skip


def test_train_lists_titles_that_do_not_give_the_answer() -> None:
    from ciliumtui.sim.scenario import list_scenarios

    cli = [sys.executable, "-m", "ciliumtui", "train"]
    listed = subprocess.run(cli, capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0
    rows = list_scenarios()
    lines = [x for x in listed.stdout.splitlines() if x.strip()[:1].isdigit()]
    assert len(lines) == len(rows) and "1. A healthy node" in lines[0]
    assert "After a hard reboot" in listed.stdout
    text = listed.stdout.lower()
    for sid, _title, summary in rows:
        assert (sid == "healthy" or sid not in text) and summary.lower()[:40] not in text
    assert not [w for w in ANSWERS if w in text], text
    # A number starts the scenario it lists; a bad one or an unknown id is one line, exit 3.
    from ciliumtui.commands.train import scenario_id

    assert scenario_id(str([r[0] for r in rows].index("post-reboot") + 1)) == "post-reboot"
    for bad_arg, why in (("no-such-scenario", "unknown scenario"), ("99", "no scenario 99")):
        bad = subprocess.run([*cli, bad_arg], capture_output=True, text=True, timeout=30)
        assert bad.returncode == 3
        assert bad.stderr.count("\n") == 1 and why in bad.stderr
        assert "Traceback" not in bad.stderr


@pytest.mark.root
def test_train_on_a_machine_without_iptables_falls_back_to_the_recorded_node(tmp_path) -> None:
    """The README's first command, as root on a fresh machine that has no iptables:
    a one-line notice saying what a real namespace needs, then training on the
    recorded node (no namespace made), and a debrief."""
    import signal

    bin_dir = tmp_path / "bin"  # PATH: iproute2 but no iptables
    bin_dir.mkdir()
    ip = subprocess.run(["sh", "-c", "command -v ip"], capture_output=True, text=True).stdout
    (bin_dir / "ip").symlink_to(ip.strip())
    env = {**os.environ, "PATH": str(bin_dir)}
    before = netns_list()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ciliumtui", "train", "post-reboot", "--headless"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + 60
    while "Waiting until verify passes" not in seen and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    notes = [x for x in seen.splitlines() if x.startswith("Note:")]
    assert notes == [
        "Note: iptables-nft-restore not found: training on a recorded node; "
        "a real network namespace needs `apt-get install iptables`"
    ], seen + rest
    assert "Mode: recorded node" in seen and "error" not in (seen + rest).lower()
    assert "Solved: no (gave up)" in rest and "Solution:" in rest
    assert proc.returncode == 1
    assert not {n for n in netns_list() - before if n.startswith("tr-post-reboot")}


def test_the_training_report_exists_after_quitting(tmp_path) -> None:
    """A closed session keeps its runs in the operator's state dir: `report RUN` works."""
    with TrainingEnv("post-reboot", root=False) as env:
        assert run_pb(env, "diagnose") == "ok"
        ran = [p.name for p in (env.state_dir / "runs").iterdir()]
        tmpdir = env.tmpdir
    assert env.kept_runs == ran and len(ran) == 1
    assert tmpdir is not None and not tmpdir.exists()  # the session itself is gone
    done = subprocess.run(
        [sys.executable, "-m", "ciliumtui", "report", ran[0]],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"Run: `{ran[0]}`" in done.stdout and "Playbook: `diagnose`" in done.stdout
    # With no argument, `report` shows the latest run: this one, not someone else's.
    latest = subprocess.run([sys.executable, "-m", "ciliumtui", "report"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert f"Run: `{ran[0]}`" in latest.stdout


def _records(run: str, playbook: str, t: float, steps: list[tuple[str, str]], status: str,
             findings: list[str] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Journal records of one run, as the runner writes them (kind, run_id, ts, …)."""
    from datetime import datetime, timezone

    def rec(kind: str, at: float, **kw: Any) -> dict[str, Any]:
        ts = datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds")
        return {"kind": kind, "run_id": run, "ts": ts, **kw}

    out = [rec("run_started", t, data={"playbook": playbook})]
    out += [rec("step_started", t + i + 0.5, step_id=sid, mutates=True, risk=risk)
            for i, (sid, risk) in enumerate(steps)]  # fmt: skip
    if findings is not None:
        out.append(rec("step_finished", t + len(steps) + 0.7,
                       data={"findings": [{"id": f} for f in findings]}))  # fmt: skip
    return out + [rec("run_finished", t + len(steps) + 1, status=status)]


def test_restart_on_agent_crashloop_is_not_the_root_cause() -> None:
    """agent-crashloop: following the top row runs `restart` (and opens the agent
    finding): that treats the symptom; only cleanup or a stale-debris finding counts."""
    from ciliumtui.sim.scenario import load_scenario
    from ciliumtui.training.score import score

    sc, t0 = load_scenario("agent-crashloop"), 1_800_000_000.0
    restart = _records("r", "restart", t0 + 10, [("restart-agent", "high")], "failed")
    d = score(sc, restart, started=t0, ended=t0 + 300, opened=[("cilium-agent-not-ready", t0 + 5)],
              gave_up=True)  # fmt: skip
    assert d.time_to_root_cause is None and d.root_cause_via is None
    assert d.risky_steps == ["restart/restart-agent (high)"]  # off the expert path
    cleanup = _records("c", "cleanup", t0 + 60, [("delete-links", "high")], "ok", [])
    d = score(sc, restart + cleanup, started=t0, ended=t0 + 300)
    assert d.root_cause_via == "playbook cleanup" and d.time_to_root_cause == 60
    assert d.solved and not d.solution  # cleanup ends with its own verify


def test_the_debrief_after_giving_up_teaches_cause_path_and_solution() -> None:
    with TrainingEnv("agent-crashloop", root=False) as env:
        session = TrainingSession(env)
        debrief = session.finish(gave_up=True)
    text = "\n".join(debrief.lines())
    assert "Root cause (stale-cilium-interfaces, stale-cilium-iptables): " in text
    assert "crash-loops over them" in text  # the scenario's own explanation
    assert "Expert path: cleanup\n" in text + "\n"
    assert "cleanup — Clean up stale Cilium state and restart the pods on this node" in text
    assert debrief.solution[0].startswith("Restarting alone does not help: run the cleanup")
    assert "In ciliumtui: :run cleanup   (from a shell: ciliumtui run cleanup)" in text
    assert debrief.to_dict()["root_cause_ids"] == debrief.root_cause_ids  # a plain dataclass


def test_unknown_scenario_env_is_one_line_error() -> None:
    with pytest.raises(CiliumtuiError, match="unknown scenario"):
        TrainingEnv("nope")


def test_headless_hint_on_demand_then_ctrl_c_gives_up_and_tears_down() -> None:
    """h + Enter shows a hint; SIGINT while waiting: a debrief (gave up), nothing left behind."""
    import signal

    before = netns_list() if ROOT else set()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ciliumtui", "train", "coredns-external-fail", "--headless"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + 30
    while "Waiting until verify passes" not in seen and time.monotonic() < deadline:
        seen += proc.stdout.readline()
    proc.stdin.write("h\n")
    proc.stdin.flush()
    hint = proc.stdout.readline()
    assert hint.startswith("Hint 1: Query the kube-dns service")
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert "Solved: no (gave up)" in rest and "Hints used: 1 of 3" in rest
    assert proc.returncode == 1
    if ROOT:
        # Only namespaces that appeared meanwhile and are still there could be ours.
        assert not {n for n in netns_list() - before if n.startswith("tr-coredns-external-fail")}
