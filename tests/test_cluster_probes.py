"""collect_cluster over real HTTP: each cluster state the checks reason about, and faults."""

from __future__ import annotations

import time

import pytest
from kube_fake import FakeApiServer
from kube_objects import NODE, healthy_cluster, pod

from ciliumtui.cluster import PROBE_NAMES, collect_cluster
from ciliumtui.model import ClusterState
from ciliumtui.options import Options


async def collect(srv: FakeApiServer, tmp_path, **opts) -> tuple[ClusterState, dict]:
    probes: dict = {}
    o = Options(
        kubeconfig=srv.kubeconfig(tmp_path),
        node=opts.pop("node", NODE),
        timeout=opts.pop("timeout", 2),
        **opts,
    )
    return await collect_cluster(o, probes), probes


def assert_all_ok(probes: dict) -> None:
    assert set(probes) == {"apiserver", *PROBE_NAMES}
    bad = {k: v.error for k, v in probes.items() if not v.ok}
    assert not bad


async def test_healthy_cluster(tmp_path):
    with FakeApiServer(healthy_cluster()) as srv:
        state, probes = await collect(srv, tmp_path)
    assert_all_ok(probes)
    assert state.reachable and state.error is None
    assert state.context == "fake" and state.server == srv.url
    assert state.node.name == NODE and state.node.pod_cidrs == ["10.42.0.0/24"]
    assert state.cilium_pod.name == "cilium-x7k2p" and state.cilium_pod.ready
    assert state.cilium_version == "1.18.4"
    assert (state.cilium_daemonset.desired, state.cilium_daemonset.ready) == (2, 2)
    assert state.operator.available == 1
    assert state.config.pool == ["10.42.0.0/16"] and state.config.routing_mode == "tunnel"
    assert {(c.name, tuple(c.pod_cidrs)) for c in state.ciliumnodes} == {
        ("k3s-node1", ("10.42.0.0/24",)),
        ("k3s-node2", ("10.42.1.0/24",)),
    }
    assert state.kube_dns.cluster_ip == "10.43.0.10"
    assert [p.ip for p in state.coredns_pods] == ["10.42.0.50"]
    assert state.kube_proxy is False
    assert state.lb_pools == []
    # only this node's pods, including the agent and CoreDNS scheduled here
    assert {p.name for p in state.node_pods} == {
        "cilium-x7k2p",
        "coredns-ccb96694c-7xk2m",
        "web-7d9f8-abcde",
        "metrics-server-5f8-xyz12",
    }


async def test_never_lists_all_pods_of_the_cluster(tmp_path):
    with FakeApiServer(healthy_cluster()) as srv:
        await collect(srv, tmp_path)
    pod_lists = [(p, q) for p, q in srv.requests if p.endswith("/pods")]
    assert pod_lists
    for path, query in pod_lists:
        # a cluster-wide or namespace-wide pod list is always narrowed by node or by label
        assert query.get("fieldSelector") == f"spec.nodeName={NODE}" or query.get(
            "labelSelector"
        ), path
        if path == "/api/v1/pods":
            assert query["fieldSelector"] == f"spec.nodeName={NODE}"


@pytest.mark.parametrize(
    ("agent", "ready", "reason", "restarts"),
    [("not-ready", False, "Running", 1), ("crashloop", False, "CrashLoopBackOff", 7)],
)
async def test_agent_states(tmp_path, agent, ready, reason, restarts):
    with FakeApiServer(healthy_cluster(agent=agent)) as srv:
        state, probes = await collect(srv, tmp_path)
    assert_all_ok(probes)
    p = state.cilium_pod
    assert (p.ready, p.containers[0].reason, p.restarts) == (ready, reason, restarts)
    assert state.cilium_daemonset.ready == 1


