"""The `cleanup` playbook end to end as an operator runs it: the post-reboot scenario's
node in a network namespace, the simulated cluster, `ciliumtui run` as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cilium_node as cn
import pytest
from sim_helpers import node_world

from ciliumtui.ownership import is_cilium_link

pytestmark = pytest.mark.root
COMBOS = [(b, f) for b in ("legacy", "nft") for f in (4, 6)]


@contextmanager
def world(name: str, tmp: Path) -> Iterator[dict]:
    """The scenario's world (sim_helpers.node_world); the agent API takes the fixed
    scenario's mode when the simulator applies on_fix."""
    with node_world(name, tmp, prefix="pb") as w:
        agent = w.agent
        w.sim.on_fix_hooks.append(
            lambda s: setattr(agent, "mode", str(s.get("agent_api", "healthy")))
        )
        yield {"sim": w.sim, "netns": w.netns, "argv": w.flags(), "state": tmp / "state"}


def run(w: dict, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CILIUMTUI_STATE_DIR": str(w["state"])}
    return subprocess.run(
        [sys.executable, "-m", "ciliumtui", "run", *args, *w["argv"]],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def node_state(ns: str) -> dict:
    # IPv6 link-local addresses finish DAD a second or two after a link comes up: not ours.
    routes = [
        r for r in cn.routes(ns, "all") if not str(r.get("dst", "")).startswith(("fe80", "ff00"))
    ]
    return {
        "links": sorted(cn.links(ns)),
        "rules": cn.ip_rules(ns),
        "routes": routes,
        "ipt": {k: cn.normalized(cn.save(ns, *k)) for k in COMBOS},
    }


def test_cleanup_playbook_fixes_the_post_reboot_node(tmp_path):
    with world("post-reboot", tmp_path) as w:
        ns, sim = w["netns"], w["sim"]
        before = {k: cn.save(ns, *k) for k in COMBOS}
        links_before = cn.links(ns)
        decoys = {
            n: links_before[n].get("master")
            for n in links_before
            if not is_cilium_link(n)
            and links_before[n].get("link") not in {x for x in links_before if is_cilium_link(x)}
        }
        res = run(w, "cleanup", "--yes", "--json")
        events = [json.loads(x) for x in res.stdout.splitlines()]
        finished = {e["step_id"]: e["status"] for e in events if e["kind"] == "step_finished"}
        assert res.returncode == 0, (
            finished,
            res.stderr,
            [e for e in events if e.get("status") == "failed"],
        )
        assert finished.pop("cni-cleanup") in ("ok", "skipped")  # no CNI backups: nothing to do
        # no BPF programs in this world: nothing to do (ok, or skipped by the runner)
        assert finished.pop("cleanup-bpf", None) in ("ok", "skipped"), finished
        assert finished == {
            "diagnose": "ok",
            "delete-links": "ok",
            "purge-iptables": "ok",
            "cleanup-ip-rules": "ok",
            "restart-cilium-pod": "ok",
            "wait-cilium-ready": "ok",
            "restart-node-pods": "ok",
            "verify": "ok",
        }
        after = cn.links(ns)
        assert not [n for n in after if is_cilium_link(n)]
        for name, master in decoys.items():
            assert name in after, f"decoy {name} deleted"
            assert after[name].get("master") == master
        assert not [r for r in cn.ip_rules(ns) if r.get("table") == "2004"]
        for key in COMBOS:
            assert cn.normalized(cn.save(ns, *key)) == cn.without_cilium(before[key]), key
        assert sim.mutations >= 3  # the cilium pod and both workload pods were deleted
        deleted = [p for verb, p in sim.requests if verb == "DELETE"]
        assert any("cilium-" in p for p in deleted) and any("web-7d9f8-abcde" in p for p in deleted)
        # the journal has the plan of every mutating step, and the backup restores the original
        run_id = events[0]["run_id"]
        backup = w["state"] / "runs" / run_id / "backups" / "purge-iptables"
        for b, f in COMBOS:
            assert cn.normalized(
                (backup / f"iptables-{b}-v{f}.rules").read_text()
            ) == cn.normalized(before[(b, f)])


def test_dry_run_and_read_only_touch_neither_node_nor_cluster(tmp_path):
    with world("post-reboot", tmp_path) as w:
        ns, sim = w["netns"], w["sim"]
        before = node_state(ns)
        res = run(w, "cleanup", "--dry-run")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "dry-run, would run:" in res.stdout
        assert f"$ ip -n {ns} -force -batch - <<'EOF'\nlink set " in res.stdout
        assert "\nlink set cilium_host group " in res.stdout
        assert "kubectl -n kube-system delete pod cilium-" in res.stdout
        assert "kubectl -n default delete pod web-7d9f8-abcde" in res.stdout
        res = run(w, "cleanup", "--read-only", "--yes")
        assert res.returncode == 3, res.stdout + res.stderr
        assert "refused" in res.stdout
        assert sim.mutations == 0
        assert node_state(ns) == before


def _finished(res: subprocess.CompletedProcess) -> dict[str, dict]:
    events = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    return {e["step_id"]: e for e in events if e["kind"] == "step_finished"}


def test_verify_passes_on_a_healthy_node_and_names_what_fails_on_a_broken_one(tmp_path):
    with world("healthy", tmp_path / "ok") as w:
        res = run(w, "verify", "--json")
        steps = _finished(res)
        assert res.returncode == 0, {k: (v["status"], v.get("message")) for k, v in steps.items()}
        assert {k: v["status"] for k, v in steps.items()} == dict.fromkeys(
            [
                "agent-ready",
                "coredns-ready",
                "resolve-cluster-name",
                "resolve-public-name",
                "no-critical-finding",
            ],
            "ok",
        )
        assert w["sim"].mutations == 0
    with world("coredns-external-fail", tmp_path / "bad") as w:
        res = run(w, "verify", "--json")
        steps = _finished(res)
        assert res.returncode == 1
        assert steps["resolve-cluster-name"]["status"] == "ok"
        assert steps["resolve-public-name"]["status"] == "failed"
        assert "did not resolve: example.com" in steps["resolve-public-name"]["message"]
        assert steps["resolve-public-name"]["attempt"] == 3  # retried before giving up


def test_pod_cidr_change_deletes_stale_ciliumnodes_and_restarts_agents(tmp_path):
    with world("stale-ciliumnode-cidr", tmp_path) as w:
        sim = w["sim"]
        res = run(w, "pod-cidr-change", "--yes", "--json")
        steps = _finished(res)
        status = {k: v["status"] for k, v in steps.items()}
        # the pool (172.20.0.0/16) overlaps nothing: kept, neither helm nor the ConfigMap
        assert status["helm-upgrade"] == "skipped" and status["patch-cilium-config"] == "skipped"
        out = "\n".join(steps["plan-pool"].get("output", []))
        assert "IPv4 pool 172.20.0.0/16 overlaps nothing in use: kept" in out, out
        assert status["find-helm-release"] == "skipped"  # nothing to apply: no need to ask helm
        # the operator restarted before the stale CiliumNodes go (it allocates from the
        # pool it read at start)
        assert status["restart-operator"] == "ok"
        assert status["delete-stale-ciliumnodes"] == "ok"
        assert status["restart-agents"] == "ok"
        deletes = [p for verb, p in sim.requests if verb == "DELETE"]
        assert any("ciliumnodes/k3s-node1" in p for p in deletes)
        assert sum("/pods/cilium-" in p and "operator" not in p for p in deletes) == 2
        order = [
            i
            for i, (verb, p) in enumerate(sim.requests)
            if "cilium-operator" in p or "ciliumnodes/" in p
        ]
        assert "cilium-operator" in sim.requests[order[0]][1]
        cns = {
            c["metadata"]["name"]: c["spec"]["ipam"]["podCIDRs"]
            for c in sim.store.list("cilium.io/v2/CiliumNode")
        }
        assert all(c[0].startswith("172.20.") for c in cns.values()), cns
        assert res.returncode == 0, status
