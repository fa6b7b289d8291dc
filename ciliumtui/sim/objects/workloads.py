"""DaemonSets, Deployments and their ReplicaSets, shaped as the apps/v1 API returns them."""

from __future__ import annotations

from typing import Any

from .meta import KUBE_SYSTEM, Obj, owner_ref, template_hash, ts, uid_for


def daemonset(
    name: str, labels: dict[str, str], image: str, container: str, version_label: str
) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": name,
            "namespace": KUBE_SYSTEM,
            "uid": uid_for("ds", name),
            "labels": {**labels, "app.kubernetes.io/part-of": version_label},
            "generation": 1,
            "creationTimestamp": ts(),
            "annotations": {"deprecated.daemonset.template.generation": "1"},
        },
        "spec": {
            "selector": {"matchLabels": {"k8s-app": labels["k8s-app"]}},
            "template": {
                "metadata": {"labels": dict(labels), "annotations": {}},
                "spec": {"containers": [{"name": container, "image": image}], "hostNetwork": True},
            },
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
        },
        # Filled by the controller; these four are required by the typed client.
        "status": {
            "currentNumberScheduled": 0,
            "desiredNumberScheduled": 0,
            "numberMisscheduled": 0,
            "numberReady": 0,
        },
    }


def deployment(
    name: str,
    labels: dict[str, str],
    image: str,
    container: str,
    replicas: int,
    selector: dict[str, str],
) -> tuple[Obj, Obj]:
    template: dict[str, Any] = {
        "metadata": {"labels": dict(labels), "annotations": {}},
        "spec": {"containers": [{"name": container, "image": image}]},
    }
    h = template_hash(template)
    dep: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": KUBE_SYSTEM,
            "uid": uid_for("deploy", name),
            "labels": dict(labels),
            "generation": 1,
            "creationTimestamp": ts(),
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector}, "template": template},
        "status": {},
    }
    rs_name = f"{name}-{h[:9]}"
    rs: Obj = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name,
            "namespace": KUBE_SYSTEM,
            "uid": uid_for("rs", KUBE_SYSTEM, rs_name),
            "labels": {**labels, "pod-template-hash": h[:9]},
            "ownerReferences": [owner_ref("Deployment", name, dep["metadata"]["uid"])],
            "generation": 1,
            "creationTimestamp": ts(),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {**selector, "pod-template-hash": h[:9]}},
            "template": {
                **template,
                "metadata": {
                    **template["metadata"],
                    "labels": {**labels, "pod-template-hash": h[:9]},
                },
            },
        },
        "status": {"replicas": replicas},
    }
    return dep, rs
