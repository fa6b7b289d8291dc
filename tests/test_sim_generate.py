"""The scale generator: 5,000 nodes / 100,000 pods, and the per-node pod list it must serve."""

from __future__ import annotations

import json
import urllib.request

import pytest
from kubernetes import client
from sim_helpers import api_client

from ciliumtui.cli import main
from ciliumtui.sim.generate import generate_scenario
from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    with SimCluster(
        load_scenario(generate_scenario(5000, 100_000)), tmpdir=tmp_path_factory.mktemp("big")
    ) as sim:
        yield sim


@pytest.mark.slow
def test_scale_cluster_has_every_object(big):
    assert big.store.count("v1/Node") == 5000
    assert big.store.count("cilium.io/v2/CiliumNode") == 5000
    # 100,000 workloads + one agent per node + operator + CoreDNS + the scenario's own 2
    assert big.store.count("v1/Pod") == 100_000 + 5000 + 1 + 1 + 2
    cidrs = [c["spec"]["ipam"]["podCIDRs"][0] for c in big.store.list("cilium.io/v2/CiliumNode")]
    assert len(set(cidrs)) == 5000  # every node its own block


@pytest.mark.slow
def test_one_nodes_pods_by_field_selector(big):
    core = client.CoreV1Api(api_client(big))
    pods = core.list_pod_for_all_namespaces(
        field_selector="spec.nodeName=node-02500", _request_timeout=(1, 5)
    )
    kinds = sorted(p.metadata.labels.get("k8s-app", "workload") for p in pods.items)
    assert kinds.count("cilium") == 1 and kinds.count("workload") == 20
    assert all(p.spec.node_name == "node-02500" for p in pods.items)
    node = core.read_node("node-02500")
    ips = {p.status.pod_ip for p in pods.items if not p.spec.host_network}
    assert len(ips) == 20  # distinct addresses inside the node's block
    prefix = node.spec.pod_cidr.rsplit(".", 1)[0]
    assert all(ip.startswith(prefix + ".") for ip in ips)


@pytest.mark.slow
def test_paginated_ciliumnodes(big):
    url = f"{big.url}/apis/cilium.io/v2/ciliumnodes?limit=500"
    seen, pages = 0, 0
    while url:
        doc = json.load(urllib.request.urlopen(url, timeout=10))
        seen += len(doc["items"])
        pages += 1
        token = doc["metadata"].get("continue")
        url = (
            f"{big.url}/apis/cilium.io/v2/ciliumnodes?limit=500&continue={token}" if token else None
        )
    assert (seen, pages) == (5000, 10)


def test_generate_command_writes_a_loadable_scenario(tmp_path, capsys):
    out = tmp_path / "scale.yaml"
    assert main(["sim", "generate", "--nodes", "30", "--pods", "120", "--out", str(out)]) == 0
    assert "30 nodes" in capsys.readouterr().out
    sc = load_scenario(out)
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        assert sim.store.count("v1/Node") == 30
        assert sim.store.count("v1/Pod") == 120 + 30 + 2 + 2
        assert (
            sim.store.count("apps/v1/ReplicaSet") == 120 // 50 + 1 + 2 + 2
        )  # generated + operator + coredns + web/metrics


def test_generate_refuses_nonsense(tmp_path, capsys):
    assert main(["sim", "generate", "--nodes", "0", "--out", str(tmp_path / "x.yaml")]) == 3
    assert "--nodes must be at least 1" in capsys.readouterr().err
