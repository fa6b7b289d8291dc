"""The remedies' actions on their own, against the simulated cluster (the real
kubernetes client and kubectl talk to it) and a host root in a temp dir: the plan
is the exact kubectl/shell line, nothing to do is an empty plan, the backup is the
object as it was, and object.restore puts it back."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from sim_helpers import kubectl

from ciliumtui.engine.loader import load_playbook, resolve_inputs
from ciliumtui.engine.runner import Runner
from ciliumtui.options import Options
from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))


def _sim(tmp_path: Path, overrides: dict | str) -> SimCluster:
    return SimCluster(load_scenario(overrides), tmpdir=tmp_path / "sim")


async def run_steps(
    sim: SimCluster, tmp_path: Path, body: str, host_root: str = "/", **kw
) -> tuple[object, list]:
    path = tmp_path / "pb.yaml"
    path.write_text(body)
    pb = load_playbook(str(path))
    opts = Options(kubeconfig=sim.kubeconfig, node="k3s-node1", timeout=3, host_root=host_root)
    events: list = []
    result = await Runner(
        pb, opts, resolve_inputs(pb, {}, "k3s-node1"), on_event=events.append, **kw
    ).run()
    return result, events


def planned(events: list) -> list[str]:
    return next(e for e in events if e.kind in ("step_planned", "step_started") and e.plan).plan


def finished(events: list) -> dict[str, object]:
    return {e.step_id: e for e in events if e.kind == "step_finished"}


def cm_data(sim: SimCluster, name: str = "cilium-config") -> dict:
    return dict(sim.store.get("v1/ConfigMap", "kube-system", name)["data"])


PATCH_POOL = """
id: patch-pool
steps:
  - id: patch
    action: configmap.patch
    params: {name: cilium-config, data: {cluster-pool-ipv4-cidr: 172.16.0.0/16, extra-key: "x"}}
    risk: high
  - id: undo
    action: object.restore
    when: "false"
    params: {backup_of: patch}
"""


async def test_configmap_patch_shows_the_kubectl_line_backs_up_and_restores(tmp_path):
    with _sim(tmp_path, "default-pod-cidr-overlap") as sim:
        before = cm_data(sim)
        result, events = await run_steps(sim, tmp_path, PATCH_POOL, dry_run=True)
        plan = planned(events)
        line = plan[-1]
        assert line == (
            "kubectl -n kube-system patch configmap cilium-config --type merge -p "
            """'{"data":{"cluster-pool-ipv4-cidr":"172.16.0.0/16","extra-key":"x"}}'"""
        )
        assert "# cluster-pool-ipv4-cidr: '10.0.0.0/8' -> '172.16.0.0/16'" in plan
        assert sim.mutations == 0

        result, events = await run_steps(sim, tmp_path, PATCH_POOL, assume_yes=True)
        assert result.status == "ok", result
        assert cm_data(sim)["cluster-pool-ipv4-cidr"] == "172.16.0.0/16"
        backup = Path(result.backups["patch"]) / "ConfigMap_kube-system_cilium-config.json"
        saved = json.loads(backup.read_text())
        assert saved["object"]["data"] == before

        # the same change again: nothing to do (no confirmation, no change)
        mutations = sim.mutations
        result, events = await run_steps(sim, tmp_path, PATCH_POOL)  # no --yes, no TTY
        assert result.status == "ok" and result.steps["patch"] == "skipped"
        assert sim.mutations == mutations

        # object.restore from that backup: the data as it was, the added key gone too
        restore = (
            "id: restore\nsteps:\n  - id: undo\n    action: object.restore\n"
            f"    params: {{dir: {str(backup.parent)!r}}}\n    risk: high\n"
        )
        result, events = await run_steps(sim, tmp_path, restore, assume_yes=True)
        assert result.status == "ok", result
        assert planned(events)[0].startswith(
            "kubectl -n kube-system patch configmap cilium-config --type json -p "
        )
        assert cm_data(sim) == before


MOVE = """
id: move
steps:
  - id: move
    action: lbpool.move
    params: {avoid: [192.168.1.0/24, 10.43.0.0/16, 10.0.0.0/24]}
    risk: high
