"""The recorded node (training without root) and the debrief's scoring.

recorded_node_state(scenario) must show the checks the same node build_node lays
into a namespace: compared here against what collect_node reads from a built one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import pytest
from bpf_helpers import bpf_node_fixture  # noqa: F401 (the bpf_node fixture)

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


# ------------------------------------------------- the wave-2 fixes on a recorded node


def _one_step(tmp_path: Path, action: str, risk: str = "destructive") -> str:
    pb = tmp_path / f"{action}.yaml"
    pb.write_text(f"id: one-{action.replace('.', '-')}\nsteps:\n")
    pb.write_text(pb.read_text() + f"  - {{id: fix, action: {action}, risk: {risk}}}\n")
    return str(pb)


def _plan(events: list) -> list[str]:
    (planned,) = [e for e in events if e.kind == "step_planned" and e.step_id == "fix"]
    return planned.plan


def _bpf_view(node: NodeState) -> tuple[set, set]:
    atts = {(a.hook, a.target, a.program.name, a.via) for a in node.bpf.attachments}
    return atts, {p.path for p in node.bpf.pins}


async def test_bpf_cleanup_on_a_recorded_node_takes_only_ciliums_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bpf-leftovers recorded, with decoys beside Cilium's (a user's tc filter at the
    same pref on eth0, a user's map): the plan is the kernel's commands, and applying
    them to the file leaves exactly the decoys."""
    from ciliumtui.model import BpfAttachment, BpfPin, BpfProgram
    from ciliumtui.node.bpf import tc_detail

    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "node.json"
    recorded.record_node(path, load_scenario("bpf-leftovers"))
    node = recorded.load_node(path)
    decoy = BpfAttachment(
        "tc-ingress", "eth0", BpfProgram(77, "my_filter", "sched_cls"), "tc",
        tc_detail(1, 9, 0, "my_filter"), cilium=False,
    )  # fmt: skip
    node.bpf.attachments.append(decoy)
    node.bpf.pins.append(BpfPin("/sys/fs/bpf/tc/globals/my_map", "map", False))
    recorded.save_node(path, node)
    before = recorded.load_node(path)
    assert recorded.has_debris(path)  # the links and chains are gone: BPF alone counts
    assert not any(lk.cilium for lk in before.links) and not any(
        d.cilium_chains for d in before.netfilter
    )
    backend = recorded.RecordedBackend(str(path), host_root=str(tmp_path / "root"))
    ids = {(a.hook, a.target): a.program.id for a in before.bpf.attachments if a.cilium}

    result, events = await _run(backend, _one_step(tmp_path, "bpf.cleanup"), dry_run=True)
    plan = _plan(events)
    assert plan[0] == (
        "tc filter del dev eth0 ingress pref 1 handle 0x1 bpf"
        f"  # cil_from_netdev (id {ids[('tc-ingress', 'eth0')]})"
    )
    root = tmp_path / "root"
    assert f"rm {root}/sys/fs/bpf/cilium/devices/eth0/links/cil_xdp_entry" in "\n".join(plan)
    assert recorded.SIMULATED in plan[-1] and "my_" not in "\n".join(plan)
    assert recorded.load_node(path) == before  # a dry run changes nothing

    result, _ = await _run(backend, _one_step(tmp_path, "bpf.cleanup"), assume_yes=True)
    assert result.status == "ok", result
    after = recorded.load_node(path)
    assert _bpf_view(after) == (
        {("tc-ingress", "eth0", "my_filter", "tc")},
        {"/sys/fs/bpf/tc/globals/my_map"},
    )
    assert not recorded.has_debris(path)
    saved = (Path(result.backups["fix"]) / "bpf-state.json").read_text()
    assert "cil_sock4_conne" in saved and "cilium_ct4_global" in saved  # what was there
    _, events = await _run(backend, _one_step(tmp_path, "bpf.cleanup"), dry_run=True)
    assert not [e for e in events if e.kind == "step_planned"]  # nothing left to do


