"""The Kubernetes API routes of the simulated apiserver (aiohttp).

Enough of the real API for the official Python client and the real `kubectl`:
discovery (/api, /apis, /api/v1, /apis/<g>/<v>), list/get with label and field
selectors, limit/continue, watch streams, create, replace, delete, merge /
strategic-merge / JSON patch, Status bodies for errors, and server-side Table
printing for `kubectl get`. /openapi/v3 describes each served kind just enough
for kubectl to leave validation to the server (ciliumtui.sim.openapi), so
`kubectl apply/replace/create -f` work; /openapi/v2 answers 404.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import resources as R
from .faults import FaultState, status_response
from .patch import PatchError, apply_patch
from .selectors import SelectorError, field_matcher, label_matcher, parse_field_selector
from .store import Conflict, Gone, Store, now_iso
from .tables import table, wants_table

MUTATING = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class ApiContext:
    store: Store
    faults: FaultState
    kubernetes_version: str = "v1.31.4+k3s1"
    address: str = "127.0.0.1:0"
    mutations: int = 0
    scenario: Callable[[], dict[str, Any]] = lambda: {"cluster": {}}  # noqa: E731
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path_qs), last 1000


CTX: web.AppKey[ApiContext] = web.AppKey("ctx", ApiContext)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json"
    )


def _served(store: Store) -> list[R.Resource]:
    """Built-in kinds plus custom kinds whose CRD exists right now."""
    out = list(R.BUILTIN)
    for res in R.CUSTOM:
        if store.get(R.CRD.gvk, None, R.crd_name(res)) is not None:
            out.append(res)
    return out


def _find(store: Store, group: str, version: str, plural: str) -> R.Resource | None:
    for res in _served(store):
        if res.group == group and res.version == version and res.plural == plural:
            return res
    return None


def _not_found_path() -> web.Response:
    return status_response(404, "NotFound", "the server could not find the requested resource", {})


# ------------------------------------------------------------------ discovery


def _version(ctx: ApiContext) -> dict[str, Any]:
    v = ctx.kubernetes_version
    major, minor = v.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": v,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def _group_versions(store: Store) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for res in _served(store):
        if res.group:
            versions = groups.setdefault(res.group, [])
            if res.version not in versions:
                versions.append(res.version)
    return groups


def _api_group(name: str, versions: list[str]) -> dict[str, Any]:
    # Prefer the stable-looking version ("v2" over "v2alpha1").
    preferred = sorted(versions, key=lambda v: (not v[1:].isdigit(), v))[0]
    return {
        "name": name,
        "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
        "preferredVersion": {"groupVersion": f"{name}/{preferred}", "version": preferred},
    }


def _resource_list(store: Store, group: str, version: str) -> dict[str, Any] | None:
    resources = [r for r in _served(store) if r.group == group and r.version == version]
    if not resources:
        return None
    entries = []
    for r in resources:
        entries.append(r.discovery())
        if r.has_status:
            entries.append(
                {
                    "name": f"{r.plural}/status",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": entries}


# ---------------------------------------------------------------- list / get


def _encode_continue(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        ns, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(ns), str(name)
    except (ValueError, TypeError) as exc:
        raise SelectorError(f"invalid continue token: {exc}") from None


def _select(
    store: Store, res: R.Resource, namespace: str | None, query: Any
) -> list[dict[str, Any]]:
    labels = label_matcher(query.get("labelSelector"))
    freqs = parse_field_selector(query.get("fieldSelector"))
    # Use the indexes for the equality terms that have one: this node's pods, one name.
    node = next((v for p, op, v in freqs if p == "spec.nodeName" and op == "=" and v), None)
    name = next((v for p, op, v in freqs if p == "metadata.name" and op == "="), None)
    ns_field = next((v for p, op, v in freqs if p == "metadata.namespace" and op == "="), None)
    if namespace is None and ns_field is not None and res.namespaced:
        namespace = ns_field
    if name is not None:
        if res.namespaced and namespace is None:
            items = [o for o in store.list(res.gvk) if o["metadata"]["name"] == name]
        else:
            obj = store.get(res.gvk, namespace, name)
            items = [obj] if obj is not None else []
    elif node is not None and res.kind == "Pod":
        items = store.list(res.gvk, namespace, node=node)
    else:
        items = store.list(res.gvk, namespace if res.namespaced else None)
    fields = field_matcher(freqs)
    if labels is not None:
        items = [o for o in items if labels(o)]
    if fields is not None:
        items = [o for o in items if fields(o)]
    return items


def _key(o: dict[str, Any]) -> tuple[str, str]:
    return (o["metadata"].get("namespace", ""), o["metadata"]["name"])


async def _list(
    request: web.Request, ctx: ApiContext, res: R.Resource, namespace: str | None
) -> web.StreamResponse:
    q = request.query
    try:
        items = _select(ctx.store, res, namespace, q)
        start = _decode_continue(q["continue"]) if q.get("continue") else None
        limit = int(q.get("limit") or 0)
    except (SelectorError, ValueError) as exc:
        return status_response(400, "BadRequest", str(exc))
    rv = str(ctx.store.resource_version)
    if start is not None:
        items = [o for o in items if _key(o) > start]
    cont = None
    remaining = None
    if limit > 0 and len(items) > limit:
        remaining = len(items) - limit
        items = items[:limit]
        cont = _encode_continue(_key(items[-1]))
    if wants_table(request.headers.get("Accept")):
        return _json(table(res.kind, items, rv, q.get("includeObject", "Metadata"), cont))
    meta: dict[str, Any] = {"resourceVersion": rv}
    if cont:
        meta["continue"] = cont
        meta["remainingItemCount"] = remaining
    body = {
        "kind": f"{res.kind}List",
        "apiVersion": res.group_version,
        "metadata": meta,
        "items": items,
    }
    return _json(body)


def _missing(res: R.Resource, name: str) -> web.Response:
    details = {"name": name, "kind": res.plural}
    if res.group:
        details["group"] = res.group
    what = f"{res.plural}.{res.group}" if res.group else res.plural
    return status_response(404, "NotFound", f'{what} "{name}" not found', details)


def _get(
    request: web.Request, ctx: ApiContext, res: R.Resource, namespace: str | None, name: str
) -> web.Response:
    obj = ctx.store.get(res.gvk, namespace, name)
    if obj is None:
        return _missing(res, name)
    if wants_table(request.headers.get("Accept")):
        return _json(
            table(
                res.kind,
                [obj],
                obj["metadata"]["resourceVersion"],
                request.query.get("includeObject", "Metadata"),
            )
        )
    return _json(obj)


# --------------------------------------------------------------------- watch


def _event_line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


async def _watch(
    request: web.Request, ctx: ApiContext, res: R.Resource, namespace: str | None
) -> web.StreamResponse:
    q = request.query
    try:
        labels = label_matcher(q.get("labelSelector"))
        fields = field_matcher(parse_field_selector(q.get("fieldSelector")))
        timeout = float(q.get("timeoutSeconds") or 1800)
        rv_text = q.get("resourceVersion") or ""
        since = int(rv_text) if rv_text not in ("", "0") else None
    except (SelectorError, ValueError) as exc:
        return status_response(400, "BadRequest", str(exc))

    def matches(obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        return (labels is None or labels(obj)) and (fields is None or fields(obj))

    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()
    loop = asyncio.get_running_loop()
    try:
        watcher, replay = ctx.store.watch(
            res.gvk, namespace if res.namespaced else None, loop, since
        )
    except Gone as exc:
        await resp.prepare(request)
        err = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": str(exc),
            "reason": "Expired",
            "code": 410,
        }
        await resp.write(_event_line("ERROR", err))
        await resp.write_eof()
        return resp
    await resp.prepare(request)
    deadline = time.monotonic() + timeout
    try:
        if ctx.faults.mode == "slow-watch":
            # The stream is open but nothing comes through until it times out.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ctx.faults.closing.wait(), timeout)
            await resp.write_eof()
            return resp
        for ev in replay:
            if matches(ev.obj):
                await resp.write(_event_line(ev.type, ev.obj))
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                ev = await asyncio.wait_for(watcher.queue.get(), remaining)
            except asyncio.TimeoutError:
                break
            new_ok = matches(ev.obj)
            if ev.type == "MODIFIED":
                old_ok = matches(ev.old)
                if new_ok and old_ok:
                    await resp.write(_event_line("MODIFIED", ev.obj))
                elif new_ok:
                    await resp.write(_event_line("ADDED", ev.obj))
                elif old_ok:
                    await resp.write(_event_line("DELETED", ev.obj))
            elif new_ok:
                await resp.write(_event_line(ev.type, ev.obj))
        if q.get("allowWatchBookmarks") in ("true", "1"):
            bm = {
                "kind": res.kind,
                "apiVersion": res.group_version,
                "metadata": {"resourceVersion": str(ctx.store.resource_version)},
            }
            await resp.write(_event_line("BOOKMARK", bm))
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        ctx.store.unwatch(watcher)
    return resp


# ------------------------------------------------------------------- writes


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        import yaml  # kubectl may send YAML for apply; harmless to accept

        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ValueError("request body is neither JSON nor YAML") from None


def _dry_run(request: web.Request) -> bool:
    return "All" in request.query.getall("dryRun", [])


def _bump_generation(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    if old.get("spec") != new.get("spec") and "generation" in old["metadata"]:
        new = {
            **new,
            "metadata": {**new["metadata"], "generation": int(old["metadata"]["generation"]) + 1},
        }
    return new


async def _create(
    request: web.Request, ctx: ApiContext, res: R.Resource, namespace: str | None
) -> web.Response:
    try:
        obj = await _body(request)
    except ValueError as exc:
        return status_response(400, "BadRequest", str(exc))
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        return status_response(400, "BadRequest", "the object has no metadata")
    meta = dict(obj["metadata"])
    if not meta.get("name"):
        if meta.get("generateName"):
            import secrets

            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        else:
            return status_response(
                422,
                "Invalid",
                f"{res.kind} is invalid: metadata.name: Required value: name or generateName is required",
            )
    if res.namespaced:
        meta["namespace"] = namespace or meta.get("namespace") or "default"
    else:
        meta.pop("namespace", None)
    for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
        meta.pop(k, None)
    meta.setdefault("generation", 1)
    obj = {**obj, "apiVersion": res.group_version, "kind": res.kind, "metadata": meta}
    if _dry_run(request):
        return _json(obj, 201)
    try:
        stored = ctx.store.create(obj)
    except Conflict:
        what = f"{res.plural}.{res.group}" if res.group else res.plural
        return status_response(
            409,
            "AlreadyExists",
            f'{what} "{meta["name"]}" already exists',
            {"name": meta["name"], "kind": res.plural},
        )
    return _json(stored, 201)


def _update(
    request: web.Request, ctx: ApiContext, old: dict[str, Any], new: dict[str, Any]
) -> web.Response:
    """Store `new` over `old` (PUT, PATCH): generation bumped, dry-run only shows it."""
    new = _bump_generation(old, new)
    if _dry_run(request):
        return _json(new)
    return _json(ctx.store.update(new))


async def _replace(
    request: web.Request, ctx: ApiContext, res: R.Resource, namespace: str | None, name: str
) -> web.Response:
    old = ctx.store.get(res.gvk, namespace, name)
    if old is None:
        return _missing(res, name)
    try:
        obj = await _body(request)
    except ValueError as exc:
        return status_response(400, "BadRequest", str(exc))
    if not isinstance(obj, dict):
        return status_response(400, "BadRequest", "the body is not an object")
    want_rv = (obj.get("metadata") or {}).get("resourceVersion")
    if want_rv and want_rv != old["metadata"]["resourceVersion"]:
        return status_response(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {res.plural} "{name}": the object has been modified; please apply your changes to the latest version and try again',
            {"name": name, "kind": res.plural},
        )
    meta = {**(obj.get("metadata") or {}), "name": name}
    if res.namespaced:
        meta["namespace"] = namespace
    new = {
        **obj,
        "apiVersion": res.group_version,
        "kind": res.kind,
        "metadata": {**meta, "generation": old["metadata"].get("generation", 1)},
    }
    return _update(request, ctx, old, new)


async def _patch(
    request: web.Request, ctx: ApiContext, res: R.Resource, namespace: str | None, name: str
) -> web.Response:
    old = ctx.store.get(res.gvk, namespace, name)
    if old is None:
        return _missing(res, name)
    ctype = request.headers.get("Content-Type", "")
    if ctype.startswith("application/apply-patch"):
        return status_response(
            415,
            "UnsupportedMediaType",
            "server-side apply is not supported by the simulated apiserver",
        )
    try:
        body = await _body(request)
        new = apply_patch(copy.deepcopy(old), ctype, body)
    except PatchError as exc:
        code = 415 if "content type" in str(exc) else 422
        return status_response(code, "UnsupportedMediaType" if code == 415 else "Invalid", str(exc))
    except ValueError as exc:
        return status_response(400, "BadRequest", str(exc))
    # Identity fields cannot be patched away.
    new["apiVersion"], new["kind"] = res.group_version, res.kind
    new["metadata"] = {**(new.get("metadata") or {}), "name": name}
    if res.namespaced:
        new["metadata"]["namespace"] = namespace
    return _update(request, ctx, old, new)


async def _delete(
    request: web.Request, ctx: ApiContext, res: R.Resource, namespace: str | None, name: str
) -> web.Response:
    obj = ctx.store.get(res.gvk, namespace, name)
    if obj is None:
        return _missing(res, name)
    if _dry_run(request):
        return _json(obj)
    gone = ctx.store.delete(res.gvk, namespace, name)
    if gone is None:
        return _missing(res, name)
    # Pods are returned as the object (a real apiserver shows it terminating);
    # other kinds get a Success Status, as with a non-graceful delete.
    if res.kind == "Pod":
        gone = {
            **gone,
            "metadata": {
                **gone["metadata"],
                "deletionTimestamp": now_iso(),
                "deletionGracePeriodSeconds": 0,
            },
        }
        return _json(gone)
    return _json(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "kind": res.plural, "uid": gone["metadata"].get("uid")},
        }
    )


def _log(request: web.Request, ctx: ApiContext, namespace: str | None, name: str) -> web.Response:
    from .logs import pod_log

    pod = ctx.store.get(R.POD.gvk, namespace, name)
    if pod is None:
        return _missing(R.POD, name)
    previous = request.query.get("previous") in ("true", "1")
    text = pod_log(pod, ctx.scenario(), previous=previous)
    tail = request.query.get("tailLines", "")
    if tail.isdigit():  # kubectl logs --tail=N
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-int(tail) :] if int(tail) else [])
    return web.Response(text=text, content_type="text/plain")


def _openapi(store: Store, rest: list[str]) -> web.Response:
    from . import openapi

    served = _served(store)
    if not rest:
        return _json(openapi.index(served))
    gv = _parse_path(rest)
    doc = openapi.group_version_doc(served, gv[0], gv[1]) if gv and not gv[2] else None
    return _json(doc) if doc is not None else _not_found_path()


# -------------------------------------------------------------------- routes


def _parse_path(parts: list[str]) -> tuple[str, str, list[str]] | None:
    if parts[:1] == ["api"] and len(parts) >= 2:
        return "", parts[1], parts[2:]
    if parts[:1] == ["apis"] and len(parts) >= 3:
        return parts[1], parts[2], parts[3:]
    return None


async def dispatch(request: web.Request) -> web.StreamResponse:
    ctx: ApiContext = request.app[CTX]
    store = ctx.store
    parts = [p for p in request.path.split("/") if p]
    if parts == ["version"]:
        return _json(_version(ctx))
    if parts in (["healthz"], ["readyz"], ["livez"]):
        return web.Response(text="ok")
    if parts[:2] == ["openapi", "v3"]:
        return _openapi(store, parts[2:])
    if parts == ["api"]:
        return _json(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": ctx.address}
                ],
            }
        )
    if parts == ["apis"]:
        groups = [_api_group(g, vs) for g, vs in _group_versions(store).items()]
        return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    if len(parts) == 2 and parts[0] == "apis":
        vs = _group_versions(store).get(parts[1])
        if not vs:
            return _not_found_path()
        return _json({"kind": "APIGroup", "apiVersion": "v1", **_api_group(parts[1], vs)})
    parsed = _parse_path(parts)
    if parsed is None:
        return _not_found_path()
    group, version, rest = parsed
    if not rest:
        body = _resource_list(store, group, version)
        return _json(body) if body is not None else _not_found_path()

    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    plural, name = rest[0], (rest[1] if len(rest) > 1 else None)
    sub = rest[2] if len(rest) > 2 else None
    res = _find(store, group, version, plural)
    if res is not None and res.kind == "Pod" and sub == "log" and name and request.method == "GET":
        return _log(request, ctx, namespace, name)
    if res is None or len(rest) > 3 or (sub is not None and sub != "status"):
        return _not_found_path()
    if not res.namespaced and namespace is not None:
        return _not_found_path()

    method = request.method
    if name is None:
        if method == "GET":
            if request.query.get("watch") in ("1", "true", "True"):
                return await _watch(request, ctx, res, namespace)
            return await _list(request, ctx, res, namespace)
        if method == "POST":
            return await _create(request, ctx, res, namespace)
        return status_response(
            405,
            "MethodNotAllowed",
            f"the server does not allow this method on the requested resource ({method})",
        )
    if method == "GET":
        return _get(request, ctx, res, namespace, name)
    if method == "PATCH":
        return await _patch(request, ctx, res, namespace, name)
    if method == "PUT":
        return await _replace(request, ctx, res, namespace, name)
    if method == "DELETE":
        return await _delete(request, ctx, res, namespace, name)
    return status_response(
        405,
        "MethodNotAllowed",
        f"the server does not allow this method on the requested resource ({method})",
    )


def counting_middleware(ctx: ApiContext):
    @web.middleware
    async def count(request: web.Request, handler):
        if request.method in MUTATING:
            ctx.mutations += 1
        ctx.requests.append((request.method, request.path_qs))
        if len(ctx.requests) > 1000:
            del ctx.requests[:500]
        return await handler(request)

    return count


def make_app(ctx: ApiContext) -> web.Application:
    from .faults import middleware as fault_middleware

    app = web.Application(
        middlewares=[counting_middleware(ctx), fault_middleware(ctx.faults)],
        client_max_size=32 * 1024 * 1024,
    )
    app[CTX] = ctx
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
