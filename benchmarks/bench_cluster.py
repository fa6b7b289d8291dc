"""Benchmark: the cluster side of `ciliumtui diagnose`, as whole processes (DESIGN §9).

Every figure is `ciliumtui diagnose --json` spawned and waited for (wall time from
spawn to exit; peak RSS = its ru_maxrss, spawned by a small launcher), beside a
peer from the same run:

  scale:        a 5,000-node / 100,000-pod simulated cluster (served from this
                process's thread); targets <= 2 s and <= 200 MB. Peer: `kubectl get
                pods -n kube-system -l k8s-app=cilium --field-selector spec.nodeName=N
                -o json`, the one list an operator would type.
  black hole:   an apiserver that accepts TCP and never answers; target <= --timeout
                + 1 s. Peer: `kubectl --request-timeout=<timeout>s get --raw /version`.
  slow drip:    the sim's slow-drip fault (200 and headers, then a byte every 0.5 s).
  exec plugin:  a kubeconfig whose exec credential plugin blocks (sleeps 60 s).

With root, diagnose's node probes read an empty network namespace (bench-cl-*,
removed after), so the host's own tables do not weigh on the figures. An
in-process collect_cluster (imports included) is printed too; it is not the figure.

    .venv/bin/python benchmarks/bench_cluster.py [--nodes 5000] [--pods 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from ciliumtui.sim.faults import black_hole, black_hole_kubeconfig

NODE = "k3s-node1"

# The in-process figure (printed, not the target): collect_cluster in a fresh interpreter.
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


# Spawns the measured command and reports its wall time and peak RSS. The launcher is
# small on purpose: a process forked from this one (which holds the 100,000-pod sim,
# ~300 MB) inherits that high-water mark into its ru_maxrss even after exec(2) —
# measured 300 MB for a diagnose whose own VmHWM is 67 MB.
LAUNCHER = r"""
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL)
_pid, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
rc = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as f:
    json.dump({"wall": wall, "maxrss_kb": usage.ru_maxrss, "rc": rc}, f)
