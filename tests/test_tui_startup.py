"""Start-up order of the live dashboard (benchmarks/bench_tui.py, first frame):
the first frame is laid out once, in its final (wide/narrow) layout, and nothing
competes with it — the full node read, the checks, the netlink subscription and
the cluster probes start once it is drawn."""

from __future__ import annotations

from typing import Any

import pytest
from tui_fixtures import cluster_state, dns_state, node_state, opts, wait_for

from ciliumtui.app import CiliumtuiApp
from ciliumtui.model import Link, Route
from ciliumtui.sources import StaticSource


class PrefetchedSource(StaticSource):
    """A StaticSource whose links and routes were prefetched (as `ciliumtui` does)."""

    def ready_net(self, probes: dict[str, Any]) -> tuple[list[Link], list[Route]]:
        node = node_state()
        return node.links, node.routes

    def events(self) -> Any:
        self.calls["events"] = self.calls.get("events", 0) + 1
        return None


@pytest.mark.parametrize(("width", "layout"), [(120, "-wide"), (80, "-narrow")])
async def test_first_frame_has_its_final_layout_class(width: int, layout: str) -> None:
    source = PrefetchedSource(node_state(), cluster_state(), dns_state())
    app = CiliumtuiApp(opts(), source, live=False)
    seen: dict[str, set[str]] = {}
    start = app.start_probing

    def probing() -> None:  # before the first layout: Textual's Resize comes later
        seen["classes"] = set(app.dashboard.classes)
        start()

    app.start_probing = probing  # type: ignore[method-assign]
    async with app.run_test(size=(width, 40)) as pilot:
        await wait_for(pilot, lambda: app.stats.node_frame_at is not None)
        assert layout in seen["classes"]
        assert {"-wide", "-narrow"} - {layout} & seen["classes"] == set()
        assert layout in app.dashboard.classes


async def test_live_start_draws_prefetched_links_before_other_work() -> None:
    source = PrefetchedSource(node_state(), cluster_state(), dns_state())
    app = CiliumtuiApp(opts(), source)
    at_frame: dict[str, Any] = {}
    first = app.probing._first_node_frame

    def frame() -> None:
        running = {name for name, c in app.probing.cycles.items() if c.running}
        at_frame.update(calls=dict(source.calls), cycles=running)
        first()

    app.probing._first_node_frame = frame  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.stats.node_frame_at is not None)
        # The frame came from the prefetched links alone: no probe had run yet.
        assert at_frame["calls"] == {"node": 0, "cluster": 0, "dns": 0, "findings": 0}
        assert not at_frame["cycles"]
        await wait_for(
            pilot,
            lambda: (
                source.calls["node"] >= 1
                and source.calls["cluster"] >= 1
                and source.calls["findings"] >= 1
                and source.calls.get("events") == 1
            ),
        )
        assert app.snapshot.node is not None and app.snapshot.node.agent is not None
