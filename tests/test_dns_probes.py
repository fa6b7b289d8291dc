"""DNS probes: real UDP queries against a dnspython responder (loopback or inside a netns)."""

from __future__ import annotations

import subprocess
import time

import pytest
from kube_fake import DnsResponder

from ciliumtui.dns import DnsTarget, collect_dns, dns_targets, run_checks
from ciliumtui.model import ClusterState, PodInfo, ServiceInfo
from ciliumtui.netns import socket_in_netns
from ciliumtui.options import Options


def cluster_at(ip: str, port: int, pods: int = 1, domain: str = "cluster.local") -> ClusterState:
    """A reachable cluster whose kube-dns Service and CoreDNS pods all point at (ip, port)."""
    return ClusterState(
        reachable=True,
        cluster_domain=domain,
        kube_dns=ServiceInfo(
            "kube-dns", "kube-system", ip, [("dns", port, "UDP"), ("dns-tcp", port, "TCP")]
        ),
        coredns_pods=[
            PodInfo(
                f"coredns-{i}",
                "kube-system",
                ip=ip,
                ready=True,
                ports=[("dns", port, "UDP"), ("metrics", 9153, "TCP")],
            )
            for i in range(pods)
        ],
    )


def by(state, kind: str, via: str):
    return next(c for c in state.checks if c.kind == kind and c.via == via)


async def test_cluster_and_external_names_answer(tmp_path):
    with DnsResponder("ok", "ok") as r:
        ip, port = r.addr
        probes: dict = {}
        state = await collect_dns(Options(host_root=str(tmp_path)), cluster_at(ip, port), probes)
    assert probes["dns"].ok
    assert {(c.kind, c.via) for c in state.checks} == {
        ("cluster", "service"),
        ("external", "service"),
        ("cluster", "pod/coredns-0"),
        ("external", "pod/coredns-0"),
    }
    svc = by(state, "cluster", "service")
    assert svc.qname == "kubernetes.default.svc.cluster.local"
    assert svc.server == f"{ip}:{port}" and svc.rcode == "NOERROR" and svc.answers == ["10.43.0.1"]
    assert svc.ok and svc.ms is not None and svc.error is None
    ext = by(state, "external", "service")
    assert ext.qname == "example.com" and ext.ok
    assert sorted(r.queries) == sorted(["kubernetes.default.svc.cluster.local", "example.com"] * 2)


async def test_custom_domain_and_public_name(tmp_path):
    with DnsResponder(cluster_domain="corp.internal") as r:
        opts = Options(host_root=str(tmp_path), public_name="github.com")
        state = await collect_dns(opts, cluster_at(*r.addr, domain="corp.internal"), {})
    assert by(state, "cluster", "service").qname == "kubernetes.default.svc.corp.internal"
    assert by(state, "external", "service").qname == "github.com"
    assert all(c.ok for c in state.checks)


async def test_cluster_names_nxdomain(tmp_path):
    with DnsResponder("nxdomain", "ok") as r:
        state = await collect_dns(Options(host_root=str(tmp_path)), cluster_at(*r.addr), {})
    c = by(state, "cluster", "service")
    assert (c.rcode, c.answers, c.ok) == ("NXDOMAIN", [], False)
    assert by(state, "external", "service").ok


async def test_external_names_servfail_while_cluster_names_work(tmp_path):
    """The field notes' symptom: CoreDNS answers cluster names but not public ones."""
    with DnsResponder("ok", "servfail") as r:
        state = await collect_dns(Options(host_root=str(tmp_path)), cluster_at(*r.addr, pods=2), {})
    assert all(c.ok for c in state.checks if c.kind == "cluster")
    ext = [c for c in state.checks if c.kind == "external"]
    assert len(ext) == 3 and all(c.rcode == "SERVFAIL" and not c.ok for c in ext)


async def test_timeout_is_recorded_and_queries_run_concurrently(tmp_path):
    with DnsResponder("ok", "timeout") as r:
        start = time.perf_counter()
        state = await collect_dns(Options(host_root=str(tmp_path)), cluster_at(*r.addr, pods=3), {})
        elapsed = time.perf_counter() - start
    ext = [c for c in state.checks if c.kind == "external"]
    assert len(ext) == 4 and all(c.rcode is None and c.error == "timeout after 1.5s" for c in ext)
    # four timeouts in parallel cost one timeout, not four
    assert elapsed < 3.0


