"""kube-proxy (`cluster.kube_proxy: true`): its DaemonSet and one host-network pod per node."""

from __future__ import annotations

from .meta import KUBE_SYSTEM, BuildContext, Obj, node_ip, owner_ref, suffix
from .pods import make_pod
from .workloads import daemonset


def build(ctx: BuildContext) -> list[Obj]:
    cl = ctx.cluster
    if not cl.get("kube_proxy"):
        return []
    kube_version = str(cl.get("kubernetes_version", "v1.31.4")).split("+")[0]
    image = f"registry.k8s.io/kube-proxy:{kube_version}"
    kp = daemonset("kube-proxy", {"k8s-app": "kube-proxy"}, image, "kube-proxy", "kubernetes")
    out = [kp]
    for n in ctx.nodes:
        out.append(
            make_pod(
                name=f"kube-proxy-{suffix(ctx.rng)}",
                namespace=KUBE_SYSTEM,
                node=n["name"],
                labels={"k8s-app": "kube-proxy"},
                containers=[("kube-proxy", image)],
                state="running",
                host_ip=node_ip(n),
                pod_ip=node_ip(n),
                owner=owner_ref("DaemonSet", "kube-proxy", kp["metadata"]["uid"]),
                host_network=True,
            )
        )
    return out