async def test_agent_missing_on_this_node_is_data_not_an_error(tmp_path):
    with FakeApiServer(healthy_cluster(agent=None)) as srv:
        state, probes = await collect(srv, tmp_path)
    assert_all_ok(probes)
    assert state.cilium_pod is None
    # the version still comes from the DaemonSet's image
    assert state.cilium_version == "1.18.4"


async def test_operator_unavailable(tmp_path):
    with FakeApiServer(healthy_cluster(operator_available=0)) as srv:
        state, _ = await collect(srv, tmp_path)
    assert (state.operator.desired, state.operator.available) == (1, 0)


async def test_cilium_not_installed_at_all(tmp_path):
    cols = healthy_cluster(agent=None)
    cols["apis/apps/v1/daemonsets"] = []
    cols["apis/apps/v1/deployments"] = []
    cols["api/v1/configmaps"] = []
    del cols["apis/cilium.io/v2/ciliumnodes"]  # no CRDs either
    cols["api/v1/pods"] = [
        p for p in cols["api/v1/pods"] if p["metadata"]["labels"].get("k8s-app") != "cilium"
    ]
    with FakeApiServer(cols) as srv:
        state, probes = await collect(srv, tmp_path)
    assert_all_ok(probes)
    assert (state.cilium_pod, state.cilium_daemonset, state.operator, state.config) == (
        None,
        None,
        None,
        None,
    )
    assert state.ciliumnodes == [] and state.cilium_version is None


async def test_kube_proxy_present(tmp_path):
    with FakeApiServer(healthy_cluster(kube_proxy=True)) as srv:
        state, _ = await collect(srv, tmp_path)
    assert state.kube_proxy is True


async def test_kube_proxy_static_pod_without_daemonset(tmp_path):
    static = pod(
        "kube-proxy-k3s-node1",
        "kube-system",
        labels={"k8s-app": "kube-proxy"},
        owner=("Node", NODE),
        mirror=True,
    )
    with FakeApiServer(healthy_cluster(extra_pods=[static])) as srv:
        state, _ = await collect(srv, tmp_path)
    assert state.kube_proxy is True


async def test_lb_pools_present(tmp_path):
    pools = [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "lan", "namespace": "metallb-system"},
            "spec": {"addresses": ["192.168.1.240-192.168.1.247"]},
        },
        {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumLoadBalancerIPPool",
            "metadata": {"name": "lb"},
            "spec": {"blocks": [{"cidr": "10.42.200.0/24"}]},
        },
    ]
    with FakeApiServer(healthy_cluster(lb_crds=True, lb_pools=pools)) as srv:
        state, probes = await collect(srv, tmp_path)
    assert probes["lb-pools"].ok
    assert [(p.kind, p.name, p.cidrs) for p in state.lb_pools] == [
        ("IPAddressPool", "lan", ["192.168.1.240/29"]),
        ("CiliumLoadBalancerIPPool", "lb", ["10.42.200.0/24"]),
    ]


async def test_lb_pool_v2alpha1_only_cilium(tmp_path):
    cols = healthy_cluster()
    cols["apis/cilium.io/v2alpha1/ciliumloadbalancerippools"] = [
        {
            "kind": "CiliumLoadBalancerIPPool",
            "metadata": {"name": "old"},
            "spec": {"cidrs": [{"cidr": "10.99.0.0/24"}]},
        }
    ]
    with FakeApiServer(cols) as srv:
        state, _ = await collect(srv, tmp_path)
    assert [(p.name, p.cidrs) for p in state.lb_pools] == [("old", ["10.99.0.0/24"])]


async def test_pods_failing_on_node(tmp_path):
    stuck = [
        pod("web-7d9f8-stuck", state="creating", ip=None),
        pod("api-5c4-crash", state="crashloop", owner=("ReplicaSet", "api-5c4")),
        pod("elsewhere-crash", node_name="k3s-node2", state="crashloop"),
    ]
    with FakeApiServer(healthy_cluster(extra_pods=stuck)) as srv:
        state, _ = await collect(srv, tmp_path)
    reasons = {p.name: (p.phase, p.reason) for p in state.node_pods}
    assert reasons["web-7d9f8-stuck"] == ("Pending", "ContainerCreating")
    assert reasons["api-5c4-crash"] == ("Running", "CrashLoopBackOff")
    assert "elsewhere-crash" not in reasons


