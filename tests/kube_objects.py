"""Kubernetes objects in the exact JSON shapes the apiserver returns, for FakeApiServer.

`healthy_cluster()` mirrors assets/scenarios/healthy.yaml (k3s-node1, Cilium 1.18.4,
pool 10.42.0.0/16); keyword arguments switch one thing at a time.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
NODE = "k3s-node1"
CILIUM_IMAGE = "quay.io/cilium/cilium:v1.18.4@sha256:" + "ab" * 32


def node(
    name: str = NODE,
    ip: str = "192.168.1.21",
    pod_cidr: str = "10.42.0.0/24",
    taints: list[Obj] | None = None,
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], "taints": taints or []},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "nodeInfo": {"kubeletVersion": "v1.31.4+k3s1"},
        },
    }


def _container_status(name: str, image: str, state: str) -> Obj:
    if state == "running":
        return {
            "name": name,
            "image": image,
            "ready": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": "2026-11-26T08:00:00Z"}},
            "lastState": {},
        }
    if state == "not-ready":
        return {
            "name": name,
            "image": image,
            "ready": False,
            "restartCount": 1,
            "state": {"running": {"startedAt": "2026-11-26T08:00:00Z"}},
            "lastState": {},
        }
    if state == "crashloop":
        return {
            "name": name,
            "image": image,
            "ready": False,
            "restartCount": 7,
            "state": {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": "back-off 5m0s restarting failed container",
                }
            },
            "lastState": {
                "terminated": {
                    "reason": "Error",
                    "exitCode": 1,
                    "finishedAt": "2026-11-26T08:05:00Z",
                }
            },
        }
    if state == "creating":
        return {
            "name": name,
            "image": image,
            "ready": False,
            "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}},
            "lastState": {},
        }
    raise ValueError(state)


def pod(
    name: str,
    namespace: str = "default",
    node_name: str = NODE,
    state: str = "running",
    *,
    labels: dict[str, str] | None = None,
    owner: tuple[str, str] | None = ("ReplicaSet", "web-7d9f8"),
    image: str = "nginx:1.27",
    container: str = "main",
    ip: str | None = "10.42.0.20",
    ports: list[Obj] | None = None,
    host_network: bool = False,
    mirror: bool = False,
    init: list[tuple[str, str]] | None = None,
) -> Obj:
    ready = state == "running"
    meta: Obj = {"name": name, "namespace": namespace, "labels": labels or {}}
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner[0],
                "name": owner[1],
                "controller": True,
                "uid": "u1",
            }
        ]
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "abc123"}
    phase = "Pending" if state == "creating" else "Running"
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "nodeName": node_name,
            "hostNetwork": host_network,
            "containers": [{"name": container, "image": image, "ports": ports or []}],
            "initContainers": [{"name": n, "image": image} for n, _ in init or []],
        },
        "status": {
            "phase": phase,
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [_container_status(container, image, state)],
            "initContainerStatuses": [
                {
                    "name": n,
                    "image": image,
                    "ready": s == "done",
                    "restartCount": 0,
                    "state": {"terminated": {"reason": "Completed", "exitCode": 0}}
                    if s == "done"
                    else {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {},
                }
                for n, s in init or []
            ],
        },
    }
    return obj


def cilium_pod(state: str = "running", node_name: str = NODE, name: str = "cilium-x7k2p") -> Obj:
    return pod(
        name,
        "kube-system",
        node_name,
        state,
        labels={"k8s-app": "cilium"},
        owner=("DaemonSet", "cilium"),
        image=CILIUM_IMAGE,
        container="cilium-agent",
        ip="192.168.1.21",
        host_network=True,
        init=[("config", "done"), ("mount-cgroup", "done"), ("clean-cilium-state", "done")],
    )


def coredns_pod(
    name: str = "coredns-ccb96694c-7xk2m",
    ip: str = "10.42.0.50",
    port: int = 53,
    ready: bool = True,
) -> Obj:
    return pod(
        name,
        "kube-system",
        NODE,
        "running" if ready else "not-ready",
        labels={"k8s-app": "kube-dns"},
        owner=("ReplicaSet", "coredns-ccb96694c"),
        image="rancher/mirrored-coredns-coredns:1.12.0",
        container="coredns",
        ip=ip,
        ports=[
            {"name": "dns", "containerPort": port, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": port, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
        ],
    )


def daemonset(
    name: str = "cilium", desired: int = 2, ready: int = 2, image: str = CILIUM_IMAGE
) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "cilium-agent" if name == "cilium" else name, "image": image}
                    ]
                }
            }
        },
        "status": {
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "numberAvailable": ready,
        },
    }


def deployment(name: str = "cilium-operator", replicas: int = 1, available: int = 1) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {
            "replicas": replicas,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "cilium-operator",
                            "image": "quay.io/cilium/operator-generic:v1.18.4",
                        }
                    ]
                }
            },
        },
        "status": {
            "replicas": replicas,
            "readyReplicas": available,
            "availableReplicas": available,
        },
    }


def cilium_config(pool: str = "10.42.0.0/16") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cilium-config", "namespace": "kube-system"},
        "data": {
            "ipam": "cluster-pool",
            "cluster-pool-ipv4-cidr": pool,
            "cluster-pool-ipv4-mask-size": "24",
            "routing-mode": "tunnel",
            "tunnel-protocol": "vxlan",
            "kube-proxy-replacement": "false",
            "enable-ipv4": "true",
            "enable-ipv6": "false",
        },
    }


def ciliumnode(name: str, cidr: str, ip: str) -> Obj:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNode",
        "metadata": {"name": name},
        "spec": {"addresses": [{"ip": ip, "type": "InternalIP"}], "ipam": {"podCIDRs": [cidr]}},
    }


def kube_dns_service(ip: str = "10.43.0.10", port: int = 53) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kube-dns",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns"},
        },
        "spec": {
            "clusterIP": ip,
            "ports": [
                {"name": "dns", "port": port, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": port, "protocol": "TCP", "targetPort": 53},
            ],
        },
    }


def healthy_cluster(
    *,
    agent: str | None = "running",  # running | not-ready | crashloop | None (missing)
    operator_available: int = 1,
    kube_proxy: bool = False,
    lb_crds: bool = False,
    lb_pools: list[Obj] | None = None,
    extra_pods: list[Obj] | None = None,
    ciliumnode_count: int = 2,
) -> dict[str, list[Obj]]:
    pods = [
        coredns_pod(),
        pod("web-7d9f8-abcde"),
        pod(
            "metrics-server-5f8-xyz12",
            "kube-system",
            owner=("ReplicaSet", "metrics-server-5f8"),
            ip="10.42.0.21",
        ),
        pod("web-7d9f8-other", node_name="k3s-node2", ip="10.42.1.20"),
        cilium_pod(node_name="k3s-node2", name="cilium-othr1"),
    ]
    if agent:
        pods.append(cilium_pod(agent))
    daemonsets = [daemonset(ready=2 if agent == "running" else 1)]
    if kube_proxy:
        daemonsets.append(daemonset("kube-proxy", image="registry.k8s.io/kube-proxy:v1.31.4"))
        pods.append(
            pod(
                "kube-proxy-abcde",
                "kube-system",
                labels={"k8s-app": "kube-proxy"},
                owner=("DaemonSet", "kube-proxy"),
                host_network=True,
            )
        )
    pods.extend(extra_pods or [])
    cols: dict[str, list[Obj]] = {
        "api/v1/nodes": [node(), node("k3s-node2", "192.168.1.22", "10.42.1.0/24")],
        "api/v1/pods": pods,
        "api/v1/configmaps": [cilium_config()],
        "api/v1/services": [kube_dns_service()],
        "apis/apps/v1/daemonsets": daemonsets,
        "apis/apps/v1/deployments": [deployment(available=operator_available)],
        "apis/cilium.io/v2/ciliumnodes": [
            ciliumnode(f"k3s-node{i + 1}", f"10.42.{i}.0/24", f"192.168.1.{21 + i}")
            for i in range(ciliumnode_count)
        ],
    }
    if lb_crds:
        pools = lb_pools or []
        cols["apis/metallb.io/v1beta1/ipaddresspools"] = [
            p for p in pools if p["kind"] == "IPAddressPool"
        ]
        cols["apis/cilium.io/v2/ciliumloadbalancerippools"] = [
            p for p in pools if p["kind"] == "CiliumLoadBalancerIPPool"
        ]
    return cols
