"""The wave-2 node probes through collect_node on a real simulated node: route MTUs,
rp_filter in the node's netns, the agent's last log lines, the host's CNI/sysctl files."""

from __future__ import annotations

import subprocess

import pytest

from ciliumtui.model import ProbeStatus
from ciliumtui.node import collect_node
from ciliumtui.node.routes import parse_routes, route_mtu
from ciliumtui.options import Options

pytestmark = pytest.mark.root

FATAL = 'level=fatal msg="failed to start: listen udp 0.0.0.0:8472: bind: address already in use"'


def ip(ns, *args):
    subprocess.run(["ip", "-n", ns, *args], check=True)


async def snapshot(netns, root):
    probes: dict[str, ProbeStatus] = {}
    node = await collect_node(Options(netns=netns, host_root=str(root)).node_backend, probes)
    return node, probes


async def test_healthy_node_wave2_fields(cilium_node):
    node, probes = await snapshot(*cilium_node)
    assert probes["rp_filter"].ok and probes["agent_log"].ok
    assert {"all", "default", "lo", "eth0", "cilium_host", "cilium_net"} <= set(node.rp_filter)
    assert all(
        v == 0 for k, v in node.rp_filter.items() if k in ("all", "cilium_host", "cilium_net")
    )
    assert node.agent.last_log == [] and node.agent.last_log_path is None
    assert node.host.sysctl_files == [] and node.host.cni_dirs[0] == "/etc/cni/net.d"
    # tunnel mode: the 50-byte VXLAN overhead is on the peer's pod CIDR route, not the devices
    assert {(r.dst, r.mtu) for r in node.routes if r.mtu is not None} == {("10.42.1.0/24", 1450)}


async def test_mtu_rp_filter_and_last_words_on_a_broken_node(node_factory):
    netns, root = node_factory(
        {
            "host": {
                "agent_log": {"restarts": [["level=info msg=start", FATAL]]},
                "files": {
                    "/etc/sysctl.d/99-zzzz-hardening.conf": "net.ipv4.conf.all.rp_filter = 1\n"
                },
            }
        }
    )
    ip(netns, "link", "set", "eth0", "mtu", "1450")
    ip(netns, "route", "add", "10.99.0.0/24", "dev", "cilium_host", "mtu", "1400")
    ip(netns, "-6", "route", "add", "fd99::/64", "dev", "cilium_host", "mtu", "1380")
    subprocess.run(
        ["ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"], check=True
    )
    node, probes = await snapshot(netns, root)
    assert all(p.ok for p in probes.values()), probes
    mtus = {(r.dst, r.dev): r.mtu for r in node.routes if r.mtu is not None}
    assert mtus == {
        ("10.42.1.0/24", "cilium_host"): 1450,
        ("10.99.0.0/24", "cilium_host"): 1400,
        ("fd99::/64", "cilium_host"): 1380,
    }
    assert {link.name: link.mtu for link in node.links}["eth0"] == 1450
    assert node.rp_filter["all"] == 1 and node.rp_filter["cilium_host"] == 0
    assert [(s.file, s.key, s.value) for s in node.host.sysctl_files] == [
        ("/etc/sysctl.d/99-zzzz-hardening.conf", "net.ipv4.conf.all.rp_filter", "1")
    ]
    assert node.agent.last_log == [FATAL]
    assert node.agent.last_log_path.endswith("/cilium-agent/0.log")


def test_route_mtu_parsing():
    assert route_mtu({"metrics": [{"mtu": 1400}]}) == 1400
    assert route_mtu({"metrics": [{"advmss": 1360}, {"mtu": "1300"}]}) == 1300
    assert route_mtu({"metrics": "garbage"}) is None
    assert route_mtu({"metrics": [{"mtu": {"value": 1280, "lock": True}}]}) == 1280
    [r] = parse_routes([{"dst": "10.0.0.0/8", "dev": "eth0", "metrics": [{"mtu": 1450}]}])
    assert r.mtu == 1450
