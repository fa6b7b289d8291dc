"""The dashboard on the real probes: a network namespace as the node, a missing
kubeconfig as the cluster, netlink events driving the node panels."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from ciliumtui.app import CiliumtuiApp
from ciliumtui.options import Options


async def wait_for(pilot: Any, cond: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def names(app: CiliumtuiApp) -> set[str]:
    table = app.dashboard.query_one("#interfaces DataTable", DataTable)
    return {str(table.get_row(r.key)[0]) for r in table.ordered_rows}


@pytest.mark.root
async def test_real_probes_fill_node_panels_and_netlink_events_update_them(
    make_netns: Any, tmp_path: Path
) -> None:
    ns = make_netns("h6l")
    subprocess.run(
        [
            "ip",
            "-n",
            ns,
            "link",
            "add",
            "cilium_host",
            "type",
            "veth",
            "peer",
            "name",
            "cilium_net",
        ],
        check=True,
    )
    subprocess.run(
        ["ip", "-n", ns, "addr", "add", "10.42.0.183/32", "dev", "cilium_host"], check=True
    )
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("k3s-node1\n")
    opts = Options(netns=ns, host_root=str(root), kubeconfig=str(tmp_path / "nope"), timeout=1.0)
    app = CiliumtuiApp(opts)
    app.NODE_INTERVAL = 3600.0  # only netlink events may refresh the node panels here
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "cilium_host" in names(app))
        assert {"lo", "cilium_host", "cilium_net"} <= names(app)
        await wait_for(
            pilot,
            lambda: (
                "apiserver unreachable" in str(app.dashboard.query_one("#cilium").border_subtitle)
            ),
        )
        await wait_for(pilot, lambda: app.events_ready)
        subprocess.run(
            [
                "ip",
                "-n",
                ns,
                "link",
                "add",
                "lxc0123456789ab",
                "type",
                "veth",
                "peer",
                "name",
                "peer9",
            ],
            check=True,
        )
        await wait_for(pilot, lambda: "lxc0123456789ab" in names(app), timeout=5)
        subprocess.run(["ip", "-n", ns, "link", "del", "cilium_host"], check=True)
        await wait_for(pilot, lambda: "cilium_host" not in names(app), timeout=5)
        assert app.updates["node"] >= 3
