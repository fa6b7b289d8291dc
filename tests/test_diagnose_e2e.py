"""`ciliumtui diagnose` end to end: a scenario's node built in a real network namespace,
its host files under a fake host root, the simulated cluster on loopback, the agent API
on a unix socket — and the real command as a subprocess, as an operator would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sim_helpers import NodeWorld, node_world

pytestmark = pytest.mark.root


def world(name: str | dict, tmp: Path) -> AbstractContextManager[NodeWorld]:
    """Node (netns dg-*), host root, sim cluster and agent API for scenario `name`
    (a built-in id, or a dict of overrides merged over healthy.yaml)."""
    return node_world(name, tmp, prefix="dg")


def _diagnose(w: NodeWorld, *extra: str) -> tuple[int, dict]:
    res = subprocess.run(
        w.argv("diagnose", "--json", *extra), capture_output=True, text=True, timeout=60
    )
    assert res.returncode != 3, res.stderr
    return res.returncode, json.loads(res.stdout)


def _ids(out: dict) -> set[str]:
    return {f["id"] for f in out["findings"]}


def test_healthy_scenario_has_no_problem(tmp_path):
    with world("healthy", tmp_path) as w:
        code, out = _diagnose(w)
    # healthy.yaml has no k3s stop hook: an info finding, which never fails the run
    assert _ids(out) <= {"k3s-stop-hook-missing"}
    assert code == 0
    assert out["node"] == "k3s-node1"
    assert out["cilium_version"] == "1.18.4"
    assert all(p["ok"] for p in out["probes"].values()), out["probes"]


def test_post_reboot_scenario(tmp_path):
    with world("post-reboot", tmp_path) as w:
        code, out = _diagnose(w)
        saved = tmp_path / "post-reboot.json"
        snap = subprocess.run(
            w.argv("snapshot", "--json"), capture_output=True, text=True, timeout=60
        )
        assert snap.returncode == 0, snap.stderr
        saved.write_text(snap.stdout)
    # offline analysis, elsewhere (the world is gone): the same findings, exit code
    offline = subprocess.run(
        [sys.executable, "-m", "ciliumtui", "diagnose", "--json", "--from", str(saved)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert offline.returncode == code
    assert json.loads(offline.stdout)["findings"] == out["findings"]
    assert code == 2
    # schema 2 (DESIGN §4): root causes first, each symptom linked to what explains it
    assert out["schema"] == 2 and out["tool_version"] and out["generated_at"].endswith("Z")
    roots = [f["root_cause"] for f in out["findings"]]
    assert roots == sorted(roots, reverse=True)
    by_id = {f["id"]: f for f in out["findings"]}
    assert by_id["stale-cilium-interfaces"]["root_cause"] is True
    assert "stale-cilium-interfaces" in by_id["cilium-agent-not-ready"]["explained_by"]
    assert by_id["cilium-agent-not-ready"]["remediation"]["playbook"] == "cleanup"
    assert by_id["dns-external-names-fail"]["explained_by"] == ["cilium-agent-not-ready"]
    assert {
        "cilium-agent-not-ready",
        "stale-cilium-interfaces",
        "stale-cilium-iptables",
        "pods-failing-on-node",
        "dns-external-names-fail",
    } <= _ids(out)
    assert not _ids(out) & {"dns-cluster-names-fail", "coredns-not-ready", "apiserver-unreachable"}
    stale = next(f for f in out["findings"] if f["id"] == "stale-cilium-interfaces")
    assert stale["remediation"]["playbook"] == "cleanup"
    assert any(line.startswith("7 Cilium links: cilium_") for line in stale["evidence"])


def test_default_pod_cidr_overlap_scenario(tmp_path):
    with world("default-pod-cidr-overlap", tmp_path) as w:
        code, out = _diagnose(w)
        cidr = subprocess.run(
            w.argv("cidr", "check", "--json"), capture_output=True, text=True, timeout=60
        )
        sug = subprocess.run(
            w.argv("cidr", "suggest", "--json"), capture_output=True, text=True, timeout=60
        )
    assert code == 2
    assert {
        "pod-cidr-overlaps-node-network",
        "pod-cidr-overlaps-service-cidr",
        "pod-cidr-overlaps-upstream-dns",
    } <= _ids(out)
    node = next(f for f in out["findings"] if f["id"] == "pod-cidr-overlaps-node-network")
    assert "eth0 10.0.3.7/22 lies inside pool 10.0.0.0/8" in node["evidence"]
    # cidr check: the configured pool read from the cluster, the same overlaps, exit 2
    assert cidr.returncode == 2, cidr.stderr
    checked = json.loads(cidr.stdout)
    assert (
        checked["pools"] == ["10.0.0.0/8"]
        and checked["source"] == "cilium-config cluster-pool-ipv4-cidr"
    )
    assert {c["kind"] for c in checked["conflicts"]} >= {
        "node-network",
        "service-cidr",
        "cluster-dns",
        "upstream-dns",
    }
    # cidr suggest: all of 10/8 is the current pool, so the first free /16 is in 172.16/12
    assert sug.returncode == 0, sug.stderr
    suggested = json.loads(sug.stdout)
    assert suggested["cidr"] == "172.16.0.0/16"
    assert suggested["helm"].endswith(
        "--set 'ipam.operator.clusterPoolIPv4PodCIDRList={172.16.0.0/16}'"
    )
    assert suggested["argv"][-1] == "ipam.operator.clusterPoolIPv4PodCIDRList={172.16.0.0/16}"


def test_apiserver_down_still_reports_node_findings(tmp_path):
    with world("post-reboot", tmp_path) as w:
        w.sim.set_fault("hang")
        code, out = _diagnose(w)
    assert code == 2
    assert {"apiserver-unreachable", "stale-cilium-interfaces", "stale-cilium-iptables"} <= _ids(
        out
    )
    # nothing cluster-side is invented from missing data
    assert not _ids(out) & {"cilium-agent-missing", "coredns-not-ready", "pods-failing-on-node"}


# Many independent faults in one world: each finding's probe data meets its check for
# real (ip -j, iptables-save of both backends, host files, the apiserver, DNS packets).
MANY_FAULTS_A = {
    "host": {
        "kernel": "5.4.0-150-generic",
        "bpffs": False,
        "nameservers": ["10.42.9.53"],
        "k3s": {"stop_hook": False},
    },
    "network": {
        "cilium": {"iptables": "legacy"},
        "kube_iptables": "nft",
        "extra_routes": [{"dst": "10.42.128.0/20", "dev": "eth0", "via": "192.168.1.1"}],
    },
    "agent_api": "unhealthy",
    "cluster": {
        "nodes": [
            {
                "name": "k3s-node1",
                "internal_ip": "192.168.1.21",
                "pod_cidr": "10.42.0.0/24",
                "max_pods": 300,
                "taints": [
                    {
                        "key": "node.cilium.io/agent-not-ready",
                        "value": "true",
                        "effect": "NoSchedule",
                    }
                ],
            },
            {
                "name": "k3s-node2",
                "internal_ip": "192.168.1.22",
                "pod_cidr": "10.42.1.0/24",
                "max_pods": 110,
            },
        ],
        "cilium": {
            "config": {"kube-proxy-replacement": "true"},
            "operator": {"replicas": 1, "available": 0},
        },
        "coredns": {"replicas": 1, "ready": False, "ips": ["10.42.0.50"]},
        "lb_pools": [
            {"kind": "CiliumLoadBalancerIPPool", "name": "lb", "cidrs": ["10.42.200.0/24"]}
        ],
    },
}
MANY_FAULTS_B = {
    "host": {"agent_running": False, "k3s": {"stop_hook": False}},
    "agent_api": "none",
    "cluster": {
        "nodes": [
            {"name": "k3s-node1", "internal_ip": None, "pod_cidr": "10.42.0.0/24", "max_pods": 110},
            {
                "name": "k3s-node2",
                "internal_ip": "192.168.1.22",
                "pod_cidr": "10.42.1.0/24",
                "max_pods": 110,
            },
        ],
        "cilium": {"agent": "missing", "config": {"cluster-pool-ipv4-cidr": "172.20.0.0/16"}},
    },
    "dns": {"cluster_names": "servfail", "external_names": "servfail"},
}


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        (
            MANY_FAULTS_A,
            {
                "kernel-too-old",
                "bpffs-not-mounted",
                "pod-cidr-overlaps-node-network",
                "pod-cidr-overlaps-upstream-dns",
                "lb-pool-overlaps-pod-cidr",
                "pod-capacity-exceeds-cidr",
                "cilium-agent-unhealthy",
                "cilium-operator-unavailable",
                "node-taint-agent-not-ready",
                "iptables-backend-split",
                "coredns-not-ready",
                "kube-proxy-replacement-conflict",
                "pods-failing-on-node",  # the crash-looping operator pod runs on this node
                "k3s-stop-hook-missing",
            },
        ),
        (
            MANY_FAULTS_B,
            {
                "cilium-agent-missing",
                "ciliumnode-cidr-stale",
                "node-ip-missing",
                "stale-cilium-interfaces",
                "stale-cilium-iptables",
                "dns-cluster-names-fail",
                "k3s-stop-hook-missing",
            },
        ),
    ],
    ids=["many-faults-a", "many-faults-b"],
)
def test_many_faults_at_once(tmp_path, faults, expected):
    with world(faults, tmp_path) as w:
        code, out = _diagnose(w)
    assert _ids(out) == expected
    assert code == 2


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("stale-ciliumnode-cidr", {"ciliumnode-cidr-stale"}),
        ("metallb-overlap", {"lb-pool-overlaps-pod-cidr"}),
        (
            "agent-crashloop",
            {
                "cilium-agent-not-ready",
                "node-taint-agent-not-ready",
                "stale-cilium-interfaces",
                "stale-cilium-iptables",
            },
        ),
        ("coredns-external-fail", {"dns-external-names-fail"}),
        ("k3s-no-stop-hook", set()),
    ],
)
def test_training_scenarios_show_their_finding(tmp_path, scenario, expected):
    """Each built-in scenario shows what its briefing promises (the stop hook is missing
    in every scenario as long as healthy.yaml has none)."""
    with world(scenario, tmp_path) as w:
        _, out = _diagnose(w)
    assert _ids(out) - {"k3s-stop-hook-missing"} == expected
    assert "k3s-stop-hook-missing" in _ids(out) or scenario != "k3s-no-stop-hook"


def test_broken_kubeconfig_is_a_finding_not_a_crash(tmp_path):
    """Garbage kubeconfig: node findings still come, apiserver-unreachable says why, exit 2."""
    bad = tmp_path / "broken.yaml"
    bad.write_text("apiVersion: v1\nclusters: [this is: not: valid\n")
    with world("post-reboot", tmp_path) as w:
        w.kubeconfig = str(bad)
        res = subprocess.run(w.argv("diagnose"), capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "[apiserver-unreachable]" in res.stdout
    assert "[stale-cilium-interfaces]" in res.stdout
