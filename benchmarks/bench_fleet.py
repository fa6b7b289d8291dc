"""Benchmark: the fleet at 5,000 nodes (DESIGN §9, issue 16).

1. `ciliumtui fleet status` as a whole process (spawn to exit, imports included;
   peak RSS from wait4's ru_maxrss of that process) against a simulated cluster
   of N generated nodes, each with a CiliumNetworkHealthy condition and a
   NodeDiagnosis (every 10th broken); `kubectl get nodediagnoses -o json` timed
   in the same run, against the same simulator. Targets: <= 2 s, <= 300 MB.
   (Each is launched by a small separate launcher, so its ru_maxrss is its own.)
2. publish's apiserver writes per node per hour at steady state, counted by the
   simulator (every POST/PUT/PATCH/DELETE it served): P publishers — the real
   Publisher class, its real HTTP writes to the simulator — at the default
   600 s interval with jitter, stepped through two virtual hours (the clock that
   decides when a heartbeat is due is virtual; the diagnose is a fixed result,
   i.e. steady state, with C changes injected in the second hour). Target:
   <= 6 + changes per node per hour.

    .venv/bin/python benchmarks/bench_fleet.py [--nodes 5000] [--rounds 3] [--publishers 50]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Launches the measured process and reports its wall time and peak RSS. A separate,
# small launcher: a child forked straight from this process (which holds the
# simulator, ~200 MB) would count this process's pages in its ru_maxrss.
LAUNCHER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stderr=subprocess.DEVNULL)
wall = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall": wall, "rss_kb": rss, "rc": done.returncode}), file=sys.stderr)
"""


