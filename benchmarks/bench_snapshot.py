"""Benchmark: `ciliumtui snapshot --json` and `diagnose` vs the bare commands they wrap (DESIGN §9).

Builds a namespace with 500 lxc veth links (peers in a second namespace),
10,000 routes (ip -batch) and 20,000 iptables rules (nft), then times, in the
same run, interleaved, median of several rounds, every figure a WHOLE PROCESS
from spawn to exit (what a user waits for):
  bare:      `ip -j link; ip -j route show table all; iptables-save`, one after another
  snapshot:  `ciliumtui snapshot --json --netns NS` (node and cluster probes, JSON out)
  diagnose:  `ciliumtui diagnose --json --netns NS` (the same probes, then the checks)
and prints each and the ratios (target <= 1.5x). No apiserver is configured
(an empty --host-root, no $KUBECONFIG): the cluster probes fail fast, as on a node
whose kubeconfig is missing. The in-process collect_node time is printed too, for
reference only (it leaves out start-up and output). Needs root; both namespaces
are removed at the end.

    .venv/bin/python benchmarks/bench_snapshot.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

LINKS, ROUTES, RULES = 500, 10_000, 20_000
BIN = Path(sys.executable).parent


def sh(argv: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv[:5])}: {done.stderr.strip()}")
    return done.stdout


def build(ns: str, peer_ns: str) -> None:
    lines = ["link set lo up"]
    for i in range(LINKS):
        name = f"lxc{i:012x}"
        lines += [
            f"link add {name} type veth peer name p{i} netns {peer_ns}",
            f"link set {name} up",
        ]
    sh(["ip", "-n", ns, "-batch", "-"], "\n".join(lines) + "\n")
    sh(["ip", "-n", peer_ns, "-batch", "-"], "".join(f"link set p{i} up\n" for i in range(LINKS)))
    routes = [
        f"route add 10.{100 + i // 65536}.{(i // 256) % 256}.{i % 256}/32 dev lxc{i % LINKS:012x}"
        for i in range(ROUTES)
    ]
    sh(["ip", "-n", ns, "-batch", "-"], "\n".join(routes) + "\n")
    half = RULES // 2
    rules = [
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":CILIUM_FORWARD - [0:0]",
        ":KUBE-SERVICES - [0:0]",
        '-A FORWARD -m comment --comment "cilium-feeder: CILIUM_FORWARD" -j CILIUM_FORWARD',
        "-A FORWARD -j KUBE-SERVICES",
    ]
    rules += [
        f"-A CILIUM_FORWARD -s 10.{i // 65536}.{(i // 256) % 256}.{i % 256}/32 -m comment "
        f'--comment "cilium: rule {i}" -j ACCEPT'
        for i in range(half - 1)
    ]
    rules += [
        f"-A KUBE-SERVICES -d 10.43.{(i // 256) % 256}.{i % 256}/32 -p tcp -m comment "
        f'--comment "ns/svc-{i} cluster IP" -m tcp --dport 443 -j ACCEPT'
        for i in range(RULES - half - 1)
    ]
    rules.append("COMMIT")
    sh(["ip", "netns", "exec", ns, "iptables-nft-restore"], "\n".join(rules) + "\n")


def bare(ns: str) -> None:
    for argv in (
        ["ip", "-n", ns, "-j", "link"],
        ["ip", "-n", ns, "-j", "route", "show", "table", "all"],
        ["ip", "netns", "exec", ns, "iptables-save"],
    ):
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)


def ciliumtui(ns: str, root: str, env: dict[str, str], *args: str) -> None:
    exe = shutil.which("ciliumtui", path=str(BIN)) or "ciliumtui"
    argv = [exe, *args, "--netns", ns, "--host-root", root]
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode not in (0, 1, 2):  # diagnose: 1/2 are findings, not failures
        sys.exit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.decode()[-500:]}")


def check(ns: str, root: str, env: dict[str, str]) -> None:
    """One snapshot, read back: the probes saw the whole node."""
    import json

    exe = shutil.which("ciliumtui", path=str(BIN)) or "ciliumtui"
    out = subprocess.run(
        [exe, "snapshot", "--json", "--netns", ns, "--host-root", root],
        env=env,
        capture_output=True,
        check=True,
    ).stdout
    node = json.loads(out)["node"]
    assert sum(link["cilium"] for link in node["links"]) == LINKS
    assert len(node["routes"]) >= ROUTES
    assert sum(len(t["rules"]) for d in node["netfilter"] for t in d["tables"]) == RULES


def in_process(ns: str) -> float:
    from ciliumtui.aio import run
    from ciliumtui.node import collect_node
    from ciliumtui.options import Options

    start = time.perf_counter()
    run(collect_node(Options(netns=ns).node_backend, {}))
    return (time.perf_counter() - start) * 1000


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    rounds = ap.parse_args().rounds
    tag = uuid.uuid4().hex[:6]
    ns, peer_ns = f"nd-bench-{tag}", f"nd-bpeer-{tag}"
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["HOME"] = tempfile.mkdtemp(prefix="bench-home-")  # no ~/.kube/config
    root = tempfile.mkdtemp(prefix="bench-root-")  # no k3s.yaml, no resolv.conf
    sh(["ip", "netns", "add", ns])
    try:
        sh(["ip", "netns", "add", peer_ns])
        t0 = time.perf_counter()
        build(ns, peer_ns)
        print(
            f"built {LINKS} lxc links, {ROUTES} routes, {RULES} iptables rules "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        from ciliumtui.node import netfilter

        c_scan = netfilter.scan_rules is not netfilter._scan_rules
        print(f"iptables-save rule scan: {'C (_savescan)' if c_scan else 'Python (not built)'}")
        check(ns, root, env)  # warm-up (page cache, .pyc) and a correctness check
        times: dict[str, list[float]] = {"bare": [], "snapshot": [], "diagnose": [], "inproc": []}
        for _ in range(rounds):  # interleaved, so all see the same machine load
            times["bare"].append(timed(bare, ns))
            times["snapshot"].append(timed(ciliumtui, ns, root, env, "snapshot", "--json"))
            times["diagnose"].append(timed(ciliumtui, ns, root, env, "diagnose", "--json"))
            times["inproc"].append(in_process(ns))
        med = {k: statistics.median(v) for k, v in times.items()}
        labels = {
            "bare": "bare `ip -j link; ip -j route show table all; iptables-save`",
            "snapshot": "`ciliumtui snapshot --json` (whole process)",
            "diagnose": "`ciliumtui diagnose --json` (whole process)",
            "inproc": "collect_node in a warm process (reference only)",
        }
        for key, label in labels.items():
            print(
                f"{label:64} median {med[key]:7.1f} ms (min {min(times[key]):7.1f}) "
                f"over {rounds} rounds"
            )
        b, lo = med["bare"], min(times["bare"])
        print(
            f"ratio snapshot/bare: {med['snapshot'] / b:.2f}x, diagnose/bare: "
            f"{med['diagnose'] / b:.2f}x (medians; target <= 1.5x); of the fastest rounds: "
            f"{min(times['snapshot']) / lo:.2f}x, {min(times['diagnose']) / lo:.2f}x; load "
            f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        # Each round's own ratio, against the bare commands timed just before it: a
        # shared VM's speed drifts over seconds, and the drift cancels within a round.
        paired = {
            k: statistics.median(x / y for x, y in zip(times[k], times["bare"], strict=True))
            for k in ("snapshot", "diagnose")
        }
        print(
            f"per-round ratios (median): snapshot/bare {paired['snapshot']:.2f}x, "
            f"diagnose/bare {paired['diagnose']:.2f}x"
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
        subprocess.run(["ip", "netns", "del", peer_ns], check=False)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(env["HOME"], ignore_errors=True)


if __name__ == "__main__":
    main()
