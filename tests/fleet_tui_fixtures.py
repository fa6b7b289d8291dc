"""A fleet for the `:fleet` view's tests: a simulated cluster of generated nodes,
each with the CiliumNetworkHealthy condition and a NodeDiagnosis (sim.fleet.world's
add_reports), reshaped into a fleet with several root causes: broken nodes with
stale Cilium interfaces, one whose iptables rules are left over (a symptom under
it), one that stopped reporting two hours ago, one healthy with a warning, the
rest healthy. The same objects, frozen at a fixed `NOW`, draw the snapshots."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

from ciliumtui.fleet import objects as FO
from ciliumtui.fleet.read import FleetRead
from ciliumtui.fleet.status import node_facts, report_facts
from ciliumtui.fleet.verdict import verdict
from ciliumtui.sim.fleet.world import add_reports, generated_status
from ciliumtui.sim.scenario import load_scenario

NODE_GVK = "v1/Node"
ND_GVK = "ciliumtui.io/v1alpha1/NodeDiagnosis"
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)

# The shape of the test fleet: name -> what its report says.
STALE_LINKS = ("worker-03", "worker-07")  # add_reports' broken node: stale interfaces
STALE_RULES = "worker-05"  # stale-cilium-iptables, with dns-cluster-names-fail under it
SILENT = "worker-09"  # last reported two hours ago at a 600 s interval
WARNED = "worker-11"  # healthy, one warning
BROKEN = (*STALE_LINKS, STALE_RULES)


def node_names(n: int) -> list[str]:
    return [f"worker-{i:02d}" for i in range(1, n + 1)]


def scenario(n: int = 12) -> dict[str, Any]:
    sc = load_scenario("healthy")
    sc["cluster"]["nodes"] = [
        {"name": name, "internal_ip": f"192.168.1.{30 + i}", "pod_cidr": f"10.42.{i}.0/24"}
        for i, name in enumerate(node_names(n), start=1)
    ]
    sc["node_name"] = "worker-01"
    sc["cluster"]["pods"] = []
    return sc


STALE_RULES_FINDINGS: list[dict[str, Any]] = [
    {
        "id": "stale-cilium-iptables",
        "severity": "critical",
        "title": "Cilium's iptables rules are left over while no agent runs",
        "evidence": [
            "iptables-nft: 212 CILIUM_* rules in filter, nat, mangle, raw",
            "no cilium-agent process on the node",
        ],
        "remediation": {
            "playbook": "cleanup",
            "docs": "https://docs.k3s.io/networking/basic-network-options",
        },
        "root_cause": True,
        "explained_by": [],
    },
    {
        "id": "dns-cluster-names-fail",
        "severity": "critical",
        "title": "Cluster names do not resolve from this node",
        "evidence": ["kubernetes.default.svc.cluster.local via 10.43.0.10:53: timed out"],
        "remediation": {"playbook": "cleanup", "docs": None},
        "root_cause": False,
        "explained_by": ["stale-cilium-iptables"],
    },
    {
        "id": "k3s-stop-hook-missing",
        "severity": "warning",
        "title": "k3s stops without cleaning Cilium up",
        "evidence": ["/etc/systemd/system/k3s.service has no ExecStopPost cleanup"],
        "remediation": {"playbook": "k3s-stop-hook", "docs": None},
        "root_cause": True,
        "explained_by": [],
    },
]

WARNING_FINDINGS: list[dict[str, Any]] = [
    {
        "id": "k3s-stop-hook-missing",
        "severity": "warning",
        "title": "k3s stops without cleaning Cilium up",
        "evidence": ["/etc/systemd/system/k3s.service has no ExecStopPost cleanup"],
        "remediation": {"playbook": "k3s-stop-hook", "docs": None},
        "root_cause": True,
        "explained_by": [],
    }
]


def _status(name: str, findings: list[dict[str, Any]], at: str) -> dict[str, Any]:
    status = generated_status(name, False, at, 600)
    status["findings"] = copy.deepcopy(findings)
    v = verdict(status)
    status.update(healthy=v.status, root_cause=v.root_cause)
    return status


def reshape(node: dict[str, Any], nd: dict[str, Any], now: datetime) -> tuple[dict, dict]:
    """(node, NodeDiagnosis) with what the test fleet says about that node."""
    name = node["metadata"]["name"]
    at = FO.rfc3339(now)
    if name == STALE_RULES:
        status = _status(name, STALE_RULES_FINDINGS, at)
    elif name == WARNED:
        status = _status(name, WARNING_FINDINGS, at)
    elif name == SILENT:
        at = FO.rfc3339(now - timedelta(hours=2))
        status = {**nd["status"], "generated_at": at}
    else:
        return node, nd
    cond = FO.condition(verdict(status), at, None)
    conds = [c for c in node["status"].get("conditions") or [] if c.get("type") != cond["type"]]
    node = {**node, "status": {**node["status"], "conditions": [*conds, cond]}}
    return node, {**nd, "status": status}


def fill(sim: Any, now: datetime | None = None) -> None:
    """add_reports on `sim`, then the test fleet's shape, in its store."""
    now = now or datetime.now(timezone.utc)
    add_reports(sim, broken=lambda i, name: name in STALE_LINKS)
    store = sim.store
    for node in store.list(NODE_GVK):
        name = node["metadata"]["name"]
        nd = store.get(ND_GVK, None, name)
        assert nd is not None
        new_node, new_nd = reshape(node, nd, now)
        if new_nd is not nd:
            store.update(new_node)
            store.update(new_nd)


