"""Server-side printing (meta.k8s.io/v1 Table), what `kubectl get` asks for.

Only the kinds people look at get real columns; everything else prints NAME/AGE,
which is what a real apiserver does for a CRD without additionalPrinterColumns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

Obj = dict[str, Any]


def human_age(created: str | None) -> str:
    if not created:
        return "<unknown>"
    try:
        then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return "<unknown>"
    secs = max(0, int((datetime.now(timezone.utc) - then).total_seconds()))
    if secs < 120:
        return f"{secs}s"
    mins = secs // 60
    if mins < 60:
        return f"{mins}m"
    hours = mins // 60
    if hours < 48:
        return f"{hours}h{mins % 60}m" if hours < 10 else f"{hours}h"
    days = hours // 24
    return f"{days}d{hours % 24}h" if days < 8 else f"{days}d"


def _age(o: Obj) -> str:
    return human_age(o["metadata"].get("creationTimestamp"))


def pod_status_text(o: Obj) -> str:
    """The STATUS column the way kubectl's printer derives it."""
    if o["metadata"].get("deletionTimestamp"):
        return "Terminating"
    st = o.get("status") or {}
    inits = st.get("initContainerStatuses") or []
    for i, cs in enumerate(inits):
        state = cs.get("state") or {}
        if "terminated" in state and state["terminated"].get("exitCode") == 0:
            continue
        if "waiting" in state and state["waiting"].get("reason") not in (None, "PodInitializing"):
            return f"Init:{state['waiting']['reason']}"
        return f"Init:{i}/{len(inits)}"
    reason = st.get("phase") or "Unknown"
    for cs in st.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            reason = state["terminated"].get("reason") or "Error"
    return reason


def _pod_cells(o: Obj) -> list[Any]:
    st = o.get("status") or {}
    cs = st.get("containerStatuses") or []
    total = len((o.get("spec") or {}).get("containers") or []) or len(cs)
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in cs)
    return [
        o["metadata"]["name"],
        f"{ready}/{total}",
        pod_status_text(o),
        restarts,
        _age(o),
        st.get("podIP") or "<none>",
        (o.get("spec") or {}).get("nodeName") or "<none>",
    ]


def _node_cells(o: Obj) -> list[Any]:
    st = o.get("status") or {}
    ready: dict[str, Any] = next(
        (c for c in st.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    status = "Ready" if ready.get("status") == "True" else "NotReady"
    if (o.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(
        k.split("/", 1)[1]
        for k in (o["metadata"].get("labels") or {})
        if k.startswith("node-role.kubernetes.io/")
    )
    addrs = {a["type"]: a["address"] for a in st.get("addresses") or []}
    info = st.get("nodeInfo") or {}
    return [
        o["metadata"]["name"],
        status,
        ",".join(roles) or "<none>",
        _age(o),
        info.get("kubeletVersion", ""),
        addrs.get("InternalIP", "<none>"),
        addrs.get("ExternalIP", "<none>"),
        info.get("osImage", ""),
        info.get("kernelVersion", ""),
    ]


def _ds_cells(o: Obj) -> list[Any]:
    st = o.get("status") or {}
    return [
        o["metadata"]["name"],
        st.get("desiredNumberScheduled", 0),
        st.get("currentNumberScheduled", 0),
        st.get("numberReady", 0),
        st.get("updatedNumberScheduled", 0),
        st.get("numberAvailable", 0),
        "<none>",
        _age(o),
    ]


def _deploy_cells(o: Obj) -> list[Any]:
    st = o.get("status") or {}
    return [
        o["metadata"]["name"],
        f"{st.get('readyReplicas', 0)}/{(o.get('spec') or {}).get('replicas', 0)}",
        st.get("updatedReplicas", 0),
        st.get("availableReplicas", 0),
        _age(o),
    ]


def _svc_cells(o: Obj) -> list[Any]:
    spec = o.get("spec") or {}
    ports = ",".join(f"{p['port']}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    return [
        o["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP", ""),
        "<none>",
        ports or "<none>",
        _age(o),
    ]


def _cn_cells(o: Obj) -> list[Any]:
    addrs = (o.get("spec") or {}).get("addresses") or []
    by = {a.get("type"): a.get("ip") for a in addrs}
    return [
        o["metadata"]["name"],
        by.get("CiliumInternalIP", ""),
        by.get("InternalIP", ""),
        _age(o),
    ]


def _default_cells(o: Obj) -> list[Any]:
    return [o["metadata"]["name"], _age(o)]


def _col(name: str, typ: str = "string", priority: int = 0, fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": typ, "format": fmt, "description": "", "priority": priority}


_COLUMNS: dict[str, tuple[list[dict[str, Any]], Callable[[Obj], list[Any]]]] = {
    "Pod": (
        [
            _col("Name", fmt="name"),
            _col("Ready"),
            _col("Status"),
            _col("Restarts", "string"),
            _col("Age"),
            _col("IP", priority=1),
            _col("Node", priority=1),
        ],
        _pod_cells,
    ),
    "Node": (
        [
            _col("Name", fmt="name"),
            _col("Status"),
            _col("Roles"),
            _col("Age"),
            _col("Version"),
            _col("Internal-IP", priority=1),
            _col("External-IP", priority=1),
            _col("OS-Image", priority=1),
            _col("Kernel-Version", priority=1),
        ],
        _node_cells,
    ),
    "DaemonSet": (
        [
            _col("Name", fmt="name"),
            _col("Desired", "integer"),
            _col("Current", "integer"),
            _col("Ready", "integer"),
            _col("Up-to-date", "integer"),
            _col("Available", "integer"),
            _col("Node Selector"),
            _col("Age"),
        ],
        _ds_cells,
    ),
    "Deployment": (
        [
            _col("Name", fmt="name"),
            _col("Ready"),
            _col("Up-to-date", "integer"),
            _col("Available", "integer"),
            _col("Age"),
        ],
        _deploy_cells,
    ),
    "Service": (
        [
            _col("Name", fmt="name"),
            _col("Type"),
            _col("Cluster-IP"),
            _col("External-IP"),
            _col("Port(s)"),
            _col("Age"),
        ],
        _svc_cells,
    ),
    "CiliumNode": (
        [_col("Name", fmt="name"), _col("CiliumInternalIP"), _col("InternalIP"), _col("Age")],
        _cn_cells,
    ),
}


def table(
    kind: str,
    objs: list[Obj],
    resource_version: str,
    include: str = "Metadata",
    cont: str | None = None,
) -> Obj:
    """The built-in kinds' Table (kubectl's columns for them)."""
    cols, cells = _COLUMNS.get(kind, ([_col("Name", fmt="name"), _col("Age")], _default_cells))
    return build_table(cols, cells, objs, resource_version, include, cont)


def build_table(
    cols: list[Obj],
    cells: Callable[[Obj], list[Any]],
    objs: list[Obj],
    resource_version: str,
    include: str = "Metadata",
    cont: str | None = None,
) -> Obj:
    """A meta.k8s.io/v1 Table of `objs`: `cells(obj)` per row, each row's object embedded
    as `include` asks (?includeObject=Object|Metadata|None)."""
    rows = []
    for o in objs:
        if include == "Object":
            embedded: Obj | None = o
        elif include == "None":
            embedded = None
        else:
            embedded = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": o["metadata"],
            }
        rows.append({"cells": cells(o), "object": embedded})
    meta: Obj = {"resourceVersion": resource_version}
    if cont:
        meta["continue"] = cont
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": cols,
        "rows": rows,
    }


def wants_table(accept: str | None) -> bool:
    return bool(accept) and "as=Table" in accept  # type: ignore[operator]
