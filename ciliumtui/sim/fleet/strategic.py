"""Strategic merge patch, for the lists that have a merge key (pure).

A real apiserver merges these lists element by element (the Go types'
`patchMergeKey`); JSON merge patch would replace them whole — a publisher's one
condition would wipe the kubelet's Ready. Elements may carry `$patch: delete`.
Every other list is replaced, as merge patch does.
"""

from __future__ import annotations

import copy
from typing import Any

MERGE_KEYS = {
    "conditions": "type",
    "addresses": "type",
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "env": "name",
    "imagePullSecrets": "name",
}


def _merge_list(target: list[Any], patch: list[Any], key: str) -> list[Any]:
    out = [copy.deepcopy(x) for x in target]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            return copy.deepcopy(patch)  # not keyed: replace, as the apiserver would refuse
        idx = next(
            (i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]),
            None,
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
            continue
        if idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


def strategic_merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and k in MERGE_KEYS and isinstance(out.get(k), list):
            out[k] = _merge_list(out[k], v, MERGE_KEYS[k])
        else:
            out[k] = strategic_merge(out.get(k), v)
    return out


def status_only(old: dict[str, Any], new: dict[str, Any], sub: str | None) -> dict[str, Any]:
    """A write to the status subresource changes the status and nothing else."""
    if sub != "status":
        return new
    out = dict(old)
    if "status" in new:
        out["status"] = new["status"]
    else:
        out.pop("status", None)
    return out
