"""Kubernetes objects the remedies change (ConfigMaps, LB pools): read, back up,
patch, restore — in one place, each change shown as the `kubectl` line that does
the same.

Reads and writes go through the official client (`cluster.client.api_client`:
retries 0, explicit timeouts) in a worker thread. A patch's body is exactly the
`-p` of the line the plan prints. Backups are the whole object as the apiserver
returned it (JSON, one file per object, named after its kind, namespace and
name); `object.restore` puts the backed-up `data` / `spec` back with a JSON patch
`replace`, so keys the change added go too.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import CiliumtuiError
from .base import Action, ActionContext, ActionResult, Param, register

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    group: str  # "" for the core API
    versions: tuple[str, ...]  # tried in order (a CRD may serve only an older one)
    namespaced: bool
    kubectl: str  # the resource name kubectl takes

    def path(self, version: str, namespace: str | None, name: str) -> str:
        base = f"/api/{version}" if not self.group else f"/apis/{self.group}/{version}"
        ns = f"/namespaces/{namespace}" if self.namespaced else ""
        return f"{base}{ns}/{self.plural}/{name}"


CONFIGMAP = Kind("ConfigMap", "configmaps", "", ("v1",), True, "configmap")
METALLB_POOL = Kind(
    "IPAddressPool", "ipaddresspools", "metallb.io", ("v1beta1",), True, "ipaddresspool"
)
# v2 since Cilium 1.18; v2alpha1 before (and still served beside v2).
CILIUM_LB_POOL = Kind(
    "CiliumLoadBalancerIPPool",
    "ciliumloadbalancerippools",
    "cilium.io",
    ("v2", "v2alpha1"),
    False,
    "ciliumloadbalancerippool",
)
KINDS = {k.kind: k for k in (CONFIGMAP, METALLB_POOL, CILIUM_LB_POOL)}


@dataclass(frozen=True)
class Ref:
    """One object: its kind, namespace (None when cluster-scoped), name and the API
    version it was read with."""

    kind: Kind
    namespace: str | None
    name: str
    version: str = ""

    @property
    def label(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind.kubectl} {where}{self.name}"


def kubectl_patch(ref: Ref, body: Any, patch_type: str = "merge") -> str:
    """The pasteable `kubectl patch` that sends `body` (compact JSON, shell-quoted)."""
    argv = ["kubectl"]
    if ref.namespace:
        argv += ["-n", ref.namespace]
    argv += ["patch", ref.kind.kubectl, ref.name, "--type", patch_type]
    argv += ["-p", json.dumps(body, separators=(",", ":"))]
    return shlex.join(argv)


def _client(ctx: ActionContext) -> Any:
    from ...cluster.client import api_client

    return api_client(ctx.opts)


_VERBS = {"GET": "get", "PATCH": "patch", "PUT": "replace", "DELETE": "delete"}


async def _request(
    ctx: ActionContext, method: str, path: str, what: str, body: Any = None, ctype: str = ""
) -> dict[str, Any]:
    from ...cluster.client import describe_api_error

    try:
        return await asyncio.to_thread(_send, ctx, method, path, body, ctype)
    except CiliumtuiError:
        raise
    except Exception as exc:  # ApiException, urllib3 errors: one line
        raise CiliumtuiError(describe_api_error(exc, _VERBS.get(method, method), what)) from None


def _send(ctx: ActionContext, method: str, path: str, body: Any, ctype: str) -> dict[str, Any]:
    """One request as raw JSON, as `cluster.client.get_json` reads (the typed models
    would drop fields of CRDs the client does not know)."""
    from kubernetes.client.exceptions import ApiException

    api = _client(ctx)
    headers = {"Accept": "application/json"}
    if ctype:
        headers["Content-Type"] = ctype
    method, url, headers, data, _post = api.param_serialize(
        method=method,
        resource_path=path,
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    resp = api.call_api(
        method, url, header_params=headers, body=data, _request_timeout=ctx.opts.timeout
    )
    raw = resp.read()
    if not 200 <= resp.status <= 299:
        raise ApiException(http_resp=resp)
    try:
        obj = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError):
        raise CiliumtuiError(f"garbage answer from the apiserver to {method} {path}") from None
    if not isinstance(obj, dict):
        raise CiliumtuiError(f"garbage answer from the apiserver to {method} {path}")
    return obj


async def get(ctx: ActionContext, kind: Kind, namespace: str | None, name: str) -> tuple[Ref, dict]:
    """(its Ref, the object) — trying the kind's versions in order."""
    last: CiliumtuiError | None = None
    for version in kind.versions:
        ref = Ref(kind, namespace if kind.namespaced else None, name, version)
        try:
            obj = await _request(ctx, "GET", kind.path(version, ref.namespace, name), ref.label)
            return ref, obj
        except CiliumtuiError as exc:
            last = exc
    assert last is not None
    raise last