"""


def diagnose_process(
    kubeconfig: str, host_root: str, timeout: float, netns: str | None
) -> dict[str, Any]:
    """`ciliumtui diagnose --json` from spawn to exit: wall, peak RSS, exit code, output."""
    argv = [sys.executable, "-m", "ciliumtui", "diagnose", "--json", "--timeout", f"{timeout:g}"]
    argv += ["--kubeconfig", kubeconfig, "--host-root", host_root, "--node", NODE]
    argv += ["--netns", netns] if netns else []
    with tempfile.NamedTemporaryFile("r", suffix=".json") as measured:
        done = subprocess.run(
            [sys.executable, "-c", LAUNCHER, measured.name, *argv],
            capture_output=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        figures = json.loads(Path(measured.name).read_text())
    if figures["rc"] == 3 or not done.stdout.strip():
        sys.exit(f"diagnose could not run (exit {figures['rc']}): {done.stderr[-500:]!r}")
    return {
        "wall": figures["wall"],
        "rss_mb": figures["maxrss_kb"] / 1024,
        "rc": figures["rc"],
        "out": json.loads(done.stdout),
    }


def time_peer(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def blocking_plugin_kubeconfig(src: str, tmp: Path) -> str:
    plugin = tmp / "blocking-plugin.sh"
    plugin.write_text("#!/bin/sh\nsleep 60\n")
    plugin.chmod(0o755)
    cfg = yaml.safe_load(Path(src).read_text())
    for user in cfg["users"]:
        user["user"] = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": str(plugin),
                "interactiveMode": "Never",
            }
        }
    path = tmp / "exec-plugin.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def median_run(kubeconfig: str, host_root: str, timeout: float, netns: str | None, rounds: int):
    runs = [diagnose_process(kubeconfig, host_root, timeout, netns) for _ in range(rounds)]
    return statistics.median(r["wall"] for r in runs), max(r["rss_mb"] for r in runs), runs[-1]


def budget_line(name: str, wall: float, timeout: float, peer: str) -> str:
    limit = timeout + 1
    verdict = "OK" if wall <= limit else "OVER"
    return (
        f"{name:<12} diagnose {wall:.3f} s wall (spawn to exit) vs budget --timeout+1 = "
        f"{limit:g} s -> {wall / limit:.2f} of budget {verdict}; {peer}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=3.0, help="--timeout of diagnose (default 3)")
    args = ap.parse_args()
    if not shutil.which("kubectl"):
        sys.exit("kubectl not found")

    from ciliumtui.sim.scenario import load_scenario
    from ciliumtui.sim.server import SimCluster

    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    host_root = tmp / "root"
    host_root.mkdir()
    netns = None
    if os.geteuid() == 0:
        netns = f"bench-cl-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", netns], check=True)
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
    else:
        print("not root: diagnose reads this host's own network namespace")
    t_out = args.timeout
    try:
        t = time.perf_counter()
        scenario = big_scenario(args.nodes, args.pods)
        print(
            f"scenario: {args.nodes} nodes, {args.pods} pods built in {time.perf_counter() - t:.1f}s"
        )
        t = time.perf_counter()
        # With a netns, the sim answers DNS inside it (kube-dns and CoreDNS IPs on its lo),
        # where diagnose asks; the apiserver stays on this namespace's loopback.
        with SimCluster(scenario, netns=netns, tmpdir=tmp) as sim:
            print(f"sim started in {time.perf_counter() - t:.1f}s at {sim.url}")
            time_kubectl(sim.kubeconfig, KUBECTL_CILIUM_POD, 1)  # warm-up: discovery cache
            diagnose_process(sim.kubeconfig, str(host_root), t_out, netns)  # warm-up: pyc
            walls, rsss, kubectl = [], [], []
            last: dict[str, Any] = {}
            for _ in range(args.rounds):
                last = diagnose_process(sim.kubeconfig, str(host_root), t_out, netns)
                walls.append(last["wall"])
                rsss.append(last["rss_mb"])
                kubectl.append(time_kubectl(sim.kubeconfig, KUBECTL_CILIUM_POD, 1))
            kubectl_cn = time_kubectl(sim.kubeconfig, KUBECTL_CILIUMNODES, args.nodes)
            inproc = run_child(sim.kubeconfig, t_out, str(host_root))
        probes = last["out"]["probes"]
        bad = {k: v["error"] for k, v in probes.items() if not v["ok"]}
        if bad:
            sys.exit(f"probes failed on the scale cluster: {bad}")
        wall, rss, kc = statistics.median(walls), max(rsss), statistics.median(kubectl)
        slowest = max(probes.items(), key=lambda kv: kv[1]["ms"])
        print(
            f"scale        diagnose {wall:.3f} s wall (spawn to exit, median of {args.rounds}), "
            f"peak RSS {rss:.0f} MB; slowest probe {slowest[0]} {slowest[1]['ms']:.0f} ms; "
            f"exit {last['rc']}"
        )
        print(f"             kubectl get pods (cilium on node): {kc:.3f} s wall (median)")
        print(
            f"             ratio diagnose/kubectl: {wall / kc:.2f}x (a whole diagnosis vs one list)"
        )
        cn = probes["ciliumnodes"]["ms"] / 1000
        print(
            f"             ciliumnodes ({args.nodes}): probe {cn:.3f} s (paged by 1000) vs "
            f"`kubectl get ciliumnodes -o json` {kubectl_cn:.3f} s -> {cn / kubectl_cn:.2f}x"
        )
        print(
            f"             in-process collect_cluster (not the figure): {inproc['wall']:.3f} s, "
            f"VmHWM {inproc['hwm_kb'] / 1024:.0f} MB"
        )
        print(
            f"             target: <= 2 s -> {wall / 2.0:.2f} of budget "
            f"{'OK' if wall <= 2 else 'OVER'}; <= 200 MB -> {rss / 200:.2f} of budget "
            f"{'OK' if rss <= 200 else 'OVER'}"
        )

        # Black hole: the kernel completes handshakes on a listening socket nobody accepts from.
        with black_hole() as port:
            bh = str(black_hole_kubeconfig(port, tmp / "blackhole.yaml"))
            wall_bh, _rss, run = median_run(bh, str(host_root), t_out, netns, args.rounds)
            peer = time_peer(
                [
                    "kubectl",
                    "--kubeconfig",
                    bh,
                    f"--request-timeout={t_out:g}s",
                    "get",
                    "--raw",
                    "/version",
                ]
            )
        print(
            budget_line(
                "black hole",
                wall_bh,
                t_out,
                f"peer kubectl --request-timeout={t_out:g}s get --raw /version: {peer:.3f} s "
                f"-> {wall_bh / peer:.2f}x",
            )
        )
        print(f"             apiserver: {run['out']['probes']['apiserver']['error']}")

        (tmp / "small").mkdir()
        with SimCluster(load_scenario("healthy"), tmpdir=tmp / "small") as sim:
            sim.set_fault("slow-drip")
            wall_sd, _rss, run = median_run(
                sim.kubeconfig, str(host_root), t_out, netns, args.rounds
            )
            print(
                budget_line(
                    "slow drip", wall_sd, t_out, "no peer (kubectl has no overall deadline)"
                )
            )
            print(f"             apiserver: {run['out']['probes']['apiserver']['error']}")
            sim.set_fault(None)
            kc_exec = blocking_plugin_kubeconfig(sim.kubeconfig, tmp)
            wall_ex, _rss, run = median_run(kc_exec, str(host_root), t_out, netns, args.rounds)
        print(budget_line("exec plugin", wall_ex, t_out, "no peer (kubectl waits for the plugin)"))
        print(f"             apiserver: {run['out']['probes']['apiserver']['error']}")
    finally:
        if netns:
            subprocess.run(["ip", "netns", "del", netns], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
