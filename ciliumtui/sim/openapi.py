"""/openapi/v3: just enough OpenAPI for `kubectl apply`, `replace` and `create -f`.

kubectl (1.27+) validates a manifest before sending it: it asks the OpenAPI v3
document of the object's group/version whether the PATCH operation of that kind
takes the `fieldValidation` query parameter. When it does, kubectl leaves
validation to the server (it sends `?fieldValidation=Strict`), which here accepts
what it stores; without any OpenAPI it refuses with "failed to download openapi".
So each served kind gets one path with a PATCH operation carrying its
group-version-kind and that parameter, and a schema that keeps unknown fields
(the simulator stores whatever a real apiserver would take, unvalidated).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from . import resources as R

_FIELD_VALIDATION = {
    "name": "fieldValidation",
    "in": "query",
    "description": "Ignore, Warn or Strict: what the server does with unknown fields.",
    "schema": {"type": "string", "uniqueItems": True},
}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _gvk(res: R.Resource) -> dict[str, str]:
    return {"group": res.group, "version": res.version, "kind": res.kind}


def _schema_name(res: R.Resource) -> str:
    # The apiserver's own naming: io.k8s.api.core.v1.Pod, io.cilium.v2.CiliumNode…
    group = ".".join(reversed(res.group.split("."))) if res.group else "io.k8s.api.core"
    return f"{group}.{res.version}.{res.kind}"


def group_version_doc(served: list[R.Resource], group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group/version, or None when nothing is served there."""
    kinds = [r for r in served if r.group == group and r.version == version]
    if not kinds:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for res in kinds:
        scope = "/namespaces/{namespace}" if res.namespaced else ""
        path = f"/{_gv_path(group, version)}{scope}/{res.plural}/{{name}}"
        ref = {"$ref": f"#/components/schemas/{_schema_name(res)}"}
        ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        paths[path] = {
            "patch": {
                "operationId": f"patch{res.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": _gvk(res),
                "parameters": [_FIELD_VALIDATION],
                "responses": ok,
            },
            "put": {
                "operationId": f"replace{res.kind}",
                "x-kubernetes-action": "put",
                "x-kubernetes-group-version-kind": _gvk(res),
                "parameters": [_FIELD_VALIDATION],
                "responses": ok,
            },
        }
        schemas[_schema_name(res)] = {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "x-kubernetes-group-version-kind": [_gvk(res)],
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (ciliumtui simulator)", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def index(served: list[R.Resource]) -> dict[str, Any]:
    """/openapi/v3: where each group/version's document is (the hash changes with it)."""
    out: dict[str, Any] = {}
    for gv in dict.fromkeys((r.group, r.version) for r in served):
        doc = group_version_doc(served, *gv)
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16].upper()
        path = _gv_path(*gv)
        out[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": out}
