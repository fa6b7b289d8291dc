"""Cluster and DNS probes against the simulated cluster (ciliumtui.sim), over real HTTP/UDP.

Each test states one scenario difference from healthy.yaml, the way training
scenarios do, and checks what the probes report about it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from ciliumtui.cluster import PROBE_NAMES, collect_cluster
from ciliumtui.dns import collect_dns
from ciliumtui.model import ClusterState, DnsState
from ciliumtui.options import Options
from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster

NODE = "k3s-node1"


def scenario(**cluster: Any) -> dict[str, Any]:
    dns = cluster.pop("dns", None)
    own: dict[str, Any] = {"cluster": cluster}
    if dns:
        own["dns"] = dns
    return load_scenario(own)


async def probe(
    sim: SimCluster, tmp_path, timeout: float = 2.0
) -> tuple[ClusterState, DnsState, dict]:
    probes: dict = {}
    opts = Options(kubeconfig=sim.kubeconfig, node=NODE, timeout=timeout, host_root=str(tmp_path))
    cluster = await collect_cluster(opts, probes)
    dns = await collect_dns(opts, cluster, probes)
    return cluster, dns, probes


async def test_healthy_sim(tmp_path):
    with SimCluster("healthy", tmpdir=tmp_path) as sim:
        cluster, dns, probes = await probe(sim, tmp_path)
    assert {k for k, v in probes.items() if v.ok} == {"apiserver", "dns", *PROBE_NAMES}
    assert cluster.cilium_version == "1.18.4" and cluster.cilium_pod.ready
    assert cluster.context == "sim" and cluster.server == sim.url
    assert cluster.config.pool == ["10.42.0.0/16"] and cluster.config.mask_size == 24
    assert {c.name: c.pod_cidrs for c in cluster.ciliumnodes} == {
        "k3s-node1": ["10.42.0.0/24"],
        "k3s-node2": ["10.42.1.0/24"],
    }
    assert (
        cluster.operator.available == 1 and cluster.kube_proxy is False and cluster.lb_pools == []
    )
    assert all(p.node == NODE for p in cluster.node_pods)
    assert {"web-7d9f8-abcde", "metrics-server-5f8-xyz12"} <= {p.name for p in cluster.node_pods}
    assert len(dns.checks) == 4 and all(c.ok for c in dns.checks)
    assert {c.server for c in dns.checks} == {f"{sim.dns_addr[0]}:{sim.dns_addr[1]}"}


@pytest.mark.parametrize(
    ("agent", "expect"),
    [
        ("not-ready", (False, "Running")),
        ("crashloop", (False, "CrashLoopBackOff")),
        ("missing", None),
    ],
)
async def test_agent_states(tmp_path, agent, expect):
    with SimCluster(scenario(cilium={"agent": agent}), tmpdir=tmp_path) as sim:
        cluster, _dns, probes = await probe(sim, tmp_path)
    assert probes["cilium-pod"].ok
    if expect is None:
        assert cluster.cilium_pod is None
        assert cluster.cilium_version == "1.18.4"  # from the DaemonSet
    else:
        assert (cluster.cilium_pod.ready, cluster.cilium_pod.containers[0].reason) == expect
    if agent == "crashloop":
        c = cluster.cilium_pod.containers[0]
        assert c.restarts > 0 and c.last_exit_code not in (None, 0)


async def test_operator_unavailable_and_kube_proxy_present(tmp_path):
    sc = scenario(cilium={"operator": {"replicas": 1, "available": 0}}, kube_proxy=True)
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        cluster, _dns, _ = await probe(sim, tmp_path)
    assert (cluster.operator.desired, cluster.operator.available) == (1, 0)
    assert cluster.kube_proxy is True


async def test_lb_pools_and_failing_pods(tmp_path):
    sc = scenario(
        lb_pools=[
            {"kind": "IPAddressPool", "name": "lan", "cidrs": ["192.168.1.240-192.168.1.250"]},
            {"kind": "CiliumLoadBalancerIPPool", "name": "lb", "cidrs": ["10.42.200.0/24"]},
        ],
        pods=[
            {
                "name": "web-7d9f8-abcde",
                "namespace": "default",
                "owner": "ReplicaSet/web-7d9f8",
                "state": "ContainerCreating",
            },
            {
                "name": "api-5c4-xyz",
                "namespace": "default",
                "owner": "ReplicaSet/api-5c4",
                "state": "CrashLoopBackOff",
            },
        ],
    )
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        cluster, _dns, probes = await probe(sim, tmp_path)
    assert probes["lb-pools"].ok
    pools = {p.name: (p.kind, p.cidrs) for p in cluster.lb_pools}
    assert pools["lan"] == (
        "IPAddressPool",
        ["192.168.1.240/29", "192.168.1.248/31", "192.168.1.250/32"],
    )
    assert pools["lb"] == ("CiliumLoadBalancerIPPool", ["10.42.200.0/24"])
    reasons = {p.name: p.reason for p in cluster.node_pods}
    assert reasons["web-7d9f8-abcde"] == "ContainerCreating"
    assert reasons["api-5c4-xyz"] == "CrashLoopBackOff"


@pytest.mark.parametrize(
    ("cluster_names", "external_names", "cluster_rcode", "external"),
    [
        ("ok", "servfail", "NOERROR", ("SERVFAIL", None)),
        ("nxdomain", "ok", "NXDOMAIN", ("NOERROR", None)),
        ("ok", "timeout", "NOERROR", (None, "timeout after 1.5s")),
    ],
)
async def test_dns_behaviours(tmp_path, cluster_names, external_names, cluster_rcode, external):
    sc = scenario(dns={"cluster_names": cluster_names, "external_names": external_names})
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        _cluster, dns, _ = await probe(sim, tmp_path)
    for c in dns.checks:
        if c.kind == "cluster":
            assert c.rcode == cluster_rcode
        else:
            assert (c.rcode, c.error) == external


@pytest.mark.parametrize(
    ("fault", "where", "text"),
    [
        ("hang", "apiserver", "did not answer in time (get /version): timed out"),
        ("500", "apiserver", "apiserver error 500 to get /version"),
        ("garbage", "apiserver", "garbage answer from the apiserver to get /version: not JSON"),
        ("reset", "apiserver", "connection reset by the apiserver"),
        ("403", "cilium-pod", "forbidden: cannot list pods in kube-system (RBAC"),
    ],
)
async def test_sim_faults(tmp_path, fault, where, text):
    with SimCluster("healthy", tmpdir=tmp_path) as sim:
        sim.set_fault(fault)
        start = time.perf_counter()
        cluster, dns, probes = await probe(sim, tmp_path, timeout=0.5)
        elapsed = time.perf_counter() - start
        sim.set_fault(None)
    assert elapsed < 0.5 + 1.5
    assert text in probes[where].error and "\n" not in probes[where].error
    if where == "apiserver":
        assert cluster.reachable is False and dns.checks == []
    else:
        # RBAC refuses every read: each probe says which one
        assert all(not probes[n].ok for n in PROBE_NAMES)
        assert "forbidden: cannot get node k3s-node1" in probes["node"].error


async def test_slow_watch_does_not_slow_the_probes(tmp_path):
    """The probes read with list/get only: a sim whose watches never deliver is no obstacle."""
    with SimCluster("healthy", tmpdir=tmp_path) as sim:
        sim.set_fault("slow-watch")
        cluster, dns, probes = await probe(sim, tmp_path, timeout=1.0)
    assert all(p.ok for p in probes.values())
    assert cluster.cilium_pod.ready and all(c.ok for c in dns.checks)


# ------------------------------------------------ CoreDNS's Corefile and last words

LOOP_LOG = """\
.:53
[INFO] plugin/reload: Running configuration SHA512 = 0123
CoreDNS-1.12.0
linux/amd64, go1.23.3, 51e11f1
[FATAL] plugin/loop: Loop (127.0.0.1:34713 -> :53) detected for zone ".", see https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO 4547991504243258144.3688648895315093531."
"""


async def test_corefile_is_read_and_a_healthy_coredns_log_is_not(tmp_path):
    with SimCluster("healthy", tmpdir=tmp_path) as sim:
        cluster, _dns, probes = await probe(sim, tmp_path)
        requests = [path for _m, path in sim.requests]
    assert "forward . /etc/resolv.conf" in cluster.coredns_corefile
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa" in cluster.coredns_corefile
    assert probes["coredns-corefile"].ok
    # nothing crash-loops: no log is asked for, and no probe claims to have read one
    assert cluster.coredns_log == [] and "coredns-log" not in probes
    assert not any("/log" in path for path in requests)


async def test_a_crash_looping_coredns_tells_why(tmp_path):
    """A forward loop: the Corefile forwards to /etc/resolv.conf, CoreDNS dies with
    plugin/loop's line; both reach the ClusterState (for `coredns-forward-loop`)."""
    corefile = ".:53 {\n    errors\n    forward . 127.0.0.53\n    loop\n}\n"
    sc = scenario(coredns={"ready": "crashloop", "corefile": corefile, "log": LOOP_LOG})
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        cluster, _dns, probes = await probe(sim, tmp_path)
        logs = [path for _m, path in sim.requests if path.split("?")[0].endswith("/log")]
    assert cluster.coredns_corefile == corefile
    assert probes["coredns-log"].ok
    assert cluster.coredns_log[-1].startswith("[FATAL] plugin/loop: Loop (127.0.0.1:34713 -> :53)")
    assert len(cluster.coredns_log) == 5
    assert len(logs) == 1 and "previous=true" in logs[0] and "tailLines=20" in logs[0]
    assert "container=coredns" in logs[0]


async def test_coredns_log_keeps_only_the_last_lines(tmp_path):
    many = "".join(f"[ERROR] plugin/errors: 2 line {i}\n" for i in range(100))
    sc = scenario(coredns={"ready": "crashloop", "log": many})
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        cluster, _dns, _probes = await probe(sim, tmp_path)
    assert cluster.coredns_log == [f"[ERROR] plugin/errors: 2 line {i}" for i in range(80, 100)]
