"""Server-side tables (meta.k8s.io/v1 Table) for the fleet's kinds.

A custom kind prints the columns its CRD declares (additionalPrinterColumns of the
served version, after NAME; `date` columns become ages, as the apiserver's table
convertor does), so `kubectl get nd` shows what `fleet manifest`'s CRD says.
Jobs and Leases print kubectl's usual columns.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .. import resources as R
from ..store import Store
from ..tables import build_table, human_age

Obj = dict[str, Any]


def _col(name: str, typ: str = "string", priority: int = 0, fmt: str = "", desc: str = "") -> Obj:
    return {"name": name, "type": typ, "format": fmt, "description": desc, "priority": priority}


def json_path(obj: Any, path: str) -> Any:
    """A simple JSONPath (`.status.root_cause`, `.spec.items[0].name`); None when absent."""
    cur = obj
    for part in path.strip().lstrip("{").rstrip("}").lstrip(".").split("."):
        if not part:
            continue
        name, _, index = part.partition("[")
        if name:
            cur = cur.get(name) if isinstance(cur, dict) else None
        if index:
            try:
                cur = cur[int(index.rstrip("]"))] if isinstance(cur, list) else None
            except (ValueError, IndexError):
                cur = None
        if cur is None:
            return None
    return cur


def _cell(value: Any, typ: str) -> Any:
    if value is None:
        return None
    if typ == "date":
        return human_age(str(value))
    if typ == "integer" and isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value)
    return value


def _crd_columns(store: Store, res: R.Resource) -> list[Obj] | None:
    crd = store.get(R.CRD.gvk, None, R.crd_name(res))
    for v in ((crd or {}).get("spec") or {}).get("versions") or []:
        if v.get("name") == res.version and v.get("additionalPrinterColumns"):
            return list(v["additionalPrinterColumns"])
    return None


def _duration(start: str | None, end: str | None) -> str:
    def parse(t: str | None) -> datetime | None:
        try:
            return datetime.strptime(t or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            return None

    a, b = parse(start), parse(end) or datetime.now(timezone.utc)
    if a is None:
        return ""
    secs = max(0, int((b - a).total_seconds()))
    return f"{secs}s" if secs < 120 else f"{secs // 60}m"


def job_state(o: Obj) -> str:
    st = o.get("status") or {}
    for c in st.get("conditions") or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed"):
            return str(c["type"])
    return "Running" if st.get("active") else "Pending"


def _job_cells(o: Obj) -> list[Any]:
    st = o.get("status") or {}
    want = (o.get("spec") or {}).get("completions", 1)
    return [
        o["metadata"]["name"],
        job_state(o),
        f"{st.get('succeeded', 0)}/{want}",
        _duration(st.get("startTime"), st.get("completionTime")),
        human_age(o["metadata"].get("creationTimestamp")),
    ]


def _lease_cells(o: Obj) -> list[Any]:
    return [
        o["metadata"]["name"],
        (o.get("spec") or {}).get("holderIdentity") or "",
        human_age(o["metadata"].get("creationTimestamp")),
    ]


def fleet_table(
    store: Store, res: R.Resource, objs: list[Obj], rv: str, include: str, cont: str | None = None
) -> Obj | None:
    """The Table for `res`, or None when the generic printer (sim.tables) applies."""
    if res.kind == "Job":
        cols = [
            _col("Name", fmt="name"),
            _col("Status"),
            _col("Completions"),
            _col("Duration"),
            _col("Age"),
        ]
        return build_table(cols, _job_cells, objs, rv, include, cont)
    if res.kind == "Lease":
        cols = [_col("Name", fmt="name"), _col("Holder"), _col("Age")]
        return build_table(cols, _lease_cells, objs, rv, include, cont)
    if res not in R.CUSTOM:
        return None
    printer = _crd_columns(store, res)
    if printer is None:
        return None
    cols = [_col("Name", fmt="name")] + [
        _col(
            str(c.get("name")),
            str(c.get("type", "string")),
            int(c.get("priority", 0)),
            str(c.get("format", "")),
            str(c.get("description", "")),
        )
        for c in printer
    ]

    def cells(o: Obj) -> list[Any]:
        return [o["metadata"]["name"]] + [
            _cell(json_path(o, str(c.get("jsonPath", ""))), str(c.get("type", "string")))
            for c in printer
        ]

    return build_table(cols, cells, objs, rv, include, cont)
