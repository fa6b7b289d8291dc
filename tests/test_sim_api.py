"""The simulated apiserver through the official kubernetes client, over real HTTP."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from sim_helpers import api_client, cilium_pods, is_ready, wait_for, waiting_reason

from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster

NODE = "k3s-node1"


@pytest.fixture
def sim(tmp_path):
    with SimCluster("healthy", tmpdir=tmp_path) as s:
        yield s


def names(items) -> list[str]:
    return sorted(i.metadata.name for i in items)


def test_label_and_field_selectors(sim):
    core = client.CoreV1Api(api_client(sim))
    mine = core.list_namespaced_pod(
        "kube-system",
        label_selector="k8s-app=cilium",
        field_selector=f"spec.nodeName={NODE}",
        _request_timeout=(1, 2),
    )
    assert len(mine.items) == 1
    pod = mine.items[0]
    assert pod.spec.node_name == NODE and pod.metadata.name.startswith("cilium-")
    assert pod.spec.containers[0].image == "quay.io/cilium/cilium:v1.18.4"
    assert pod.metadata.owner_references[0].kind == "DaemonSet"
    assert [c.name for c in pod.spec.init_containers][:2] == ["config", "mount-cgroup"]

    everywhere = core.list_pod_for_all_namespaces(label_selector="k8s-app in (cilium,kube-dns)")
    assert {p.metadata.labels["k8s-app"] for p in everywhere.items} == {"cilium", "kube-dns"}
    assert len(everywhere.items) == 3  # 2 agents + 1 CoreDNS

    not_system = core.list_pod_for_all_namespaces(field_selector="metadata.namespace!=kube-system")
    assert names(not_system.items) == ["web-7d9f8-abcde"]
    no_app_label = core.list_pod_for_all_namespaces(label_selector="!app,k8s-app notin (cilium)")
    assert {p.metadata.labels.get("k8s-app") for p in no_app_label.items} <= {"kube-dns", None}
    assert all("app" not in (p.metadata.labels or {}) for p in no_app_label.items)
    running = core.list_pod_for_all_namespaces(
        field_selector=f"status.phase=Running,spec.nodeName={NODE}"
    )
    assert all(p.spec.node_name == NODE for p in running.items) and len(running.items) >= 4
    with pytest.raises(ApiException) as exc:
        core.list_pod_for_all_namespaces(label_selector="k8s-app in (cilium")
    assert exc.value.status == 400


def test_limit_and_continue_pages_through_everything_once(sim):
    core = client.CoreV1Api(api_client(sim))
    seen, token, pages = [], None, 0
    while True:
        page = core.list_pod_for_all_namespaces(limit=2, _continue=token)
        pages += 1
        seen += [(p.metadata.namespace, p.metadata.name) for p in page.items]
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count > 0
    everything = core.list_pod_for_all_namespaces()
    assert sorted(seen) == sorted((p.metadata.namespace, p.metadata.name) for p in everything.items)
    assert len(seen) == len(set(seen)) and pages == (len(seen) + 1) // 2


def test_get_node_and_not_found_status(sim):
    core = client.CoreV1Api(api_client(sim))
    node = core.read_node(NODE)
    assert node.spec.pod_cidr == "10.42.0.0/24"
    assert (node.status.addresses[0].type, node.status.addresses[0].address) == (
        "InternalIP",
        "192.168.1.21",
    )
    assert node.status.allocatable["pods"] == "110"
    assert node.status.node_info.kubelet_version == "v1.31.4+k3s1"
    with pytest.raises(ApiException) as exc:
        core.read_node("nope")
    assert exc.value.status == 404
    assert (
        '"reason": "NotFound"' in exc.value.body and 'nodes \\"nope\\" not found' in exc.value.body
    )


def test_custom_resources_and_absent_crd(sim):
    co = client.CustomObjectsApi(api_client(sim))
    cns = co.list_cluster_custom_object("cilium.io", "v2", "ciliumnodes")["items"]
    assert {c["metadata"]["name"]: c["spec"]["ipam"]["podCIDRs"] for c in cns} == {
        "k3s-node1": ["10.42.0.0/24"],
        "k3s-node2": ["10.42.1.0/24"],
    }
    assert (
        co.list_cluster_custom_object("cilium.io", "v2alpha1", "ciliumloadbalancerippools")["items"]
        == []
    )
    # MetalLB is not installed in the healthy scenario: its API is absent, as on a real cluster
    with pytest.raises(ApiException) as exc:
        co.list_namespaced_custom_object(
            "metallb.io", "v1beta1", "metallb-system", "ipaddresspools"
        )
    assert exc.value.status == 404


def test_lb_pools_come_with_their_crds(tmp_path):
    sc = load_scenario(
        {
            "cluster": {
                "lb_pools": [
                    {"kind": "IPAddressPool", "name": "lan", "cidrs": ["192.168.1.240/28"]},
                    {
                        "kind": "CiliumLoadBalancerIPPool",
                        "name": "lb",
                        "cidrs": ["10.42.200.0/24", "10.9.0.1-10.9.0.9"],
                    },
                ]
            }
        }
    )
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        co = client.CustomObjectsApi(api_client(sim))
        metallb = co.list_namespaced_custom_object(
            "metallb.io", "v1beta1", "metallb-system", "ipaddresspools"
        )
        cilium = co.list_cluster_custom_object("cilium.io", "v2alpha1", "ciliumloadbalancerippools")
    assert metallb["items"][0]["spec"]["addresses"] == ["192.168.1.240/28"]
    assert cilium["items"][0]["spec"]["blocks"] == [
        {"cidr": "10.42.200.0/24"},
        {"start": "10.9.0.1", "stop": "10.9.0.9"},
    ]


def test_watch_sees_added_modified_deleted(sim):
    core = client.CoreV1Api(api_client(sim))
    start = core.list_namespaced_pod("kube-system", label_selector="k8s-app=cilium")
    events: list[tuple[str, str, str]] = []

    def run() -> None:
        w = watch.Watch()
        for ev in w.stream(
            core.list_namespaced_pod,
            "kube-system",
            label_selector="k8s-app=cilium",
            resource_version=start.metadata.resource_version,
            timeout_seconds=3,
        ):
            events.append((ev["type"], ev["object"].metadata.name, ev["object"].status.phase))
            if ev["type"] == "MODIFIED" and ev["object"].status.phase == "Running":
                w.stop()

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.3)
    victim = cilium_pods(sim, NODE)[0]["metadata"]["name"]
    core.delete_namespaced_pod(victim, "kube-system")
    t.join(10)
    kinds = [e[0] for e in events]
    assert kinds[:3] == ["DELETED", "ADDED", "MODIFIED"], events
    assert events[0][1] == victim and events[1][1] != victim
    assert events[1][2] == "Pending" and events[2][2] == "Running"


def test_watch_without_resource_version_starts_with_current_objects(sim):
    core = client.CoreV1Api(api_client(sim))
    got = []
    for ev in watch.Watch().stream(core.list_node, timeout_seconds=1):
        got.append((ev["type"], ev["object"].metadata.name))
    assert got == [("ADDED", "k3s-node1"), ("ADDED", "k3s-node2")]


def test_deleted_agent_pod_comes_back_ready(sim):
    core = client.CoreV1Api(api_client(sim))
    old = cilium_pods(sim, NODE)[0]["metadata"]["name"]
    deleted = core.delete_namespaced_pod(old, "kube-system")
    assert deleted.metadata.name == old
    fresh = wait_for(lambda: [p for p in cilium_pods(sim, NODE) if p["metadata"]["name"] != old])
    assert len(fresh) == 1 and not is_ready(fresh[0])  # replaced at once, not Ready yet
    ready = wait_for(lambda: [p for p in cilium_pods(sim, NODE) if is_ready(p)], timeout=3)
    assert ready[0]["metadata"]["name"] == fresh[0]["metadata"]["name"]
    ds = client.AppsV1Api(api_client(sim)).read_namespaced_daemon_set("cilium", "kube-system")
    assert (ds.status.desired_number_scheduled, ds.status.number_ready) == (2, 2)


def test_agent_that_crashloops_keeps_crashlooping_after_delete(tmp_path):
    sc = load_scenario({"cluster": {"cilium": {"agent": "crashloop"}, "restart_delay": 0.1}})
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        before = cilium_pods(sim, NODE)[0]
        assert waiting_reason(before) == "CrashLoopBackOff"
        client.CoreV1Api(api_client(sim)).delete_namespaced_pod(
            before["metadata"]["name"], "kube-system"
        )
        after = wait_for(
            lambda: [
                p
                for p in cilium_pods(sim, NODE)
                if waiting_reason(p) == "CrashLoopBackOff"
                and p["metadata"]["name"] != before["metadata"]["name"]
            ]
        )[0]
        last = after["status"]["containerStatuses"][0]["lastState"]["terminated"]
        assert last["exitCode"] == 1 and not is_ready(after)
        ds = client.AppsV1Api(api_client(sim)).read_namespaced_daemon_set("cilium", "kube-system")
        assert ds.status.number_ready == 1


def test_bare_and_mirror_pods_are_not_recreated(tmp_path):
    sc = load_scenario(
        {
            "cluster": {
                "pods": [
                    {"name": "debug", "namespace": "default", "owner": "none", "state": "running"},
                    {
                        "name": "kube-vip-k3s-node1",
                        "namespace": "kube-system",
                        "mirror": True,
                        "state": "running",
                    },
                ]
            }
        }
    )
    with SimCluster(sc, tmpdir=tmp_path) as sim:
        core = client.CoreV1Api(api_client(sim))
        mirror = core.read_namespaced_pod("kube-vip-k3s-node1", "kube-system")
        assert "kubernetes.io/config.mirror" in mirror.metadata.annotations
        assert mirror.metadata.owner_references[0].kind == "Node"
        core.delete_namespaced_pod("debug", "default")
        time.sleep(0.5)
        assert sim.store.list("v1/Pod", "default") == []


def test_patch_flavours_and_generation(sim):
    apps = client.AppsV1Api(api_client(sim))
    patched = apps.patch_namespaced_daemon_set(
        "cilium", "kube-system", {"spec": {"template": {"metadata": {"annotations": {"a": "1"}}}}}
    )  # the client sends strategic merge for dict bodies
    assert patched.spec.template.metadata.annotations == {"a": "1"}
    assert patched.metadata.generation == 2
    core = client.CoreV1Api(api_client(sim))
    cm = core.patch_namespaced_config_map(
        "cilium-config",
        "kube-system",
        [{"op": "replace", "path": "/data/cluster-pool-ipv4-cidr", "value": "10.99.0.0/16"}],
    )  # a list body is sent as JSON patch
    assert cm.data["cluster-pool-ipv4-cidr"] == "10.99.0.0/16"
    assert cm.data["ipam"] == "cluster-pool"
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map(
            "cilium-config", "kube-system", [{"op": "replace", "path": "/data/nope", "value": "x"}]
        )
    assert exc.value.status == 422


def test_merge_patch_over_raw_http_removes_keys_with_null(sim):
    import json
    import urllib.request

    req = urllib.request.Request(
        f"{sim.url}/api/v1/namespaces/kube-system/configmaps/cilium-config",
        method="PATCH",
        data=json.dumps({"data": {"enable-ipv6": None, "new-key": "v"}}).encode(),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    body = json.load(urllib.request.urlopen(req, timeout=2))
    assert "enable-ipv6" not in body["data"] and body["data"]["new-key"] == "v"
    stored = sim.store.get("v1/ConfigMap", "kube-system", "cilium-config")
    assert stored["metadata"]["resourceVersion"] == body["metadata"]["resourceVersion"]


def test_create_conflict_and_mutation_count(sim):
    core = client.CoreV1Api(api_client(sim))
    assert sim.mutations == 0
    core.list_pod_for_all_namespaces()
    assert sim.mutations == 0  # reads are not mutations
    body = {"metadata": {"name": "probe"}, "data": {"k": "v"}}
    created = core.create_namespaced_config_map("default", body)
    assert created.metadata.uid and created.metadata.resource_version
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", body)
    assert exc.value.status == 409 and "AlreadyExists" in exc.value.body
    core.delete_namespaced_config_map("probe", "default")
    assert sim.mutations == 3


def test_deleting_the_daemonset_deletes_its_pods_for_good(sim):
    client.AppsV1Api(api_client(sim)).delete_namespaced_daemon_set("cilium", "kube-system")
    wait_for(lambda: not cilium_pods(sim), timeout=3)
    time.sleep(0.5)
    assert cilium_pods(sim) == []


async def test_async_context_manager_and_aiohttp_watch(tmp_path):
    import json

    import aiohttp

    async with SimCluster("healthy", tmpdir=tmp_path) as sim, aiohttp.ClientSession() as http:
        async with http.get(
            f"{sim.url}/api/v1/nodes",
            params={"labelSelector": "node-role.kubernetes.io/control-plane"},
        ) as r:
            doc = await r.json()
        assert [n["metadata"]["name"] for n in doc["items"]] == ["k3s-node1"]
        rv = doc["metadata"]["resourceVersion"]
        params = {
            "watch": "true",
            "resourceVersion": rv,
            "timeoutSeconds": "2",
            "fieldSelector": "metadata.name=k3s-node2",
        }
        async with http.get(f"{sim.url}/api/v1/nodes", params=params) as stream:
            # a change to another node is filtered out; the one we watch arrives
            async with http.patch(
                f"{sim.url}/api/v1/nodes/k3s-node1",
                json={"metadata": {"labels": {"x": "1"}}},
                headers={"Content-Type": "application/merge-patch+json"},
            ):
                pass
            async with http.patch(
                f"{sim.url}/api/v1/nodes/k3s-node2",
                data=json.dumps({"spec": {"unschedulable": True}}),
                headers={"Content-Type": "application/strategic-merge-patch+json"},
            ):
                pass
            first = json.loads(await stream.content.readline())
    assert first["type"] == "MODIFIED" and first["object"]["metadata"]["name"] == "k3s-node2"
    assert first["object"]["spec"]["unschedulable"] is True
    assert sim.mutations == 2