async def test_pod_port_from_its_dns_container_port(tmp_path):
    with DnsResponder() as r:
        ip, port = r.addr
        cluster = cluster_at(ip, port)
        cluster.kube_dns = None  # no Service: only the pod is asked, on its own "dns" port
        state = await collect_dns(Options(host_root=str(tmp_path)), cluster, {})
    assert [(c.via, c.server) for c in state.checks] == [("pod/coredns-0", f"{ip}:{port}")] * 2


def test_targets_skip_pods_without_ip_and_default_to_53():
    cluster = ClusterState(
        kube_dns=ServiceInfo("kube-dns", "kube-system", "10.43.0.10", [("dns-tcp", 53, "TCP")]),
        coredns_pods=[
            PodInfo("a", "kube-system", ip=None),
            PodInfo("b", "kube-system", ip="10.42.0.7"),
        ],
    )
    assert dns_targets(cluster) == [
        DnsTarget("10.43.0.10", 53, "service"),
        DnsTarget("10.42.0.7", 53, "pod/b"),
    ]


async def test_unreachable_cluster_without_k3s_asks_nobody(tmp_path):
    probes: dict = {}
    state = await collect_dns(
        Options(host_root=str(tmp_path)), ClusterState(reachable=False), probes
    )
    assert state.checks == [] and "dns" not in probes


async def test_closed_port_is_an_error_not_a_crash():
    with DnsResponder() as r:
        ip, port = r.addr
    # the responder is gone: nothing listens on that port any more
    checks = await run_checks(
        [DnsTarget(ip, port, "service")], [("example.com", "external")], netns=None, timeout=0.3
    )
    assert checks[0].rcode is None and checks[0].error and not checks[0].ok


@pytest.mark.root
async def test_queries_run_inside_the_netns_and_fall_back_to_k3s_cluster_dns(make_netns, tmp_path):
    """Apiserver down, k3s config names the cluster DNS; the responder lives only in the netns."""
    ns = make_netns("cl")
    subprocess.run(["ip", "-n", ns, "addr", "add", "10.43.0.10/32", "dev", "lo"], check=True)
    conf = tmp_path / "etc/rancher/k3s"
    conf.mkdir(parents=True)
    (conf / "config.yaml").write_text("cluster-dns: 10.43.0.10\nflannel-backend: none\n")
    server_sock = socket_in_netns(ns)
    server_sock.bind(("10.43.0.10", 53))
    with DnsResponder("ok", "servfail", sock=server_sock) as r:
        probes: dict = {}
        opts = Options(netns=ns, host_root=str(tmp_path))
        state = await collect_dns(opts, ClusterState(reachable=False), probes)
    assert probes["dns"].ok
    assert [(c.server, c.via, c.kind, c.rcode) for c in state.checks] == [
        ("10.43.0.10:53", "service", "cluster", "NOERROR"),
        ("10.43.0.10:53", "service", "external", "SERVFAIL"),
    ]
    assert len(r.queries) == 2


@pytest.mark.root
async def test_sim_dns_inside_a_netns_at_the_real_service_ip(make_netns, tmp_path):
    """The sim's responder on 10.43.0.10:53 and the CoreDNS pod IP, only inside the netns."""
    from ciliumtui.cluster import collect_cluster
    from ciliumtui.sim.scenario import load_scenario
    from ciliumtui.sim.server import SimCluster

    ns = make_netns("cl")
    sc = load_scenario({"dns": {"cluster_names": "ok", "external_names": "servfail"}})
    with SimCluster(sc, netns=ns, tmpdir=tmp_path) as sim:
        opts = Options(
            kubeconfig=sim.kubeconfig, node="k3s-node1", netns=ns, host_root=str(tmp_path)
        )
        probes: dict = {}
        cluster = await collect_cluster(opts, probes)
        state = await collect_dns(opts, cluster, probes)
    got = {(c.server, c.kind): c.rcode for c in state.checks}
    assert got == {
        ("10.43.0.10:53", "cluster"): "NOERROR",
        ("10.43.0.10:53", "external"): "SERVFAIL",
        ("10.42.0.50:53", "cluster"): "NOERROR",
        ("10.42.0.50:53", "external"): "SERVFAIL",
    }