async def test_ciliumnodes_are_paginated(tmp_path):
    with FakeApiServer(healthy_cluster(ciliumnode_count=2500)) as srv:
        state, _ = await collect(srv, tmp_path)
    assert len(state.ciliumnodes) == 2500
    pages = [q for p, q in srv.requests if p == "/apis/cilium.io/v2/ciliumnodes"]
    assert len(pages) == 3 and all(q["limit"] == "1000" for q in pages) and pages[1]["continue"]


async def test_unknown_node_name_says_so(tmp_path):
    with FakeApiServer(healthy_cluster()) as srv:
        state, probes = await collect(srv, tmp_path, node="not-a-node")
    assert state.node is None
    assert probes["node"].error == "node not-a-node is not in the cluster (wrong name? pass --node)"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            "403",
            "forbidden: cannot list pods in kube-system (RBAC: user system:serviceaccount:default:viewer)",
        ),
        ("500", "apiserver error 500 to list pods in kube-system: etcdserver: request timed out"),
        ("garbage", "garbage answer from the apiserver to list pods in kube-system: not JSON"),
        ("reset", "connection reset by the apiserver"),
        ("hang", "did not answer in time (list pods in kube-system): timed out"),
    ],
)
async def test_a_fault_on_pods_fails_only_the_pod_probes(tmp_path, fault, message):
    with FakeApiServer(healthy_cluster()) as srv:
        srv.fault, srv.fault_on = fault, "/pods"
        start = time.perf_counter()
        state, probes = await collect(srv, tmp_path, timeout=0.5)
        elapsed = time.perf_counter() - start
    assert elapsed < 0.5 * 2 + 1.5  # connect (import) + one timeout, not one per probe
    failed = {k for k, v in probes.items() if not v.ok}
    assert failed == {"cilium-pod", "coredns", "kube-proxy", "node-pods"}
    assert message in probes["cilium-pod"].error
    assert "\n" not in probes["cilium-pod"].error
    # everything not about pods still arrived
    assert state.node.name == NODE and state.config.pool == ["10.42.0.0/16"] and state.operator
    assert state.cilium_pod is None and state.node_pods == []


@pytest.mark.parametrize("fault", ["hang", "401", "403", "500", "garbage", "reset"])
async def test_unreachable_apiserver_short_circuits(tmp_path, fault):
    with FakeApiServer(healthy_cluster()) as srv:
        srv.fault = fault
        start = time.perf_counter()
        state, probes = await collect(srv, tmp_path, timeout=0.5)
        elapsed = time.perf_counter() - start
    assert elapsed < 0.5 + 1.0
    assert state.reachable is False and state.error
    assert set(probes) == {"apiserver"} and probes["apiserver"].error == state.error
    # a liveness GET (no credentials) and at most one real GET, then nothing else
    assert {p for p, _ in srv.requests} == {"/version"} and len(srv.requests) <= 2


async def test_node_name_cannot_change_the_request_path(tmp_path):
    weird = "k3s-node1/../../pods?x="
    with FakeApiServer(healthy_cluster()) as srv:
        state, probes = await collect(srv, tmp_path, node=weird)
    assert state.node is None and "is not in the cluster" in probes["node"].error
    assert state.node_pods == []  # the field selector matched nothing, nothing else was listed
    assert all(
        q.get("fieldSelector") == f"spec.nodeName={weird}"
        for p, q in srv.requests
        if p == "/api/v1/pods"
    )


