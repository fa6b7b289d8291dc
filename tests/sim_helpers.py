"""Helpers for the ciliumtui.sim tests: a real kubernetes client, kubectl, polling."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ciliumtui.sim.server import SimCluster

T = TypeVar("T")


def api_client(sim: SimCluster):
    """The official client, built as the cluster probes build it: retries=0, short timeouts."""
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=sim.kubeconfig, client_configuration=cfg)
    cfg.retries = 0
    return client.ApiClient(cfg)


def kubectl(sim: SimCluster, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", sim.kubeconfig, "--request-timeout=10s", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for(fn: Callable[[], T | None], timeout: float = 5.0, interval: float = 0.05) -> T:
    """Poll fn until it returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def cilium_pods(sim: SimCluster, node: str | None = None) -> list[dict[str, Any]]:
    return [
        p
        for p in sim.store.list("v1/Pod", "kube-system", node=node)
        if p["metadata"]["labels"].get("k8s-app") == "cilium"
    ]


def is_ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


def waiting_reason(pod: dict[str, Any]) -> str | None:
    for cs in pod["status"].get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return waiting.get("reason")
    return None
