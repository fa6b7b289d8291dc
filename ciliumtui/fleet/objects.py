"""The API objects the publisher writes, built as plain JSON (pure functions).

- the Node condition `CiliumNetworkHealthy` (patched into nodes/status; the
  apiserver merges conditions by `type`, so the kubelet's own are left alone);
- the cluster-scoped NodeDiagnosis named after the node, whose `status` is the
  diagnose JSON plus `interval_s`, and — for `kubectl get nd`'s columns —
  `healthy` (the condition's status) and `root_cause` (an id or null);
- the Event on the Node when its set of critical ids changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from . import API_VERSION, CONDITION, KIND
from .verdict import Verdict

# Status keys the roll writes (the last Job's result); a publish never removes them.
KEPT_KEYS = ("last_run",)


def rfc3339(when: datetime | None = None) -> str:
    return (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(when: datetime | None = None) -> str:
    """metav1.MicroTime, as Leases and events.k8s.io carry it."""
    return (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def condition_of(node: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The node's CiliumNetworkHealthy condition, if it has one."""
    for c in ((node or {}).get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == CONDITION:
            return c
    return None


def condition(v: Verdict, now: str, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """The condition for verdict `v`; lastTransitionTime moves only when the status does."""
    same = previous is not None and previous.get("status") == v.status
    return {
        "type": CONDITION,
        "status": v.status,
        "reason": v.reason,
        "message": v.message,
        "lastHeartbeatTime": now,
        "lastTransitionTime": (previous or {}).get("lastTransitionTime") or now if same else now,
    }


def condition_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    return old is None or any(old.get(k) != new.get(k) for k in ("status", "reason", "message"))


def condition_patch(cond: Mapping[str, Any]) -> dict[str, Any]:
    """A strategic-merge patch for nodes/status touching only our condition."""
    return {"status": {"conditions": [dict(cond)]}}


def nd_status(result: Mapping[str, Any], interval_s: int, v: Verdict) -> dict[str, Any]:
    return {
        **result,
        "interval_s": int(interval_s),
        "healthy": v.status,
        "root_cause": v.root_cause,
    }


def error_result(node: str, error: str, generated_at: str, schema: int = 2) -> dict[str, Any]:
    """What stands in for a diagnose result when the node could not be diagnosed."""
    return {
        "schema": schema,
        "generated_at": generated_at,
        "node": node,
        "cilium_version": None,
        "error": error,
        "findings": [],
        "probes": {},
    }


def nd_object(node: str, status: Mapping[str, Any], node_uid: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": node, "labels": {"ciliumtui.io/node": node}}
    if node_uid:
        # Deleting the Node garbage-collects its NodeDiagnosis.
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}
        ]
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta, "status": dict(status)}


def nd_status_patch(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch making `old`'s status `new` (keys gone from `new` are removed,
    except what the roll keeps there)."""
    patch: dict[str, Any] = dict(new)
    for key in old or {}:
        if key not in new and key not in KEPT_KEYS:
            patch[key] = None
    return {"status": patch}


def critical_ids(status: Mapping[str, Any] | None) -> frozenset[str] | None:
    """The critical ids of a published status; None when it holds no result."""
    if not status or status.get("error") or not isinstance(status.get("findings"), list):
        return None
    return frozenset(
        str(f.get("id"))
        for f in status["findings"]
        if isinstance(f, dict) and f.get("severity") == "critical"
    )


def event(
    node: str,
    node_uid: str | None,
    before: frozenset[str] | None,
    after: frozenset[str],
    v: Verdict,
    when: datetime | None = None,
) -> dict[str, Any]:
    """A core/v1 Event on the Node (namespace default, as the kubelet's own are)."""
    now = rfc3339(when)
    was = sorted(before or ())
    if after and not was:
        reason, kind = "CiliumNetworkBroken", "Warning"
        message = f"critical: {', '.join(sorted(after))}; root cause: {v.root_cause}"
    elif not after:
        reason, kind = "CiliumNetworkRecovered", "Normal"
        message = f"no critical findings (were: {', '.join(was)})"
    else:
        reason, kind = "CiliumNetworkChanged", "Warning"
        message = (
            f"critical: {', '.join(sorted(after))} (were: {', '.join(was)}); "
            f"root cause: {v.root_cause}"
        )
    tag = hashlib.sha256(f"{node}/{now}/{message}".encode()).hexdigest()[:10]
    involved: dict[str, Any] = {"apiVersion": "v1", "kind": "Node", "name": node}
    if node_uid:
        involved["uid"] = node_uid
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{node}.{tag}", "namespace": "default"},
        "involvedObject": involved,
        "reason": reason,
        "message": message[:1024],
        "type": kind,
        "source": {"component": "ciliumtui", "host": node},
        "reportingComponent": "ciliumtui",
        "reportingInstance": node,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
