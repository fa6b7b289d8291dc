"""The simulated kube-dns: real DNS packets (dnspython), UDP and TCP, in a netns too."""

from __future__ import annotations

import socket

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from ciliumtui.netns import socket_in_netns
from ciliumtui.sim.dns_server import EXTERNAL_A
from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster

CLUSTER = "kubernetes.default.svc.cluster.local."


def ask(addr: tuple[str, int], name: str, *, tcp: bool = False, timeout: float = 0.5, sock=None):
    q = dns.message.make_query(name, "A")
    if tcp:
        return dns.query.tcp(q, addr[0], port=addr[1], timeout=timeout)
    return dns.query.udp(q, addr[0], port=addr[1], timeout=timeout, sock=sock)


def answers(resp) -> list[str]:
    return [r.to_text() for rr in resp.answer for r in rr]


def test_cluster_and_external_names_answer(tmp_path):
    with SimCluster("healthy", tmpdir=tmp_path) as sim:
        svc = sim.store.get("v1/Service", "kube-system", "kube-dns")
        # the Service and the CoreDNS pod point where the responder really listens
        assert (svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]) == sim.dns_addr
        for tcp in (False, True):
            r = ask(sim.dns_addr, CLUSTER, tcp=tcp)
            assert (dns.rcode.to_text(r.rcode()), answers(r)) == ("NOERROR", ["10.43.0.1"])
            r = ask(sim.dns_addr, "example.com.", tcp=tcp)
            assert (dns.rcode.to_text(r.rcode()), answers(r)) == ("NOERROR", [EXTERNAL_A])
        r = ask(sim.dns_addr, "kube-dns.kube-system.svc.cluster.local.")
        assert answers(r) == [sim.dns_addr[0]]
        r = ask(sim.dns_addr, "nope.default.svc.cluster.local.")
        assert dns.rcode.to_text(r.rcode()) == "NXDOMAIN"


@pytest.mark.parametrize(
    ("cluster_names", "external_names", "cluster_rcode", "external_rcode"),
    [
        ("ok", "servfail", "NOERROR", "SERVFAIL"),
        ("ok", "nxdomain", "NOERROR", "NXDOMAIN"),
        ("servfail", "ok", "SERVFAIL", "NOERROR"),
        ("ok", "timeout", "NOERROR", None),
        ("timeout", "timeout", None, None),
    ],
)
def test_behaviours(tmp_path, cluster_names, external_names, cluster_rcode, external_rcode):
    sc = load_scenario({"dns": {"cluster_names": cluster_names, "external_names": external_names}})
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        for name, want in ((CLUSTER, cluster_rcode), ("example.com.", external_rcode)):
            if want is None:
                with pytest.raises(dns.exception.Timeout):
                    ask(sim.dns_addr, name, timeout=0.3)
            else:
                assert dns.rcode.to_text(ask(sim.dns_addr, name).rcode()) == want


def test_junk_is_ignored_and_server_keeps_answering(tmp_path):
    with SimCluster("healthy", tmpdir=tmp_path) as sim:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"\x00\x01not dns", sim.dns_addr)
        s.close()
        assert answers(ask(sim.dns_addr, CLUSTER)) == ["10.43.0.1"]


def test_on_fix_changes_dns_behaviour(tmp_path):
    sc = load_scenario(
        {
            "dns": {"external_names": "servfail"},
            "on_fix": {"trigger": "manual", "dns": {"external_names": "ok"}},
        }
    )
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        assert dns.rcode.to_text(ask(sim.dns_addr, "example.com.").rcode()) == "SERVFAIL"
        assert sim.apply_on_fix() is True
        assert answers(ask(sim.dns_addr, "example.com.")) == [EXTERNAL_A]
        assert sim.apply_on_fix() is False  # once


@pytest.mark.root
def test_inside_a_netns_on_the_real_addresses(make_netns, tmp_path):
    ns = make_netns("sm")
    with SimCluster("healthy", netns=ns, tmpdir=tmp_path) as sim:
        assert sim.dns_addr == ("10.43.0.10", 53)
        svc = sim.store.get("v1/Service", "kube-system", "kube-dns")
        assert (svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]) == ("10.43.0.10", 53)
        coredns = [
            p
            for p in sim.store.list("v1/Pod", "kube-system")
            if p["metadata"]["labels"].get("k8s-app") == "kube-dns"
        ]
        assert coredns[0]["status"]["podIP"] == "10.42.0.50"
        for server in ("10.43.0.10", "10.42.0.50"):
            sock = socket_in_netns(ns, socket.AF_INET, socket.SOCK_DGRAM)
            try:
                r = ask((server, 53), CLUSTER, sock=sock)
            finally:
                sock.close()
            assert answers(r) == ["10.43.0.1"]
        # the addresses were put on the namespace's lo (the node builder's job when it runs first)
        import subprocess

        out = subprocess.run(
            ["ip", "-n", ns, "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True
        ).stdout
        assert "10.43.0.10/32" in out and "10.42.0.50/32" in out
