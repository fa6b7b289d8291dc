"""The simulated cluster honours the pools the operator chooses (issue 13 item 2).

- The pod pool: patch cilium-config to any free pool (the one `cidr suggest`
  proposes, 172.16.0.0/16, or another), recreate the CiliumNodes and restart the
  agent: the operator allocates from THAT pool and the rest of the world (Node
  podCIDRs, CoreDNS, the scenario's datapath) follows — nothing is rewritten to a
  pool of the simulator's own.
- LB pools: MetalLB `IPAddressPool` and Cilium's `CiliumLoadBalancerIPPool` can be
  read, patched and replaced with the real kubectl (patch, replace -f, apply -f)
  and the kubernetes client, and the overlap finding clears once the pool moved.

Real parts: the simulated apiserver over HTTP, the real `kubectl`, the kubernetes
client, the cluster probes and the pure checks.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from ciliumtui.checks import run_checks
from ciliumtui.cluster import collect_cluster
from ciliumtui.model import Snapshot
from ciliumtui.options import Options
from ciliumtui.sim import resources as R
from ciliumtui.sim.allocation import follow_allocations
from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster

NODE = "k3s-node1"


def kubectl(sim: SimCluster, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["kubectl", "--kubeconfig", sim.kubeconfig, *args],
        capture_output=True, text=True, timeout=30, input=stdin,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_until(cond: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


# ------------------------------------------------------------ the pure part


def test_follow_allocations_moves_every_address_into_the_new_blocks() -> None:
    sc = load_scenario("default-pod-cidr-overlap")
    out = follow_allocations(
        sc, {"k3s-node1": "172.16.0.0/24", "k3s-node2": "172.16.1.0/24"}, "172.16.0.0/16"
    )
    cil = out["network"]["cilium"]
    assert (cil["pod_cidr"], cil["host_ip"]) == ("172.16.0.0/24", "172.16.0.183")
    assert cil["peers"] == [{"node_ip": "10.0.3.8", "pod_cidr": "172.16.1.0/24"}]
    assert [n["pod_cidr"] for n in out["cluster"]["nodes"]] == ["172.16.0.0/24", "172.16.1.0/24"]
    assert out["cluster"]["coredns"]["ips"] == ["172.16.0.50"]
    assert out["cluster"]["cilium"]["config"]["cluster-pool-ipv4-cidr"] == "172.16.0.0/16"
    assert out["network"]["uplink"] == sc["network"]["uplink"]  # the node network stays
    assert sc["network"]["cilium"]["pod_cidr"] == "10.0.0.0/24"  # the input is not changed


def test_follow_allocations_keeps_a_node_whose_block_did_not_change() -> None:
    sc = load_scenario("healthy")
    out = follow_allocations(sc, {"k3s-node1": "10.42.0.0/24"}, "10.42.0.0/16")
    assert out["network"] == sc["network"] and out["cluster"]["coredns"] == sc["cluster"]["coredns"]


# ------------------------------------------------------- the pod pool, live


@pytest.mark.parametrize("pool", ["172.16.0.0/16", "10.99.0.0/16"])
def test_the_pool_the_operator_patches_is_the_pool_the_cluster_ends_up_with(
    tmp_path: Path, pool: str
) -> None:
    with SimCluster("default-pod-cidr-overlap", tmpdir=tmp_path) as sim:
        patch = {"data": {"cluster-pool-ipv4-cidr": pool}}
        kubectl(sim, "-n", "kube-system", "patch", "configmap", "cilium-config",
                "--type", "merge", "-p", json.dumps(patch))  # fmt: skip
        kubectl(sim, "delete", "ciliumnodes", "--all")

        def cidrs() -> dict[str, str]:
            return sim.allocations()[0]

        wait_until(lambda: len(cidrs()) == 2)
        base = pool.split(".0.0/")[0]
        assert sorted(cidrs().values()) == [f"{base}.0.0/24", f"{base}.1.0/24"]
        assert not sim.fixed  # the agent has not restarted yet
        kubectl(sim, "-n", "kube-system", "delete", "pod", "-l", "k8s-app=cilium",
                "--field-selector", f"spec.nodeName={NODE}")  # fmt: skip
        wait_until(lambda: sim.fixed)

        # The operator's pool stays: nothing rewrites it to a pool of the simulator's.
        cm = kubectl(sim, "-n", "kube-system", "get", "cm", "cilium-config", "-o",
                     "jsonpath={.data.cluster-pool-ipv4-cidr}")  # fmt: skip
        assert cm == pool
        mine = cidrs()[NODE]
        node = json.loads(kubectl(sim, "get", "node", NODE, "-o", "json"))
        assert node["spec"]["podCIDR"] == mine
        assert sim.scenario["network"]["cilium"]["pod_cidr"] == mine
        assert sim.scenario["network"]["cilium"]["host_ip"] == mine.replace(".0/24", ".183")

        pods = json.loads(kubectl(sim, "-n", "kube-system", "get", "pods",
                                  "-l", "k8s-app=kube-dns", "-o", "json"))  # fmt: skip
        # Off-netns CoreDNS stays where the loopback responder listens; the scenario
        # (what a netns node lays out) has moved it into the new block.
        assert [p["status"]["podIP"] for p in pods["items"]] == [sim.dns_addr[0]]
        assert sim.scenario["cluster"]["coredns"]["ips"] == [mine.replace(".0/24", ".50")]
        # A workload pod restarted now gets an address of the new block.
        kubectl(sim, "-n", "default", "delete", "pod", "web-7d9f8-abcde")

        def web_ip() -> str | None:
            pods = json.loads(kubectl(sim, "-n", "default", "get", "pods", "-o", "json"))
            ready = [p for p in pods["items"] if p["status"].get("phase") == "Running"]
            return ready[0]["status"].get("podIP") if ready else None

        assert wait_until(web_ip).startswith(base + ".0.")


async def test_stale_ciliumnodes_follow_the_configured_pool(tmp_path: Path) -> None:
    """stale-ciliumnode-cidr: its on_fix writes no address; the allocation decides."""
    async with SimCluster("stale-ciliumnode-cidr", tmpdir=tmp_path) as sim:
        sim.store.delete(R.CILIUMNODE.gvk, None, NODE)
        sim.store.delete(R.CILIUMNODE.gvk, None, "k3s-node2")
        deadline = time.monotonic() + 10
        while len(sim.allocations()[0]) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        for pod in sim.store.list(R.POD.gvk, "kube-system", node=NODE):
            if pod["metadata"]["labels"].get("k8s-app") == "cilium":
                sim.store.delete(R.POD.gvk, "kube-system", pod["metadata"]["name"])
        while not sim.fixed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sim.fixed
        assert sim.scenario["network"]["cilium"]["pod_cidr"] == "172.20.0.0/24"
        assert sim.scenario["network"]["cilium"]["peers"][0]["pod_cidr"] == "172.20.1.0/24"
        cluster = await collect_cluster(
            Options(kubeconfig=sim.kubeconfig, node=NODE, host_root=str(tmp_path)), {}
        )
    ids = {f.id for f in run_checks(Snapshot(NODE, "now", cluster=cluster))}
    assert "ciliumnode-cidr-stale" not in ids


# ---------------------------------------------------------------- LB pools

LB = {
    "cluster": {
        "lb_pools": [
            {"kind": "IPAddressPool", "name": "default-pool", "cidrs": ["10.42.200.0/24"]},
            {"kind": "CiliumLoadBalancerIPPool", "name": "lb", "cidrs": ["10.42.201.0/24"]},
        ]
    }
}
MOVED = ["192.168.1.240/28"]


async def _lb_findings(sim: SimCluster, tmp_path: Path) -> set[str]:
    opts = Options(kubeconfig=sim.kubeconfig, node=NODE, host_root=str(tmp_path))
    probes: dict = {}
    cluster = await collect_cluster(opts, probes)
    assert probes["lb-pools"].ok
    return {
        f.id
        for f in run_checks(Snapshot(NODE, "now", cluster=cluster))
        if f.id == "lb-pool-overlaps-pod-cidr"
    }


async def test_kubectl_patch_moves_both_pool_kinds_and_the_finding_clears(tmp_path: Path) -> None:
    async with SimCluster(load_scenario(LB), tmpdir=tmp_path) as sim:
        assert await _lb_findings(sim, tmp_path) == {"lb-pool-overlaps-pod-cidr"}
        kubectl(sim, "-n", "metallb-system", "patch", "ipaddresspool", "default-pool",
                "--type", "merge", "-p", json.dumps({"spec": {"addresses": MOVED}}))  # fmt: skip
        kubectl(sim, "patch", "ciliumloadbalancerippool", "lb", "--type", "json", "-p",
                json.dumps([{"op": "replace", "path": "/spec/blocks/0/cidr",
                             "value": "192.168.1.224/28"}]))  # fmt: skip
        assert await _lb_findings(sim, tmp_path) == set()
        pool = json.loads(kubectl(sim, "-n", "metallb-system", "get", "ipaddresspool",
                                  "default-pool", "-o", "json"))  # fmt: skip
        assert pool["spec"]["addresses"] == MOVED and pool["metadata"]["generation"] == 2


def test_kubectl_replace_and_apply_a_pool_manifest(tmp_path: Path) -> None:
    """`replace -f` and `apply -f` validate against the server's OpenAPI first."""
    with SimCluster(load_scenario(LB), tmpdir=tmp_path) as sim:
        text = kubectl(sim, "-n", "metallb-system", "get", "ipaddresspool", "default-pool",
                       "-o", "yaml")  # fmt: skip
        kubectl(sim, "replace", "-f", "-", stdin=text.replace("10.42.200.0/24", MOVED[0]))
        text = kubectl(sim, "get", "ippool", "lb", "-o", "yaml")
        kubectl(sim, "apply", "-f", "-", stdin=text.replace("10.42.201.0/24", "192.168.1.224/28"))
        got = kubectl(sim, "get", "ippool", "lb", "-o", "jsonpath={.spec.blocks[0].cidr}")
        assert got == "192.168.1.224/28"
        got = kubectl(sim, "-n", "metallb-system", "get", "ipaddresspool", "default-pool",
                      "-o", "jsonpath={.spec.addresses[0]}")  # fmt: skip
        assert got == MOVED[0]
        # A stale resourceVersion is refused as by a real apiserver.
        bad = subprocess.run(
            ["kubectl", "--kubeconfig", sim.kubeconfig, "replace", "-f", "-"],
            input=text, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert bad.returncode != 0 and "the object has been modified" in bad.stderr


def test_kubernetes_client_gets_patches_and_replaces_pools(tmp_path: Path) -> None:
    with SimCluster(load_scenario(LB), tmpdir=tmp_path) as sim:
        api = client.CustomObjectsApi(config.new_client_from_config(sim.kubeconfig))
        metallb = ("metallb.io", "v1beta1", "metallb-system", "ipaddresspools", "default-pool")
        got = api.get_namespaced_custom_object(*metallb)
        assert got["spec"]["addresses"] == ["10.42.200.0/24"]
        api.patch_namespaced_custom_object(*metallb, {"spec": {"addresses": MOVED}})
        assert api.get_namespaced_custom_object(*metallb)["spec"]["addresses"] == MOVED

        cilium = ("cilium.io", "v2alpha1", "ciliumloadbalancerippools", "lb")
        obj = api.get_cluster_custom_object(*cilium)
        obj["spec"]["blocks"] = [{"cidr": "192.168.1.224/28"}]
        api.replace_cluster_custom_object(*cilium, obj)
        after = api.get_cluster_custom_object(*cilium)
        assert after["spec"]["blocks"] == [{"cidr": "192.168.1.224/28"}]
        assert after["metadata"]["generation"] == 2
        with pytest.raises(client.ApiException) as stale:
            api.replace_cluster_custom_object(*cilium, obj)  # obj's resourceVersion is old
        assert stale.value.status == 409
