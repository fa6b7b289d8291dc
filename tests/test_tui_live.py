"""The dashboard on the real probes: a network namespace as the node, a missing
kubeconfig as the cluster, netlink events driving the node panels."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable
from tui_fixtures import add_veth, hostname_root, wait_for

from ciliumtui.app import CiliumtuiApp
from ciliumtui.options import Options


def names(app: CiliumtuiApp) -> set[str]:
    table = app.dashboard.query_one("#interfaces DataTable", DataTable)
    return {str(table.get_row(r.key)[0]) for r in table.ordered_rows}


@pytest.mark.root
async def test_real_probes_fill_node_panels_and_netlink_events_update_them(
    make_netns: Any, tmp_path: Path
) -> None:
    ns = make_netns("h6l")
    add_veth(ns, "cilium_host", "cilium_net")
    subprocess.run(
        ["ip", "-n", ns, "addr", "add", "10.42.0.183/32", "dev", "cilium_host"], check=True
    )
    root = hostname_root(tmp_path)
    opts = Options(netns=ns, host_root=str(root), kubeconfig=str(tmp_path / "nope"), timeout=1.0)
    app = CiliumtuiApp(opts)
    app.probing.timing.node_interval = 3600.0  # only netlink events refresh the panels here
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "cilium_host" in names(app))
        assert {"lo", "cilium_host", "cilium_net"} <= names(app)
        await wait_for(
            pilot,
            lambda: (
                "apiserver unreachable" in str(app.dashboard.query_one("#cilium").border_subtitle)
            ),
        )
        await wait_for(pilot, lambda: app.stats.events_ready)
        add_veth(ns, "lxc0123456789ab", "peer9")
        await wait_for(pilot, lambda: "lxc0123456789ab" in names(app), timeout=5)
        subprocess.run(["ip", "-n", ns, "link", "del", "cilium_host"], check=True)
        await wait_for(pilot, lambda: "cilium_host" not in names(app), timeout=5)
        # Events were applied as deltas (no re-read of all links per event).
        assert app.stats.updates["net"] >= 1 and app.stats.events_applied >= 2
