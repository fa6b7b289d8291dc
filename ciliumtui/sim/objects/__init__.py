"""A scenario's `cluster` section turned into real Kubernetes objects, one module per
kind (or family of kinds).

Shapes follow what a k3s cluster running Cilium (Helm chart) really returns, so the
cluster probes parse the same fields they would on a real node. Each module has a
`build(ctx) -> list[object]`; `build_objects` runs them in BUILDERS order, which is
also the order they draw generated names from the scenario's seeded random (so a
scenario always yields the same pod names). A new kind is one module here plus
its line in BUILDERS (and its Resource in ../resources.py when the apiserver must
serve it). The pod, node and CiliumNode builders are public: the controller uses
them to recreate objects.

    meta           timestamps, uids, name suffixes, owner refs, BuildContext
    pods           pod status per state, the pod object
    workloads      DaemonSet, Deployment + ReplicaSet shapes
    nodes          v1 Node
    cilium         cilium-config, agent DaemonSet + pods, operator, CiliumNodes, CRDs
    lb_pools       MetalLB IPAddressPool (+ CRD), CiliumLoadBalancerIPPool
    coredns        CoreDNS Deployment + pods, the kube-dns Service
    services       the Service shape, default/kubernetes
    kube_proxy     the kube-proxy DaemonSet + pods
    workload_pods  the scenario's `cluster.pods` and their owners
    namespaces     the Namespaces every other builder used
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from . import cilium, coredns, kube_proxy, lb_pools, namespaces, nodes, services, workload_pods
from .cilium import (
    CILIUM_INIT_CONTAINERS,
    agent_overrides,
    agent_state_for,
    cilium_image,
    cilium_pod,
    ciliumnode_object,
    ciliumnodes_of,
    operator_image,
    pod_state_of_agent,
)
from .coredns import coredns_port
from .lb_pools import lb_pool
from .meta import (
    KUBE_SYSTEM,
    BuildContext,
    Obj,
    cm_value,
    node_ip,
    nodes_of,
    now_ts,
    owner_ref,
    random_uid,
    suffix,
    template_hash,
    this_node,
    ts,
    uid_for,
)
from .nodes import node_object
from .pods import POD_STATES, make_pod, pod_status
from .workload_pods import workload_pod

__all__ = [
    "BUILDERS",
    "CILIUM_INIT_CONTAINERS",
    "KUBE_SYSTEM",
    "POD_STATES",
    "BuildContext",
    "Obj",
    "agent_overrides",
    "agent_state_for",
    "build_objects",
    "cilium_image",
    "cilium_pod",
    "ciliumnode_object",
    "ciliumnodes_of",
    "cm_value",
    "coredns_port",
    "lb_pool",
    "make_pod",
    "node_ip",
    "node_object",
    "nodes_of",
    "now_ts",
    "operator_image",
    "owner_ref",
    "pod_state_of_agent",
    "pod_status",
    "random_uid",
    "suffix",
    "template_hash",
    "this_node",
    "ts",
    "uid_for",
    "workload_pod",
]


def _scale(ctx: BuildContext) -> list[Obj]:
    """The generated pods of a `cluster.scale` scenario (ciliumtui.sim.generate)."""
    if not ctx.cluster.get("scale"):
        return []
    from .. import generate

    ctx.namespaces.update(generate.scale_namespaces(ctx.scenario))
    return list(generate.scale_pods(ctx.scenario))


BUILDERS: tuple[Callable[[BuildContext], list[Obj]], ...] = (
    nodes.build,
    cilium.build,
    lb_pools.build,
    coredns.build,
    services.build,
    kube_proxy.build,
    workload_pods.build,
    _scale,
    namespaces.build,  # last: it creates the namespaces the others used
)


def build_objects(
    scenario: dict[str, Any], *, dns_addr: tuple[str, int] | None = None
) -> list[Obj]:
    """Every object of the scenario's cluster.

    dns_addr: where the DNS responder really listens when it is not in a netns;
    the kube-dns Service and the CoreDNS pods then point there (assets/scenarios/README.md).
    """
    if scenario["cluster"].get("scale"):
        from .. import generate

        generate.expand(scenario)
    ctx = BuildContext(scenario, random.Random(scenario.get("id", "scenario")), dns_addr)
    out: list[Obj] = []
    for build in BUILDERS:
        out += build(ctx)
    return out
