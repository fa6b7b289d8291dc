"""The recorded node (training without root) and the debrief's scoring.

recorded_node_state(scenario) must show the checks the same node build_node lays
into a namespace: compared here against what collect_node reads from a built one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ciliumtui.checks import run_checks
from ciliumtui.model import NodeState, Snapshot
from ciliumtui.node import collect_node
from ciliumtui.options import Options
from ciliumtui.sim.host_root import build_host_root
from ciliumtui.sim.node_builder import build_node
from ciliumtui.sim.scenario import load_scenario
from ciliumtui.training import recorded
from ciliumtui.training.score import score


def _links(node: NodeState) -> set[tuple]:
    return {
        (lk.name, lk.kind, lk.cilium, tuple(sorted(a for a in lk.addresses if ":" not in a)))
        for lk in node.links
    }


def _routes(node: NodeState) -> set[tuple]:
    return {
        (r.dst, r.table, r.dev, r.gateway, r.cilium)
        for r in node.routes
        if r.family == 4 and r.table in ("main", "2004")
    }


def _netfilter(node: NodeState) -> dict[tuple, tuple]:
    return {
        (d.backend, d.family): (sorted(d.cilium_chains), d.cilium_rule_count, d.rule_count)
        for d in node.netfilter
    }


@pytest.mark.root
@pytest.mark.parametrize("scenario_id", ["post-reboot", "default-pod-cidr-overlap"])
def test_recorded_state_matches_a_built_node(make_netns, tmp_path: Path, scenario_id: str) -> None:
    scenario = load_scenario(scenario_id)
    ns = make_netns("tr")
    build_node(scenario, ns)
    build_host_root(scenario, tmp_path)
    probes: dict = {}
    live = asyncio.run(
        collect_node(Options(netns=ns, host_root=str(tmp_path)).node_backend, probes)
    )
    rec = recorded.recorded_node_state(scenario)
    assert _links(rec) == _links(live)
    assert _routes(rec) == _routes(live)
    assert {(r.priority, r.family, r.fwmark, r.table) for r in rec.rules} == {
        (r.priority, r.family, r.fwmark, r.table) for r in live.rules
    }
    assert _netfilter(rec) == _netfilter(live)
    assert rec.kube_backend == live.kube_backend
    assert rec.host.k3s is not None and live.host.k3s is not None
    live.host.k3s.unit_file = "/" + str(Path(live.host.k3s.unit_file).relative_to(tmp_path))
    live.host.k3s.kubeconfig = "/etc/rancher/k3s/k3s.yaml"
    assert rec.host == live.host
    # what matters most: the checks see the same node
    ids = [
        sorted(f.id for f in run_checks(Snapshot("k3s-node1", "now", node=n))) for n in (rec, live)
    ]
    assert ids[0] == ids[1]
    assert "stale-cilium-interfaces" in ids[0] or scenario_id != "post-reboot"


def test_recorded_node_through_its_backend(tmp_path: Path) -> None:
    """collect_node reads the file (no kernel), the probes are reported ok."""
    path = tmp_path / "node.json"
    recorded.save_node(path, recorded.recorded_node_state(load_scenario("post-reboot")))
    backend = recorded.RecordedBackend(str(path))
    probes: dict = {}
    node = asyncio.run(collect_node(backend, probes))
    assert probes["links"].ok and probes["netfilter"].ok
    assert any(lk.name == "cilium_vxlan" for lk in node.links)
    assert not node.agent.alive

    path.write_text("{not json")
    probes = {}
    node = asyncio.run(collect_node(backend, probes))
    assert not probes["links"].ok and "not JSON" in probes["links"].error
    assert node.links == []


async def _run(backend: recorded.RecordedBackend, playbook: str, **kw) -> tuple:
    from ciliumtui.engine.loader import load_playbook, resolve_inputs
    from ciliumtui.engine.runner import Runner

    pb = load_playbook(playbook)
    events: list = []
    runner = Runner(
        pb,
        Options(node="k3s-node1", backend=backend),
        resolve_inputs(pb, {}, "k3s-node1"),
        on_event=events.append,
        **kw,
    )
    return await runner.run(), events


async def test_the_real_engine_cleans_only_ciliums_state_on_the_recorded_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cleanup-node through the real engine (no root, no kernel): the plans are the
    kernel's commands, and the backend applies exactly them to the file."""
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "node.json"
    recorded.save_node(path, recorded.recorded_node_state(load_scenario("post-reboot")))
    backend = recorded.RecordedBackend(str(path), host_root=str(tmp_path / "root"))
    result, events = await _run(backend, "cleanup-node", dry_run=True)
    assert result.status == "planned"
    plans = {e.step_id: e.plan for e in events if e.kind == "step_planned"}
    assert plans["delete-links"][0].startswith("ip -force -batch - <<'EOF'\nlink set cilium_")
    assert plans["purge-iptables"][1].startswith("iptables-nft-restore --noflush -w <<'EOF'\n*")
    assert all(recorded.SIMULATED in p[-1] for p in plans.values())
    assert recorded.has_debris(path)  # a dry run changes nothing

    result, events = await _run(backend, "cleanup-node", assume_yes=True)
    assert result.status == "ok", result
    node = recorded.load_node(path)
    names = {lk.name for lk in node.links}
    assert not any(lk.cilium for lk in node.links)
    assert {"lxcbr0", "docker0", "eth0", "health-ep"} & names == {"lxcbr0", "docker0", "eth0"}
    assert not any(d.cilium_chains for d in node.netfilter)
    chains = {c.name for d in node.netfilter for t in d.tables for c in t.chains}
    assert "USER-INPUT" in chains and any(c.startswith("KUBE-") for c in chains)
    assert not any(r.table == "2004" for r in node.routes)
    assert not any(r.cilium for r in node.rules)
    assert not recorded.has_debris(path)

    # Nothing left: every step has nothing to do (an empty plan: skipped, nothing planned).
    result, events = await _run(backend, "cleanup-node", dry_run=True)
    assert [e.plan for e in events if e.kind == "step_planned"] == []
    done = [e for e in events if e.kind == "step_finished"]
    assert done and all((e.data or {}).get("nothing_to_do") for e in done), done