def frozen_read(n: int = 12, now: datetime = NOW) -> FleetRead:
    """The same fleet without a cluster: what the snapshots draw (no clock, no port)."""
    nodes, reports = [], []
    at = FO.rfc3339(now - timedelta(seconds=95))
    for name in node_names(n):
        status = generated_status(name, name in STALE_LINKS, at, 600)
        v = verdict(status)
        node = {
            "metadata": {"name": name},
            "status": {"conditions": [FO.condition(v, at, None)]},
        }
        # Every publisher last wrote 95 s ago (the silent one: two hours before that).
        node, nd = reshape(node, FO.nd_object(name, status), now - timedelta(seconds=95))
        nodes.append(node_facts(node))
        reports.append(report_facts(nd))
    return FleetRead(nodes, reports)


def heal(sim: Any, name: str) -> None:
    """`name` reports healthy now (what its publisher writes after a fixing roll)."""
    at = FO.rfc3339()
    status = generated_status(name, False, at, 600)

    def write() -> None:
        store = sim.store
        nd = store.get(ND_GVK, None, name)
        node = store.get(NODE_GVK, None, name)
        assert nd is not None and node is not None
        cond = FO.condition(verdict(status), at, None)
        conds = [c for c in node["status"].get("conditions") or [] if c.get("type") != cond["type"]]
        store.update({**node, "status": {**node["status"], "conditions": [*conds, cond]}})
        store.update({**nd, "status": status})

    sim.call(write)


def fleet_snapshot_app() -> tuple[Any, Any]:
    """(app, steps) that show the `:fleet` view of the frozen fleet (no cluster, no
    timer: every run draws the same frame) for tests/test_tui_snapshots.py."""
    from ciliumtui.screens.fleet import FleetScreen
    from tui_fixtures import opts, post_reboot_source

    from ciliumtui.app import CiliumtuiApp

    read = frozen_read()
    app = CiliumtuiApp(opts(), post_reboot_source(), live=False)

    async def before(pilot: Any) -> None:
        await pilot.pause()
        screen = FleetScreen(reader=lambda: read, clock=lambda: NOW, interval=0)
        app.push_screen(screen)
        while screen.reads < 1:
            await pilot.pause(0.02)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return app, before
