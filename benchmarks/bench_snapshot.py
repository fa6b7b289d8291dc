"""Benchmark: node snapshot vs the bare commands it wraps (DESIGN §9).

Builds a namespace with 500 lxc veth links (peers in a second namespace),
10,000 routes (ip -batch) and 20,000 iptables rules (iptables-restore, nft),
then times, in the same run and as the median of several rounds:
  snapshot: ciliumtui.node.collect_node (links+addresses, routes v4+v6 of all
            tables, ip rules, 4 iptables dumps parsed, host files, agent probe)
  bare:     `ip -j link; ip -j route show table all; iptables-save` run one after another
and prints both and the ratio (target <= 1.5). Needs root. Both namespaces are
removed at the end.

    .venv/bin/python benchmarks/bench_snapshot.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid

from ciliumtui.aio import run
from ciliumtui.model import ProbeStatus
from ciliumtui.node import collect_node
from ciliumtui.options import Options

LINKS, ROUTES, RULES = 500, 10_000, 20_000


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
        subprocess.run(argv, capture_output=True, check=True)


def snapshot(ns: str) -> dict[str, ProbeStatus]:
    probes: dict[str, ProbeStatus] = {}
    node = run(collect_node(Options(netns=ns), probes))
    assert sum(link.cilium for link in node.links) == LINKS
    assert sum(d.rule_count for d in node.netfilter) == RULES
    return probes


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    rounds = ap.parse_args().rounds
    tag = uuid.uuid4().hex[:6]
    ns, peer_ns = f"nd-bench-{tag}", f"nd-bpeer-{tag}"
    sh(["ip", "netns", "add", ns])
    try:
        sh(["ip", "netns", "add", peer_ns])
        t0 = time.perf_counter()
        build(ns, peer_ns)
        print(
            f"built {LINKS} lxc links, {ROUTES} routes, {RULES} iptables rules "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        probes = snapshot(ns)  # warm-up (imports, page cache) and a correctness check
        bad = {k: v.error for k, v in probes.items() if not v.ok}
        if bad:
            sys.exit(f"probe failures: {bad}")
        bare_ms, snap_ms = [], []
        for _ in range(rounds):  # interleaved, so both see the same machine load
            bare_ms.append(timed(bare, ns))
            snap_ms.append(timed(snapshot, ns))
        b, s = statistics.median(bare_ms), statistics.median(snap_ms)
        print(
            f"bare `ip -j link; ip -j route show table all; iptables-save`: median {b:.1f} ms "
            f"(min {min(bare_ms):.1f}) over {rounds} rounds"
        )
        print(
            f"ciliumtui node snapshot (collect_node):                     median {s:.1f} ms "
            f"(min {min(snap_ms):.1f}) over {rounds} rounds"
        )
        print(
            f"ratio snapshot/bare: {s / b:.2f}x (target <= 1.5x); "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
        subprocess.run(["ip", "netns", "del", peer_ns], check=False)


if __name__ == "__main__":
    main()