async def test_recorded_backups_restore_what_cleanup_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "node.json"
    recorded.save_node(path, recorded.recorded_node_state(load_scenario("post-reboot")))
    before = recorded.load_node(path)
    backend = recorded.RecordedBackend(str(path))
    result, _ = await _run(backend, "cleanup-node", assume_yes=True)
    assert result.status == "ok", result
    pb = tmp_path / "restore.yaml"
    pb.write_text(
        "id: restore-all\nsteps:\n"
        "  - {id: ipt, action: netfilter.restore, risk: high, "
        f"params: {{dir: {result.backups['purge-iptables']}}}}}\n"
        "  - {id: ip, action: iproute.restore, risk: high, "
        f"params: {{dir: {result.backups['cleanup-ip-rules']}}}}}\n"
    )
    result, _ = await _run(backend, str(pb), assume_yes=True)
    assert result.status == "ok", result
    after = recorded.load_node(path)
    assert _netfilter(after) == _netfilter(before)
    assert {(r.priority, r.fwmark, r.table) for r in after.rules} == {
        (r.priority, r.fwmark, r.table) for r in before.rules
    }
    assert {(r.dst, r.table) for r in after.routes if r.table == "2004"} == {
        (r.dst, r.table) for r in before.routes if r.table == "2004"
    }


# ------------------------------------------------------------------ scoring

T0 = 1_800_000_000.0


def rec(kind: str, run: str, t: float, **kw) -> dict:
    ts = datetime.fromtimestamp(T0 + t, timezone.utc).isoformat(timespec="milliseconds")
    return {"kind": kind, "run_id": run, "ts": ts, **kw}


def run_records(run: str, playbook: str, t: float, steps: list[tuple], status: str, findings=None):
    out = [rec("run_started", run, t, data={"playbook": playbook})]
    for i, (sid, risk) in enumerate(steps):
        out.append(rec("step_started", run, t + i + 0.5, step_id=sid, mutates=True, risk=risk))
    if findings is not None:
        out.append(
            rec(
                "step_finished",
                run,
                t + len(steps) + 0.7,
                data={"findings": [{"id": f} for f in findings]},
            )
        )
    out.append(rec("run_finished", run, t + len(steps) + 1, status=status))
    return out


SCEN = load_scenario("post-reboot")


def test_score_expert_path() -> None:
    records = (
        run_records("a", "diagnose", 10, [], "ok", ["stale-cilium-interfaces"])
        + run_records("b", "cleanup", 40, [("delete-links", "high"), ("purge-iptables", "destructive")], "ok")
        + run_records("c", "verify", 90, [], "ok", [])
    )  # fmt: skip
    d = score(SCEN, records, started=T0, ended=T0 + 100, hints_used=1,
              opened=[("dns-external-names-fail", T0 + 20), ("stale-cilium-iptables", T0 + 30)])  # fmt: skip
    assert d.solved and not d.gave_up
    assert d.time_to_root_cause == 30 and d.root_cause_via == "finding stale-cilium-iptables"
    assert d.risky_steps == ["cleanup/delete-links (high)", "cleanup/purge-iptables (destructive)"]
    assert d.hints_used == 1 and d.hints_total == 3
    assert d.playbooks_run == ["diagnose: ok", "cleanup: ok", "verify: ok"]
    assert "Solved: yes" in d.lines()


def test_score_off_path_mutation_is_risky_and_unsolved_without_verify() -> None:
    records = run_records("a", "k3s-stop-hook", 5, [("install-hook", "low")], "ok") + run_records(
        "b", "verify", 20, [], "failed", ["stale-cilium-interfaces"]
    )
    d = score(SCEN, records, started=T0, ended=T0 + 60, gave_up=True)
    assert not d.solved and d.gave_up
    assert d.risky_steps == ["k3s-stop-hook/install-hook (low)"]  # outside the expert path
    assert d.time_to_root_cause is None
    assert d.remaining == ["stale-cilium-interfaces"]


def test_score_verify_ok_with_root_cause_left_is_not_solved() -> None:
    """metallb/k3s: verify fails on critical only; the root cause must be gone too."""
    scen = load_scenario("metallb-overlap")
    records = run_records("a", "verify", 5, [], "ok", ["lb-pool-overlaps-pod-cidr"])
    d = score(scen, records, started=T0, ended=T0 + 10)
    assert not d.solved and d.remaining == ["lb-pool-overlaps-pod-cidr"]


def test_score_ignores_runs_before_the_session_and_dry_runs() -> None:
    old = run_records("old", "cleanup", -500, [("delete-links", "high")], "ok")
    dry = run_records("dry", "cleanup", 5, [], "planned")
    d = score(SCEN, old + dry, started=T0, ended=T0 + 10)
    assert d.risky_steps == [] and d.playbooks_run == []