"""


async def test_lb_pool_move_picks_a_free_range_of_the_same_size_and_restores(tmp_path):
    with _sim(tmp_path, "metallb-overlap") as sim:
        pool = ("metallb.io/v1beta1/IPAddressPool", "metallb-system", "default-pool")
        before = sim.store.get(*pool)["spec"]
        result, events = await run_steps(sim, tmp_path, MOVE, dry_run=True)
        plan = planned(events)
        # 10.0.0.0/24 is in use (avoid): the next free /24 of 10/8
        assert plan[-1] == (
            "kubectl -n metallb-system patch ipaddresspool default-pool --type merge -p "
            """'{"spec":{"addresses":["10.0.1.0/24"]}}'"""
        )
        assert any("10.42.200.0/24 overlaps the pod pool 10.42.0.0/16" in x for x in plan)
        # the line is a command kubectl runs as shown, and does what the action does
        done = kubectl(sim, *shlex.split(plan[-1])[1:])
        assert done.returncode == 0, done.stderr
        assert sim.store.get(*pool)["spec"]["addresses"] == ["10.0.1.0/24"]
        back = json.dumps({"spec": {"addresses": before["addresses"]}})
        done = kubectl(
            sim, "-n", pool[1], "patch", "ipaddresspool", pool[2], "--type", "merge", "-p", back
        )
        assert done.returncode == 0, done.stderr

        result, _ = await run_steps(sim, tmp_path, MOVE, assume_yes=True)
        assert result.status == "ok", result
        assert sim.store.get(*pool)["spec"]["addresses"] == ["10.0.1.0/24"]
        backup = Path(result.backups["move"])
        restore = (
            "id: restore\nsteps:\n  - id: undo\n    action: object.restore\n"
            f"    params: {{dir: {str(backup)!r}}}\n    risk: high\n"
        )
        result, _ = await run_steps(sim, tmp_path, restore, assume_yes=True)
        assert result.status == "ok", result
        assert sim.store.get(*pool)["spec"] == before


async def test_lb_pool_move_cilium_pool_blocks_and_the_operators_range(tmp_path):
    sc = {
        "cluster": {
            "lb_pools": [
                {"kind": "CiliumLoadBalancerIPPool", "name": "lb", "cidrs": ["10.42.250.0/28"]},
                {"kind": "CiliumLoadBalancerIPPool", "name": "ok", "cidrs": ["192.168.1.224/28"]},
            ]
        }
    }
    with _sim(tmp_path, sc) as sim:
        body = MOVE.replace("{avoid: [192.168.1.0/24, 10.43.0.0/16, 10.0.0.0/24]}", "{}")
        _, events = await run_steps(sim, tmp_path, body, dry_run=True)
        plan = planned(events)
        # only the pool inside the pod pool moves; a /28 stays a /28
        assert [x for x in plan if not x.startswith("#")] == [
            "kubectl patch ciliumloadbalancerippool lb --type merge -p "
            """'{"spec":{"blocks":[{"cidr":"10.0.0.0/28"}]}}'"""
        ]
        # the operator's range in the node LAN is fine (MetalLB/LB-IPAM L2); one in the
        # pod pool or on another LB pool is refused
        lan = body.replace("{}", "{name: lb, to: 192.168.1.240/28}")
        result, _ = await run_steps(sim, tmp_path, lan, assume_yes=True)
        assert result.status == "ok", result
        got = sim.store.get("cilium.io/v2alpha1/CiliumLoadBalancerIPPool", None, "lb")
        assert got["spec"]["blocks"] == [{"cidr": "192.168.1.240/28"}]
        for bad, why in (
            ("10.42.7.0/28", "10.42.0.0/16"),
            ("192.168.1.224/29", "192.168.1.224/28"),
        ):
            clash = body.replace("{}", f"{{name: lb, to: {bad}}}")
            result, events = await run_steps(sim, tmp_path, clash, dry_run=True)
            msg = finished(events)["move"].message
            assert result.status == "unplanned" and f"overlaps {why}" in msg, msg


COREFILE = """.:53 {
    errors
    health
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
}
"""


def _coredns_cm(sim: SimCluster, tmp_path: Path) -> None:
    """The k3s Corefile in the coredns ConfigMap (created unless the sim serves one)."""
    if sim.store.get("v1/ConfigMap", "kube-system", "coredns") is None:
        manifest = tmp_path / "coredns-cm.json"
        manifest.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "coredns", "namespace": "kube-system"},
                    "data": {"Corefile": COREFILE},
                }
            )
        )
        done = kubectl(sim, "create", "-f", str(manifest))
        assert done.returncode == 0, done.stderr
    else:
        done = kubectl(
            sim, "-n", "kube-system", "patch", "configmap", "coredns", "--type", "merge",
            "-p", json.dumps({"data": {"Corefile": COREFILE}}),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr


def _stub_host(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc/resolv.conf").write_text("nameserver 127.0.0.53\noptions edns0\n")
    (root / "run/systemd/resolve").mkdir(parents=True)
    (root / "run/systemd/resolve/resolv.conf").write_text(
        "nameserver 192.168.1.1\nnameserver 1.1.1.1\n"
    )


FORWARD = """
id: forward
steps:
  - id: fix
    action: coredns.forward
    risk: high
