"""`ciliumtui fleet run` and `fleet status` as whole processes against the simulated
cluster: the budget stops the roll, the Lease refuses a second run, --dry-run
creates nothing, and an unreadable cluster is one line and exit 3.

The nodes here are generated (their NodeDiagnosis says what they need); a node
whose Job must fail has a home whose host root does not exist, so its Job runs
the real `ciliumtui run cleanup-node`, which fails. tests/test_fleet_e2e.py rolls
over netns nodes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ciliumtui.cluster.client import api_client
from ciliumtui.engine.journal import read_journal
from ciliumtui.fleet import LEASE_NAME, NAMESPACE
from ciliumtui.fleet.lease import Lease
from ciliumtui.options import Options
from ciliumtui.sim.fleet.kubelet import NodeHome
from ciliumtui.sim.fleet.world import add_reports
from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster

JOB = "batch/v1/Job"
ND = "ciliumtui.io/v1alpha1/NodeDiagnosis"


def scenario(n: int) -> dict:
    sc = load_scenario("healthy")
    sc["cluster"]["nodes"] = [
        {"name": f"n{i}", "internal_ip": f"192.168.1.{30 + i}", "pod_cidr": f"10.42.{i}.0/24"}
        for i in range(1, n + 1)
    ]
    sc["node_name"] = "n1"
    sc["cluster"]["pods"] = []
    return sc


@pytest.fixture
def fleet(tmp_path: Path):
    with SimCluster(scenario(6), tmpdir=tmp_path / "sim") as sim:
        sim.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        add_reports(sim, broken=lambda i, name: name != "n6")  # n1..n5 need a cleanup
        yield sim


def ciliumtui(sim: SimCluster, tmp: Path, *args: str, timeout: float = 120):
    env = {**os.environ, "CILIUMTUI_STATE_DIR": str(tmp / "state")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ciliumtui",
            *args,
            "--kubeconfig",
            sim.kubeconfig,
            "--timeout",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_the_roll_stops_when_failures_use_up_the_budget(fleet: SimCluster, tmp_path: Path) -> None:
    for bad in ("n2", "n3"):  # their Jobs run the real playbook on a host root that is not there
        fleet.jobs.homes[bad] = NodeHome(None, str(tmp_path / "no-such-root"))
    out = ciliumtui(fleet, tmp_path, "fleet", "run", "cleanup-node", "--max-unavailable", "2")
    assert out.returncode == 1, out.stdout + out.stderr
    text = out.stdout
    # n1 and n2 start; n2 fails (its slot stays taken), n3 starts and fails: 2 failed = budget.
    assert "n2: ✘ failed" in text and "n3: ✘ failed" in text and "not a directory" in text
    assert "budget (--max-unavailable 2) is used up" in text
    assert "  done:        n1\n" in text
    assert "  failed:      n2, n3\n" in text
    assert "  not started: n4, n5\n" in text
    assert "  skipped:     n6\n" in text  # healthy: its diagnosis asks for nothing
    started = {j["spec"]["template"]["spec"]["nodeName"] for j in fleet.store.list(JOB, NAMESPACE)}
    assert started == {"n1", "n2", "n3"}
    assert sorted(n for n, _argv in fleet.jobs.ran) == ["n2", "n3"]  # real processes
    # Each Job's result is in its node's NodeDiagnosis...
    last = {n: fleet.store.get(ND, None, n)["status"].get("last_run") for n in ("n1", "n2", "n4")}
    assert last["n1"]["result"] == "ok" and last["n2"]["result"] == "failed"
    assert last["n4"] is None
    # ...and the run is journalled like a playbook run.
    run_id = text.rsplit("run id: ", 1)[1].split()[0]
    records = read_journal(tmp_path / "state" / "runs" / run_id / "journal.jsonl")
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    finished = {r["step_id"]: r["status"] for r in records if r["kind"] == "step_finished"}
    assert finished == {"n1": "ok", "n2": "failed", "n3": "failed"}
    assert records[-1]["data"]["not_started"] == ["n4", "n5"]
    # The Lease was released: the next run may go.
    lease = fleet.store.get("coordination.k8s.io/v1/Lease", NAMESPACE, LEASE_NAME)
    assert not lease["spec"].get("holderIdentity")


def test_a_second_fleet_run_is_refused_while_the_lease_is_held(
    fleet: SimCluster, tmp_path: Path
) -> None:
    api = api_client(Options(kubeconfig=fleet.kubeconfig, timeout=2))
    other = Lease(api, NAMESPACE, "alice@ops-laptop pid 4242 run 20261201T090000Z-fleet-x", 2)
    other.acquire()
    try:
        before = fleet.mutations
        out = ciliumtui(fleet, tmp_path, "fleet", "run", "cleanup-node")
        assert out.returncode == 3
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "refused" in lines[0] and "alice@ops-laptop" in lines[0]
        assert "Traceback" not in out.stderr
        assert fleet.store.list(JOB, NAMESPACE) == []
        assert fleet.mutations == before  # nothing created, nothing journalled
        assert not (tmp_path / "state" / "runs").exists()
    finally:
        other.release()
        api.close()
    out = ciliumtui(fleet, tmp_path, "fleet", "run", "cleanup-node", "--max-unavailable", "100%")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "  done:        " in out.stdout
    done = out.stdout.split("  done:        ", 1)[1].splitlines()[0]
    assert sorted(done.split(", ")) == ["n1", "n2", "n3", "n4", "n5"]


def test_an_expired_lease_is_taken_over(fleet: SimCluster, tmp_path: Path) -> None:
    fleet.store.create(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": LEASE_NAME, "namespace": NAMESPACE},
            "spec": {
                "holderIdentity": "bob@gone pid 1 run old",
                "leaseDurationSeconds": 60,
                "renewTime": "2026-01-01T00:00:00.000000Z",
                "leaseTransitions": 3,
            },
        }
    )
    out = ciliumtui(
        fleet, tmp_path, "fleet", "run", "cleanup-node", "-l", "kubernetes.io/hostname=n1"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "n1: ✔ done" in out.stdout
    spec = fleet.store.get("coordination.k8s.io/v1/Lease", NAMESPACE, LEASE_NAME)["spec"]
    assert spec["leaseTransitions"] == 4


def test_dry_run_shows_the_plan_and_creates_nothing(fleet: SimCluster, tmp_path: Path) -> None:
    before = fleet.mutations
    out = ciliumtui(
        fleet, tmp_path, "fleet", "run", "cleanup-node", "--dry-run", "--max-unavailable", "40%"
    )
    assert out.returncode == 0, out.stderr
    assert "5 of 6 nodes, at most 2 at a time" in out.stdout
    assert "n1: run cleanup-node — fixes stale-cilium-interfaces" in out.stdout
    assert "n6: skip" in out.stdout
    assert "wave 3: n5" in out.stdout
    assert fleet.mutations == before and fleet.store.list(JOB, NAMESPACE) == []


def test_fleet_status_of_the_generated_fleet(fleet: SimCluster, tmp_path: Path) -> None:
    out = ciliumtui(fleet, tmp_path, "fleet", "status", "--json")
    assert out.returncode == 2
    import json

    data = json.loads(out.stdout)
    assert data["by_root_cause"] == {"stale-cilium-interfaces": ["n1", "n2", "n3", "n4", "n5"]}
    assert {n["node"]: n["state"] for n in data["nodes"]}["n6"] == "healthy"
    only = ciliumtui(fleet, tmp_path, "fleet", "status", "-l", "kubernetes.io/hostname=n6")
    assert only.returncode == 0 and "n6" in only.stdout and "n1" not in only.stdout


@pytest.mark.parametrize("fault", ["403", "hang"])
def test_fleet_status_that_cannot_read_is_one_line_and_exit_3(
    fleet: SimCluster, tmp_path: Path, fault: str
) -> None:
    fleet.set_fault(fault)
    out = ciliumtui(fleet, tmp_path, "fleet", "status", timeout=60)
    assert out.returncode == 3
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert ("forbidden" in out.stderr) if fault == "403" else ("in time" in out.stderr)


def test_only_node_playbooks_and_sane_budgets(fleet: SimCluster, tmp_path: Path) -> None:
    out = ciliumtui(fleet, tmp_path, "fleet", "run", "pod-cidr-change")
    assert out.returncode == 3 and "not a node playbook" in out.stderr
    out = ciliumtui(fleet, tmp_path, "fleet", "run", "cleanup-node", "--max-unavailable", "0")
    assert out.returncode == 3 and "at least 1" in out.stderr
