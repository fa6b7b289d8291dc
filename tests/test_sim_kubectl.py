"""The real kubectl against the simulated apiserver (DESIGN §8: discovery good enough for it)."""

from __future__ import annotations

import shutil

import pytest
from sim_helpers import cilium_pods, is_ready, kubectl, wait_for

from ciliumtui.sim.server import SimCluster

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
NODE = "k3s-node1"


@pytest.fixture
def sim(tmp_path):
    with SimCluster("healthy", tmpdir=tmp_path) as s:
        yield s


def rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.strip().splitlines()]


def test_get_nodes(sim):
    r = kubectl(sim, "get", "nodes", "-o", "wide")
    assert r.returncode == 0, r.stderr
    table = rows(r.stdout)
    assert table[0][:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [(t[0], t[1], t[5]) for t in table[1:]] == [
        ("k3s-node1", "Ready", "192.168.1.21"),
        ("k3s-node2", "Ready", "192.168.1.22"),
    ]


def test_get_cilium_pods_all_namespaces(sim):
    r = kubectl(sim, "get", "pods", "-A", "-l", "k8s-app=cilium")
    assert r.returncode == 0, r.stderr
    table = rows(r.stdout)
    assert table[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(table) == 3
    assert all(
        t[0] == "kube-system" and t[1].startswith("cilium-") and t[2:4] == ["1/1", "Running"]
        for t in table[1:]
    )


def test_get_ciliumnodes_by_name_and_short_name(sim):
    long = kubectl(sim, "get", "ciliumnodes")
    short = kubectl(sim, "get", "cn")
    assert long.returncode == 0 and short.returncode == 0, long.stderr + short.stderr
    table = rows(short.stdout)
    assert table[0][:3] == ["NAME", "CILIUMINTERNALIP", "INTERNALIP"]
    assert [t[:3] for t in table[1:]] == [
        ["k3s-node1", "10.42.0.183", "192.168.1.21"],
        ["k3s-node2", "10.42.1.183", "192.168.1.22"],
    ]
    assert rows(long.stdout)[1:] and [t[0] for t in rows(long.stdout)] == [t[0] for t in table]
    j = kubectl(sim, "get", "cn", NODE, "-o", "jsonpath={.spec.ipam.podCIDRs[0]}")
    assert (j.returncode, j.stdout) == (0, "10.42.0.0/24")


def test_json_output_with_field_selector(sim):
    r = kubectl(
        sim,
        "get",
        "pods",
        "-n",
        "kube-system",
        "-l",
        "k8s-app=cilium",
        "--field-selector",
        f"spec.nodeName={NODE}",
        "-o",
        "name",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"pod/{cilium_pods(sim, NODE)[0]['metadata']['name']}"


def test_delete_cilium_pod_and_it_comes_back(sim):
    old = cilium_pods(sim, NODE)[0]["metadata"]["name"]
    r = kubectl(sim, "delete", "pod", "-n", "kube-system", old)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f'pod "{old}" deleted'
    new = wait_for(
        lambda: [p for p in cilium_pods(sim, NODE) if p["metadata"]["name"] != old and is_ready(p)],
        timeout=3,
    )
    assert len(new) == 1
    assert sim.mutations == 1


def test_rollout_restart_recreates_the_agents(sim):
    before = {p["metadata"]["name"] for p in cilium_pods(sim)}
    r = kubectl(sim, "rollout", "restart", "ds/cilium", "-n", "kube-system")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "daemonset.apps/cilium restarted"
    ds = sim.store.get("apps/v1/DaemonSet", "kube-system", "cilium")
    assert "kubectl.kubernetes.io/restartedAt" in ds["spec"]["template"]["metadata"]["annotations"]

    def replaced():
        pods = cilium_pods(sim)
        fresh = {p["metadata"]["name"] for p in pods} - before
        return len(pods) == 2 and len(fresh) == 2 and all(is_ready(p) for p in pods)

    wait_for(replaced, timeout=3)
    status = kubectl(sim, "rollout", "status", "ds/cilium", "-n", "kube-system", "--timeout=5s")
    assert status.returncode == 0 and "successfully rolled out" in status.stdout


def test_unknown_resource_and_missing_object_fail_cleanly(sim):
    r = kubectl(sim, "get", "ipaddresspools", "-A")  # MetalLB not installed
    assert r.returncode != 0 and "the server doesn't have a resource type" in r.stderr
    r = kubectl(sim, "get", "pod", "-n", "kube-system", "nope")
    assert r.returncode != 0 and 'pods "nope" not found' in r.stderr


def test_logs_and_describe_of_a_crashlooping_agent(tmp_path):
    from ciliumtui.sim.scenario import load_scenario

    with SimCluster(
        load_scenario({"cluster": {"cilium": {"agent": "crashloop"}}}), tmpdir=tmp_path
    ) as sim:
        pod = cilium_pods(sim, NODE)[0]["metadata"]["name"]
        logs = kubectl(sim, "logs", "-n", "kube-system", pod)
        assert logs.returncode == 0, logs.stderr
        assert "Cilium 1.18.4" in logs.stdout and "level=fatal" in logs.stdout.splitlines()[-1]
        described = kubectl(sim, "describe", "pod", "-n", "kube-system", pod)
        assert described.returncode == 0, described.stderr
        assert (
            "CrashLoopBackOff" in described.stdout
            and "Controlled By:  DaemonSet/cilium" in described.stdout
        )
        healthy = cilium_pods(sim, "k3s-node2")[0]["metadata"]["name"]
        assert "level=fatal" not in kubectl(sim, "logs", "-n", "kube-system", healthy).stdout
