"""Large clusters for scale tests: 5,000 nodes / 100,000 pods.

A scale scenario is small on disk: healthy.yaml plus `cluster.scale: {nodes, pods}`.
`expand()` adds the generated nodes to the scenario (addresses, per-node pod CIDRs
from the pool, one cilium pod each via the normal builder) and `scale_pods()`
builds the workload pods directly, sharing the immutable parts between pods —
that keeps 100,000 pods to about a second and a modest amount of memory. The
store indexes pods by node, so "this node's pods" stays a small read.
"""

from __future__ import annotations

import ipaddress
import random
import socket
import struct
from collections.abc import Iterator
from typing import Any

from . import objects as O

# Large enough for 8,192 more /24s, clear of k3s's service CIDR 10.43.0.0/16.
SCALE_POOL = "10.42.0.0/16 10.64.0.0/11"
NODE_NET = ipaddress.ip_network("172.20.0.0/14")
NAMESPACES = 50
PODS_PER_REPLICASET = 50


def generate_scenario(nodes: int = 5000, pods: int = 100_000) -> dict[str, Any]:
    """The scenario's own fields (to be merged over healthy.yaml by load_scenario)."""
    if nodes < 1 or pods < 0:
        raise ValueError("nodes must be >= 1 and pods >= 0")
    return {
        "id": f"scale-{nodes}n-{pods}p",
        "title": f"Scale: {nodes:,} nodes, {pods:,} pods",
        "summary": "A large healthy cluster: probes must ask only for this node's objects.",
        "cluster": {
            "scale": {"nodes": nodes, "pods": pods},
            "cilium": {"config": {"cluster-pool-ipv4-cidr": SCALE_POOL}},
        },
    }


def expand(scenario: dict[str, Any]) -> dict[str, Any]:
    """Add the generated nodes to `scenario` (in place, idempotent); returns it."""
    cl = scenario["cluster"]
    scale = cl.get("scale") or {}
    want = int(scale.get("nodes", 0))
    nodes = cl.setdefault("nodes", [])
    if not want or len(nodes) >= want:
        return scenario
    config = (cl.get("cilium") or {}).get("config") or {}
    pool = str(config.get("cluster-pool-ipv4-cidr", SCALE_POOL)).replace(",", " ").split()
    mask = int(config.get("cluster-pool-ipv4-mask-size", 24))
    used = [
        ipaddress.ip_network(n["pod_cidr"], strict=False)
        for n in nodes
        if isinstance(n.get("pod_cidr"), str)
    ]
    used_ips = {n.get("internal_ip") for n in nodes}

    def free_cidrs() -> Iterator[str]:
        for block in pool:
            for sub in ipaddress.ip_network(block, strict=False).subnets(new_prefix=mask):
                if not any(sub.overlaps(u) for u in used):
                    yield str(sub)

    def free_ips() -> Iterator[str]:
        for ip in NODE_NET.hosts():
            if str(ip) not in used_ips:
                yield str(ip)

    cidrs, ips = free_cidrs(), free_ips()
    for i in range(want - len(nodes)):
        nodes.append(
            {
                "name": f"node-{i + 1:05d}",
                "internal_ip": next(ips),
                "pod_cidr": next(cidrs, None),
                "max_pods": 110,
                "taints": [],
            }
        )
    return scenario


def scale_pods(scenario: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """ReplicaSets and their workload pods, spread round-robin over all nodes."""
    cl = scenario["cluster"]
    total = int((cl.get("scale") or {}).get("pods", 0))
    nodes = [n for n in cl.get("nodes") or [] if n.get("name")]
    if not total or not nodes:
        return
    rng = random.Random(f"{scenario.get('id')}-pods")
    created = O.ts()
    image = "registry.example/app:1.0"
    containers = [{"name": "app", "image": image}]
    spec_shared = {
        "containers": containers,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "dnsPolicy": "ClusterFirst",
    }
    running = O.pod_status(
        "running", containers=[("app", image)], host_ip=None, pod_ip=None, started=created
    )
    # Pod IPs by integer arithmetic: ipaddress objects cost more than the rest of a pod.
    nets = [
        int(ipaddress.ip_network(n["pod_cidr"], strict=False).network_address)
        if isinstance(n.get("pod_cidr"), str) and ":" not in n["pod_cidr"]
        else None
        for n in nodes
    ]
    per_node = [0] * len(nodes)
    rs_count = (total + PODS_PER_REPLICASET - 1) // PODS_PER_REPLICASET
    for r in range(rs_count):
        ns = f"team-{r % NAMESPACES:02d}"
        app = f"app-{r:05d}"
        rs_name = f"{app}-{rng.getrandbits(40):010x}"[:20]
        rs_uid = O.random_uid(rng)
        labels = {"app": app, "pod-template-hash": rs_name.rsplit("-", 1)[1]}
        count = min(PODS_PER_REPLICASET, total - r * PODS_PER_REPLICASET)
        yield {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": ns,
                "uid": rs_uid,
                "labels": labels,
                "generation": 1,
                "creationTimestamp": created,
            },
            "spec": {
                "replicas": count,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": spec_shared},
            },
            "status": {"replicas": count, "readyReplicas": count, "availableReplicas": count},
        }
        owner = [O.owner_ref("ReplicaSet", rs_name, rs_uid)]
        for j in range(count):
            k = (r * PODS_PER_REPLICASET + j) % len(nodes)
            node, net = nodes[k], nets[k]
            per_node[k] += 1
            ip = (
                socket.inet_ntoa(struct.pack("!I", net + 9 + per_node[k]))
                if net is not None
                else None
            )
            host_ip = node.get("internal_ip")
            status = dict(running)
            status["hostIP"], status["hostIPs"] = host_ip, [{"ip": host_ip}]
            status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
            yield {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{rs_name}-{O.suffix(rng)}",
                    "generateName": f"{rs_name}-",
                    "namespace": ns,
                    "uid": O.random_uid(rng),
                    "labels": labels,
                    "ownerReferences": owner,
                    "creationTimestamp": created,
                },
                "spec": {**spec_shared, "nodeName": node["name"]},
                "status": status,
            }


def scale_namespaces(scenario: dict[str, Any]) -> list[str]:
    total = int((scenario["cluster"].get("scale") or {}).get("pods", 0))
    if not total:
        return []
    rs_count = (total + PODS_PER_REPLICASET - 1) // PODS_PER_REPLICASET
    return [f"team-{i:02d}" for i in range(min(NAMESPACES, rs_count))]
