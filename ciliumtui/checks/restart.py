"""Which pods a restart deletes (DESIGN §6), written once: the `pods.restart-on-node`
action calls it, and the views can show the same choice before anything runs.

Pure: pods in (model PodInfo), a plan out. Deleting a pod without an owner would
lose it, so it is never deleted; mirror (static) pods cannot be deleted through
the API; hostNetwork pods do not use Cilium's datapath; the agent is restarted
by its own step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..model import PodInfo

CILIUM_SELECTOR = "k8s-app=cilium"


@dataclass
class RestartPlan:
    restart: list[str] = field(
        default_factory=list
    )  # "ns/name": owned, their controller recreates them
    lost: list[str] = field(
        default_factory=list
    )  # no owner: deleting would lose them (never deleted)
    skipped: list[str] = field(default_factory=list)  # "ns/name (why)"

    def as_dict(self) -> dict[str, list[str]]:
        return {"restart": self.restart, "lost": self.lost, "skipped": self.skipped}


def _selects(selector: str, labels: dict[str, str]) -> bool:
    """A `k=v[,k2=v2]` equality selector (what the playbooks pass)."""
    terms = [t.strip() for t in selector.split(",") if t.strip()]
    if not terms:
        return False
    for term in terms:
        key, _, value = term.partition("=")
        if labels.get(key.strip()) != value.strip().lstrip("="):
            return False
    return True


def restart_plan(pods: Iterable[PodInfo], skip_selector: str = CILIUM_SELECTOR) -> RestartPlan:
    """Which pods on the node a restart deletes, and which it skips and why."""
    plan = RestartPlan()
    for p in pods:
        ref = f"{p.namespace}/{p.name}"
        if p.mirror or p.owner_kind == "Node":
            plan.skipped.append(f"{ref} (mirror pod)")
        elif skip_selector and _selects(skip_selector, p.labels):
            plan.skipped.append(f"{ref} (the cilium pod)")
        elif p.host_network:
            plan.skipped.append(f"{ref} (hostNetwork: unaffected by Cilium)")
        elif p.deleting:
            plan.skipped.append(f"{ref} (already terminating)")
        elif not p.owner_kind:
            plan.lost.append(ref)
        else:
            plan.restart.append(ref)
    return plan
