"""The controller loop: replacements, rollouts, the operator's CIDR allocation, on_fix."""

from __future__ import annotations

from kubernetes import client
from sim_helpers import api_client, cilium_pods, is_ready, kubectl, wait_for, waiting_reason

from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster

NODE = "k3s-node1"


def cn_cidrs(sim: SimCluster, name: str):
    cn = sim.store.get("cilium.io/v2/CiliumNode", None, name)
    return cn and cn["spec"]["ipam"]["podCIDRs"]


def test_deleted_ciliumnode_gets_next_free_block_of_the_current_pool(tmp_path):
    """The pod-CIDR change story: change the pool, delete the CiliumNodes, restart agents."""
    with SimCluster("healthy", tmpdir=tmp_path) as sim:
        core = client.CoreV1Api(api_client(sim))
        co = client.CustomObjectsApi(api_client(sim))
        core.patch_namespaced_config_map(
            "cilium-config", "kube-system", {"data": {"cluster-pool-ipv4-cidr": "10.50.0.0/16"}}
        )
        co.delete_cluster_custom_object("cilium.io", "v2", "ciliumnodes", NODE)
        assert wait_for(lambda: cn_cidrs(sim, NODE)) == ["10.50.0.0/24"]
        # the other node still holds its old block; the next allocation skips used blocks
        assert cn_cidrs(sim, "k3s-node2") == ["10.42.1.0/24"]
        co.delete_cluster_custom_object("cilium.io", "v2", "ciliumnodes", "k3s-node2")
        assert wait_for(lambda: cn_cidrs(sim, "k3s-node2")) == ["10.50.1.0/24"]
        cn = sim.store.get("cilium.io/v2/CiliumNode", None, NODE)
        assert {"ip": "192.168.1.21", "type": "InternalIP"} in cn["spec"]["addresses"]


def test_exhausted_pool_reports_operator_error(tmp_path):
    sc = load_scenario(
        {"cluster": {"cilium": {"config": {"cluster-pool-ipv4-cidr": "10.42.0.0/24"}}}}
    )
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        # k3s-node1 holds 10.42.0.0/24 — the only block; node2's CiliumNode cannot get one
        r = kubectl(sim, "delete", "cn", "k3s-node2")
        assert r.returncode == 0, r.stderr
        cn = wait_for(lambda: sim.store.get("cilium.io/v2/CiliumNode", None, "k3s-node2"))
        assert cn["spec"]["ipam"]["podCIDRs"] == []
        assert "exhausted" in cn["status"]["ipam"]["operator-status"]["error"]


def test_on_fix_applies_when_the_local_agent_is_restarted(tmp_path):
    sc = load_scenario(
        {
            "cluster": {"cilium": {"agent": "crashloop"}, "restart_delay": 0.1},
            "dns": {"external_names": "servfail"},
            "on_fix": {"cluster": {"cilium": {"agent": "ready"}}, "dns": {"external_names": "ok"}},
        }
    )
    seen = []
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        sim.on_fix_hooks.append(lambda s: seen.append(s["dns"]["external_names"]))
        # restarting the agent on the *other* node is not the fix
        other = cilium_pods(sim, "k3s-node2")[0]["metadata"]["name"]
        kubectl(sim, "delete", "pod", "-n", "kube-system", other)
        wait_for(
            lambda: (
                all(is_ready(p) for p in cilium_pods(sim, "k3s-node2"))
                and cilium_pods(sim, "k3s-node2")
            )
        )
        assert not sim.fixed
        old = cilium_pods(sim, NODE)[0]
        assert waiting_reason(old) == "CrashLoopBackOff"
        kubectl(sim, "delete", "pod", "-n", "kube-system", old["metadata"]["name"])
        fresh = wait_for(lambda: [p for p in cilium_pods(sim, NODE) if is_ready(p)], timeout=3)
        assert fresh[0]["metadata"]["name"] != old["metadata"]["name"]
        assert sim.fixed and seen == ["ok"]
        assert sim.scenario["dns"]["external_names"] == "ok"


