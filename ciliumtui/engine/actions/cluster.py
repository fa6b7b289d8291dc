"""Cluster actions: pod.delete, pod.wait-ready, pods.restart-on-node, ds.rollout-restart,
ciliumnode.delete.

The client comes from ciliumtui.cluster.client.api_client(opts) (retries=0,
explicit timeouts); calls are sync and run in a worker thread. Pod choices are
made on plain dicts (ApiClient.sanitize_for_serialization) by pure functions.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ...errors import CiliumtuiError
from .base import Action, ActionContext, ActionResult, Param, register

if TYPE_CHECKING:
    from .waits import WaitOutcome

CILIUM_SELECTOR = "k8s-app=cilium"


def _client(ctx: ActionContext) -> Any:
    from ...cluster.client import api_client

    return api_client(ctx.opts)


def _api_error(exc: Exception) -> CiliumtuiError:
    status = getattr(exc, "status", None)
    reason = (
        getattr(exc, "reason", None) or str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    )
    return CiliumtuiError(f"apiserver: {status} {reason}" if status else f"apiserver: {reason}")


async def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except CiliumtuiError:
        raise
    except Exception as exc:  # ApiException, urllib3 errors: one line for the user
        raise _api_error(exc) from None


async def _delete_pod(ctx: ActionContext, api: Any, namespace: str, name: str) -> None:
    """DELETE one pod (api: a CoreV1Api), within the run's apiserver timeout."""
    await _call(api.delete_namespaced_pod, name, namespace, _request_timeout=ctx.opts.timeout)


def _list_pods(
    ctx: ActionContext, namespace: str | None, selector: str | None, this_node: bool
) -> list[dict]:
    from kubernetes import client as k

    api_client = _client(ctx)
    api = k.CoreV1Api(api_client)
    kw: dict[str, Any] = {"_request_timeout": ctx.opts.timeout}
    if selector:
        kw["label_selector"] = selector
    if this_node:
        kw["field_selector"] = f"spec.nodeName={ctx.node}"
    if namespace:
        res = api.list_namespaced_pod(namespace, **kw)
    else:
        res = api.list_pod_for_all_namespaces(**kw)
    return [api_client.sanitize_for_serialization(p) for p in res.items]


def pod_ready(pod: dict) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def classify_pods(pods: list[dict], skip_selector: str = CILIUM_SELECTOR) -> dict[str, list[str]]:
    """Which pods on the node a restart deletes, and which it skips and why: the rule
    is `checks.restart.restart_plan` (one place), on the pods as the probes parse them."""
    from ...checks.restart import restart_plan
    from ...cluster.parse import parse_pod

    return restart_plan([parse_pod(p) for p in pods], skip_selector).as_dict()


class _PodAction(Action):
    requires = frozenset({"apiserver"})
    params = {
        "namespace": Param("str", default="kube-system"),
        "selector": Param("str", default=CILIUM_SELECTOR, help="label selector"),
        "name": Param("str", help="one pod by name (instead of the selector)"),
        "this_node": Param("bool", default=True, help="only pods on this node"),
    }

    async def _pods(self, ctx: ActionContext) -> list[dict]:
        p = ctx.params
        pods = await _call(
            _list_pods,
            ctx,
            p.get("namespace"),
            None if p.get("name") else p.get("selector"),
            bool(p.get("this_node", True)) and not p.get("name"),
        )
        if p.get("name"):
            pods = [x for x in pods if x["metadata"]["name"] == p["name"]]
        return pods


@register
class PodDelete(_PodAction):
    name = "pod.delete"
    summary = "delete pods (default: this node's cilium pod); their controller recreates them"
    mutates = True
    default_risk = "high"

    async def plan(self, ctx: ActionContext) -> list[str]:
        pods = await self._pods(ctx)
        if not pods:
            return [
                f"# no pod matches {ctx.params.get('name') or ctx.params.get('selector')} on {ctx.node}"
            ]
        return [
            f"kubectl -n {p['metadata']['namespace']} delete pod {p['metadata']['name']}"
            for p in pods
        ]

    async def run(self, ctx: ActionContext) -> ActionResult:
        from kubernetes import client as k

        pods = await self._pods(ctx)
        if not pods:
            return ActionResult(ok=False, message=f"no pod matches on node {ctx.node}")
        api = k.CoreV1Api(_client(ctx))
        deleted, uids = [], []
        for p in pods:
            meta = p["metadata"]
            await _delete_pod(ctx, api, meta["namespace"], meta["name"])
            deleted.append(f"{meta['namespace']}/{meta['name']}")
            uids.append(meta.get("uid"))
            ctx.out(f"deleted pod {meta['namespace']}/{meta['name']}")
        return ActionResult(ok=True, changed=True, data={"deleted": deleted, "uids": uids})