def whole_process(argv: list[str]) -> tuple[float, float, str, int]:
    """(wall s, peak RSS MB, stdout, exit code) of one process, spawn to exit."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *argv], capture_output=True, text=True, timeout=300
    )
    stats = json.loads(done.stderr.strip().splitlines()[-1])
    return stats["wall"], stats["rss_kb"] / 1024, done.stdout, int(stats["rc"])


def bench_status(nodes: int, rounds: int, tmp: Path) -> None:
    from ciliumtui.sim.fleet.world import add_reports
    from ciliumtui.sim.generate import generate_scenario
    from ciliumtui.sim.scenario import load_scenario
    from ciliumtui.sim.server import SimCluster

    t = time.perf_counter()
    scenario = load_scenario(generate_scenario(nodes=nodes, pods=0))
    with SimCluster(scenario, tmpdir=tmp) as sim:
        n = add_reports(sim)
        print(
            f"sim: {n} nodes with a condition and a NodeDiagnosis, up in {time.perf_counter() - t:.1f}s"
        )
        kc = sim.kubeconfig
        status = [sys.executable, "-m", "ciliumtui", "fleet", "status", "--kubeconfig", kc]
        kubectl = ["kubectl", "--kubeconfig", kc, "get", "nodediagnoses", "-o", "json"]
        whole_process(kubectl)  # warm-up: kubectl's discovery cache, the page cache
        whole_process(status)
        walls, rss, kwalls, krss = [], [], [], []
        code, text = 0, ""
        for _ in range(rounds):
            w, r, text, code = whole_process(status)
            walls.append(w)
            rss.append(r)
            w, r, ktext, kcode = whole_process(kubectl)
            if kcode != 0 or len(json.loads(ktext)["items"]) != n:
                sys.exit("kubectl get nodediagnoses failed")
            kwalls.append(w)
            krss.append(r)
        if code != 2 or f"{n} nodes:" not in text:
            sys.exit(f"fleet status: exit {code}, {text[-300:]}")
        js = whole_process([*status, "--json"])
        rows = len(json.loads(js[2])["nodes"])
    wall, peak, kw = statistics.median(walls), max(rss), statistics.median(kwalls)
    print(text.strip().splitlines()[-1])
    print(
        f"fleet status ({n} nodes): {wall:.3f} s wall (median of {rounds}, whole process), "
        f"peak RSS {peak:.0f} MB; --json {js[0]:.3f} s, {rows} rows"
    )
    print(
        f"kubectl get nodediagnoses -o json: {kw:.3f} s wall, peak RSS {max(krss):.0f} MB "
        f"-> fleet status / kubectl = {wall / kw:.2f}x"
    )
    print(f"target: <= 2 s -> {wall / 2:.2f} of budget; <= 300 MB -> {peak / 300:.2f} of budget")


def bench_writes(publishers: int, changes: int, tmp: Path) -> None:
    from ciliumtui.fleet import DEFAULT_INTERVAL
    from ciliumtui.fleet import objects as O
    from ciliumtui.fleet.manifest import crd
    from ciliumtui.fleet.publisher import Publisher
    from ciliumtui.options import Options
    from ciliumtui.sim.generate import generate_scenario
    from ciliumtui.sim.scenario import load_scenario
    from ciliumtui.sim.server import SimCluster

    def result(node: str, broken: bool) -> dict[str, Any]:
        findings = (
            [
                {
                    "id": "stale-cilium-iptables",
                    "severity": "critical",
                    "title": "t",
                    "evidence": ["10 Cilium chains"],
                    "remediation": {"playbook": "cleanup", "docs": None},
                    "root_cause": True,
                    "explained_by": [],
                }
            ]
            if broken
            else []
        )
        return {
            "schema": 2,
            "generated_at": O.rfc3339(),
            "node": node,
            "cilium_version": "1.18.4",
            "findings": findings,
            "probes": {"node": {"ok": True, "error": None, "ms": 2.0}},
        }

    scenario = load_scenario(generate_scenario(nodes=publishers, pods=0))
    rng = random.Random(16)
    with SimCluster(scenario, tmpdir=tmp) as sim:
        sim.store.create(crd())
        names = [n["metadata"]["name"] for n in sim.store.list("v1/Node")][:publishers]
        now = [0.0]
        state = {name: False for name in names}
        pubs = [
            Publisher(
                Options(kubeconfig=sim.kubeconfig, node=name, timeout=3.0),
                DEFAULT_INTERVAL,
                diagnose_fn=lambda o: (result(o.node_name, state[o.node_name]), None),
                rng=random.Random(i),
                clock=lambda: now[0],
                log=lambda _line: None,
            )
            for i, name in enumerate(names)
        ]
        # Each publisher's next cycle, as forever() schedules it: interval x U(0.9, 1.1).
        due = [(rng.uniform(0, 5), i) for i in range(len(pubs))]
        flips = sorted(rng.uniform(3600, 7200) for _ in range(changes))
        counts: list[int] = []
        mark = sim.mutations
        for hour_end in (3600.0, 7200.0):
            while True:
                due.sort()
                t, i = due[0]
                if t >= hour_end:
                    break
                while flips and flips[0] <= t:  # a change lands on some node
                    flips.pop(0)
                    victim = rng.choice(names)
                    state[victim] = not state[victim]
                now[0] = t
                pubs[i].cycle()
                due[0] = (t + DEFAULT_INTERVAL * pubs[i].rng.uniform(0.9, 1.1), i)
            counts.append(sim.mutations - mark)
            mark = sim.mutations
    first, steady = (c / len(pubs) for c in counts)
    print(
        f"publish writes, {len(pubs)} publishers at --interval {DEFAULT_INTERVAL}: hour 1 (start-up) "
        f"{first:.2f} per node, hour 2 (steady, {changes} changes) {steady:.2f} per node "
        f"= {counts[1]} writes"
    )
    per_change = (counts[1] - 6 * len(pubs)) / changes if changes else 0.0
    print(
        f"target: <= 6 + changes per node per hour -> steady heartbeats {6 * len(pubs)} + "
        f"{counts[1] - 6 * len(pubs)} for {changes} changes ({per_change:.1f} per change: "
        f"condition + NodeDiagnosis + Event)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--publishers", type=int, default=50)
    ap.add_argument("--changes", type=int, default=5)
    args = ap.parse_args()
    if not shutil.which("kubectl"):
        sys.exit("kubectl not found")
    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        bench_status(args.nodes, args.rounds, tmp / "status")
        bench_writes(args.publishers, args.changes, tmp / "writes")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
