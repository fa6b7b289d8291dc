"""Cluster probes: what the apiserver knows about this node, Cilium and CoreDNS.

`collect_cluster` makes one reachability call first ("apiserver": kubeconfig +
GET /version). When that fails it returns at once — a black-holed apiserver costs
one timeout, not one per probe. Otherwise the reads run concurrently in threads,
each through the probe boundary under its own name. All of it shares one
deadline (ciliumtui.cluster.deadline): a slow-dripping server or a blocking exec
plugin costs the deadline, never more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..errors import CiliumtuiError
from ..model import ClusterState, ProbeStatus
from ..options import Options
from ..probe import guarded, one_line
from ..redact import redact_url
from .deadline import Deadline, in_daemon_thread
from .hints import k3s_hints
from .parse import version_from_image

T = TypeVar("T")

# Every read, each under its own name in Snapshot.probes. Not listed: "coredns-log",
# recorded only when a CoreDNS pod crash-loops (its previous log is then read).
PROBE_NAMES = (
    "node",
    "cilium-pod",
    "cilium-workloads",
    "cilium-config",
    "ciliumnodes",
    "coredns",
    "coredns-corefile",
    "kube-proxy",
    "lb-pools",
    "node-pods",
)


def _close(api: Any) -> None:
    from .client import client_sockets

    client_sockets(api).abort()  # a thread still reading a drip fails now
    api.close()


async def _within(deadline: Deadline, what: str, work: Awaitable[T]) -> T:
    """`work`, or DeadlineExceeded ("<what> within Ns") once the cluster deadline passed."""
    try:
        return await asyncio.wait_for(work, deadline.remaining())
    except asyncio.TimeoutError:
        raise DeadlineExceeded(
            f"{what} within {deadline.label} (one deadline for the whole cluster side)"
        ) from None


def _no_answer(what: str) -> str:
    return f"apiserver gave no complete answer to {what}"


class DeadlineExceeded(CiliumtuiError):
    """The cluster side's one deadline passed before this step finished."""


async def _connect(opts: Options, deadline: Deadline) -> tuple[Any, str, str | None, str | None]:
    """Kubeconfig → stdlib liveness check → ApiClient → GET /version, within `deadline`.

    The liveness check comes first, before the kubernetes client is even imported:
    on a live apiserver it costs a millisecond (overlapping it with the ~0.4 s import
    gained nothing), and on a dead one the process never loads the client — no CPU
    spent on it, and a lighter interpreter to tear down at exit (measured: ~0.3 s of
    finalization with the client loaded, on 2 shared cores)."""
    from .client import api_client, check_alive, client_origin, kube_context
    from .reads import read_version

    _context, server = await in_daemon_thread(kube_context, opts)
    alive = in_daemon_thread(check_alive, server, deadline.inner(opts.timeout))
    await _within(deadline, _no_answer("get /version"), alive)
    client = in_daemon_thread(api_client, opts, deadline, discard=_close)
    api = await _within(deadline, "the kubernetes client was not ready", client)
    try:
        version = in_daemon_thread(read_version, api, opts)
        await _within(deadline, _no_answer("get /version"), version)
    except BaseException:
        _close(api)
        raise
    kubeconfig, context = client_origin(api)
    return api, kubeconfig, context, api.configuration.host


def _where(opts: Options) -> tuple[str | None, str | None, str | None]:
    """(kubeconfig, context, server) we tried, so `apiserver-unreachable` can name them."""
    from .client import find_kubeconfig, kube_context

    try:
        path = find_kubeconfig(opts).path
        context, server = kube_context(opts)
    except Exception:  # the error itself is already recorded; this is best effort
        return opts.kubeconfig, opts.context, None
    return (str(path) if path else None), context, redact_url(server)


async def collect_cluster(
    opts: Options, probes: dict[str, ProbeStatus], deadline: Deadline | None = None
) -> ClusterState:
    """Everything the apiserver says about this node, within one deadline (default:
    --timeout + SLACK from now; pass the collection's own to share it with DNS)."""
    deadline = deadline or Deadline.for_cluster(opts)
    hints = k3s_hints(opts)
    state = ClusterState(
        service_cidr=hints.service_cidr, cluster_domain=hints.cluster_domain or "cluster.local"
    )
    start = time.perf_counter()
    try:
        api, kubeconfig, context, server = await _connect(opts, deadline)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        msg = redact_url(one_line(exc))
        probes["apiserver"] = ProbeStatus(
            False, msg, round((time.perf_counter() - start) * 1000, 2)
        )
        state.error = msg
        state.kubeconfig, state.context, state.server = _where(opts)
        return state
    probes["apiserver"] = ProbeStatus(True, None, round((time.perf_counter() - start) * 1000, 2))
    state.reachable, state.kubeconfig, state.context = True, kubeconfig, context
    state.server = redact_url(server) if server else None
    try:
        await _read_all(api, opts, probes, state, deadline)
    finally:
        _close(api)
    return state


async def _read_all(
    api: Any, opts: Options, probes: dict[str, ProbeStatus], state: ClusterState, deadline: Deadline
) -> None:
    from . import reads

    def within(name: str, fn: Callable[..., T], *args: Any) -> Awaitable[T]:
        return _within(deadline, _no_answer(f"the {name} read"), in_daemon_thread(fn, *args))

    def run(name: str, fn: Callable[[Any, Options], Any], fallback: Any) -> Any:
        # One daemon thread per probe, all at once: nine probes queued behind a slow
        # apiserver in a small pool would double the wall time.
        return guarded(probes, name, within(name, fn, api, opts), fallback)

    coredns = asyncio.ensure_future(run("coredns", reads.read_coredns, (None, [])))

    async def coredns_log() -> list[str]:
        _svc, pods = await coredns
        if not any(reads.crash_looping(p) for p in pods):
            return []  # nothing to ask, nothing to record
        work = within("coredns-log", reads.read_coredns_log, api, opts, pods)
        return await guarded(probes, "coredns-log", work, [])

    (
        state.node,
        state.cilium_pod,
        (state.cilium_daemonset, state.operator),
        state.config,
        state.ciliumnodes,
        (state.kube_dns, state.coredns_pods),
        state.coredns_corefile,
        state.coredns_log,
        state.kube_proxy,
        state.lb_pools,
        state.node_pods,
    ) = await asyncio.gather(
        run("node", reads.read_node, None),
        run("cilium-pod", reads.read_cilium_pod, None),
        run("cilium-workloads", reads.read_workloads, (None, None)),
        run("cilium-config", reads.read_cilium_config, None),
        run("ciliumnodes", reads.read_ciliumnodes, []),
        coredns,
        run("coredns-corefile", reads.read_corefile, None),
        coredns_log(),
        run("kube-proxy", reads.read_kube_proxy, None),
        run("lb-pools", reads.read_lb_pools, []),
        run("node-pods", reads.read_node_pods, []),
    )
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


__all__ = ["PROBE_NAMES", "Deadline", "DeadlineExceeded", "agent_version", "collect_cluster"]