@register
class PodWaitReady(_PodAction):
    name = "pod.wait-ready"
    summary = (
        "wait (watch) until a matching pod is Ready (default: this node's cilium pod), "
        "reporting progress; on a crash-loop or timeout, the findings that explain it"
    )
    waits = True
    params = {
        **_PodAction.params,
        "timeout": Param("duration", default=120.0),
        "not_uids": Param("any", help="ignore these pod uids (the pods just deleted)"),
        "symptoms": Param(
            "list",
            help="finding ids about the waited-for pod, whose causes a failed wait names "
            "(default: from the selector, e.g. cilium-agent-not-ready)",
        ),
    }

    def _ready(self, pods: list[dict], skip: set[str]) -> dict | None:
        return next(
            (p for p in pods if pod_ready(p) and p["metadata"].get("uid") not in skip), None
        )

    async def run(self, ctx: ActionContext) -> ActionResult:
        from .waits import Waiter, symptoms_for

        p = ctx.params
        timeout = float(p.get("timeout", 120.0))  # seconds: the loader converted it
        skip = {str(u) for u in (p.get("not_uids") or [])}
        what = p.get("name") or p.get("selector") or "the pod"
        if not p.get("name") and p.get("this_node", True):
            what = f"{what} on {ctx.node}"
        symptoms = p.get("symptoms")
        if symptoms is None:
            symptoms = symptoms_for(None if p.get("name") else p.get("selector"))

        async def fresh() -> list[dict]:
            return [x for x in await self._pods(ctx) if x["metadata"].get("uid") not in skip]

        out = await Waiter(
            ctx,
            what=str(what),
            timeout=timeout,
            list_pods=fresh,
            done=lambda pods: self._ready(pods, skip),
            pause=lambda s: self._watch(ctx, s),
            symptoms=[str(x) for x in symptoms],
        ).run()
        if out.ok and out.pod is not None:
            meta = out.pod["metadata"]
            return ActionResult(
                ok=True, data={"pod": f"{meta['namespace']}/{meta['name']}", "name": meta["name"]}
            )
        return ActionResult(
            ok=False,
            message=out.message,
            findings=out.findings,
            data={"explained": out.early},
        )

    async def _watch(self, ctx: ActionContext, seconds: float) -> None:
        """Block until a pod event arrives (or `seconds` pass): a watch, not a poll loop."""
        from kubernetes import client as k
        from kubernetes import watch

        p = ctx.params

        def wait() -> None:
            api = k.CoreV1Api(_client(ctx))
            kw: dict[str, Any] = {
                "timeout_seconds": max(1, int(seconds)),
                "_request_timeout": (ctx.opts.timeout, seconds + 5),
            }
            if p.get("name"):
                kw["field_selector"] = f"metadata.name={p['name']}"
            else:
                if p.get("selector"):
                    kw["label_selector"] = p["selector"]
                if p.get("this_node", True):
                    kw["field_selector"] = f"spec.nodeName={ctx.node}"
            w = watch.Watch()
            try:
                for _ in w.stream(
                    api.list_namespaced_pod, p.get("namespace") or "kube-system", **kw
                ):
                    break  # something changed: re-list and re-check
            finally:
                w.stop()

        try:
            await asyncio.wait_for(asyncio.to_thread(wait), seconds + 6)
        except Exception:
            await asyncio.sleep(
                min(1.0, seconds)
            )  # watch unsupported/broken: fall back to a short pause


