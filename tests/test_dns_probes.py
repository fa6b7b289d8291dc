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


async def test_one_lost_datagram_is_sent_again_not_a_dns_failure():
    """A stub resolver resends (resolv.conf `attempts`); so does the probe, within the
    same timeout: one lost UDP datagram must not become a critical DNS finding."""
    with DnsResponder("drop-first", "timeout") as r:
        target = DnsTarget(*r.addr, "service")
        start = time.perf_counter()
        lost_once, never = await run_checks(
            [target],
            [("kubernetes.default.svc.cluster.local", "cluster"), ("x.io", "external")],
            netns=None,
            timeout=1.2,
        )
        elapsed = time.perf_counter() - start
    assert lost_once.ok and lost_once.answers == ["10.43.0.1"], lost_once
    assert 400 <= lost_once.ms < 1200  # answered to the resend, a third of the timeout in
    assert never.error == "timeout after 1.2s"
    assert r.queries.count("x.io") == 2  # asked twice, and still only one timeout long
    assert elapsed < 1.2 + 0.5


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


# ------------------------------------------------- the node's own resolvers


def resolv_conf(root, *servers: str) -> None:
    etc = root / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "resolv.conf").write_text(
        "# written by the test\nsearch lan\n" + "".join(f"nameserver {s}\n" for s in servers)
    )


def responder_in(ns: str, ip: str, external: str = "ok") -> DnsResponder:
    """A dnspython responder on ip:53 inside the namespace (ip added to its lo)."""
    subprocess.run(["ip", "-n", ns, "addr", "add", f"{ip}/32", "dev", "lo"], check=True)
    sock = socket_in_netns(ns)
    sock.bind((ip, 53))
    return DnsResponder("ok", external, sock=sock)


@pytest.mark.root
async def test_each_node_resolver_is_asked_the_public_name(make_netns, tmp_path):
    """resolv.conf names one resolver that answers and one that drops every query:
    one row each (via "node", kind "external"), from inside the node's namespace, and
    none of them waits for the apiserver (unreachable here: 0 DNS checks before)."""
    ns = make_netns("nd")
    resolv_conf(tmp_path, "10.99.0.1", "10.99.0.2", "10.99.0.1")  # a duplicate is asked once
    with responder_in(ns, "10.99.0.1") as good, responder_in(ns, "10.99.0.2", "timeout") as bad:
        probes: dict = {}
        opts = Options(netns=ns, host_root=str(tmp_path), public_name="github.com")
        state = await collect_dns(opts, ClusterState(reachable=False), probes)
    rows = [(c.server, c.via, c.kind, c.qname, c.rcode, c.error) for c in state.checks]
    assert rows == [
        ("10.99.0.1:53", "node", "external", "github.com", "NOERROR", None),
        ("10.99.0.2:53", "node", "external", "github.com", None, "timeout after 1.5s"),
    ]
    assert state.checks[0].ok and state.checks[0].answers == ["93.184.215.14"]
    # The answering one is asked once; the silent one once more, a third of the timeout in.
    assert good.queries == ["github.com"] and bad.queries == ["github.com"] * 2
    assert probes["node-dns"].ok and "dns" not in probes  # no cluster DNS to ask


@pytest.mark.root
async def test_node_resolvers_are_asked_while_the_apiserver_is_black_holed(make_netns, tmp_path):
    """The whole collection (cluster + DNS): the node's rows are there, and they did not
    wait for the apiserver's timeout: a dropping resolver's 1.5 s ran alongside the
    apiserver's 1 s (one after the other would be 2.5 s)."""
    from kube_fake import black_hole

    from ciliumtui.collect import collect_cluster_and_dns
    from ciliumtui.sim.faults import black_hole_kubeconfig

    ns = make_netns("nd")
    resolv_conf(tmp_path, "10.99.0.1", "10.99.0.2")
    with (
        responder_in(ns, "10.99.0.1"),
        responder_in(ns, "10.99.0.2", "timeout"),
        black_hole() as port,
    ):
        kc = black_hole_kubeconfig(port, tmp_path / "bh.yaml")
        opts = Options(kubeconfig=str(kc), netns=ns, host_root=str(tmp_path), timeout=1.0)
        probes: dict = {}
        start = time.perf_counter()
        cluster, dns = await collect_cluster_and_dns(opts, probes)
        elapsed = time.perf_counter() - start
    assert not cluster.reachable
    assert [(c.via, c.server, c.ok) for c in dns.checks] == [
        ("node", "10.99.0.1:53", True),
        ("node", "10.99.0.2:53", False),
    ]
    assert elapsed < 2.2