"""


async def test_coredns_forward_replaces_the_stub_with_the_real_upstreams(tmp_path):
    root = tmp_path / "host"
    _stub_host(root)
    with _sim(tmp_path, "healthy") as sim:
        _coredns_cm(sim, tmp_path)
        result, events = await run_steps(sim, tmp_path, FORWARD, str(root), dry_run=True)
        plan = planned(events)
        # the diff first, then the patch
        assert "# -    forward . /etc/resolv.conf {" in plan
        assert "# +    forward . 192.168.1.1 1.1.1.1 {" in plan
        assert any("from the node's /run/systemd/resolve/resolv.conf" in x for x in plan)
        patch = next(x for x in plan if x.startswith("kubectl"))
        body = json.loads(shlex.split(patch)[-1])
        new = body["data"]["Corefile"]
        assert "forward . 192.168.1.1 1.1.1.1 {\n       max_concurrent 1000\n    }" in new
        assert new.replace("192.168.1.1 1.1.1.1", "/etc/resolv.conf") == COREFILE

        result, events = await run_steps(sim, tmp_path, FORWARD, str(root), assume_yes=True)
        assert result.status == "ok", result
        assert cm_data(sim, "coredns")["Corefile"] == new
        saved = Path(result.backups["fix"]) / "ConfigMap_kube-system_coredns.json"
        assert json.loads(saved.read_text())["object"]["data"]["Corefile"] == COREFILE
        # fixed: nothing loops any more, nothing to do
        result, _ = await run_steps(sim, tmp_path, FORWARD, str(root))
        assert result.steps["fix"] == "skipped"


async def test_coredns_forward_without_any_real_upstream_says_what_to_give(tmp_path):
    root = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    (root / "etc/resolv.conf").write_text("nameserver 127.0.0.53\n")
    with _sim(tmp_path, "healthy") as sim:
        _coredns_cm(sim, tmp_path)
        result, events = await run_steps(sim, tmp_path, FORWARD, str(root), dry_run=True)
        msg = finished(events)["fix"].message
        assert result.status == "unplanned"
        assert "--input upstreams=" in msg and "\n" not in msg


K3S_CONFIG = """
id: k3s-config
steps:
  - id: write
    action: k3s.config
    params:
      file: 99-ciliumtui-cilium.yaml
      settings: {flannel-backend: none, disable-network-policy: true}
    risk: high