@register
class PodsRestartOnNode(Action):
    name = "pods.restart-on-node"
    requires = frozenset({"apiserver"})
    summary = "delete this node's pods that have an owner, so they restart with working networking"
    mutates = True
    default_risk = "high"
    params = {
        "namespace": Param("str", help="only this namespace (default: all)"),
        "skip_selector": Param("str", default=CILIUM_SELECTOR, help="pods never touched"),
    }

    async def _classify(self, ctx: ActionContext) -> tuple[dict[str, list[str]], list[dict]]:
        pods = await _call(_list_pods, ctx, ctx.params.get("namespace"), None, True)
        return classify_pods(pods, ctx.params.get("skip_selector") or CILIUM_SELECTOR), pods

    async def plan(self, ctx: ActionContext) -> list[str]:
        c, _ = await self._classify(ctx)
        lines = [f"kubectl -n {r.split('/')[0]} delete pod {r.split('/')[1]}" for r in c["restart"]]
        lines += [f"# would be lost, NOT deleted (no owner): {r}" for r in c["lost"]]
        lines += [f"# skipped: {r}" for r in c["skipped"]]
        return lines or [f"# no pods on {ctx.node}"]

    async def run(self, ctx: ActionContext) -> ActionResult:
        from kubernetes import client as k

        c, _ = await self._classify(ctx)
        api = k.CoreV1Api(_client(ctx))
        for ref in c["restart"]:
            ns, name = ref.split("/", 1)
            await _delete_pod(ctx, api, ns, name)
            ctx.out(f"deleted pod {ref}")
        for ref in c["lost"]:
            ctx.out(f"not deleted, would be lost (no owner): {ref}")
        return ActionResult(
            ok=True,
            changed=bool(c["restart"]),
            data={"restarted": c["restart"], "lost": c["lost"], "skipped": c["skipped"]},
        )


@register
class DaemonSetRolloutRestart(Action):
    name = "ds.rollout-restart"
    requires = frozenset({"apiserver"})
    summary = "kubectl rollout restart for a DaemonSet (default kube-system/cilium)"
    mutates = True
    default_risk = "high"
    params = {
        "namespace": Param("str", default="kube-system"),
        "name": Param("str", default="cilium"),
    }

    async def plan(self, ctx: ActionContext) -> list[str]:
        return [
            f"kubectl -n {ctx.params.get('namespace', 'kube-system')} rollout restart daemonset "
            f"{ctx.params.get('name', 'cilium')}"
        ]

    async def run(self, ctx: ActionContext) -> ActionResult:
        from kubernetes import client as k

        ns, name = ctx.params.get("namespace", "kube-system"), ctx.params.get("name", "cilium")
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        body = {
            "spec": {
                "template": {
                    "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}
                }
            }
        }
        api = k.AppsV1Api(_client(ctx))
        await _call(
            api.patch_namespaced_daemon_set, name, ns, body, _request_timeout=ctx.opts.timeout
        )
        ctx.out(f"daemonset {ns}/{name} restarted at {now}")
        return ActionResult(ok=True, changed=True, data={"restarted_at": now})


def stale_ciliumnodes(nodes: list[dict], pool: list[str]) -> list[str]:
    """CiliumNodes whose spec.ipam.podCIDRs lie outside the pool of their family: the
    rule is `checks.address.stale_node_names` (one place; IPv6 podCIDRs are judged
    against the IPv6 pool only)."""
    from ...checks.address import stale_node_names
    from ...cidr import nets
    from ...cluster.parse import parse_ciliumnode

    return stale_node_names([parse_ciliumnode(n) for n in nodes], nets(pool))


def _config_pools(data: dict[str, Any] | None) -> list[str]:
    """cilium-config's pools: IPv4, and IPv6 when enable-ipv6 is true."""
    data = data or {}
    pools = str(data.get("cluster-pool-ipv4-cidr") or "").split()
    if str(data.get("enable-ipv6") or "").strip().lower() == "true":
        pools += str(data.get("cluster-pool-ipv6-cidr") or "").split()
    return pools


@register
class CiliumNodeDelete(Action):
    name = "ciliumnode.delete"
    requires = frozenset({"apiserver"})
    summary = "delete CiliumNode objects (stale pod CIDRs); agents recreate them from the pool"
    mutates = True
    default_risk = "high"
    params = {
        "names": Param("list", help="CiliumNode names"),
        "stale": Param("bool", default=False, help="every CiliumNode outside the pool"),
        "pool": Param(
            "any", help="pool CIDRs (default: cilium-config cluster-pool-ipv4-cidr and -ipv6-cidr)"
        ),
    }

    async def _targets(self, ctx: ActionContext) -> list[str]:
        if ctx.params.get("names"):
            return [str(n) for n in ctx.params["names"]]
        if not ctx.params.get("stale"):
            return []
        from kubernetes import client as k

        def read() -> list[str]:
            cl = _client(ctx)
            pool = ctx.params.get("pool")
            if isinstance(pool, str):
                pool = pool.split()
            if not pool:
                cm = k.CoreV1Api(cl).read_namespaced_config_map(
                    "cilium-config", "kube-system", _request_timeout=ctx.opts.timeout
                )
                pool = _config_pools(cm.data)
            res: Any = k.CustomObjectsApi(cl).list_cluster_custom_object(
                "cilium.io", "v2", "ciliumnodes", _request_timeout=ctx.opts.timeout
            )
            return stale_ciliumnodes(res.get("items", []), pool)

        return await _call(read)

    async def plan(self, ctx: ActionContext) -> list[str]:
        names = await self._targets(ctx)
        if names:
            return [f"kubectl delete ciliumnode {n}" for n in names]
        if ctx.dry_run:
            # a pool that an earlier step changes makes the old pool's CiliumNodes stale
            return [
                "# no CiliumNode lies outside the pool configured now (after a pool change: "
                "those of the old pool, known once it is made)"
            ]
        return ["# no stale CiliumNodes"]

    async def run(self, ctx: ActionContext) -> ActionResult:
        from kubernetes import client as k

        names = await self._targets(ctx)
        api = k.CustomObjectsApi(_client(ctx))
        for n in names:
            await _call(
                api.delete_cluster_custom_object,
                "cilium.io",
                "v2",
                "ciliumnodes",
                n,
                _request_timeout=ctx.opts.timeout,
            )
            ctx.out(f"deleted ciliumnode {n}")
        return ActionResult(ok=True, changed=bool(names), data={"deleted": names})


