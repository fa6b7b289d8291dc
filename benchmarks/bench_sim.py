"""Benchmark: the simulated cluster at scale (5,000 nodes / 100,000 pods), in one run.

Measures
  build:   SimCluster start for the generated scenario (objects built + indexed + served)
  list:    one node's pods by fieldSelector spec.nodeName over HTTP (urllib, JSON decoded)
  kubectl: `kubectl get pods -n kube-system -l k8s-app=cilium --field-selector
           spec.nodeName=N -o json` against the same server — the peer, end to end
and prints the timings and the ratio list/kubectl (the sim must never be what makes
a probe slow: the per-node list is served from the spec.nodeName index).

    .venv/bin/python benchmarks/bench_sim.py [--nodes 5000] [--pods 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import tempfile
import time
import urllib.request

from bench_cluster import kubectl_cilium_pod, time_kubectl

from ciliumtui.sim.generate import generate_scenario
from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster

NODE = "node-02500"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    node = NODE if args.nodes > 2500 else "k3s-node1"

    scenario = load_scenario(generate_scenario(args.nodes, args.pods))
    tmp = tempfile.mkdtemp(prefix="bench-sim-")
    start = time.perf_counter()
    sim = SimCluster(scenario, tmpdir=tmp).start()
    build = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        url = f"{sim.url}/api/v1/pods?fieldSelector=spec.nodeName%3D{node}"
        lists, kubectls = [], []
        for _ in range(args.rounds):
            t = time.perf_counter()
            doc = json.load(urllib.request.urlopen(url, timeout=30))
            lists.append(time.perf_counter() - t)
            kubectls.append(time_kubectl(sim.kubeconfig, kubectl_cilium_pod(node), 1))
        pods = sim.store.count("v1/Pod")
    finally:
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    lm, km = statistics.median(lists), statistics.median(kubectls)
    print(f"cluster: {args.nodes:,} nodes, {pods:,} pods")
    print(f"build (SimCluster start):            {build:7.2f} s   (peak RSS {rss:.0f} MB)")
    print(
        f"list one node's pods ({len(doc['items'])} pods, HTTP): {lm * 1000:7.1f} ms  (median of {args.rounds})"
    )
    print(f"kubectl get cilium pod on the node:   {km * 1000:7.1f} ms  (median of {args.rounds})")
    print(f"ratio list / kubectl:                 {lm / km:7.3f}")


if __name__ == "__main__":
    main()
