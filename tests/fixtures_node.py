"""Fixtures that build a simulated Cilium node: a fresh netns + a fake host root.

    def test_x(cilium_node):            # the healthy scenario, decoys included
        netns, host_root = cilium_node

    def test_y(node_factory):           # any scenario (dict merged over healthy.yaml)
        netns, host_root = node_factory({"network": {"cilium": {"iptables": "legacy"}}})

Namespaces are named "nd-<hex>" and always removed afterwards.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ciliumtui.sim.host_root import build_host_root
from ciliumtui.sim.node_builder import build_node, remove_node
from ciliumtui.sim.scenario import deep_merge, load_scenario

NodeFactory = Callable[..., tuple[str, Path]]


@pytest.fixture
def node_factory(tmp_path: Path) -> Iterator[NodeFactory]:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    created: list[str] = []

    def make(
        overrides: dict[str, Any] | None = None,
        *,
        scenario: dict[str, Any] | None = None,
        name: str = "healthy",
    ) -> tuple[str, Path]:
        sc = scenario if scenario is not None else load_scenario(name)
        if overrides:
            sc = deep_merge(sc, overrides)
        netns = f"nd-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", netns], check=True)
        created.append(netns)
        root = tmp_path / f"root-{netns}"
        build_node(sc, netns)
        build_host_root(sc, root)
        return netns, root

    try:
        yield make
    finally:
        for netns in created:
            remove_node(netns)  # and its `.upstream` namespace


@pytest.fixture
def cilium_node(node_factory: NodeFactory) -> tuple[str, Path]:
    """The healthy scenario's node (with decoys) in a fresh netns, and its host root."""
    return node_factory()
