"""Services: the ClusterIP Service shape, and `default/kubernetes` (the apiserver's)."""

from __future__ import annotations

from typing import Any

from .meta import BuildContext, Obj, first_ip, ts, uid_for


def build(ctx: BuildContext) -> list[Obj]:
    return [
        service(
            "kubernetes",
            "default",
            first_ip(ctx.cluster.get("service_cidr", "10.43.0.0/16")),
            [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            {"component": "apiserver", "provider": "kubernetes"},
            None,
        )
    ]


def service(
    name: str,
    namespace: str,
    cluster_ip: str,
    ports: list[dict[str, Any]],
    labels: dict[str, str],
    selector: dict[str, str] | None,
) -> Obj:
    spec: dict[str, Any] = {
        "type": "ClusterIP",
        "clusterIP": cluster_ip,
        "clusterIPs": [cluster_ip],
        "ports": ports,
        "ipFamilies": ["IPv4"],
        "sessionAffinity": "None",
    }
    if selector:
        spec["selector"] = selector
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid_for("svc", namespace, name),
            "labels": labels,
            "creationTimestamp": ts(),
        },
        "spec": spec,
        "status": {"loadBalancer": {}},
    }
