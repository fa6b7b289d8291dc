"""The fleet end to end (issue 16): three nodes built in network namespaces — two
healthy, one after a hard reboot — one simulated cluster, a real `ciliumtui
publish` process per node, the real kubectl, `fleet status`, and a `fleet run
cleanup-node` whose Job runs the real playbook on the broken node only.

Everything made (namespaces, processes, temp dirs) is removed afterwards."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sim_helpers import kubectl, wait_for

from ciliumtui.fleet import CONDITION, NAMESPACE
from ciliumtui.fleet import objects as O
from ciliumtui.fleet.verdict import camel
from ciliumtui.sim.fleet.world import FleetWorld, cilium_links

pytestmark = pytest.mark.root
ND = "ciliumtui.io/v1alpha1/NodeDiagnosis"
NODES = [("node-a", "healthy"), ("node-b", "healthy"), ("node-c", "post-reboot")]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FleetWorld]:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    with FleetWorld(tmp_path, NODES, prefix="flt") as w:
        w.sim.store.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        )
        yield w
    assert not any(Path("/run/netns", n.netns).exists() for n in w.nodes)


class Publishers:
    def __init__(self, world: FleetWorld, tmp: Path, interval: int) -> None:
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        for name, _sid in NODES[: len(world.nodes)]:
            log = tmp / f"publish-{name}.log"
            self.logs[name] = log
            self.procs[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ciliumtui",
                    "publish",
                    "--interval",
                    str(interval),
                    *world.flags(name),
                ],
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def stop(self) -> dict[str, int]:
        codes = {}
        for name, p in self.procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                codes[name] = p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                codes[name] = p.wait(5)
        return codes

    def log(self, name: str) -> str:
        return self.logs[name].read_text()


def ciliumtui(world: FleetWorld, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ciliumtui",
            *args,
            "--kubeconfig",
            world.sim.kubeconfig,
            "--timeout",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def iptables_rules(netns: str) -> dict[str, str]:
    """iptables-save of every backend and family, minus its timestamp comment lines and
    with the built-in chains' packet counters zeroed (the publishers' own DNS probes
    move them; they are traffic, not rules)."""
    out = {}
    for tool in (
        "iptables-legacy-save",
        "iptables-nft-save",
        "ip6tables-legacy-save",
        "ip6tables-nft-save",
    ):
        done = subprocess.run(
            ["ip", "netns", "exec", netns, tool], capture_output=True, text=True, timeout=30
        )
        lines = [ln for ln in done.stdout.splitlines() if not ln.startswith("#")]
        out[tool] = "\n".join(re.sub(r" \[\d+:\d+\]$", " [0:0]", ln) for ln in lines)
    return out


def links(netns: str) -> list[str]:
    done = subprocess.run(
        ["ip", "-n", netns, "-o", "link"], capture_output=True, text=True, timeout=10
    )
    return sorted(ln.split(":")[1].strip().split("@")[0] for ln in done.stdout.splitlines())


def condition(world: FleetWorld, node: str) -> dict | None:
    return O.condition_of(world.sim.store.get("v1/Node", None, node))


def test_three_nodes_publish_status_and_roll(world: FleetWorld, tmp_path: Path) -> None:
    pubs = Publishers(world, tmp_path, interval=3)
    try:
        for name, _sid in NODES:
            wait_for(lambda n=name: world.sim.store.get(ND, None, n), timeout=60, interval=0.2)
        state = {n: condition(world, n)["status"] for n, _ in NODES}
        assert state == {"node-a": "True", "node-b": "True", "node-c": "False"}, {
            n: [f["id"] for f in world.sim.store.get(ND, None, n)["status"]["findings"]]
            for n, _ in NODES
        }
        broken = world.sim.store.get(ND, None, "node-c")["status"]
        ids = [f["id"] for f in broken["findings"]]
        assert {"stale-cilium-interfaces", "stale-cilium-iptables"} <= set(ids)
        first_root = next(
            f["id"]
            for f in broken["findings"]
            if f.get("root_cause", True) and f["severity"] == "critical"
        )
        cond = condition(world, "node-c")
        assert cond["reason"] == camel(broken["root_cause"]) == camel(first_root)
        assert broken["interval_s"] == 3 and broken["node"] == "node-c"
        assert all(
            i in cond["message"] for i in ("stale-cilium-interfaces", "stale-cilium-iptables")
        )

        # The real kubectl sees it all.
        got = kubectl(world.sim, "get", "nodediagnoses")
        assert got.returncode == 0, got.stderr
        rows = {ln.split()[0]: ln.split()[1:] for ln in got.stdout.splitlines()[1:]}
        assert rows["node-a"][0] == "True" and rows["node-b"][0] == "True"
        assert rows["node-c"][:2] == ["False", broken["root_cause"]]
        assert kubectl(world.sim, "get", "nd", "node-c").returncode == 0
        desc = kubectl(world.sim, "describe", "node", "node-c").stdout
        assert CONDITION in desc and camel(broken["root_cause"]) in desc
        assert "CiliumNetworkBroken" in desc  # the Event on the Node

        status = ciliumtui(world, "fleet", "status", "--json")
        assert status.returncode == 2, status.stderr
        data = json.loads(status.stdout)
        assert data["by_root_cause"] == {broken["root_cause"]: ["node-c"]}
        assert {n["node"]: n["state"] for n in data["nodes"]} == {
            "node-a": "healthy",
            "node-b": "healthy",
            "node-c": "broken",
        }

        before = {n: iptables_rules(world.node(n).netns) for n in ("node-a", "node-b")}
        links_before = {n: links(world.node(n).netns) for n in ("node-a", "node-b")}

        roll = ciliumtui(world, "fleet", "run", "cleanup-node", "--max-unavailable", "1")
        assert roll.returncode == 0, roll.stdout + roll.stderr
        assert "  done:        node-c\n" in roll.stdout
        assert "  skipped:     node-a, node-b\n" in roll.stdout
        jobs = world.sim.store.list("batch/v1/Job", NAMESPACE)
        assert [j["spec"]["template"]["spec"]["nodeName"] for j in jobs] == ["node-c"]
        assert [n for n, _argv in world.sim.jobs.ran] == ["node-c", "node-c"]  # run, publish
        got = kubectl(world.sim, "get", "jobs", "-n", NAMESPACE)
        assert "Complete" in got.stdout and "1/1" in got.stdout
        assert world.sim.store.get(ND, None, "node-c")["status"]["last_run"]["result"] == "ok"

        # The broken node is fixed: no Cilium debris, and its publisher says so.
        assert cilium_links(world.node("node-c").netns) == []
        wait_for(lambda: condition(world, "node-c")["status"] == "True", timeout=60, interval=0.3)
        healed = ciliumtui(world, "fleet", "status")
        assert healed.returncode == 0, healed.stdout + healed.stderr
        assert "3 nodes: 0 broken, 0 unknown, 0 not reporting, 3 healthy" in healed.stdout
        events = {
            e["reason"]
            for e in world.sim.store.list("v1/Event", "default")
            if e["involvedObject"]["name"] == "node-c"
        }
        # Broken, then (the Job's own publish: debris gone, agent not up yet) Changed, Recovered.
        assert {"CiliumNetworkBroken", "CiliumNetworkRecovered"} <= events
        assert events <= {"CiliumNetworkBroken", "CiliumNetworkChanged", "CiliumNetworkRecovered"}

        # The healthy nodes were not touched.
        for n in ("node-a", "node-b"):
            assert iptables_rules(world.node(n).netns) == before[n], n
            assert links(world.node(n).netns) == links_before[n], n
        # The node-side run was journalled on the node (its host root), as a local run is.
        assert list((world.node("node-c").root / "var/lib/ciliumtui/runs").glob("*/journal.jsonl"))
    finally:
        codes = pubs.stop()
    assert codes == {"node-a": 0, "node-b": 0, "node-c": 0}
    for name, _ in NODES:
        assert "Traceback" not in pubs.log(name)


def test_publish_survives_an_apiserver_outage(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    with FleetWorld(tmp_path, [("node-a", "healthy")], prefix="flo") as world:
        pubs = Publishers(world, tmp_path, interval=2)
        try:
            wait_for(lambda: world.sim.store.get(ND, None, "node-a"), timeout=60, interval=0.2)
            world.restart_sim(down_for=4)  # the apiserver is gone for 4 s, then back, empty
            assert world.sim.store.get(ND, None, "node-a") is None
            nd = wait_for(lambda: world.sim.store.get(ND, None, "node-a"), timeout=60, interval=0.2)
            assert nd["status"]["healthy"] == "True", (nd["status"], pubs.log("node-a"))
            assert wait_for(lambda: condition(world, "node-a"), timeout=30)["status"] == "True"
            assert pubs.procs["node-a"].poll() is None  # never exited, never restarted
        finally:
            codes = pubs.stop()
        log = pubs.log("node-a")
        assert codes == {"node-a": 0}
        assert "retrying in" in log and "Traceback" not in log
        assert all(len(ln) < 400 for ln in log.splitlines())
