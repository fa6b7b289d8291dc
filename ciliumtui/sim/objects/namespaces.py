"""Namespaces: the four every cluster has plus each one another builder used."""

from __future__ import annotations

from .meta import KUBE_SYSTEM, BuildContext, Obj, ts, uid_for

BUILTIN = ("default", KUBE_SYSTEM, "kube-public", "kube-node-lease")


def build(ctx: BuildContext) -> list[Obj]:
    return [namespace_object(ns) for ns in sorted({*BUILTIN, *ctx.namespaces})]


def namespace_object(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": uid_for("ns", name),
            "labels": {"kubernetes.io/metadata.name": name},
            "creationTimestamp": ts(),
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
