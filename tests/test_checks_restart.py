"""The rules the actions call instead of keeping their own (issue 12 item 2): which pods
a restart deletes, which CiliumNodes are stale — on model objects, and through the
engine's wrappers on the raw API dicts they read."""

from __future__ import annotations

from ciliumtui.checks.restart import restart_plan
from ciliumtui.engine.actions.cluster import classify_pods, stale_ciliumnodes
from ciliumtui.model import PodInfo


def _pod(name: str, ns: str = "default", **kw) -> PodInfo:
    return PodInfo(name=name, namespace=ns, **kw)


def test_restart_plan_never_loses_a_pod():
    plan = restart_plan(
        [
            _pod("web-1", owner_kind="ReplicaSet"),
            _pod("db-0", owner_kind="StatefulSet"),
            _pod("debug"),  # no owner: deleting it would lose it
            _pod("kube-apiserver-n1", "kube-system", owner_kind="Node", mirror=True),
            _pod("cilium-x", "kube-system", owner_kind="DaemonSet", labels={"k8s-app": "cilium"}),
            _pod("node-exporter-x", "monitoring", owner_kind="DaemonSet", host_network=True),
            _pod("old-1", owner_kind="ReplicaSet", deleting=True),
        ]
    )
    assert plan.restart == ["default/web-1", "default/db-0"]
    assert plan.lost == ["default/debug"]
    assert plan.skipped == [
        "kube-system/kube-apiserver-n1 (mirror pod)",
        "kube-system/cilium-x (the cilium pod)",
        "monitoring/node-exporter-x (hostNetwork: unaffected by Cilium)",
        "default/old-1 (already terminating)",
    ]


def test_skip_selector_matches_every_term():
    pods = [
        _pod("a", owner_kind="ReplicaSet", labels={"app": "x", "tier": "db"}),
        _pod("b", owner_kind="ReplicaSet", labels={"app": "x"}),
    ]
    plan = restart_plan(pods, "app=x,tier=db")
    assert plan.restart == ["default/b"] and plan.skipped == ["default/a (the cilium pod)"]
    assert restart_plan(pods, "").restart == ["default/a", "default/b"]


def _raw(name: str, ns: str = "default", **meta) -> dict:
    spec = meta.pop("spec", {})
    return {"metadata": {"name": name, "namespace": ns, **meta}, "spec": spec, "status": {}}


def test_the_action_classifies_raw_pods_with_the_same_rule():
    pods = [
        _raw("web-1", ownerReferences=[{"kind": "ReplicaSet", "name": "web", "controller": True}]),
        _raw("debug"),
        _raw(
            "etcd-n1",
            "kube-system",
            annotations={"kubernetes.io/config.mirror": "abc"},
            ownerReferences=[{"kind": "Node", "name": "n1", "controller": True}],
        ),
        _raw(
            "cilium-x",
            "kube-system",
            labels={"k8s-app": "cilium"},
            ownerReferences=[{"kind": "DaemonSet", "name": "cilium", "controller": True}],
        ),
        _raw(
            "hostnet",
            ownerReferences=[{"kind": "DaemonSet", "name": "h"}],
            spec={"hostNetwork": True},
        ),
    ]
    assert classify_pods(pods) == {
        "restart": ["default/web-1"],
        "lost": ["default/debug"],
        "skipped": [
            "kube-system/etcd-n1 (mirror pod)",
            "kube-system/cilium-x (the cilium pod)",
            "default/hostnet (hostNetwork: unaffected by Cilium)",
        ],
    }


def test_the_action_finds_stale_ciliumnodes_per_family():
    def cn(name: str, *cidrs: str) -> dict:
        return {"metadata": {"name": name}, "spec": {"ipam": {"podCIDRs": list(cidrs)}}}

    nodes = [
        cn("ok", "10.42.0.0/24", "fd10:42::/120"),
        cn("old-v4", "10.0.0.0/24", "fd10:42::100/120"),
        cn("old-v6", "10.42.2.0/24", "fd00::/120"),
        cn("empty"),
    ]
    # v4 pool only (IPv6 off): v6 podCIDRs are not judged — a dual-stack cluster's
    # CiliumNodes are not deleted for having IPv6 CIDRs
    assert stale_ciliumnodes(nodes, ["10.42.0.0/16"]) == ["old-v4"]
    assert stale_ciliumnodes(nodes, ["10.42.0.0/16", "fd10:42::/104"]) == ["old-v4", "old-v6"]


def test_the_action_reads_both_pools_from_cilium_config():
    from ciliumtui.engine.actions.cluster import _config_pools

    data = {"cluster-pool-ipv4-cidr": "10.42.0.0/16", "cluster-pool-ipv6-cidr": "fd10::/104"}
    assert _config_pools(data) == ["10.42.0.0/16"]  # IPv6 off: its pool is not in use
    assert _config_pools({**data, "enable-ipv6": "true"}) == ["10.42.0.0/16", "fd10::/104"]
    assert _config_pools(None) == []
