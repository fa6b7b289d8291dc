"""Pods: the status of a pod in each state troubleshooting meets, and the pod object.

Public because the controller builds replacement pods and their statuses with them.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import Any

from .meta import Obj, ts, uid_for

# The states a scenario's `pods[].state` may name, and the builder's state for each.
POD_STATES = {
    "running": "running",
    "containercreating": "creating",
    "creating": "creating",
    "crashloopbackoff": "crashloop",
    "crashloop": "crashloop",
    "not-ready": "not-ready",
    "pending": "pending",
}


def _container_status(
    name: str, image: str, state: str, restarts: int, started: str
) -> dict[str, Any]:
    """One containerStatus for state running | not-ready | crashloop | creating | initializing."""
    cs: dict[str, Any] = {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": state == "running",
        "restartCount": restarts,
        "started": state in ("running", "not-ready"),
        "lastState": {},
    }
    if state in ("running", "not-ready"):
        cs["state"] = {"running": {"startedAt": started}}
        cs["containerID"] = f"containerd://{hashlib.sha256((name + started).encode()).hexdigest()}"
    elif state == "crashloop":
        cs["state"] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 5m0s restarting failed container={name}",
            }
        }
        cs["lastState"] = {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": started,
                "finishedAt": started,
            }
        }
    elif state == "creating":
        cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
    else:  # initializing
        cs["state"] = {"waiting": {"reason": "PodInitializing"}}
    return cs


def _init_status(name: str, image: str, done: bool, started: str) -> dict[str, Any]:
    st: dict[str, Any] = {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": done,
        "restartCount": 0,
        "started": False,
        "lastState": {},
    }
    if done:
        st["state"] = {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": started,
                "finishedAt": started,
            }
        }
    else:
        st["state"] = {"waiting": {"reason": "PodInitializing"}}
    return st


def pod_status(
    state: str,
    *,
    containers: Sequence[tuple[str, str]],
    init_containers: Sequence[tuple[str, str]] = (),
    host_ip: str | None,
    pod_ip: str | None,
    restarts: int = 0,
    started: str | None = None,
) -> dict[str, Any]:
    """status of a pod in one of: running | not-ready | crashloop | creating | pending.

    creating = ContainerCreating (CNI not ready); pending = freshly (re)created by a
    controller, init containers still running.
    """
    started = started or ts()
    status = dict(_base_status(state, tuple(containers), tuple(init_containers), restarts, started))
    if host_ip:
        status["hostIP"] = host_ip
        status["hostIPs"] = [{"ip": host_ip}]
    if pod_ip and state != "pending" and state != "creating":
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return status


@functools.lru_cache(maxsize=512)
def _base_status(
    state: str,
    containers: tuple[tuple[str, str], ...],
    init_containers: tuple[tuple[str, str], ...],
    restarts: int,
    started: str,
) -> dict[str, Any]:
    """The address-free part of a pod status. Shared between pods: never mutate it
    (the store's contract: stored objects are replaced, not edited)."""
    ready = state == "running"
    phase = "Pending" if state in ("creating", "pending") else "Running"
    cstate = {"pending": "initializing"}.get(state, state)
    conds: list[dict[str, Any]] = [
        {
            "type": "PodReadyToStartContainers",
            "status": "False" if state in ("creating", "pending") else "True",
        },
        {"type": "Initialized", "status": "False" if state == "pending" else "True"},
        {"type": "Ready", "status": str(ready)},
        {"type": "ContainersReady", "status": str(ready)},
        {"type": "PodScheduled", "status": "True"},
    ]
    for c in conds:
        c["lastProbeTime"] = None
        c["lastTransitionTime"] = started
        if c["type"] in ("Ready", "ContainersReady") and not ready:
            c["reason"] = "ContainersNotReady"
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conds,
        "qosClass": "Burstable",
        "startTime": started,
        "containerStatuses": [
            _container_status(n, img, cstate, restarts, started) for n, img in containers
        ],
    }
    if init_containers:
        status["initContainerStatuses"] = [
            _init_status(n, img, state != "pending", started) for n, img in init_containers
        ]
    return status


def make_pod(
    *,
    name: str,
    namespace: str,
    node: str | None,
    labels: dict[str, str],
    containers: Sequence[tuple[str, str]],
    init_containers: Sequence[tuple[str, str]] = (),
    state: str,
    host_ip: str | None,
    pod_ip: str | None,
    owner: dict[str, Any] | None = None,
    host_network: bool = False,
    annotations: dict[str, str] | None = None,
    restarts: int = 0,
    started: str | None = None,
    ports: dict[str, list[dict[str, Any]]] | None = None,
) -> Obj:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    meta["uid"] = uid_for("pod", namespace, name)
    meta["creationTimestamp"] = started or ts()
    if owner:
        meta["ownerReferences"] = [owner]
        meta["generateName"] = name[: name.rfind("-") + 1]
    if annotations:
        meta["annotations"] = dict(annotations)
    spec: dict[str, Any] = {
        "containers": [
            {"name": n, "image": img, **({"ports": ports[n]} if ports and n in ports else {})}
            for n, img in containers
        ],
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "dnsPolicy": "ClusterFirstWithHostNet" if host_network else "ClusterFirst",
    }
    if init_containers:
        spec["initContainers"] = [{"name": n, "image": img} for n, img in init_containers]
    if node:
        spec["nodeName"] = node
    if host_network:
        spec["hostNetwork"] = True
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": pod_status(
            state,
            containers=containers,
            init_containers=init_containers,
            host_ip=host_ip,
            pod_ip=host_ip if host_network else pod_ip,
            restarts=restarts,
            started=started,
        ),
    }
