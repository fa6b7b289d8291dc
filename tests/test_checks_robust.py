"""Checks are total: any snapshot `diagnose --from` can load gives findings, never a
traceback — whatever odd strings, numbers or holes the probes (or a hand-edited file)
left. Hypothesis mutates the leaves of the healthy and post-reboot snapshots."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snapshots import healthy, no_agent, unreachable

from ciliumtui.checks import CATALOGUE, run_checks
from ciliumtui.model import SEVERITY_RANK, Snapshot
from ciliumtui.snapshot_load import snapshot_from_dict

# Strings that look like what probes report, plus junk, so parsers meet both.
TEXTY = st.one_of(
    st.sampled_from(
        [
            "10.0.0.0/8",
            "10.42.0.0/24",
            "192.168.1.21/24",
            "10.43.0.10",
            "fe80::1/64",
            "default",
            "0.0.0.0/0",
            "::/0",
            "1.18.4",
            "v1.14.2",
            "5.4.0-150-generic",
            "4.18.0-553.el8_10.x86_64",
            "cilium_host",
            "lxc1a2b3c4d5e6f",
            "lxcbr0",
            "lo",
            "main",
            "local",
            "2004",
            "nft",
            "legacy",
            "true",
            "false",
            "Strict",
            "Failure",
            "NOERROR",
            "SERVFAIL",
            "ContainerCreating",
            "CrashLoopBackOff",
            "node.cilium.io/agent-not-ready",
            "cluster-pool",
            "kubernetes",
            "",
            "10.0.0.9-10.0.0.1",
            "300.1.2.3/8",
            "k3s-node1",
            "fd00::/104",
            "fd00::1/64",
            "127.0.0.53",
            "cil_from_netdev",
            "/sys/fs/bpf/cilium/devices/eth0/links/x",
            "/sys/fs/bpf/tc/globals/cilium_lxc",
            "[FATAL] plugin/loop: Loop (127.0.0.1:1 -> :53) detected",
            "forward . 127.0.0.1",
            "node",
            "flannel.1",
            "00-flannel.conflist",
            "/var/lib/rancher/k3s/agent/etc/cni/net.d",
        ]
    ),  # fmt: skip
    st.text(max_size=10),
)


def _wave2() -> Snapshot:
    """A node where the wave-2 checks have something to read: BPF left behind, a
    dual-stack pool, a loopback resolver with a CoreDNS loop, strict rp_filter."""
    snap = no_agent(healthy(), keep_bpf=True)
    snap.cluster.config.enable_ipv6 = True
    snap.cluster.config.pool_v6 = ["fd00::/104"]
    snap.cluster.ciliumnodes[0].pod_cidrs.append("fd00::/120")
    snap.node.links[1].addresses.append("fd00::21/64")
    snap.node.host.nameservers = ["127.0.0.53"]
    snap.cluster.coredns_log = ["[FATAL] plugin/loop: Loop (127.0.0.1:1 -> :53) detected"]
    snap.cluster.coredns_corefile = "forward . /etc/resolv.conf"
    snap.node.rp_filter["all"] = 2
    return snap


BASES = [
    healthy().to_dict(),
    no_agent(healthy()).to_dict(),
    unreachable(no_agent(healthy())).to_dict(),
    _wave2().to_dict(),
]
_SKIP = {
    "schema",
    "family",
    "backend",
    "kind",
    "severity",
}  # Literal-typed: the loader rejects junk


def _leaves(node: Any, path: tuple = (), in_list: bool = False) -> list[tuple]:
    if isinstance(node, dict):
        return [p for k, v in node.items() if k not in _SKIP for p in _leaves(v, (*path, k))]
    if isinstance(node, list):
        inner = [p for i, v in enumerate(node) for p in _leaves(v, (*path, i), True)]
        return inner if in_list else [*inner, path]  # a list in a list is a tuple: keep its size
    return [path]


def _replacement(value: Any) -> st.SearchStrategy:
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-5, 100_000)
    if isinstance(value, float):
        return st.floats(0, 1e6)
    if isinstance(value, str):
        return TEXTY
    if isinstance(value, list):
        return st.just([])  # a probe that found nothing
    return st.nothing()


@st.composite
def mutated(draw) -> dict:
    data = json.loads(json.dumps(draw(st.sampled_from(BASES))))
    paths = _leaves(data)
    for _ in range(draw(st.integers(1, 25))):
        path = draw(st.sampled_from(paths))
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            old = parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation emptied a list on this path
        if old is None:
            continue
        parent[path[-1]] = draw(_replacement(old))
    return data


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_checks_never_raise_on_odd_snapshots(data):
    snap = snapshot_from_dict(data)
    found = run_checks(snap)
    assert all(f.id in CATALOGUE for f in found)
    # root causes first; each group by severity
    keys = [(not f.root_cause, -SEVERITY_RANK[f.severity]) for f in found]
    assert keys == sorted(keys)
    present = {f.id for f in found}
    assert all(set(f.explained_by) <= present - {f.id} for f in found)
    assert all(isinstance(e, str) and "\n" not in e for f in found for e in f.evidence)
    # offline analysis is deterministic: the same file, the same findings
    assert run_checks(snapshot_from_dict(json.loads(json.dumps(snap.to_dict())))) == found


def test_a_loaded_kube_backend_that_names_no_backend_is_ignored() -> None:
    """A snapshot file is input: its kube_backend is read only when it names a backend
    (hypothesis found "\\n" reaching the iptables-backend-split evidence)."""
    for odd in ("\n", "nft\nlegacy", "iptables"):
        data = no_agent(healthy()).to_dict()
        data["node"]["kube_backend"] = odd
        found = run_checks(snapshot_from_dict(json.loads(json.dumps(data))))
        assert all("\n" not in e for f in found for e in f.evidence)
        assert "iptables-backend-split" not in {f.id for f in found}
