"""The scenario's own workloads (`cluster.pods`): each pod, and one owner object
(ReplicaSet, DaemonSet, StatefulSet, Job) per owner the pods name."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from ...errors import CiliumtuiError
from .meta import BuildContext, Obj, node_ip, nodes_of, owner_ref, ts, uid_for
from .pods import POD_STATES, make_pod


def build(ctx: BuildContext) -> list[Obj]:
    pods = ctx.cluster.get("pods") or []
    ctx.namespaces.update(p.get("namespace", "default") for p in pods)
    owners = _workload_owners(ctx.scenario)
    out = list(owners.values())
    out += [workload_pod(ctx.scenario, p, i, owners) for i, p in enumerate(pods)]
    return out


def workload_pod(
    scenario: dict[str, Any],
    spec: dict[str, Any],
    index: int,
    owners: dict[tuple[str, str, str], dict[str, Any]],
) -> Obj:
    """A pod from the scenario's `pods:` list (owner "ReplicaSet/x", "DaemonSet/x", "none")."""
    ns = spec.get("namespace", "default")
    node_name = str(spec.get("node") or scenario.get("node_name") or "")
    node = next((n for n in nodes_of(scenario) if n.get("name") == node_name), None) or {
        "name": node_name
    }
    mirror = bool(spec.get("mirror"))
    host_network = bool(spec.get("host_network") or mirror)
    owner = None
    owner_text = str(spec.get("owner") or "none")
    annotations: dict[str, str] = {}
    if mirror:
        owner = {
            "apiVersion": "v1",
            "kind": "Node",
            "name": node_name,
            "uid": uid_for("node", node_name),
            "controller": True,
        }
        annotations["kubernetes.io/config.mirror"] = hashlib.md5(spec["name"].encode()).hexdigest()
        annotations["kubernetes.io/config.source"] = "file"
    elif owner_text.lower() != "none" and "/" in owner_text:
        kind, _, oname = owner_text.partition("/")
        o = owners.get((kind, ns, oname))
        if o is not None:
            owner = owner_ref(kind, oname, o["metadata"]["uid"])
    raw_state = str(spec.get("state", "running")).lower()
    state = POD_STATES.get(raw_state)
    if state is None:
        # A typo here would silently make a broken scenario healthy.
        raise CiliumtuiError(
            f"pod {ns}/{spec['name']}: unknown state {spec.get('state')!r} "
            f"(one of: {', '.join(sorted(POD_STATES))})"
        )
    ip = spec.get("ip")
    if ip is None and not host_network and isinstance(node.get("pod_cidr"), str):
        net = ipaddress.ip_network(node["pod_cidr"], strict=False)
        ip = str(net.network_address + 100 + index)
    app = spec["name"].rsplit("-", 2)[0] if owner_text.startswith("ReplicaSet/") else spec["name"]
    labels = dict(spec.get("labels") or {"app": app})
    restarts = int(spec.get("restarts", 23 if state == "crashloop" else 0))
    return make_pod(
        name=spec["name"],
        namespace=ns,
        node=node_name,
        labels=labels,
        containers=[(spec.get("container", app), spec.get("image", f"registry.example/{app}:1.0"))],
        state=state,
        host_ip=node_ip(node),
        pod_ip=ip,
        owner=owner,
        host_network=host_network,
        annotations=annotations,
        restarts=restarts,
    )


def _workload_owners(scenario: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """ReplicaSets / DaemonSets named by `pods[].owner`, one object each."""
    owners: dict[tuple[str, str, str], dict[str, Any]] = {}
    counts: dict[tuple[str, str, str], int] = {}
    for p in scenario["cluster"].get("pods") or []:
        text = str(p.get("owner") or "none")
        if p.get("mirror") or "/" not in text:
            continue
        kind, _, name = text.partition("/")
        key = (kind, p.get("namespace", "default"), name)
        counts[key] = counts.get(key, 0) + 1
    for (kind, ns, name), n in counts.items():
        if kind not in ("ReplicaSet", "DaemonSet", "StatefulSet", "Job"):
            continue
        api = "batch/v1" if kind == "Job" else "apps/v1"
        app = name.rsplit("-", 1)[0] if kind == "ReplicaSet" else name
        spec: dict[str, Any] = {
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": app, "image": f"registry.example/{app}:1.0"}]},
            },
        }
        if kind == "ReplicaSet":
            spec["replicas"] = n
        owners[(kind, ns, name)] = {
            "apiVersion": api,
            "kind": kind,
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": uid_for(kind, ns, name),
                "labels": {"app": app},
                "generation": 1,
                "creationTimestamp": ts(),
            },
            "spec": spec,
            "status": _owner_status(kind, n),
        }
    return owners


def _owner_status(kind: str, pods: int) -> dict[str, Any]:
    """A settled status with the fields the typed client requires for the kind."""
    if kind == "ReplicaSet":
        return {"replicas": pods, "readyReplicas": pods, "availableReplicas": pods}
    if kind == "DaemonSet":
        return {
            "currentNumberScheduled": pods,
            "desiredNumberScheduled": pods,
            "numberMisscheduled": 0,
            "numberReady": pods,
        }
    return {}
