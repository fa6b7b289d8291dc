"""PATCH bodies: JSON merge patch (RFC 7386), strategic merge (as merge), JSON patch (RFC 6902).

Strategic merge differs from merge patch only for lists with merge keys; the fields
the tools here patch (annotations, labels, replicas) are maps, so merge semantics
are what a real apiserver would do for them. `$patch`/`$retainKeys` directives
are dropped rather than stored.
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """A patch the apiserver would refuse (422/400)."""


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _walk(doc: Any, pointer: str) -> tuple[Any, str | int]:
    """The container holding the last token of `pointer`, and that token."""
    if not pointer.startswith("/"):
        raise PatchError(f"invalid JSON pointer {pointer!r}")
    tokens = [_unescape(t) for t in pointer[1:].split("/")]
    cur = doc
    for tok in tokens[:-1]:
        if isinstance(cur, list):
            cur = cur[int(tok)]
        elif isinstance(cur, dict) and tok in cur:
            cur = cur[tok]
        else:
            raise PatchError(f"path {pointer!r} does not exist")
    last: str | int = tokens[-1]
    if isinstance(cur, list):
        last = len(cur) if last == "-" else int(last)
    return cur, last


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation {op!r}")
        kind = op["op"]
        try:
            if kind == "test":
                parent, key = _walk(doc, op["path"])
                if parent[key] != op.get("value"):
                    raise PatchError(f"test failed at {op['path']}")
                continue
            parent, key = _walk(doc, op["path"])
            if kind == "remove":
                del parent[key]
            elif kind in ("add", "replace"):
                value = copy.deepcopy(op.get("value"))
                if isinstance(parent, list) and kind == "add":
                    parent.insert(int(key), value)
                else:
                    if kind == "replace" and isinstance(parent, dict) and key not in parent:
                        raise PatchError(f"path {op['path']!r} does not exist")
                    parent[key] = value
            elif kind in ("move", "copy"):
                src_parent, src_key = _walk(doc, op["from"])
                value = copy.deepcopy(src_parent[src_key])
                if kind == "move":
                    del src_parent[src_key]
                parent, key = _walk(doc, op["path"])
                if isinstance(parent, list):
                    parent.insert(int(key), value)
                else:
                    parent[key] = value
            else:
                raise PatchError(f"unknown JSON patch op {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            if isinstance(exc, PatchError):
                raise
            raise PatchError(f"cannot apply {kind} at {op['path']}: {exc}") from None
    return doc


MERGE_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
JSON_PATCH = "application/json-patch+json"


def apply_patch(obj: dict[str, Any], content_type: str, body: Any) -> dict[str, Any]:
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == MERGE_TYPES[1] and isinstance(body, dict):
        from .fleet.strategic import strategic_merge  # lists with merge keys (conditions)

        return strategic_merge(obj, body)
    if ctype in MERGE_TYPES:
        if not isinstance(body, dict):
            raise PatchError("a merge patch must be a JSON object")
        return merge_patch(obj, body)
    if ctype == JSON_PATCH:
        return json_patch(obj, body)
    raise PatchError(f"unsupported patch content type {ctype!r}")
