"""Cilium: the cilium-config ConfigMap, the agent DaemonSet and its pods, the
operator Deployment, the CiliumNodes and the Cilium CRDs (Helm chart shapes)."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from .. import resources as R
from .meta import (
    KUBE_SYSTEM,
    BuildContext,
    Obj,
    cm_value,
    node_ip,
    nodes_of,
    owner_ref,
    suffix,
    template_hash,
    ts,
    uid_for,
)
from .pods import make_pod
from .workloads import daemonset, deployment

CILIUM_INIT_CONTAINERS = (
    "config",
    "mount-cgroup",
    "apply-sysctl-overwrites",
    "mount-bpf-fs",
    "clean-cilium-state",
    "install-cni-binaries",
)


def build(ctx: BuildContext) -> list[Obj]:
    cilium = ctx.cluster.get("cilium") or {}
    version = str(cilium.get("version", "1.18.4"))
    out: list[Obj] = [config_map(cilium.get("config") or {})]
    ds = daemonset(
        "cilium",
        {"k8s-app": "cilium", "app.kubernetes.io/name": "cilium-agent"},
        cilium_image(version),
        "cilium-agent",
        "cilium",
    )
    ds["spec"]["template"]["spec"]["initContainers"] = [
        {"name": n, "image": cilium_image(version)} for n in CILIUM_INIT_CONTAINERS
    ]
    out.append(ds)
    restarts = int(cilium.get("restarts", 0))
    overrides = agent_overrides(ctx.scenario)
    revision = template_hash(ds["spec"]["template"])
    for n in ctx.nodes:
        agent = agent_state_for(ctx.scenario, n["name"], overrides)
        if agent == "missing":
            continue
        state = pod_state_of_agent(agent)
        r = restarts if restarts else (17 if state == "crashloop" else 0)
        out.append(cilium_pod(ctx.scenario, n, ds, ctx.rng, state, restarts=r, revision=revision))
    out += _operator(ctx, cilium, version)
    ips = {n.get("name"): node_ip(n) for n in ctx.nodes}
    for cn in ciliumnodes_of(ctx.scenario):
        out.append(
            ciliumnode_object(
                cn["name"], uid_for("node", cn["name"]), ips.get(cn["name"]), cn["pod_cidrs"]
            )
        )
    out.append(R.crd_object(R.CILIUMNODE))
    out.append(R.crd_object(R.CILIUM_LB_POOL))
    return out


def config_map(config: dict[str, Any]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "cilium-config",
            "namespace": KUBE_SYSTEM,
            "uid": uid_for("cm", "cilium-config"),
            "creationTimestamp": ts(),
        },
        "data": {str(k): cm_value(v) for k, v in config.items()},
    }


def _operator(ctx: BuildContext, cilium: dict[str, Any], version: str) -> list[Obj]:
    op = cilium.get("operator") or {}
    replicas = int(op.get("replicas", 1))
    available = int(op.get("available", replicas))
    op_labels = {
        "io.cilium/app": "operator",
        "name": "cilium-operator",
        "app.kubernetes.io/name": "cilium-operator",
        "app.kubernetes.io/part-of": "cilium",
    }
    dep, rs = deployment(
        "cilium-operator",
        op_labels,
        operator_image(version),
        "cilium-operator",
        replicas,
        {"io.cilium/app": "operator", "name": "cilium-operator"},
    )
    out = [dep, rs]
    nodes = ctx.nodes
    for i in range(replicas):
        n = nodes[i % len(nodes)] if nodes else {"name": None}
        out.append(
            make_pod(
                name=f"{rs['metadata']['name']}-{suffix(ctx.rng)}",
                namespace=KUBE_SYSTEM,
                node=n.get("name"),
                labels=rs["spec"]["template"]["metadata"]["labels"],
                containers=[("cilium-operator", operator_image(version))],
                state="running" if i < available else "crashloop",
                host_ip=node_ip(n),
                pod_ip=node_ip(n),
                owner=owner_ref("ReplicaSet", rs["metadata"]["name"], rs["metadata"]["uid"]),
                host_network=True,
                restarts=0 if i < available else 9,
            )
        )
    return out


def cilium_image(version: str) -> str:
    return f"quay.io/cilium/cilium:v{version.lstrip('v')}"


def operator_image(version: str) -> str:
    return f"quay.io/cilium/operator-generic:v{version.lstrip('v')}"


def agent_overrides(scenario: dict[str, Any]) -> dict[str, str]:
    """Per-node `agent:` states given in cluster.nodes."""
    return {
        n["name"]: str(n["agent"]) for n in scenario["cluster"].get("nodes") or [] if n.get("agent")
    }


def agent_state_for(
    scenario: dict[str, Any], node_name: str, overrides: dict[str, str] | None = None
) -> str:
    """ready | not-ready | crashloop | missing for the cilium agent pod on `node_name`."""
    cl = scenario["cluster"]
    if overrides is None:
        overrides = agent_overrides(scenario)
    if node_name in overrides:
        return overrides[node_name]
    if node_name == scenario.get("node_name"):
        return str((cl.get("cilium") or {}).get("agent", "ready"))
    return "ready"


def pod_state_of_agent(agent: str) -> str:
    return {"ready": "running", "not-ready": "not-ready", "crashloop": "crashloop"}.get(
        agent, "running"
    )


def cilium_pod(
    scenario: dict[str, Any],
    node: dict[str, Any],
    ds: dict[str, Any],
    rng: random.Random,
    state: str,
    *,
    restarts: int = 0,
    started: str | None = None,
    revision: str | None = None,
) -> Obj:
    version = str(scenario["cluster"]["cilium"]["version"])
    image = cilium_image(version)
    tmpl_labels = ds["spec"]["template"]["metadata"]["labels"]
    revision = revision or template_hash(ds["spec"]["template"])
    labels = {
        **tmpl_labels,
        "controller-revision-hash": revision,
        "pod-template-generation": str(ds["metadata"].get("generation", 1)),
    }
    ip = node_ip(node)
    return make_pod(
        name=f"cilium-{suffix(rng)}",
        namespace=KUBE_SYSTEM,
        node=node["name"],
        labels=labels,
        containers=[("cilium-agent", image)],
        init_containers=[(n, image) for n in CILIUM_INIT_CONTAINERS],
        state=state,
        host_ip=ip,
        pod_ip=ip,
        owner=owner_ref("DaemonSet", ds["metadata"]["name"], ds["metadata"]["uid"]),
        host_network=True,
        annotations=dict(ds["spec"]["template"]["metadata"].get("annotations") or {}),
        restarts=restarts,
        started=started,
    )


def ciliumnode_object(
    name: str, node_uid: str, internal_ip: str | None, pod_cidrs: list[str]
) -> Obj:
    addresses = [{"ip": internal_ip, "type": "InternalIP"}] if internal_ip else []
    if pod_cidrs:
        net = ipaddress.ip_network(pod_cidrs[0], strict=False)
        # cilium_host takes an address inside the node's CIDR.
        addresses.append(
            {
                "ip": str(net.network_address + min(183, net.num_addresses - 2)),
                "type": "CiliumInternalIP",
            }
        )
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNode",
        "metadata": {
            "name": name,
            "uid": uid_for("ciliumnode", name, *pod_cidrs),
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}
            ],
            "generation": 1,
        },
        "spec": {
            "addresses": addresses,
            "ipam": {"podCIDRs": list(pod_cidrs), "pools": {}},
            "health": {},
        },
        "status": {"ipam": {"operator-status": {}}},
    }


def ciliumnodes_of(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    """[{name, pod_cidrs}] from `cluster.cilium.ciliumnodes` (auto: one per node with its pod_cidr)."""
    spec = (scenario["cluster"].get("cilium") or {}).get("ciliumnodes", "auto")
    if spec == "auto" or spec is None:
        out = []
        for n in nodes_of(scenario):
            cidr = n.get("cilium_pod_cidr", n.get("pod_cidr"))
            cidrs = cidr if isinstance(cidr, list) else ([cidr] if cidr else [])
            out.append({"name": n["name"], "pod_cidrs": [str(c) for c in cidrs]})
        return out
    return [
        {"name": c["name"], "pod_cidrs": [str(x) for x in (c.get("pod_cidrs") or [])]} for c in spec
    ]
