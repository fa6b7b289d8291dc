"""Pod actions against the simulated cluster (no root): who gets restarted, who never does."""

from __future__ import annotations

import pytest

from ciliumtui.engine.loader import load_playbook, resolve_inputs
from ciliumtui.engine.runner import Runner
from ciliumtui.options import Options

EXTRA_PODS = [
    {
        "name": "web-7d9f8-abcde",
        "namespace": "default",
        "owner": "ReplicaSet/web-7d9f8",
        "state": "ContainerCreating",
    },
    {"name": "handmade", "namespace": "default", "owner": "none", "state": "ContainerCreating"},
    {"name": "kube-vip-k3s-node1", "namespace": "kube-system", "mirror": True, "state": "running"},
    {
        "name": "node-exporter-x1",
        "namespace": "monitoring",
        "owner": "DaemonSet/node-exporter",
        "host_network": True,
        "state": "running",
    },
]


@pytest.fixture
def sim(tmp_path, monkeypatch):
    from ciliumtui.sim.scenario import load_scenario
    from ciliumtui.sim.server import SimCluster

    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    sc = load_scenario({"cluster": {"pods": EXTRA_PODS, "restart_delay": 0.2}})
    with SimCluster(sc, tmpdir=tmp_path / "sim") as s:
        yield s


def pod_names(sim) -> set[str]:
    return {p["metadata"]["name"] for p in sim.store.list("v1/Pod", None)}


async def _run(sim, body: str, tmp_path, **kw):
    path = tmp_path / "pb.yaml"
    path.write_text(body)
    pb = load_playbook(str(path))
    opts = Options(kubeconfig=sim.kubeconfig, node="k3s-node1", timeout=3)
    events = []
    result = await Runner(
        pb, opts, resolve_inputs(pb, {}, "k3s-node1"), on_event=events.append, **kw
    ).run()
    return result, events


RESTART = """
id: restart-pods
steps:
  - id: restart
    action: pods.restart-on-node
    risk: high
"""


async def test_restart_on_node_deletes_only_owned_pods_and_lists_the_rest(sim, tmp_path):
    result, events = await _run(sim, RESTART, tmp_path, dry_run=True)
    plan = next(e for e in events if e.kind == "step_planned").plan
    assert "kubectl -n default delete pod web-7d9f8-abcde" in plan
    assert "# would be lost, NOT deleted (no owner): default/handmade" in plan
    assert "# skipped: kube-system/kube-vip-k3s-node1 (mirror pod)" in plan
    assert "# skipped: monitoring/node-exporter-x1 (hostNetwork: unaffected by Cilium)" in plan
    assert any(
        line.startswith("# skipped: kube-system/cilium-") and "(the cilium pod)" in line
        for line in plan
    )
    assert sim.mutations == 0

    result, events = await _run(sim, RESTART, tmp_path, assume_yes=True)
    assert result.status == "ok", result
    names = pod_names(sim)
    assert "handmade" in names and "kube-vip-k3s-node1" in names and "node-exporter-x1" in names
    deletes = [path for verb, path in sim.requests if verb == "DELETE"]
    assert len(deletes) == sim.mutations
    assert [d for d in deletes if "web-7d9f8-abcde" in d]
    assert not [
        d
        for d in deletes
        if "handmade" in d or "cilium-" in d or "kube-vip" in d or "node-exporter" in d
    ]


async def test_restart_playbook_waits_for_the_new_agent_and_is_rate_limited(sim, tmp_path):
    pb = load_playbook("restart")
    opts = Options(kubeconfig=sim.kubeconfig, node="k3s-node1", timeout=3)
    for _ in range(3):
        result = await Runner(pb, opts, resolve_inputs(pb, {}, "k3s-node1"), assume_yes=True).run()
        assert result.status == "ok", result
        assert result.steps == {"restart-agent": "ok", "wait-agent-ready": "ok"}
    events = []
    result = await Runner(
        pb, opts, resolve_inputs(pb, {}, "k3s-node1"), assume_yes=True, on_event=events.append
    ).run()
    assert result.status == "failed" and result.exit_code == 1
    assert "rate limit: at most 3 agent-restart per 30 min on node k3s-node1" in next(
        e.message for e in events if e.kind == "step_finished"
    )
    assert sim.mutations == 3


async def test_unreachable_apiserver_fails_the_step_with_one_line(sim, tmp_path):
    sim.set_fault("500")
    result, events = await _run(sim, RESTART, tmp_path, assume_yes=True)
    assert result.status == "failed"
    msg = next(e.message for e in events if e.kind == "step_finished")
    assert "\n" not in msg and "500" in msg


async def test_ds_rollout_restart_patches_the_pod_template(sim, tmp_path):
    body = "id: roll\nsteps:\n  - id: roll\n    action: ds.rollout-restart\n    risk: high\n"
    result, events = await _run(sim, body, tmp_path, dry_run=True)
    assert next(e for e in events if e.kind == "step_planned").plan == [
        "kubectl -n kube-system rollout restart daemonset cilium"
    ]
    assert sim.mutations == 0
    result, _ = await _run(sim, body, tmp_path, assume_yes=True)
    assert result.status == "ok"
    ds = sim.store.get("apps/v1/DaemonSet", "kube-system", "cilium")
    assert "kubectl.kubernetes.io/restartedAt" in ds["spec"]["template"]["metadata"]["annotations"]
    assert sim.mutations == 1