async def list_all(ctx: ActionContext, kind: Kind) -> list[tuple[Ref, dict]]:
    """Every object of the kind in the cluster ([] when its CRD is not installed)."""
    for version in kind.versions:
        base = f"/api/{version}" if not kind.group else f"/apis/{kind.group}/{version}"
        try:
            res = await _request(ctx, "GET", f"{base}/{kind.plural}", f"{kind.plural}")
        except CiliumtuiError as exc:
            if str(exc).startswith("not found"):
                continue  # this version (or the whole CRD) is not served
            raise
        out = []
        for obj in res.get("items") or []:
            meta = obj.get("metadata") or {}
            out.append((Ref(kind, meta.get("namespace"), str(meta.get("name")), version), obj))
        return out
    return []


async def patch(ctx: ActionContext, ref: Ref, body: Any, patch_type: str = "merge") -> dict:
    ctype = MERGE if patch_type == "merge" else JSON_PATCH
    path = ref.kind.path(ref.version or ref.kind.versions[0], ref.namespace, ref.name)
    return await _request(ctx, "PATCH", path, ref.label, body=body, ctype=ctype)


def backup_name(ref: Ref) -> str:
    where = f"{ref.namespace}_" if ref.namespace else ""
    return f"{ref.kind.kind}_{where}{ref.name}.json"


def save(ctx: ActionContext, ref: Ref, obj: dict) -> Path:
    """The object as read, in the step's backup dir (what `object.restore` reads)."""
    ctx.backup_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.backup_dir / backup_name(ref)
    path.write_text(
        json.dumps({"ref": _ref_json(ref), "object": obj}, indent=1, sort_keys=True) + "\n"
    )
    return path


def _ref_json(ref: Ref) -> dict[str, Any]:
    return {
        "kind": ref.kind.kind,
        "namespace": ref.namespace,
        "name": ref.name,
        "version": ref.version,
    }


def load_backup(path: Path) -> tuple[Ref, dict]:
    try:
        doc = json.loads(path.read_text())
        r = doc["ref"]
        ref = Ref(KINDS[r["kind"]], r.get("namespace"), str(r["name"]), str(r.get("version") or ""))
        return ref, dict(doc["object"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CiliumtuiError(f"{path}: not a backup ciliumtui wrote ({exc})") from None


def restore_body(ref: Ref, obj: dict) -> list[dict[str, Any]]:
    """The JSON patch that puts the backed-up field back whole: `data` of a
    ConfigMap, `spec` of anything else."""
    field = "data" if ref.kind is CONFIGMAP else "spec"
    return [{"op": "replace", "path": f"/{field}", "value": obj.get(field) or {}}]


def backups_of(ctx: ActionContext, step_id: str | None, directory: str | None) -> list[Path]:
    if directory:
        base = Path(directory)
    elif step_id and step_id in ctx.backups:
        base = ctx.backups[step_id]
    else:
        raise CiliumtuiError(
            f"no backup of step {step_id!r} in this run" if step_id else "give backup_of or dir"
        )
    files = sorted(p for p in base.glob("*.json") if p.name != "MANIFEST.json")
    if not files:
        raise CiliumtuiError(f"{base}: no object backups")
    return files


@register
class ObjectRestore(Action):
    name = "object.restore"
    summary = (
        "put backed-up Kubernetes objects back (a ConfigMap's data, an LB pool's spec) "
        "from a step's backup"
    )
    mutates = True
    default_risk = "high"
    requires = frozenset({"apiserver"})
    params = {
        "backup_of": Param("str", help="the step whose backup to restore (this run)"),
        "dir": Param("str", help="a backup directory (another run's)"),
    }

    def _items(self, ctx: ActionContext) -> list[tuple[Ref, dict]]:
        files = backups_of(ctx, ctx.params.get("backup_of"), ctx.params.get("dir"))
        return [load_backup(p) for p in files]

    async def plan(self, ctx: ActionContext) -> list[str]:
        return [kubectl_patch(ref, restore_body(ref, obj), "json") for ref, obj in self._items(ctx)]

    async def run(self, ctx: ActionContext) -> ActionResult:
        done = []
        for ref, obj in self._items(ctx):
            await patch(ctx, ref, restore_body(ref, obj), "json")
            ctx.out(f"restored {ref.label}")
            done.append(ref.label)
        return ActionResult(ok=True, changed=bool(done), data={"restored": done})
