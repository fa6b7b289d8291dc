"""The human-readable snapshot: what an operator reads when probes fail."""

from __future__ import annotations

from ciliumtui.model import (
    AgentState,
    Link,
    NetfilterDump,
    NodeState,
    ProbeStatus,
    Snapshot,
)
from ciliumtui.snapshot_text import render_text


def test_failures_and_missing_backends_are_spelled_out():
    node = NodeState(
        links=[Link("cilium_host", 3, kind="veth", state="DOWN", cilium=True), Link("eth0", 2)],
        netfilter=[
            NetfilterDump(
                "legacy", 4, available=False, error="iptables-legacy-save: command not found"
            ),
            NetfilterDump(
                "nft", 4, error="iptables-nft-save: Permission denied (you must be root)"
            ),
        ],
        agent=AgentState(socket="/var/run/cilium/cilium.sock", error="no agent API socket at /x"),
    )
    snap = Snapshot(
        node_name="n1",
        taken_at="2026-01-01T00:00:00+00:00",
        node=node,
        probes={
            "links": ProbeStatus(True),
            "routes": ProbeStatus(False, "ip: timed out after 10s"),
        },
    )
    text = render_text(snap)
    lines = text.splitlines()
    assert "Probe failed: routes: ip: timed out after 10s" in lines
    assert any(line.startswith(" * cilium_host ") and "DOWN" in line for line in lines)
    assert any(line.startswith("   eth0 ") for line in lines)
    assert "   legacy v4  not installed" in lines
    assert "   nft v4     error: iptables-nft-save: Permission denied (you must be root)" in lines
    assert "Cilium agent: no pidfile; API socket /var/run/cilium/cilium.sock" in lines
    assert "   no agent API socket at /x" in lines
    assert "k3s: not found" in text
