"""`ciliumtui snapshot` as a user runs it: a subprocess against the simulated node."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ciliumtui.model import Snapshot
from ciliumtui.sim.node_builder import DECOY_CHAIN, endpoint_name

pytestmark = pytest.mark.root


def ciliumtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ciliumtui", *args], capture_output=True, text=True, timeout=60
    )


def test_json_snapshot_shows_what_the_fixture_built(cilium_node):
    netns, root = cilium_node
    done = ciliumtui(
        "snapshot", "--netns", netns, "--host-root", str(root), "--json", "--no-cluster"
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    snap = Snapshot.from_dict(data)  # loadable by `diagnose --from`
    assert snap.netns == netns and snap.node_name == "k3s-node1"
    assert all(p.ok for p in snap.probes.values()) and "cluster" not in snap.probes
    links = {link["name"]: link["cilium"] for link in data["node"]["links"]}
    expected = {
        "cilium_host",
        "cilium_net",
        "cilium_vxlan",
        "lxc_health",
        *(endpoint_name("k3s-node1", i) for i in range(3)),
    }
    assert {n for n, c in links.items() if c} == expected
    assert links["lxcbr0"] is False and links["docker0"] is False
    chains = {
        c["name"]: c["cilium"]
        for d in data["node"]["netfilter"]
        for t in d["tables"]
        for c in t["chains"]
    }
    assert chains["CILIUM_POST_nat"] is True and chains[DECOY_CHAIN] is False
    rule9 = [r for r in data["node"]["rules"] if r["priority"] == 9]
    assert rule9 == [
        {
            "priority": 9,
            "family": 4,
            "src": "all",
            "dst": None,
            "fwmark": "0x200/0xf00",
            "table": "2004",
            "action": None,
            "iif": None,
            "oif": None,
            "cilium": True,
            "invert": False,
        }
    ]
    assert data["node"]["host"]["k3s"]["cluster_dns"] == "10.43.0.10"


def test_text_snapshot_marks_cilium_objects(cilium_node):
    netns, root = cilium_node
    done = ciliumtui("snapshot", "--netns", netns, "--host-root", str(root), "--no-cluster")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith(" * cilium_host ") for line in lines)
    assert any(line.startswith("   lxcbr0 ") for line in lines)
    assert " * local default dev lo table 2004" in lines
    assert " * v4 9: from all fwmark 0x200/0xf00 lookup 2004" in lines
    assert f"     other user chains: {DECOY_CHAIN}" in lines
    assert "Cilium agent: pid" in done.stdout and "(running)" in done.stdout


def test_full_snapshot_without_a_cluster_still_reports_the_node(cilium_node, tmp_path):
    netns, root = cilium_node
    bad = tmp_path / "kubeconfig"
    bad.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    done = ciliumtui(
        "snapshot",
        "--netns",
        netns,
        "--host-root",
        str(root),
        "--json",
        "--kubeconfig",
        str(bad),
        "--timeout",
        "1",
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert any(link["name"] == "cilium_host" for link in data["node"]["links"])
    assert data["cluster"] is None or data["cluster"]["reachable"] is False


@pytest.mark.parametrize(
    "flag,value,words",
    [
        ("--netns", "nd-no-such-ns", "no such network namespace"),
        ("--host-root", "/nonexistent/root", "not a directory"),
    ],
)
def test_bad_location_is_one_line_and_exit_3(flag, value, words):
    done = ciliumtui("snapshot", flag, value, "--no-cluster")
    assert done.returncode == 3
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and words in done.stderr