@pytest.mark.root
async def test_a_service_without_endpoints_says_so(make_netns, tmp_path):
    """kube-proxy REJECTs traffic to a Service without endpoints (Cilium's socket LB
    refuses it likewise): sendto(2) fails with EPERM, "Operation not permitted". The
    check says what that means on this node."""
    ns = make_netns("nd")
    subprocess.run(["ip", "-n", ns, "addr", "add", "10.43.0.10/32", "dev", "lo"], check=True)
    reject = ["-d", "10.43.0.10/32", "-p", "udp", "--dport", "53", "-j", "REJECT"]
    subprocess.run(
        ["ip", "netns", "exec", ns, "iptables", "-w", "-A", "OUTPUT", *reject], check=True
    )
    cluster = ClusterState(
        reachable=True,
        kube_dns=ServiceInfo("kube-dns", "kube-system", "10.43.0.10", [("dns", 53, "UDP")]),
    )
    state = await collect_dns(Options(netns=ns, host_root=str(tmp_path)), cluster, {})
    assert {c.error for c in state.checks} == {
        "kube-dns has no ready endpoints: the query is rejected on this node"
        " (Operation not permitted)"
    }
    assert all(c.rcode is None and not c.ok for c in state.checks)


@pytest.mark.root
async def test_the_dns_resolve_action_uses_the_probe_query(make_netns, tmp_path):
    """The playbook action's copy of the query lacked setblocking(False): against a
    resolver that drops, dnspython's timeout never fired and the step hung."""
    from ciliumtui.engine.actions.base import ActionContext
    from ciliumtui.engine.actions.diagnose import DnsResolve

    ns = make_netns("nd")
    with responder_in(ns, "10.99.0.3", external="timeout"):
        ctx = ActionContext(
            opts=Options(netns=ns, host_root=str(tmp_path)),
            params={
                "names": ["kubernetes.default.svc.cluster.local", "example.com"],
                "server": "10.99.0.3:53",
                "timeout": 0.5,
            },
            step_id="resolve",
            run_dir=tmp_path,
        )
        start = time.perf_counter()
        result = await DnsResolve().run(ctx)
        elapsed = time.perf_counter() - start
    assert elapsed < 1.5
    assert result.data["failed"] == ["example.com"]
    ok, failed = result.data["results"]
    assert ok["ok"] and ok["answers"] == ["10.43.0.1"]
    assert failed["error"] == "timeout after 0.5s"


@pytest.mark.root
async def test_the_k3s_cluster_dns_hint_is_not_waited_for_when_the_service_is_elsewhere(
    make_netns, tmp_path
):
    """k3s's cluster-dns is asked as the collection starts (it is the Service's address on
    a k3s node); when the apiserver names another Service IP, those early answers are
    dropped, and a hint that never answers costs nothing."""
    ns = make_netns("nd")
    conf = tmp_path / "etc/rancher/k3s"
    conf.mkdir(parents=True)
    (conf / "config.yaml").write_text("cluster-dns: 127.0.0.9\n")  # nothing listens there
    with responder_in(ns, "10.99.0.4") as r:
        cluster = cluster_at(*r.addr, pods=0)
        probes: dict = {}
        start = time.perf_counter()
        state = await collect_dns(Options(netns=ns, host_root=str(tmp_path)), cluster, probes)
        elapsed = time.perf_counter() - start
    assert [(c.server, c.ok) for c in state.checks] == [("10.99.0.4:53", True)] * 2
    assert elapsed < 1.0 and probes["dns"].ok
