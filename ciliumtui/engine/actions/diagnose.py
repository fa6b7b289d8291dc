"""Read-only actions: diagnose (probes + checks), dns.resolve, helm.suggest."""

from __future__ import annotations

import asyncio
from typing import Any

from ...errors import CiliumtuiError
from ...model import SEVERITIES, SEVERITY_RANK
from .base import Action, ActionContext, ActionResult, Param, register


@register
class Diagnose(Action):
    name = "diagnose"
    summary = "take a snapshot and run every check; captures the findings"
    params = {
        "cluster": Param("bool", default=True, help="also probe the cluster and DNS"),
        "fail_on": Param(
            "str",
            choices=("none", "warning", "critical"),
            default="none",
            help="fail the step when a finding this severe remains",
        ),
    }

    async def run(self, ctx: ActionContext) -> ActionResult:
        from ...checks import run_checks
        from ...collect import collect

        snap = await collect(ctx.opts, cluster=bool(ctx.params.get("cluster", True)))
        findings = run_checks(snap)  # root causes first (checks.causes)
        for f in findings:
            ctx.out(f"{f.severity.upper():8} {f.id}: {f.title}")
        if not findings:
            ctx.out("no findings")
        counts: dict[str, int] = {
            s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES
        }
        fail_on = ctx.params.get("fail_on", "none")
        bad = [
            f.id
            for f in findings
            if fail_on != "none" and SEVERITY_RANK[f.severity] >= SEVERITY_RANK[fail_on]
        ]
        return ActionResult(
            ok=not bad,
            data={
                "findings": [f.to_json() for f in findings],
                "ids": [f.id for f in findings],
                **counts,
            },
            message=f"{fail_on} findings remain: {', '.join(bad)}" if bad else "",
            findings=findings,
        )


def _server(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":") if spec.count(":") == 1 else (spec, "", "")
    return (host or spec), int(port or 53)


async def _kube_dns(ctx: ActionContext) -> tuple[str, int]:
    from ...cluster.client import api_client

    def read() -> tuple[str, int]:
        from kubernetes import client as k

        api = k.CoreV1Api(api_client(ctx.opts))
        svc = api.read_namespaced_service(
            "kube-dns", "kube-system", _request_timeout=ctx.opts.timeout
        )
        spec = svc.spec
        if spec is None or not spec.cluster_ip:
            raise CiliumtuiError("the kube-dns Service has no clusterIP")
        port = next((p.port for p in spec.ports or [] if (p.protocol or "UDP") == "UDP"), 53)
        return str(spec.cluster_ip), int(port)

    return await asyncio.to_thread(read)


def _query(ns: str | None, server: tuple[str, int], name: str, timeout: float) -> dict[str, Any]:
    """One A query through the probes' own query function (ciliumtui.dns.query)."""
    from ...dns import DnsTarget, query

    check = query(name, DnsTarget(server[0], server[1], "service"), netns=ns, timeout=timeout)
    result: dict[str, Any] = {"name": name, "ok": check.ok, "ms": check.ms}
    if check.error:
        result["error"] = check.error
    else:
        result.update(rcode=check.rcode, answers=check.answers)
    return result


@register
class DnsResolve(Action):
    name = "dns.resolve"
    summary = "resolve names through the cluster DNS (the kube-dns Service by default)"
    params = {
        "names": Param("list", required=True, help="names to resolve (A records)"),
        "server": Param("str", help="ip[:port]; default: the kube-dns Service"),
        "timeout": Param("duration", default=2.0),
    }

    async def run(self, ctx: ActionContext) -> ActionResult:
        server = _server(ctx.params["server"]) if ctx.params.get("server") else await _kube_dns(ctx)
        timeout = float(ctx.params.get("timeout", 2.0))  # seconds: the loader converted it
        results = await asyncio.gather(
            *(
                asyncio.to_thread(_query, ctx.netns, server, str(n), timeout)
                for n in ctx.params["names"]
            )
        )
        for r in results:
            detail = ", ".join(r.get("answers") or []) or r.get("error") or r.get("rcode")
            ctx.out(
                f"{'ok  ' if r['ok'] else 'FAIL'} {r['name']} via {server[0]}:{server[1]} → {detail} ({r['ms']} ms)"
            )
        failed = [r["name"] for r in results if not r["ok"]]
        return ActionResult(
            ok=not failed,
            data={"results": list(results), "failed": failed},
            message=f"did not resolve: {', '.join(failed)}" if failed else "",
        )


@register
class HelmSuggest(Action):
    name = "helm.suggest"
    summary = (
        "propose a free pod CIDR pool and print the helm upgrade line (`ciliumtui cidr suggest`)"
    )
    params = {"prefix": Param("int", default=16)}

    async def run(self, ctx: ActionContext) -> ActionResult:
        # In-process: the planner is ciliumtui.cidr's, what is in use the checks' facts.
        from ...checks.address import suggest_pool
        from ...commands.cidr import check_prefix, gather

        prefix = int(ctx.params.get("prefix", 16))
        check_prefix(prefix)  # a CiliumtuiError: one line, before any probing
        snap = await gather(ctx.opts)
        found = suggest_pool(snap, prefix)
        if found.v4 is None:
            return ActionResult(
                ok=False,
                message=f"no free private /{prefix} left: every candidate overlaps something in use",
            )
        ctx.out(f"free pool: {found.v4}")
        if found.v6 is not None:
            ctx.out(f"free IPv6 pool: {found.v6}")
        ctx.out(f"$ {found.helm}")
        return ActionResult(ok=True, data=found.to_json())