async def test_service_cidr_and_domain_from_the_k3s_config_even_when_unreachable(tmp_path):
    root = tmp_path / "root"
    (root / "etc/rancher/k3s").mkdir(parents=True)
    (root / "etc/rancher/k3s/config.yaml").write_text(
        "service-cidr: 10.96.0.0/12\ncluster-domain: corp.local\n"
    )
    with FakeApiServer() as srv:
        srv.fault = "500"
        state = await collect_cluster(
            Options(kubeconfig=srv.kubeconfig(tmp_path), host_root=str(root), node=NODE, timeout=1),
            {},
        )
    assert state.reachable is False
    assert (state.service_cidr, state.cluster_domain) == (["10.96.0.0/12"], "corp.local")


async def test_k3s_defaults_apply_when_not_configured(tmp_path):
    root = tmp_path / "root"
    (root / "etc/rancher/k3s").mkdir(parents=True)
    (root / "etc/rancher/k3s/config.yaml").write_text("flannel-backend: none\n")
    with FakeApiServer(healthy_cluster()) as srv:
        state, _ = await collect(srv, tmp_path, host_root=str(root))
    assert (state.service_cidr, state.cluster_domain) == (["10.43.0.0/16"], "cluster.local")


async def test_no_k3s_no_service_cidr(tmp_path):
    with FakeApiServer(healthy_cluster()) as srv:
        state, _ = await collect(srv, tmp_path, host_root=str(tmp_path))
    assert state.service_cidr == [] and state.cluster_domain == "cluster.local"


async def test_corefile_absent_and_no_previous_log_are_not_failures(tmp_path):
    """No coredns ConfigMap (404) and a crash-looping CoreDNS whose previous run the
    kubelet no longer has (400): absent, not errors."""
    cols = healthy_cluster()
    crashing = pod(
        "coredns-ccb96694c-7xk2m",
        "kube-system",
        NODE,
        "crashloop",
        labels={"k8s-app": "kube-dns"},
        container="coredns",
        ip="10.42.0.50",
    )
    cols["api/v1/pods"] = [p for p in cols["api/v1/pods"] if "coredns" not in p["metadata"]["name"]]
    cols["api/v1/pods"].append(crashing)
    with FakeApiServer(cols) as srv:
        state, probes = await collect(srv, tmp_path)
        log_requests = [q for path, q in srv.requests if path.endswith("/log")]
    assert state.coredns_corefile is None and probes["coredns-corefile"].ok
    assert state.coredns_log == [] and probes["coredns-log"].ok
    assert log_requests == [
        {"previous": "true", "tailLines": "20", "limitBytes": "65536", "container": "coredns"}
    ]


async def test_previous_coredns_log_through_a_real_http_answer(tmp_path):
    cols = healthy_cluster()
    for p in cols["api/v1/pods"]:
        if "coredns" in p["metadata"]["name"]:
            p["status"]["containerStatuses"][0]["state"] = {
                "waiting": {"reason": "CrashLoopBackOff"}
            }
    with FakeApiServer(cols) as srv:
        srv.logs["coredns-ccb96694c-7xk2m"] = (
            "\n[INFO] starting\n[FATAL] plugin/loop: Loop detected\n"
        )
        state, _probes = await collect(srv, tmp_path)
    assert state.coredns_log == ["[INFO] starting", "[FATAL] plugin/loop: Loop detected"]


async def test_dual_stack_service_cidrs_from_the_k3s_config(tmp_path):
    """k3s writes a dual-stack service CIDR comma separated; both families are kept."""
    root = tmp_path / "root"
    (root / "etc/rancher/k3s").mkdir(parents=True)
    (root / "etc/rancher/k3s/config.yaml").write_text(
        "service-cidr: 10.43.0.0/16,fd00:43::/112\ncluster-cidr: 10.42.0.0/16,fd00:42::/56\n"
    )
    with FakeApiServer(healthy_cluster()) as srv:
        state, _ = await collect(srv, tmp_path, host_root=str(root))
    assert state.service_cidr == ["10.43.0.0/16", "fd00:43::/112"]