"""


def _k3s_host(root: Path, unit: str, exec_start: str) -> None:
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / f"etc/systemd/system/{unit}").write_text(f"[Service]\nExecStart={exec_start}\n")
    (root / "etc/rancher/k3s").mkdir(parents=True)
    (root / "etc/rancher/k3s/config.yaml").write_text("write-kubeconfig-mode: '0644'\n")


async def test_k3s_config_writes_a_drop_in_on_a_server_and_nothing_on_an_agent(tmp_path):
    from ciliumtui.node.host import read_k3s

    server = tmp_path / "server"
    _k3s_host(server, "k3s.service", "/usr/local/bin/k3s server")
    with _sim(tmp_path, "healthy") as sim:
        result, events = await run_steps(sim, tmp_path, K3S_CONFIG, str(server), dry_run=True)
        (write,) = [x for x in planned(events) if not x.startswith("#")]
        path = server / "etc/rancher/k3s/config.yaml.d/99-ciliumtui-cilium.yaml"
        assert write.startswith(f"mkdir -p {server}/etc/rancher/k3s/config.yaml.d && cat > {path}")
        assert "\nflannel-backend: none\ndisable-network-policy: true\nEOF" in write
        result, _ = await run_steps(sim, tmp_path, K3S_CONFIG, str(server), assume_yes=True)
        assert result.status == "ok", result
        k3s = read_k3s(Options(host_root=str(server)))
        assert k3s is not None and k3s.flannel_backend == "none"
        assert k3s.flannel_backend_source == "config.yaml.d/99-ciliumtui-cilium.yaml"
        assert list(Path(result.backups["write"]).glob("*.absent"))  # undo: remove it
        again, _ = await run_steps(sim, tmp_path, K3S_CONFIG, str(server))
        assert again.steps["write"] == "skipped"  # already says so: nothing to do

        agent = tmp_path / "agent"
        _k3s_host(agent, "k3s-agent.service", "/usr/local/bin/k3s agent")
        result, events = await run_steps(sim, tmp_path, K3S_CONFIG, str(agent))
        assert result.steps["write"] == "skipped"
        out = [e.message for e in events if e.kind == "step_output"]
        assert any("belong to the server" in (m or "") for m in out), out
        assert not (agent / "etc/rancher/k3s/config.yaml.d").exists()


def test_pool_plan_moves_a_family_only_when_it_is_in_the_way():
    from ciliumtui.cidr import net
    from ciliumtui.engine.actions.pools import choose

    dual = [net("10.0.0.0/8"), net("fd00::/104")]
    hit = [{"pool": "10.0.0.0/8", "kind": "node-network", "with": "10.0.0.0/22",
            "evidence": "eth0 10.0.3.7/22 lies inside pool 10.0.0.0/8"}]  # fmt: skip
    new, lines = choose(4, dual, hit, None, "172.16.0.0/16")
    assert new == "172.16.0.0/16"
    assert lines == [
        "IPv4 pool 10.0.0.0/8: eth0 10.0.3.7/22 lies inside pool 10.0.0.0/8",
        "new IPv4 pool: 172.16.0.0/16 (the suggested free range)",
    ]
    # the IPv6 pool overlaps nothing: it stays, whatever the planner proposes
    assert choose(6, dual, [], None, "fd7a::/104") == (
        None,
        ["IPv6 pool fd00::/104 overlaps nothing in use: kept"],
    )
    assert choose(6, [net("10.42.0.0/16")], [], None, "fd7a::/104") == (None, [])  # no v6 pool
    assert choose(4, dual, [], "172.30.0.0/16", None)[0] == "172.30.0.0/16"  # the operator's
    with pytest.raises(Exception, match="--input pool=CIDR"):
        choose(4, dual, hit, None, None)
    # the pool given is the one configured: nothing moves
    assert choose(4, dual, [], "10.0.0.0/8", None)[0] is None


async def test_coredns_forward_on_k3s_follows_the_resolv_conf_the_kubelet_hands_coredns(tmp_path):
    """k3s takes /run/systemd/resolve/resolv.conf itself when /etc/resolv.conf names
    only the stub: no loop, nothing to change. A `resolv-conf: /etc/resolv.conf` in
    its config (a hardening template) brings the loop back: then it is fixed."""
    root = tmp_path / "host"
    _stub_host(root)
    _k3s_host(root, "k3s.service", "/usr/local/bin/k3s server")
    with _sim(tmp_path, "healthy") as sim:
        _coredns_cm(sim, tmp_path)
        result, events = await run_steps(sim, tmp_path, FORWARD, str(root), dry_run=True)
        assert result.steps["fix"] == "skipped", planned(events) if events else None
        (root / "etc/rancher/k3s/config.yaml").write_text("resolv-conf: /etc/resolv.conf\n")
        result, events = await run_steps(sim, tmp_path, FORWARD, str(root), dry_run=True)
        assert result.steps["fix"] == "planned"
        assert "# +    forward . 192.168.1.1 1.1.1.1 {" in planned(events)


async def test_lb_pool_move_is_all_or_nothing(tmp_path, monkeypatch):
    """Two pools to move, the second PATCH refused: the first goes back. (The refusal
    is injected for that one object: the sim's faults refuse every request alike.)"""
    from ciliumtui.engine.actions import kubeobj
    from ciliumtui.errors import CiliumtuiError

    sc = {
        "cluster": {
            "lb_pools": [
                {"kind": "IPAddressPool", "name": "a", "cidrs": ["10.42.200.0/24"]},
                {"kind": "IPAddressPool", "name": "b", "cidrs": ["10.42.201.0/24"]},
            ]
        }
    }
    real = kubeobj.patch

    async def refuse_b(ctx, ref, body, patch_type="merge"):
        if ref.name == "b" and patch_type == "merge":
            raise CiliumtuiError("apiserver refused patch ipaddresspool b (422)")
        return await real(ctx, ref, body, patch_type)

    monkeypatch.setattr(kubeobj, "patch", refuse_b)
    with _sim(tmp_path, sc) as sim:
        body = MOVE.replace("{avoid: [192.168.1.0/24, 10.43.0.0/16, 10.0.0.0/24]}", "{}")
        result, events = await run_steps(sim, tmp_path, body, assume_yes=True)
        assert result.status == "failed"
        msg = finished(events)["move"].message
        assert (
            "ipaddresspool metallb-system/b" in msg
            and "put back: ipaddresspool metallb-system/a" in msg
        )
        for name, cidr in (("a", "10.42.200.0/24"), ("b", "10.42.201.0/24")):
            got = sim.store.get("metallb.io/v1beta1/IPAddressPool", "metallb-system", name)
            assert got["spec"]["addresses"] == [cidr]
