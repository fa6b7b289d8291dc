"""The action registry: importing this package registers every action."""

from __future__ import annotations

from . import bpf, cluster, cni, diagnose, k3s, links, netfilter, routes, shell, sysctl  # noqa: F401
from .base import REGISTRY, Action, ActionContext, ActionResult, Param, register

__all__ = ["REGISTRY", "Action", "ActionContext", "ActionResult", "Param", "register", "get_action"]


def get_action(name: str) -> type[Action] | None:
    return REGISTRY.get(name)