def _pod_node(p: dict) -> str:
    return (p.get("spec") or {}).get("nodeName") or "?"


@register
class CiliumRestartAgents(Action):
    name = "cilium.restart-agents"
    requires = frozenset({"apiserver"})
    summary = "restart the cilium agent pods node by node: delete one, wait for its replacement Ready, next"
    mutates = True
    default_risk = "high"
    params = {
        "namespace": Param("str", default="kube-system"),
        "selector": Param("str", default=CILIUM_SELECTOR),
        "timeout": Param("duration", default=180.0, help="per node"),
    }

    async def _pods(self, ctx: ActionContext) -> list[dict]:
        p = ctx.params
        return await _call(_list_pods, ctx, p.get("namespace"), p.get("selector"), False)

    async def _wait(
        self, ctx: ActionContext, node: str, old_uid: str | None, timeout: float
    ) -> WaitOutcome:
        """Until the node's new agent is Ready, reporting progress; for this node's
        agent a crash-loop or timeout names the findings that explain it (another
        node's agent is out of this node's probes' sight)."""
        from .waits import Waiter, symptoms_for

        async def fresh() -> list[dict]:
            return [
                x
                for x in await self._pods(ctx)
                if _pod_node(x) == node and x["metadata"].get("uid") != old_uid
            ]

        return await Waiter(
            ctx,
            what=f"the new agent on {node}",
            timeout=timeout,
            list_pods=fresh,
            done=lambda pods: next((x for x in pods if pod_ready(x)), None),
            pause=lambda s: asyncio.sleep(min(s, 0.5)),
            symptoms=symptoms_for(CILIUM_SELECTOR) if node == ctx.node else (),
        ).run()

    async def plan(self, ctx: ActionContext) -> list[str]:
        pods = sorted(await self._pods(ctx), key=_pod_node)
        # this node last: the operator keeps a working agent here as long as possible
        pods.sort(key=lambda p: _pod_node(p) == ctx.node)
        return [
            f"kubectl -n {p['metadata']['namespace']} delete pod {p['metadata']['name']}   "
            f"# node {_pod_node(p)}, then wait until its new agent is Ready"
            for p in pods
        ] or ["# no cilium pods found"]

    async def run(self, ctx: ActionContext) -> ActionResult:
        from kubernetes import client as k

        timeout = float(ctx.params.get("timeout", 180.0))  # seconds: the loader converted it
        api = k.CoreV1Api(_client(ctx))
        pods = sorted(await self._pods(ctx), key=_pod_node)
        pods.sort(key=lambda p: _pod_node(p) == ctx.node)
        done: list[str] = []
        started = time.monotonic()
        for p in pods:
            meta, node = p["metadata"], _pod_node(p)
            await _delete_pod(ctx, api, meta["namespace"], meta["name"])
            ctx.out(f"node {node}: deleted {meta['name']}, waiting for the new agent")
            out = await self._wait(ctx, node, meta.get("uid"), timeout)
            if not out.ok:
                return ActionResult(
                    ok=False,
                    changed=True,
                    data={"restarted": done, "explained": out.early},
                    message=f"node {node}: new agent {out.message}; stopped",
                    findings=out.findings,
                )
            done.append(node)
        if done:
            ctx.out(f"{len(done)} agents restarted in {time.monotonic() - started:.0f}s")
        return ActionResult(ok=True, changed=bool(done), data={"restarted": done})
