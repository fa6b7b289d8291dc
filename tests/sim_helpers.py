"""Helpers for the ciliumtui.sim tests: a real kubernetes client, kubectl, polling, and
a scenario's whole world (netns node, host root, cluster, agent API) for end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ciliumtui.sim.agent_api import AgentApiServer
from ciliumtui.sim.host_root import build_host_root
from ciliumtui.sim.node_builder import build_node, remove_node
from ciliumtui.sim.scenario import load_scenario
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


@dataclass
class NodeWorld:
    netns: str
    root: Path
    kubeconfig: str
    node: str
    sim: SimCluster
    agent: AgentApiServer

    def flags(self) -> list[str]:
        """The flags that point `ciliumtui` at this world's node, host root and cluster."""
        return [
            "--kubeconfig",
            self.kubeconfig,
            "--netns",
            self.netns,
            "--host-root",
            str(self.root),
            "--node",
            self.node,
            "--timeout",
            "2",
        ]

    def argv(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "ciliumtui", *extra, *self.flags()]


@contextmanager
def node_world(name: str | dict, tmp: Path, *, prefix: str) -> Iterator[NodeWorld]:
    """Node (netns `<prefix>-*`), host root, sim cluster and agent API for scenario `name`
    (a built-in id, or a dict of overrides merged over healthy.yaml). Needs root.

    Not ciliumtui.training.env.TrainingEnv: that one also relays Cilium's datapath when
    the fix lands and takes scenario ids only; these tests check the node as left."""
    sc = load_scenario(name)
    netns = f"{prefix}-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        with ExitStack() as stack:
            build_node(sc, netns)
            sim = stack.enter_context(SimCluster(sc, netns=netns, tmpdir=tmp / "sim"))
            root = tmp / "root"
            build_host_root(sc, root, kubeconfig=sim.kubeconfig)
            sock = root / "var/run/cilium/cilium.sock"
            sock.parent.mkdir(parents=True, exist_ok=True)
            agent = stack.enter_context(AgentApiServer(sc["agent_api"], sock))
            yield NodeWorld(netns, root, sim.kubeconfig, sc["node_name"], sim, agent)
    finally:
        remove_node(netns)  # and its upstream namespace
