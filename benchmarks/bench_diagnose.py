"""Full diagnosis on a healthy simulated node vs a peer command, in one run (DESIGN §9).

Target: `ciliumtui diagnose --json` ≤ 1.5 s wall on the healthy sim. The peer is
`kubectl get pods -A -o json` against the same simulated apiserver: what an operator
would type first, and a floor for "ask the cluster anything" from a cold process.

Needs root: the node, host root, cluster and agent API are ciliumtui.training.env's
TrainingEnv("healthy") in its netns mode (namespace "tr-healthy-*", removed after).
Usage: .venv/bin/python benchmarks/bench_diagnose.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time

from ciliumtui.training.env import TrainingEnv

TARGET_S = 1.5


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    return time.perf_counter() - start, res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    runs = ap.parse_args().runs
    kubectl = shutil.which("kubectl")
    with TrainingEnv("healthy", root=True) as env:
        diag = [sys.executable, "-m", "ciliumtui", "diagnose", "--json", *env.cli_flags()]
        peer = [
            kubectl or "kubectl",
            "--kubeconfig",
            str(env.opts.kubeconfig),
            "get",
            "pods",
            "-A",
            "-o",
            "json",
        ]
        # one warm-up each (page cache, pyc files), then alternate to share the noise
        _, res = timed(diag)
        if res.returncode == 3:
            print(f"diagnose failed: {res.stderr.strip()}", file=sys.stderr)
            return 1
        ids = [f["id"] for f in json.loads(res.stdout)["findings"]]
        if kubectl:
            timed(peer)
        d_times, p_times = [], []
        for _ in range(runs):
            d_times.append(timed(diag)[0])
            if kubectl:
                p_times.append(timed(peer)[0])

    d = statistics.median(d_times)
    print(f"healthy sim findings: {ids or 'none'}")
    print(
        f"ciliumtui diagnose --json   median {d:.3f} s  min {min(d_times):.3f}  max {max(d_times):.3f}  ({runs} runs)"
    )
    if p_times:
        p = statistics.median(p_times)
        print(
            f"kubectl get pods -A -o json median {p:.3f} s  min {min(p_times):.3f}  max {max(p_times):.3f}"
        )
        print(f"ratio diagnose/kubectl: {d / p:.2f}x")
    verdict = "OK" if d <= TARGET_S else "OVER"
    print(f"target ≤ {TARGET_S:.1f} s wall: {verdict}")
    return 0 if d <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
