"""Benchmark: cluster probes on a 5,000-node / 100,000-pod simulated cluster (DESIGN §9).

In the same run, against the same SimCluster (served from this process's thread):
  probes:  ciliumtui.cluster.collect_cluster in a fresh subprocess (wall time, and
           peak RSS = VmHWM of that process, imports included)
  kubectl: `kubectl get pods -n kube-system -l k8s-app=cilium
            --field-selector spec.nodeName=N -o json` (wall time)
and prints both and the ratios (targets: probes <= 2 s, <= 200 MB). Then a
black-holed apiserver (a listener that accepts TCP and never answers): the
probes must return within timeout + 1 s.

    .venv/bin/python benchmarks/bench_cluster.py [--nodes 5000] [--pods 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ciliumtui.sim.faults import black_hole, black_hole_kubeconfig

NODE = "k3s-node1"

# Runs in the child: collect, then report wall time, VmHWM and the probe outcomes.
CHILD = r"""
import asyncio, json, sys, time
start = time.perf_counter()
from ciliumtui.cluster import collect_cluster
from ciliumtui.options import Options
probes = {}
opts = Options(kubeconfig=sys.argv[1], node=sys.argv[2], timeout=float(sys.argv[3]), host_root=sys.argv[4])
state = asyncio.run(collect_cluster(opts, probes))
wall = time.perf_counter() - start
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"wall": wall, "hwm_kb": hwm, "reachable": state.reachable, "error": state.error,
                  "node_pods": len(state.node_pods), "ciliumnodes": len(state.ciliumnodes),
                  "probes": {k: [v.ok, v.error, v.ms] for k, v in probes.items()}}))
"""


def big_scenario(nodes: int, pods: int) -> dict[str, Any]:
    """The sim's scale scenario: healthy.yaml + `cluster.scale` (ciliumtui.sim.generate)."""
    from ciliumtui.sim.generate import generate_scenario
    from ciliumtui.sim.scenario import load_scenario

    return load_scenario(generate_scenario(nodes=nodes, pods=pods))


def run_child(kubeconfig: str, timeout: float, host_root: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, kubeconfig, NODE, str(timeout), host_root],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        sys.exit(f"probe child failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def kubectl_cilium_pod(node: str) -> list[str]:
    """`kubectl` arguments for the cilium pod on `node`: the peer of the probes' query."""
    return [
        "get",
        "pods",
        "-n",
        "kube-system",
        "-l",
        "k8s-app=cilium",
        "--field-selector",
        f"spec.nodeName={node}",
        "-o",
        "json",
    ]


KUBECTL_CILIUM_POD = kubectl_cilium_pod(NODE)
KUBECTL_CILIUMNODES = ["get", "ciliumnodes", "-o", "json"]


def time_kubectl(kubeconfig: str, args: list[str], expect: int | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        ["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, timeout=120
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"kubectl failed: {done.stderr.strip()[-300:]}")
    if expect is not None and len(json.loads(done.stdout)["items"]) != expect:
        sys.exit(f"kubectl {' '.join(args[:2])}: expected {expect} items")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=3.0, help="apiserver timeout for the probes")
    args = ap.parse_args()
    if not shutil.which("kubectl"):
        sys.exit("kubectl not found")

    from ciliumtui.sim.server import SimCluster

    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    host_root = tmp / "root"
    host_root.mkdir()
    try:
        t = time.perf_counter()
        scenario = big_scenario(args.nodes, args.pods)
        print(
            f"scenario: {args.nodes} nodes, {args.pods} pods built in {time.perf_counter() - t:.1f}s"
        )
        t = time.perf_counter()
        with SimCluster(scenario, tmpdir=tmp) as sim:
            print(f"sim started in {time.perf_counter() - t:.1f}s at {sim.url}")
            time_kubectl(
                sim.kubeconfig, KUBECTL_CILIUM_POD, 1
            )  # warm-up: kubectl's discovery cache
            run_child(sim.kubeconfig, args.timeout, str(host_root))
            walls, hwms, kubectl, pod_ms = [], [], [], []
            last: dict[str, Any] = {}
            for _ in range(args.rounds):
                last = run_child(sim.kubeconfig, args.timeout, str(host_root))
                walls.append(last["wall"])
                hwms.append(last["hwm_kb"] / 1024)
                pod_ms.append(last["probes"]["cilium-pod"][2] / 1000)
                kubectl.append(time_kubectl(sim.kubeconfig, KUBECTL_CILIUM_POD, 1))
            kubectl_cn = time_kubectl(sim.kubeconfig, KUBECTL_CILIUMNODES, args.nodes)
        bad = {k: v[1] for k, v in last["probes"].items() if not v[0]}
        if bad or not last["reachable"]:
            sys.exit(f"probes failed: {last['error'] or bad}")
        probe_wall, rss, kc = statistics.median(walls), max(hwms), statistics.median(kubectl)
        slowest = max(last["probes"].items(), key=lambda kv: kv[1][2])
        print(
            f"collect_cluster:  {probe_wall:.3f} s wall (median of {args.rounds}, fresh process incl. imports), "
            f"peak RSS {rss:.0f} MB; node pods {last['node_pods']}, ciliumnodes {last['ciliumnodes']}; "
            f"slowest probe {slowest[0]} {slowest[1][2]:.0f} ms"
        )
        print(f"kubectl get pods (cilium on node): {kc:.3f} s wall (median of {args.rounds})")
        print(
            f"ratio probes/kubectl: {probe_wall / kc:.2f}x  (all 10 probes in a fresh process vs kubectl's one list)"
        )
        cp = statistics.median(pod_ms)
        print(
            f"same read, cilium-pod probe alone: {cp:.3f} s -> {cp / kc:.2f}x kubectl (the probe excludes process start)"
        )
        cn = last["probes"]["ciliumnodes"][2] / 1000
        print(
            f"ciliumnodes ({args.nodes}): probe {cn:.3f} s (paged by 1000) vs `kubectl get ciliumnodes -o json` "
            f"{kubectl_cn:.3f} s -> {cn / kubectl_cn:.2f}x"
        )
        print(
            f"target: <= 2 s -> {probe_wall / 2.0:.2f} of budget; <= 200 MB -> {rss / 200:.2f} of budget"
        )

        # Black hole: the kernel completes handshakes on a listening socket nobody accepts from.
        with black_hole() as port:
            kc_path = black_hole_kubeconfig(port, tmp / "blackhole.yaml")
            bh = run_child(str(kc_path), args.timeout, str(host_root))
        api_ms = bh["probes"]["apiserver"][2] / 1000
        print(
            f"black-holed apiserver (timeout {args.timeout:g}s): collect_cluster {bh['wall']:.3f} s wall "
            f"(apiserver probe {api_ms:.3f} s); budget timeout+1 = {args.timeout + 1:g}s -> "
            f"{bh['wall'] / (args.timeout + 1):.2f} of budget; error: {bh['error']}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
