"""rollout.restart: `kubectl rollout restart` of a Deployment or DaemonSet, then (by
default) wait until every pod of it is a new one and Ready — reporting progress,
and on a crash-loop or timeout the findings that explain it (waits.py).

The restart is what kubectl does: the pod template's
`kubectl.kubernetes.io/restartedAt` annotation is set, and the controller replaces
the pods. Used after a config change the pods read only at start (CoreDNS's
Corefile, cilium-config for the operator).
"""

from __future__ import annotations

import asyncio
import shlex
from datetime import datetime, timezone
from typing import Any

from .base import Action, ActionContext, ActionResult, Param, register
from .cluster import _call, _client, pod_ready

KINDS = ("deployment", "daemonset")


def selector_of(workload: dict[str, Any]) -> str:
    labels = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def wanted(kind: str, workload: dict[str, Any]) -> int:
    """How many pods the workload runs when rolled out."""
    if kind == "deployment":
        replicas = (workload.get("spec") or {}).get("replicas")
        return int(replicas if replicas is not None else 1)
    return int((workload.get("status") or {}).get("desiredNumberScheduled") or 0)


def rolled(pods: list[dict[str, Any]], old: set[str], count: int) -> dict[str, Any] | None:
    """A pod standing for "done" when `count` new pods are Ready and no old one is left."""
    new = [p for p in pods if (p.get("metadata") or {}).get("uid") not in old]
    ready = [p for p in new if pod_ready(p)]
    left = [p for p in pods if (p.get("metadata") or {}).get("uid") in old]
    if len(ready) >= max(count, 1) and not left:
        return ready[0]
    return None


@register
class RolloutRestart(Action):
    name = "rollout.restart"
    summary = "kubectl rollout restart of a Deployment/DaemonSet, then wait until all its pods are new and Ready"
    mutates = True
    default_risk = "high"
    requires = frozenset({"apiserver"})
    params = {
        "kind": Param("str", choices=KINDS, default="deployment"),
        "namespace": Param("str", default="kube-system"),
        "name": Param("str", required=True),
        "wait": Param("bool", default=True, help="wait until every pod is new and Ready"),
        "timeout": Param("duration", default=120.0, help="how long to wait"),
        "symptoms": Param("list", help="finding ids about these pods (default: from the selector)"),
    }

    def _argv(self, ctx: ActionContext) -> list[str]:
        p = ctx.params
        return [
            "kubectl",
            "-n",
            str(p["namespace"]),
            "rollout",
            "restart",
            f"{p['kind']}/{p['name']}",
        ]

    async def _read(self, ctx: ActionContext) -> dict[str, Any]:
        from kubernetes import client as k

        p = ctx.params
        cl = _client(ctx)
        api = k.AppsV1Api(cl)
        read = (
            api.read_namespaced_deployment
            if p["kind"] == "deployment"
            else api.read_namespaced_daemon_set
        )
        obj = await _call(read, p["name"], p["namespace"], _request_timeout=ctx.opts.timeout)
        return dict(cl.sanitize_for_serialization(obj))

    async def _pods(self, ctx: ActionContext, selector: str) -> list[dict[str, Any]]:
        from kubernetes import client as k

        cl = _client(ctx)
        res = await _call(
            k.CoreV1Api(cl).list_namespaced_pod,
            ctx.params["namespace"],
            label_selector=selector,
            _request_timeout=ctx.opts.timeout,
        )
        return [cl.sanitize_for_serialization(p) for p in res.items]

    async def plan(self, ctx: ActionContext) -> list[str]:
        await self._read(ctx)  # it must exist: a plan for a missing workload is no plan
        lines = [shlex.join(self._argv(ctx))]
        if ctx.params.get("wait", True):
            lines.append(
                f"# then wait up to {float(ctx.params.get('timeout', 120)):g}s until every pod is new and Ready"
            )
        return lines

    async def run(self, ctx: ActionContext) -> ActionResult:
        from kubernetes import client as k

        from .waits import Waiter, symptoms_for

        p = ctx.params
        workload = await self._read(ctx)
        selector = selector_of(workload)
        before = {
            str((x.get("metadata") or {}).get("uid")) for x in await self._pods(ctx, selector)
        }
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        body = {
            "spec": {
                "template": {
                    "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}
                }
            }
        }
        api = k.AppsV1Api(_client(ctx))
        patch = (
            api.patch_namespaced_deployment
            if p["kind"] == "deployment"
            else api.patch_namespaced_daemon_set
        )
        await _call(
            patch, p["name"], p["namespace"], body,
            _request_timeout=ctx.opts.timeout, _content_type="application/strategic-merge-patch+json",
        )  # fmt: skip
        ctx.out(f"{p['kind']} {p['namespace']}/{p['name']} restarted at {now}")
        if not p.get("wait", True):
            return ActionResult(ok=True, changed=True, data={"restarted_at": now})
        count = wanted(str(p["kind"]), workload)
        symptoms = p.get("symptoms")
        out = await Waiter(
            ctx,
            what=f"{p['kind']} {p['name']} ({selector})",
            timeout=float(p.get("timeout", 120.0)),
            list_pods=lambda: self._pods(ctx, selector),
            done=lambda pods: rolled(pods, before, count),
            pause=lambda s: asyncio.sleep(min(s, 0.5)),
            symptoms=[str(x) for x in symptoms] if symptoms is not None else symptoms_for(selector),
        ).run()
        return ActionResult(
            ok=out.ok,
            changed=True,
            message=out.message,
            findings=out.findings,
            data={"restarted_at": now, "explained": out.early},
        )