@pytest.mark.root
async def test_the_recorded_cleanup_of_real_leftovers_matches_the_kernels(
    bpf_node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same footprint (read from real programs: tc, XDP netlink and link, tcx links
    pinned and held, cgroup programs, maps, decoys beside each) cleaned by the kernel
    and by its recorded twin: the same plan, and the same objects left."""
    from bpf_helpers import lay_leftovers

    from ciliumtui.node.backend import KernelBackend
    from ciliumtui.node.bpf import read_bpf

    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    node = bpf_node()
    lay = lay_leftovers(node.sb)
    kernel = KernelBackend(Options(netns=node.netns, host_root=str(node.host_root)))
    path = tmp_path / "twin.json"
    recorded.save_node(
        path, NodeState(links=await kernel.links(), bpf=read_bpf(node.netns, node.host_root))
    )
    twin = recorded.RecordedBackend(str(path), host_root=str(node.host_root))

    async def clean(backend) -> list[str]:
        from ciliumtui.engine.loader import load_playbook, resolve_inputs
        from ciliumtui.engine.runner import Runner

        events: list = []
        opts = Options(
            node="k3s-node1", netns=backend.netns, host_root=str(node.host_root), backend=backend
        )
        pb = load_playbook(_one_step(tmp_path, "bpf.cleanup"))
        inputs = resolve_inputs(pb, {}, "k3s-node1")
        dry = await Runner(pb, opts, inputs, dry_run=True, on_event=events.append).run()
        assert dry.status == "planned", dry
        done = await Runner(pb, opts, inputs, assume_yes=True).run()
        assert done.status == "ok", done
        return _plan(events)

    kernel_plan = await clean(kernel)
    twin_plan = await clean(twin)
    ns = node.netns
    shown = [x.replace(f" -n {ns}", "").replace(f" in netns {ns}", "") for x in kernel_plan]
    assert twin_plan[:-1] == shown  # the recorded plan ends with its own note
    left = read_bpf(node.netns, node.host_root)
    assert _bpf_view(recorded.load_node(path)) == _bpf_view(NodeState(bpf=left))
    assert {a[:3] for a in _bpf_view(NodeState(bpf=left))[0]} == {d[:3] for d in lay.decoys}


def _recorded_scenario(tmp_path: Path, overrides: dict) -> tuple[Path, Path, dict]:
    from ciliumtui.sim.scenario import deep_merge

    scenario = deep_merge(load_scenario("healthy"), overrides)
    root = tmp_path / "root"
    build_host_root(scenario, root)
    path = tmp_path / "node.json"
    recorded.record_node(path, scenario)
    return path, root, scenario


async def test_rp_filter_fix_on_a_recorded_node_edits_its_sysctls_and_writes_the_dropin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ciliumtui.model import SysctlSetting

    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    hardening = "/usr/lib/sysctl.d/99-zzz-hardening.conf"
    path, root, _ = _recorded_scenario(tmp_path, {})
    (root / hardening.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    (root / hardening.lstrip("/")).write_text("net.ipv4.conf.all.rp_filter = 1\n")
    node = recorded.load_node(path)
    node.host.sysctl_files = [SysctlSetting(hardening, "net.ipv4.conf.all.rp_filter", "1")]
    node.rp_filter = {"all": 1, "default": 1, **{lk.name: 0 for lk in node.links}}
    recorded.save_node(path, node)
    ids = [f.id for f in run_checks(Snapshot("k3s-node1", "now", node=node))]
    assert "rp-filter-strict" in ids
    backend = recorded.RecordedBackend(str(path), host_root=str(root))

    _, events = await _run(backend, _one_step(tmp_path, "sysctl.rp-filter", "high"), dry_run=True)
    plan = _plan(events)
    assert "sysctl -w net.ipv4.conf.all.rp_filter=0" in plan  # no namespace: as on the node
    assert "sysctl -w net.ipv4.conf.eth0.rp_filter=1" in plan  # eth0 keeps its hardening
    assert recorded.SIMULATED in plan[-1]
    result, _ = await _run(
        backend, _one_step(tmp_path, "sysctl.rp-filter", "high"), assume_yes=True
    )
    assert result.status == "ok", result
    after = recorded.load_node(path)
    assert after.rp_filter["all"] == 0 and after.rp_filter["eth0"] == 1
    assert after.rp_filter["cilium_host"] == 0 and after.rp_filter["default"] == 1
    dropin = root / "etc/sysctl.d/99-zzzz-ciliumtui-rp-filter.conf"
    assert "net.ipv4.conf.all.rp_filter = 0" in dropin.read_text()
    # the recorded host facts follow the file written: the drop-in is what boot applies last
    assert after.host.sysctl_files[-1].file == "/etc/sysctl.d/99-zzzz-ciliumtui-rp-filter.conf"
    assert "rp-filter-strict" not in [
        f.id for f in run_checks(Snapshot("k3s-node1", "now", node=after))
    ]
    _, events = await _run(backend, _one_step(tmp_path, "sysctl.rp-filter", "high"), dry_run=True)
    assert not [e for e in events if e.kind == "step_planned"]  # nothing left to do


async def test_cni_set_aside_on_a_recorded_node_moves_files_under_its_host_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    foreign = '{"cniVersion": "0.4.0", "name": "bridge", "type": "bridge"}'
    cni = {"cni_files": [{"name": "00-bridge.conf", "content": foreign}, "05-cilium.conflist"]}
    path, root, _ = _recorded_scenario(tmp_path, {"host": cni})
    node = recorded.load_node(path)
    assert "cni-config-conflict" in [
        f.id for f in run_checks(Snapshot("k3s-node1", "t", node=node))
    ]
    backend = recorded.RecordedBackend(str(path), host_root=str(root))
    result, _ = await _run(backend, _one_step(tmp_path, "cni.set-aside", "high"), assume_yes=True)
    assert result.status == "ok", result
    net_d = root / "etc/cni/net.d"
    assert sorted(p.name for p in net_d.iterdir()) == [
        "00-bridge.conf.cilium_bak",
        "05-cilium.conflist",
    ]
    after = recorded.load_node(path)
    assert {f.name for f in after.host.cni_files} == {
        "00-bridge.conf.cilium_bak",
        "05-cilium.conflist",
    }
    assert "cni-config-conflict" not in [
        f.id for f in run_checks(Snapshot("k3s-node1", "t", node=after))
    ]

    # Host root /: the files would be this machine's own, and are never touched.
    mine = recorded.RecordedBackend(str(path))
    with pytest.raises(recorded.CiliumtuiError, match="this machine's own file"):
        mine.rename_host_file("/etc/cni/net.d/05-cilium.conflist", "/etc/cni/net.d/x")


# ------------------------------------------------------ the node's own resolvers


def _node_dns(opts: Options) -> list[tuple[str, bool, str | None]]:
    from ciliumtui.collect import collect

    snap = asyncio.run(collect(opts))
    assert snap.dns is not None
    return sorted((c.server, c.ok, c.error) for c in snap.dns.checks if c.via == "node")


# scenario -> does the node's own resolver answer (in a namespace as in the file)?
RESOLVERS = {
    "healthy": True,
    "post-reboot": True,  # stale routes, but none over the resolver
    "coredns-loop": True,  # 127.0.0.53's upstream 192.168.1.1 answers
    "default-pod-cidr-overlap": False,  # the pod CIDR swallows 10.0.0.2
    "bpf-leftovers": False,  # dark: cil_from_netdev drops what eth0 receives
}


@pytest.mark.parametrize("scenario_id", sorted(RESOLVERS))
def test_a_recorded_nodes_resolvers_answer_from_the_file_not_this_machine(scenario_id) -> None:
    from ciliumtui.training.env import TrainingEnv

    with TrainingEnv(scenario_id, root=False) as env:
        checks = _node_dns(env.opts)
    assert checks and all(ok == RESOLVERS[scenario_id] for _, ok, _ in checks), checks
    if not RESOLVERS[scenario_id]:
        assert all(err and err.startswith("timeout after") for _, _, err in checks), checks


@pytest.mark.root
@pytest.mark.parametrize("scenario_id", sorted(RESOLVERS))
def test_the_resolvers_of_a_recorded_node_and_its_built_twin_agree(scenario_id) -> None:
    from ciliumtui.training.env import TrainingEnv

    outcomes = []
    for root in (True, False):
        with TrainingEnv(scenario_id, root=root) as env:
            checks = _node_dns(env.opts)
        outcomes.append([(server, ok) for server, ok, _ in checks])
    assert outcomes[0] == outcomes[1]
    assert all(ok == RESOLVERS[scenario_id] for _, ok in outcomes[0])


def test_bpf_leftovers_on_a_recorded_node_need_the_cleanup_not_a_restart() -> None:
    """The dark node, recorded: an agent restart over Cilium's programs does not count;
    bpf.cleanup (in cleanup-node) gives the resolver back, and then a restart fixes it."""
    import json
    import subprocess
    import time

    from ciliumtui.engine.loader import load_playbook, resolve_inputs
    from ciliumtui.engine.runner import Runner
    from ciliumtui.training.env import TrainingEnv

    def restart_agent(env: TrainingEnv) -> None:
        subprocess.run(
            ["kubectl", "--kubeconfig", env.kubeconfig, "-n", "kube-system", "delete", "pod",
             "-l", "k8s-app=cilium", "--field-selector", f"spec.nodeName={env.node_name}",
             "--wait=false"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip

    def wait(what: str, cond) -> None:
        deadline = time.monotonic() + 20
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.2)

    with TrainingEnv("bpf-leftovers", root=False) as env:
        assert env.mode == "recorded" and env.restart_blocked() and env.bpf_debris()
        restart_agent(env)
        wait("the rejected restart", lambda: env.sim is not None and env.sim.rejected_restarts)
        assert not env.fixed
        pb = load_playbook("cleanup-node")
        result = asyncio.run(
            Runner(pb, env.opts, resolve_inputs(pb, {}, env.node_name), assume_yes=True).run()
        )
        assert result.status == "ok", result.message
        assert env.bpf_debris() == [] and not env.has_debris()
        assert all(ok for _, ok, _ in _node_dns(env.opts))  # the node is no longer dark
        restart_agent(env)
        wait("the fix", lambda: env.fixed and "recorded node relaid" in " ".join(env.fixed_events))
        node = json.loads(Path(env.opts.backend.path).read_text())
        names = {(a["target"], a["program"]["name"]) for a in node["bpf"]["attachments"]}
        assert ("eth0", "cil_from_netdev") in names  # the live agent's own programs
        assert all(ok for _, ok, _ in _node_dns(env.opts))  # and they do not drop
