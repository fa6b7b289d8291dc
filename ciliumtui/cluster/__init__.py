"""Cluster probes: what the apiserver knows about this node, Cilium and CoreDNS.

`collect_cluster` makes one reachability call first ("apiserver": kubeconfig +
GET /version). When that fails it returns at once — a black-holed apiserver costs
one timeout, not one per probe. Otherwise the reads run concurrently in threads,
each through the probe boundary under its own name.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..model import ClusterState, ProbeStatus
from ..options import Options
from ..probe import guarded, one_line
from .hints import k3s_hints
from .parse import version_from_image

PROBE_NAMES = (
    "node",
    "cilium-pod",
    "cilium-workloads",
    "cilium-config",
    "ciliumnodes",
    "coredns",
    "kube-proxy",
    "lb-pools",
    "node-pods",
)


def _close_quietly(task: asyncio.Future) -> None:
    """A client built after we gave up: close it, and consume its error if any."""
    if task.cancelled():
        return
    if task.exception() is None:
        task.result().close()


async def _connect(opts: Options) -> tuple[Any, str, str | None, str | None]:
    """Kubeconfig → ApiClient → GET /version. The import of kubernetes (slow) overlaps
    a stdlib liveness check, so a dead apiserver is reported after one timeout."""
    from .client import api_client, check_alive, kube_context
    from .reads import read_version

    _context, server = await asyncio.to_thread(kube_context, opts)
    client_task = asyncio.ensure_future(asyncio.to_thread(api_client, opts))
    try:
        await asyncio.to_thread(check_alive, server, opts.timeout)
        api = await client_task
    except BaseException:
        client_task.add_done_callback(_close_quietly)
        raise
    try:
        await asyncio.to_thread(read_version, api, opts)
    except BaseException:
        api.close()
        raise
    return api, api.ciliumtui_kubeconfig, api.ciliumtui_context, api.configuration.host


def _where(opts: Options) -> tuple[str | None, str | None, str | None]:
    """(kubeconfig, context, server) we tried, so `apiserver-unreachable` can name them."""
    from .client import find_kubeconfig, kube_context

    try:
        path = find_kubeconfig(opts).path
        context, server = kube_context(opts)
    except Exception:  # the error itself is already recorded; this is best effort
        return opts.kubeconfig, opts.context, None
    return (str(path) if path else None), context, server


async def collect_cluster(opts: Options, probes: dict[str, ProbeStatus]) -> ClusterState:
    hints = k3s_hints(opts)
    state = ClusterState(
        service_cidr=hints.service_cidr, cluster_domain=hints.cluster_domain or "cluster.local"
    )
    start = time.perf_counter()
    try:
        # Safety net over the liveness + per-request timeouts (liveness, then one GET).
        api, kubeconfig, context, server = await asyncio.wait_for(
            _connect(opts), 2 * opts.timeout + 1
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        msg = (
            f"apiserver did not answer within {opts.timeout:g}s"
            if isinstance(exc, TimeoutError)
            else one_line(exc)
        )
        probes["apiserver"] = ProbeStatus(
            False, msg, round((time.perf_counter() - start) * 1000, 2)
        )
        state.error = msg
        state.kubeconfig, state.context, state.server = _where(opts)
        return state
    probes["apiserver"] = ProbeStatus(True, None, round((time.perf_counter() - start) * 1000, 2))
    state.reachable, state.kubeconfig, state.context, state.server = (
        True,
        kubeconfig,
        context,
        server,
    )
    try:
        await _read_all(api, opts, probes, state)
    finally:
        api.close()
    return state


async def _read_all(
    api: Any, opts: Options, probes: dict[str, ProbeStatus], state: ClusterState
) -> None:
    from . import reads

    loop = asyncio.get_running_loop()
    # Our own pool, one thread per probe: the default executor has only cpu+4 workers,
    # and nine probes queued behind a slow apiserver would double the wall time.
    pool = ThreadPoolExecutor(max_workers=len(PROBE_NAMES), thread_name_prefix="cluster-probe")
    # Per-request timeouts are the real bound; this caps a server that drips bytes.
    deadline = 2 * opts.timeout + 1

    async def in_pool(fn: Callable[[Any, Options], Any]) -> Any:
        # Submitted only once guarded() awaits it, so its timer covers the whole read.
        return await loop.run_in_executor(pool, fn, api, opts)

    def run(name: str, fn: Callable[[Any, Options], Any], fallback: Any) -> Any:
        return guarded(probes, name, in_pool(fn), fallback, timeout=deadline)

    try:
        (
            state.node,
            state.cilium_pod,
            (state.cilium_daemonset, state.operator),
            state.config,
            state.ciliumnodes,
            (state.kube_dns, state.coredns_pods),
            state.kube_proxy,
            state.lb_pools,
            state.node_pods,
        ) = await asyncio.gather(
            run("node", reads.read_node, None),
            run("cilium-pod", reads.read_cilium_pod, None),
            run("cilium-workloads", reads.read_workloads, (None, None)),
            run("cilium-config", reads.read_cilium_config, None),
            run("ciliumnodes", reads.read_ciliumnodes, []),
            run("coredns", reads.read_coredns, (None, [])),
            run("kube-proxy", reads.read_kube_proxy, None),
            run("lb-pools", reads.read_lb_pools, []),
            run("node-pods", reads.read_node_pods, []),
        )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    state.cilium_version = agent_version(state)


def agent_version(state: ClusterState) -> str | None:
    """Cilium version from the agent image tag: this node's pod first, then the DaemonSet."""
    if state.cilium_pod:
        agent = next((c for c in state.cilium_pod.containers if c.name == "cilium-agent"), None)
        agent = agent or (state.cilium_pod.containers[0] if state.cilium_pod.containers else None)
        if agent and (v := version_from_image(agent.image)):
            return v
    if state.cilium_daemonset:
        return version_from_image(state.cilium_daemonset.image)
    return None


__all__ = ["PROBE_NAMES", "agent_version", "collect_cluster"]