def test_on_fix_waiting_for_two_events(tmp_path):
    sc = load_scenario(
        {
            "on_fix": {
                "trigger": ["ciliumnode-recreated", "agent-restart"],
                "cluster": {"cilium": {"config": {"cluster-pool-ipv4-cidr": "10.42.0.0/16"}}},
            },
            "cluster": {"restart_delay": 0.05},
        }
    )
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        kubectl(sim, "rollout", "restart", "ds/cilium", "-n", "kube-system")
        wait_for(lambda: all(is_ready(p) for p in cilium_pods(sim)) and len(cilium_pods(sim)) == 2)
        assert not sim.fixed and sim.fix_events == {"agent-restart"}
        kubectl(sim, "delete", "cn", NODE)
        wait_for(lambda: sim.fixed)


def test_stuck_pods_start_once_the_agent_is_ready(tmp_path):
    sc = load_scenario(
        {
            "cluster": {
                "cilium": {"agent": "not-ready"},
                "restart_delay": 0.05,
                "pods": [
                    {
                        "name": "web-7d9f8-abcde",
                        "namespace": "default",
                        "owner": "ReplicaSet/web-7d9f8",
                        "state": "ContainerCreating",
                    }
                ],
            },
            "on_fix": {"cluster": {"cilium": {"agent": "ready"}}},
        }
    )
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        web = sim.store.get("v1/Pod", "default", "web-7d9f8-abcde")
        assert waiting_reason(web) == "ContainerCreating" and "podIP" not in web["status"]
        kubectl(sim, "rollout", "restart", "ds/cilium", "-n", "kube-system")
        started = wait_for(
            lambda: (
                (p := sim.store.get("v1/Pod", "default", "web-7d9f8-abcde")) and is_ready(p) and p
            ),
            timeout=3,
        )
        assert started["status"]["podIP"].startswith("10.42.0.")


def test_deployment_rollout_restart_keeps_coredns_addresses(tmp_path):
    with SimCluster("healthy", tmpdir=tmp_path) as sim:

        def coredns():
            return [
                p
                for p in sim.store.list("v1/Pod", "kube-system")
                if p["metadata"]["labels"].get("k8s-app") == "kube-dns"
            ]

        before = coredns()[0]
        r = kubectl(sim, "rollout", "restart", "deploy/coredns", "-n", "kube-system")
        assert r.returncode == 0, r.stderr
        after = wait_for(
            lambda: [
                p
                for p in coredns()
                if p["metadata"]["name"] != before["metadata"]["name"] and is_ready(p)
            ],
            timeout=3,
        )
        assert after[0]["status"]["podIP"] == before["status"]["podIP"]
        dep = client.AppsV1Api(api_client(sim)).read_namespaced_deployment("coredns", "kube-system")
        assert dep.status.available_replicas == 1


def test_operator_unavailable_shows_in_deployment_status(tmp_path):
    sc = load_scenario({"cluster": {"cilium": {"operator": {"replicas": 1, "available": 0}}}})
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        dep = client.AppsV1Api(api_client(sim)).read_namespaced_deployment(
            "cilium-operator", "kube-system"
        )
    assert dep.spec.replicas == 1 and not dep.status.available_replicas
    assert {c.type: c.status for c in dep.status.conditions}["Available"] == "False"


def test_missing_agent_is_scheduled_once_fixed(tmp_path):
    sc = load_scenario(
        {
            "cluster": {"cilium": {"agent": "missing"}, "restart_delay": 0.05},
            "on_fix": {"trigger": "manual", "cluster": {"cilium": {"agent": "ready"}}},
        }
    )
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        assert cilium_pods(sim, NODE) == []
        assert sim.apply_on_fix() is True
        pod = wait_for(lambda: [p for p in cilium_pods(sim, NODE) if is_ready(p)], timeout=3)[0]
        assert pod["spec"]["hostNetwork"] is True and pod["status"]["podIP"] == "192.168.1.21"
        assert len(cilium_pods(sim)) == 2
