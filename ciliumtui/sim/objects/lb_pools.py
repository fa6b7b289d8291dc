"""Load-balancer address pools: MetalLB `IPAddressPool` (namespaced, with its CRD only
when MetalLB is installed) and Cilium's `CiliumLoadBalancerIPPool` (cluster-scoped)."""

from __future__ import annotations

from typing import Any

from .. import resources as R
from .meta import BuildContext, Obj

METALLB_NAMESPACE = "metallb-system"


def build(ctx: BuildContext) -> list[Obj]:
    pools = ctx.cluster.get("lb_pools") or []
    out: list[Obj] = []
    if ctx.cluster.get("metallb") or any(
        p.get("kind", "IPAddressPool") == "IPAddressPool" for p in pools
    ):
        out.append(R.crd_object(R.METALLB_POOL))
        ctx.namespaces.add(METALLB_NAMESPACE)
    out += [lb_pool(p) for p in pools]
    return out


def lb_pool(pool: dict[str, Any]) -> Obj:
    """One pool from a scenario's `{kind, name, cidrs, namespace}` (ranges "a-b" allowed)."""
    kind = pool.get("kind", "IPAddressPool")
    cidrs = [str(c) for c in pool.get("cidrs") or []]
    if kind == "CiliumLoadBalancerIPPool":
        blocks = []
        for c in cidrs:
            if "-" in c:
                start, _, stop = c.partition("-")
                blocks.append({"start": start.strip(), "stop": stop.strip()})
            else:
                blocks.append({"cidr": c})
        return {
            "apiVersion": R.CILIUM_LB_POOL.group_version,
            "kind": kind,
            "metadata": {"name": pool["name"], "generation": 1},
            "spec": {"blocks": blocks, "disabled": False},
        }
    return {
        "apiVersion": R.METALLB_POOL.group_version,
        "kind": "IPAddressPool",
        "metadata": {
            "name": pool["name"],
            "namespace": pool.get("namespace", METALLB_NAMESPACE),
            "generation": 1,
        },
        "spec": {"addresses": cidrs, "autoAssign": True},
    }
