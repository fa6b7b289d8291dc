"""The action registry: importing this package registers every action."""

from __future__ import annotations

from . import (  # noqa: F401
    bpf,
    cluster,
    cni,
    configmap,
    coredns,
    diagnose,
    flannel,
    helm,
    k3s,
    k3sconf,
    kubeobj,
    lbpool,
    links,
    mtu,
    netfilter,
    pools,
    routes,
    shell,
    sysctl,
    workloads,
)
from .base import REGISTRY, Action, ActionContext, ActionResult, Param, register

__all__ = ["REGISTRY", "Action", "ActionContext", "ActionResult", "Param", "register", "get_action"]


def get_action(name: str) -> type[Action] | None:
    return REGISTRY.get(name)
