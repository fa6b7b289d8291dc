"""Waits that explain (issue 13.3): what a wait reports about a pod, which findings
it names when the pod crash-loops or the wait times out, and — end to end — a
restart over a dead agent's debris that stops at once, pointing at cleanup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from ciliumtui.engine.actions.waits import (
    explanation,
    progress_line,
    root_causes,
    symptoms_for,
    view,
)
from ciliumtui.model import Finding
from ciliumtui.sim.objects import pod_status


def pod(state: str, restarts: int = 0, name: str = "cilium-x7k2p") -> dict:
    """A pod as the simulator (and so the apiserver) shows it in that state."""
    return {
        "metadata": {"name": name, "namespace": "kube-system", "uid": name},
        "spec": {"nodeName": "k3s-node1"},
        "status": pod_status(
            state,
            containers=[("cilium-agent", "quay.io/cilium/cilium:v1.18.4")],
            init_containers=[("mount-cgroup", "quay.io/cilium/cilium:v1.18.4")],
            host_ip="192.168.1.21",
            pod_ip="192.168.1.21",
            restarts=restarts,
        ),
    }


def test_a_wait_reports_phase_restarts_and_the_last_reason():
    crash = view(pod("crashloop", restarts=4))
    assert crash.crashing and not crash.ready
    assert crash.state() == "CrashLoopBackOff, 4 restarts, last: Error, exit 1"
    starting = view(pod("pending"))
    assert not starting.crashing and starting.reason == "PodInitializing"
    creating = view(pod("creating"))
    assert creating.reason == "ContainerCreating" and not creating.crashing
    assert view(pod("running")).ready
    line = progress_line(12.4, 180, "k8s-app=cilium on k3s-node1", [crash])
    assert line == (
        "12s/180s waiting for k8s-app=cilium on k3s-node1: cilium-x7k2p, Running, not Ready, "
        "4 restarts, CrashLoopBackOff, last: Error, exit 1"
    )
    assert symptoms_for("k8s-app=kube-dns") == ("coredns-not-ready",)
    assert symptoms_for("io.cilium/app=operator,name=cilium-operator") == (
        "cilium-operator-unavailable",
    )


def F(fid: str, by: list[str] | None = None, playbook: str | None = None, ev=()) -> Finding:
    return Finding(fid, "critical", fid.replace("-", " "), list(ev), playbook, None, by or [])


def test_the_causes_named_are_the_root_causes_behind_the_waited_pods_finding():
    findings = [
        F("stale-cilium-interfaces", playbook="cleanup", ev=["7 Cilium links: cilium_host, …"]),
        F("stale-cilium-iptables", playbook="cleanup"),
        F("cilium-agent-not-ready", ["stale-cilium-interfaces", "stale-cilium-iptables"], "cleanup",
          ["cilium-x in kube-system: CrashLoopBackOff", "last log (0.log): level=fatal msg=..."]),
        F("node-taint-agent-not-ready", ["cilium-agent-not-ready"], "cleanup"),
        F("kernel-too-old"),  # present, but it explains nothing here
    ]  # fmt: skip
    roots = root_causes(findings, symptoms_for("k8s-app=cilium"))
    assert [f.id for f in roots] == ["stale-cilium-interfaces", "stale-cilium-iptables"]
    why, lines = explanation(findings, symptoms_for("k8s-app=cilium"))
    assert why == (
        "explained by stale-cilium-interfaces, stale-cilium-iptables — run `ciliumtui run cleanup` instead"
    )
    assert "  7 Cilium links: cilium_host, …" in lines
    assert "  last log (0.log): level=fatal msg=..." in lines  # the agent's last words
    # nothing explains it: no cause is named (the wait keeps waiting)
    alone = [F("cilium-agent-not-ready", ev=["CrashLoopBackOff"])]
    assert explanation(alone, symptoms_for("k8s-app=cilium"))[0] == ""
    # a root cause with no playbook: named, with no playbook to run
    old = [F("kernel-too-old", ev=["kernel 5.4"]), F("cilium-agent-not-ready", ["kernel-too-old"])]
    assert "no playbook fixes it" in explanation(old, ["cilium-agent-not-ready"])[0]


def _causal() -> bool:
    """The checks' causal relation fills explained_by (the checks branch)."""
    try:
        import ciliumtui.checks.causes  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.root
def test_restart_over_debris_stops_at_once_and_points_at_cleanup(tmp_path, monkeypatch):
    if not _causal():
        pytest.skip("needs the causal diagnosis (checks.causes)")
    from ciliumtui.training.env import TrainingEnv

    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "operator-state"))
    with TrainingEnv("agent-crashloop", root=True) as env:
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "ciliumtui", "run", "restart", "--yes", "--json", *env.cli_flags()],
            capture_output=True, text=True, timeout=240, env={**os.environ, **env.env_vars()},
        )  # fmt: skip
        took = time.monotonic() - start
    evs = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    wait = next(
        e for e in evs if e["kind"] == "step_finished" and e["step_id"] == "wait-agent-ready"
    )
    assert done.returncode == 1 and wait["status"] == "failed"
    assert took < 60, f"waited {took:.0f}s: the 180 s limit, not the crash, ended it"
    msg = wait["message"]
    assert "crash-loops (CrashLoopBackOff" in msg, msg
    assert "explained by stale-cilium-interfaces, stale-cilium-iptables" in msg, msg
    assert msg.endswith("run `ciliumtui run cleanup` instead"), msg
    out = [
        e.get("message") or ""
        for e in evs
        if e["kind"] == "step_output" and e["step_id"] == "wait-agent-ready"
    ]
    assert any(
        m.startswith("0s/180s waiting for k8s-app=cilium on k3s-node1: cilium-") for m in out
    ), out
    assert any("explained by stale-cilium-interfaces" in m and "playbook cleanup" in m for m in out)
    # the diagnosis it made is the run's (the TUI shows it; training scores it)
    assert {"stale-cilium-interfaces", "cilium-agent-not-ready"} <= {
        f["id"] for f in wait["data"]["findings"]
    }


@pytest.mark.root
def test_a_crash_nothing_explains_waits_out_its_limit_and_says_so(tmp_path, monkeypatch):
    from sim_helpers import node_world

    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    body = tmp_path / "wait.yaml"
    body.write_text(
        "id: wait\nsteps:\n  - id: wait\n    action: pod.wait-ready\n"
        "    params: {selector: k8s-app=cilium, timeout: 4}\n    timeout: 30\n"
    )
    # the agent crash-loops on a clean node: no finding names why
    with node_world({"cluster": {"cilium": {"agent": "crashloop"}}}, tmp_path, prefix="rw") as w:
        done = subprocess.run(
            w.argv("run", str(body), "--json"), capture_output=True, text=True, timeout=120,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CILIUMTUI_STATE_DIR": str(tmp_path / "state")},
        )  # fmt: skip
    evs = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    wait = next(e for e in evs if e["kind"] == "step_finished")
    assert wait["status"] == "failed" and done.returncode == 1
    assert wait["message"].startswith("not Ready after 4s (cilium-"), wait["message"]
    assert "CrashLoopBackOff" in wait["message"] and "explained by" not in wait["message"]
    out = [e.get("message") or "" for e in evs if e["kind"] == "step_output"]
    assert any("is crash-looping: diagnosing why" in m for m in out)
    assert any(
        m.startswith("cilium-agent-not-ready:") and "no other finding explains it" in m for m in out
    ), out
