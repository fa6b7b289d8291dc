"""The simulated node looks like a real one (issue 15): from inside its namespace a
trainee sees what a k3s+Cilium node has — no far ends of veths (`gw-eth0`,
`health-ep`, pod ends), no Service or pod address on `lo` — while the kube-dns
Service, the CoreDNS pods and the node's resolver answer from the node's
namespace through routes, as on a real node (they live in `<netns>.upstream`).

Real parts: namespaces, veths, routes and iptables built by build_node, the
simulated DNS responders, and dnspython queries sent from inside the node.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ciliumtui.dns import DnsTarget, query
from ciliumtui.sim.node_builder import build_node, reap_upstreams, remove_node, upstream_netns
from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster
from ciliumtui.training import recorded

FAR_ENDS = {"gw-eth0", "health-ep", "ctr-3f2a1b0", "lan0"}


@pytest.fixture
def node() -> Iterator[str]:
    """A fresh namespace name; the node (and its upstream namespace) go afterwards."""
    ns = f"sn-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    yield ns
    remove_node(ns)


def links(ns: str) -> dict[str, dict]:
    out = subprocess.run(["ip", "-n", ns, "-j", "addr"], capture_output=True, text=True)
    return {x["ifname"]: x for x in json.loads(out.stdout)}


def answer(ns: str, ip: str, name: str) -> str:
    got = query(name, DnsTarget(ip, 53, "test"), netns=ns, timeout=1.5)
    return got.rcode or f"error: {got.error}"


@pytest.mark.root
def test_the_node_shows_only_what_a_real_node_has(node: str) -> None:
    sc = load_scenario("post-reboot")
    build_node(sc, node)
    have = links(node)
    assert not FAR_ENDS & set(have)
    assert not [n for n in have if n.startswith("pod")]
    lo = {a["local"] for a in have["lo"]["addr_info"]}
    assert lo <= {"127.0.0.1", "::1"}
    # The far ends are in the node's upstream namespace (as a pod's end is in its own).
    upstream = links(upstream_netns(node))
    assert {"lan0", "health-ep", "ctr-3f2a1b0"} <= set(upstream)
    # The node's eth0 is up with carrier: its far end is up too.
    assert "LOWER_UP" in have["eth0"]["flags"]


@pytest.mark.root
def test_kube_dns_coredns_and_the_resolver_answer_from_the_node(node: str, tmp_path: Path) -> None:
    sc = load_scenario("post-reboot")
    build_node(sc, node)
    cluster_name, public = "kubernetes.default.svc.cluster.local", "example.com"
    with SimCluster(sc, netns=node, tmpdir=tmp_path) as sim:
        assert sim.dns_addr == ("10.43.0.10", 53)
        for ip in ("10.43.0.10", "10.42.0.50"):  # the Service, the CoreDNS pod
            assert answer(node, ip, cluster_name) == "NOERROR"
            assert answer(node, ip, public) == "SERVFAIL"  # the scenario's broken forward
        # The node's own resolver (resolv.conf) is the provider's: public names only.
        assert answer(node, "192.168.1.1", public) == "NOERROR"
        assert answer(node, "192.168.1.1", cluster_name) == "NXDOMAIN"
        # With Cilium's links gone (what cleanup does) CoreDNS is reached by the default route.
        names = [n for n in links(node) if n.startswith(("cilium_", "lxc"))]
        batch = "".join(f"link del {n}\n" for n in names if n != "lxcbr0")
        subprocess.run(["ip", "-n", node, "-force", "-batch", "-"], input=batch, text=True)
        assert answer(node, "10.42.0.50", cluster_name) == "NOERROR"


@pytest.mark.root
def test_a_pod_cidr_over_the_resolver_swallows_it(node: str, tmp_path: Path) -> None:
    """default-pod-cidr-overlap: 10.0.0.0/8 pods; the resolver 10.0.0.2 is routed into
    cilium_host, so the node cannot reach it — as on the real VPS."""
    sc = load_scenario("default-pod-cidr-overlap")
    build_node(sc, node)
    with SimCluster(sc, netns=node, tmpdir=tmp_path):
        assert answer(node, "10.0.0.50", "kubernetes.default.svc.cluster.local") == "NOERROR"
        assert answer(node, "10.0.0.2", "example.com").startswith("error: timeout")


@pytest.mark.root
def test_remove_node_and_reaping_leave_no_namespace(node: str) -> None:
    build_node(load_scenario("healthy"), node)
    up = upstream_netns(node)
    assert Path("/run/netns", up).exists()
    subprocess.run(["ip", "netns", "del", node], check=True)  # a caller deleting only its own
    assert up in reap_upstreams() and not Path("/run/netns", up).exists()


def test_the_recorded_node_shows_what_the_built_one_shows() -> None:
    node = recorded.recorded_node_state(load_scenario("post-reboot"))
    names = {link.name for link in node.links}
    assert not FAR_ENDS & names and not [n for n in names if n.startswith("pod")]
    lo = next(link for link in node.links if link.name == "lo")
    assert lo.addresses == ["127.0.0.1/8"]
    coredns = [r for r in node.routes if r.dst == "10.42.0.50/32"]
    assert len(coredns) == 1 and (coredns[0].dev or "").startswith("lxc")
