"""Pod watches (issue 6): a pod event re-reads the cluster panels within a fraction
of a second instead of on the next 10 s poll — against the simulated cluster over
real HTTP, with the real cluster probes and watches (ProbeSource); and a
black-holed apiserver neither freezes the UI nor keeps the app from quitting."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tui_fixtures import NODE, hostname_root, node_state, wait_for

from ciliumtui.app import CiliumtuiApp
from ciliumtui.cluster.client import api_client
from ciliumtui.cluster.watch import ERROR, SYNCED, PodWatch, pod_watch_specs
from ciliumtui.model import Link, NodeState, Route
from ciliumtui.options import Options
from ciliumtui.sim.faults import black_hole, black_hole_kubeconfig
from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster
from ciliumtui.sources import ProbeSource


class ClusterSideSource(ProbeSource):
    """The real cluster, DNS and checks probes and pod watches; a fixed node (so the
    test reads nothing of the host and needs no root)."""

    async def net(self, probes: dict[str, Any]) -> tuple[list[Link], list[Route]]:
        node = node_state()
        return node.links, node.routes

    async def node(self, probes: dict[str, Any]) -> NodeState:
        return node_state()

    def events(self) -> None:
        return None


def make_opts(kubeconfig: str, tmp_path: Path, timeout: float = 2.0) -> Options:
    root = hostname_root(tmp_path)
    return Options(kubeconfig=kubeconfig, node=NODE, host_root=str(root), timeout=timeout)


def agent_pod_name(sim: SimCluster) -> str:
    api = api_client(Options(kubeconfig=sim.kubeconfig, node=NODE))
    try:
        from kubernetes import client

        pods = client.CoreV1Api(api).list_namespaced_pod(
            "kube-system",
            label_selector="k8s-app=cilium",
            field_selector=f"spec.nodeName={NODE}",
            _request_timeout=(2, 5),
        )
        return pods.items[0].metadata.name
    finally:
        api.close()


def delete_pod(sim: SimCluster, name: str) -> None:
    api = api_client(Options(kubeconfig=sim.kubeconfig, node=NODE))
    try:
        from kubernetes import client

        client.CoreV1Api(api).delete_namespaced_pod(name, "kube-system", _request_timeout=(2, 5))
    finally:
        api.close()


def cilium_panel_text(app: CiliumtuiApp) -> str:
    from textual.widgets import DataTable

    table = app.dashboard.query_one("#cilium DataTable", DataTable)
    return " ".join(str(c) for r in table.ordered_rows for c in table.get_row(r.key))


def shown_agent_pod(app: CiliumtuiApp) -> str | None:
    cluster = app.snapshot.cluster
    pod = cluster.cilium_pod if cluster is not None else None
    return pod.name if pod is not None else None


async def test_deleted_agent_pod_shows_up_within_a_second(tmp_path: Path) -> None:
    with SimCluster(load_scenario("healthy"), tmpdir=tmp_path / "sim") as sim:
        old = await asyncio.to_thread(agent_pod_name, sim)
        app = CiliumtuiApp(
            opts := make_opts(sim.kubeconfig, tmp_path),
            ClusterSideSource(opts),
        )
        app.probing.timing.cluster_interval = (
            3600.0  # only the pod watch may re-read the cluster here
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: shown_agent_pod(app) == old, timeout=20)
            await wait_for(pilot, lambda: app.stats.pod_watch_ready, timeout=20)
            await wait_for(pilot, lambda: not app.probing.running("cluster"), timeout=10)
            cycles = app.stats.updates["cluster"]
            start = time.perf_counter()
            await asyncio.to_thread(delete_pod, sim, old)
            await wait_for(
                pilot,
                lambda: (
                    shown_agent_pod(app) not in (None, old)
                    and (shown_agent_pod(app) or "?") in cilium_panel_text(app)
                ),
                timeout=8,
            )
            took = time.perf_counter() - start
            new = shown_agent_pod(app)
            assert app.stats.pod_events_seen >= 1 and app.stats.updates["cluster"] > cycles
            assert new != old and new in cilium_panel_text(app)
            assert old not in cilium_panel_text(app)
            # Well under CLUSTER_INTERVAL (10 s by default; 3600 s here).
            print(f"pod deleted → new agent pod on the panel: {took * 1000:.0f} ms")
            assert took < 3.0, f"the new agent pod took {took:.2f}s to show"
            # The re-created pod turns Ready: the panel follows without a poll.
            await wait_for(pilot, lambda: app.snapshot.cluster.cilium_pod.ready, timeout=5)
            await wait_for(pilot, lambda: "Ready" in cilium_panel_text(app), timeout=5)


def test_pod_watch_streams_sim_events_and_stops_promptly(tmp_path: Path) -> None:
    """The blocking generator on its own: SYNCED, then the delete and re-create, across
    server-side watch timeouts (1 s here, re-watched from the last resourceVersion)."""
    with SimCluster(load_scenario("healthy"), tmpdir=tmp_path) as sim:
        opts = Options(kubeconfig=sim.kubeconfig, node=NODE, timeout=2.0)
        spec = next(s for s in pod_watch_specs(opts) if s.name == "node-pods")
        watch = PodWatch(opts, spec, timeout_seconds=1)
        seen: list[Any] = []
        thread = threading.Thread(target=lambda: seen.extend(watch.events()), daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
        assert seen and seen[0].type == SYNCED
        time.sleep(2.5)  # two server-side timeouts: the watch re-connects by itself
        old = agent_pod_name(sim)
        delete_pod(sim, old)
        while time.monotonic() < deadline and not any(
            e.type == "ADDED" and e.name.startswith("cilium-") for e in seen
        ):
            time.sleep(0.02)
        start = time.perf_counter()
        watch.stop()
        thread.join(5)
        assert not thread.is_alive() and time.perf_counter() - start < 1.0
    kinds = [(e.type, e.name) for e in seen]
    assert ("DELETED", old) in kinds
    assert any(t == "ADDED" and n.startswith("cilium-") and n != old for t, n in kinds)
    assert all(e.type != ERROR for e in seen)
    assert all(e.namespace == "kube-system" for e in seen if e.name.startswith("cilium-"))


@pytest.fixture
def blackhole(tmp_path: Path) -> Iterator[str]:
    """A kubeconfig whose apiserver accepts TCP connections and never answers."""
    with black_hole() as port:
        yield str(black_hole_kubeconfig(port, tmp_path / "kubeconfig"))


async def test_blackholed_apiserver_watch_keeps_ui_drawing_and_quits(
    blackhole: str, tmp_path: Path
) -> None:
    opts = make_opts(blackhole, tmp_path, timeout=1.0)
    app = CiliumtuiApp(opts, ClusterSideSource(opts))
    app.probing.timing.backoff_first = (
        0.2  # retry the watch quickly: several attempts in the window
    )
    gaps: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.stats.node_frame_at is not None)
        await wait_for(pilot, lambda: app.probing._pod_watch_started, timeout=10)
        last = time.perf_counter()

        def tick() -> None:
            nonlocal last
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

        app.set_interval(0.01, tick)
        await wait_for(pilot, lambda: app.stats.pod_watch_error is not None, timeout=10)
        assert (
            "did not answer" in app.stats.pod_watch_error
            or "timed out" in app.stats.pod_watch_error
        )
        assert not app.stats.pod_watch_ready
        await pilot.press("r")  # the UI still answers keys while the watch hangs
        watchers = [t for t in threading.enumerate() if t.name.startswith("ciliumtui-watch")]
        assert all(t.daemon for t in watchers)
        start = time.perf_counter()
        await pilot.press("q")
    assert time.perf_counter() - start < 2.0
    assert gaps and max(gaps) < 0.5, f"UI loop gap {max(gaps) * 1000:.0f} ms"


CHILD = textwrap.dedent(
    """
    import sys, threading, time
    from ciliumtui.app import CiliumtuiApp
    from ciliumtui.options import Options

    opts = Options(kubeconfig=sys.argv[1], host_root=sys.argv[2], node="k3s-node1", timeout=30.0)
    app = CiliumtuiApp(opts)

    async def auto(pilot):
        while app.stats.node_frame_at is None:
            await pilot.pause(0.02)
        app.probing._start_pod_watch_once()  # not waiting for the first cluster cycle (2 x 30 s)
        while not any(t.name.startswith("ciliumtui-watch-") for t in threading.enumerate()):
            await pilot.pause(0.02)
        await pilot.pause(0.3)  # the watch is now blocked on the silent apiserver
        print("WATCHING", flush=True)
        app.exit()

    app.run(headless=True, size=(100, 30), auto_pilot=auto)
    """
)


def test_app_process_quits_while_a_watch_hangs(blackhole: str, tmp_path: Path) -> None:
    """30 s request timeouts on a silent apiserver: quitting must not wait for them
    (neither the watch threads nor the cluster probe's own `to_thread` calls)."""
    root = hostname_root(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, blackhole, str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        watching = None
        for line in proc.stdout:
            if line.startswith("WATCHING"):
                watching = time.perf_counter()
                break
        assert watching is not None, proc.stderr.read()[-2000:] if proc.stderr else ""
        proc.wait(timeout=60)
        took = time.perf_counter() - watching
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert took < 3.0, f"the app took {took:.1f}s to quit"
