"""The publisher against the simulated apiserver (official client, real HTTP):
what it writes, when, and how it lives through the apiserver going away.

The diagnose is injected here (a fixed result per step) so the tests can say
exactly what changed; tests/test_fleet_e2e.py runs the real one on netns nodes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sim_helpers import kubectl, wait_for

from ciliumtui.fleet import CONDITION, ND_PATH
from ciliumtui.fleet import objects as O
from ciliumtui.fleet.manifest import crd
from ciliumtui.fleet.publisher import Publisher
from ciliumtui.options import Options
from ciliumtui.sim.server import SimCluster

NODE = "k3s-node1"
ND = "ciliumtui.io/v1alpha1/NodeDiagnosis"


def result(*critical: str, warning: tuple[str, ...] = ()) -> dict:
    findings = [
        {
            "id": i,
            "severity": "critical",
            "title": i,
            "evidence": [f"{i}!"],
            "remediation": {"playbook": "cleanup", "docs": None},
            "root_cause": True,
            "explained_by": [],
        }
        for i in critical
    ] + [
        {
            "id": i,
            "severity": "warning",
            "title": i,
            "evidence": [],
            "remediation": {"playbook": None, "docs": None},
            "root_cause": True,
            "explained_by": [],
        }
        for i in warning
    ]
    return {
        "schema": 2,
        "tool_version": "0.1.0",
        "generated_at": O.rfc3339(),
        "node": NODE,
        "cilium_version": "1.18.4",
        "findings": findings,
        "probes": {"node": {"ok": True, "error": None, "ms": 2.0}},
    }


class Scripted:
    """A diagnose that returns whatever the test sets."""

    def __init__(self) -> None:
        self.value: tuple[dict, str | None] = (result(), None)

    def __call__(self, _opts: Options) -> tuple[dict, str | None]:
        value, err = self.value
        return {**value, "generated_at": O.rfc3339()}, err


@pytest.fixture
def sim(tmp_path: Path):
    with SimCluster("healthy", tmpdir=tmp_path / "sim") as s:
        s.store.create(crd())
        yield s


def writes(sim: SimCluster, since: int) -> list[tuple[str, str]]:
    return [r for r in sim.requests[since:] if r[0] in ("POST", "PUT", "PATCH", "DELETE")]


def condition(sim: SimCluster) -> dict | None:
    return O.condition_of(sim.store.get("v1/Node", None, NODE))


def publisher(sim: SimCluster, diag: Scripted, interval: int, lines: list[str] | None = None):
    opts = Options(kubeconfig=sim.kubeconfig, node=NODE, timeout=1.0)
    return Publisher(
        opts, interval, diagnose_fn=diag, log=lines.append if lines is not None else None
    )


def test_writes_only_on_change_plus_one_heartbeat_per_interval(sim: SimCluster) -> None:
    diag = Scripted()
    pub = publisher(sim, diag, interval=2)
    n0 = len(sim.requests)
    out = pub.cycle()
    assert sorted(out.wrote) == ["condition", "nodediagnosis"]
    first = writes(sim, n0)
    assert [m for m, _ in first] == ["PATCH", "POST"]
    assert first[0][1] == f"/api/v1/nodes/{NODE}/status" and first[1][1] == ND_PATH
    # The kubelet's conditions are still there, ours beside them.
    types = [c["type"] for c in sim.store.get("v1/Node", None, NODE)["status"]["conditions"]]
    assert "Ready" in types and CONDITION in types
    nd = sim.store.get(ND, None, NODE)
    assert nd["status"]["interval_s"] == 2 and nd["status"]["healthy"] == "True"

    n1 = len(sim.requests)
    assert pub.cycle().wrote == []  # same result, heartbeat not due: nothing written
    assert writes(sim, n1) == []
    beat = condition(sim)["lastHeartbeatTime"]
    time.sleep(2.0)
    n2 = len(sim.requests)
    assert pub.cycle().wrote == ["heartbeat"]
    assert [m for m, _ in writes(sim, n2)] == ["PATCH"]  # one write, the condition only
    cond = condition(sim)
    assert cond["lastHeartbeatTime"] > beat
    assert cond["lastTransitionTime"] == beat  # still True since the first publish


def test_a_change_writes_the_condition_the_report_and_one_event(sim: SimCluster) -> None:
    diag = Scripted()
    pub = publisher(sim, diag, interval=600)
    pub.cycle()
    healthy_since = condition(sim)["lastTransitionTime"]
    time.sleep(1.1)
    diag.value = (result("stale-cilium-interfaces", "stale-cilium-iptables"), None)
    out = pub.cycle()
    assert sorted(out.wrote) == ["condition", "event", "nodediagnosis"]
    cond = condition(sim)
    assert (cond["status"], cond["reason"]) == ("False", "StaleCiliumInterfaces")
    assert cond["lastTransitionTime"] > healthy_since
    assert "stale-cilium-iptables" in cond["message"] and len(cond["message"].encode()) <= 1024
    nd = sim.store.get(ND, None, NODE)["status"]
    assert nd["root_cause"] == "stale-cilium-interfaces" and nd["healthy"] == "False"
    events = sim.store.list("v1/Event", "default")
    assert [e["reason"] for e in events] == ["CiliumNetworkBroken"]
    assert events[0]["involvedObject"]["name"] == NODE
    # Same critical set, new warning: the report changes, no new event.
    diag.value = (
        result("stale-cilium-interfaces", "stale-cilium-iptables", warning=("mtu-mismatch",)),
        None,
    )
    assert "event" not in pub.cycle().wrote
    diag.value = (result(), None)
    assert "event" in pub.cycle().wrote
    reasons = sorted(e["reason"] for e in sim.store.list("v1/Event", "default"))
    assert reasons == ["CiliumNetworkBroken", "CiliumNetworkRecovered"]
    assert condition(sim)["status"] == "True"
    # kubectl shows it all
    got = kubectl(sim, "get", "nd", NODE)
    assert got.returncode == 0 and "True" in got.stdout
    desc = kubectl(sim, "describe", "node", NODE)
    assert CONDITION in desc.stdout and "CiliumNetworkRecovered" in desc.stdout


def test_could_not_diagnose_publishes_unknown(sim: SimCluster) -> None:
    diag = Scripted()
    diag.value = (O.error_result(NODE, "--host-root /x: not a directory", O.rfc3339()), "boom")
    publisher(sim, diag, interval=600).cycle()
    cond = condition(sim)
    assert (cond["status"], cond["reason"]) == ("Unknown", "DiagnoseFailed")
    assert sim.store.get(ND, None, NODE)["status"]["error"]


def test_a_restarted_publisher_does_not_rewrite_an_unchanged_result(sim: SimCluster) -> None:
    diag = Scripted()
    publisher(sim, diag, interval=600).cycle()
    n = len(sim.requests)
    again = publisher(sim, diag, interval=600)  # a new pod: reads what is there first
    assert again.cycle().wrote == []
    assert writes(sim, n) == []


def test_missing_node_and_missing_crd_are_one_line(tmp_path: Path) -> None:
    from ciliumtui.errors import CiliumtuiError

    with SimCluster("healthy", tmpdir=tmp_path) as s:
        opts = Options(kubeconfig=s.kubeconfig, node="no-such-node", timeout=1.0)
        with pytest.raises(CiliumtuiError, match="no Node named no-such-node"):
            Publisher(opts, 600, diagnose_fn=Scripted()).cycle()
        opts = Options(kubeconfig=s.kubeconfig, node=NODE, timeout=1.0)
        with pytest.raises(CiliumtuiError, match="CRD is not installed"):
            Publisher(opts, 600, diagnose_fn=Scripted()).cycle()


def test_survives_the_apiserver_going_away_and_coming_back(tmp_path: Path) -> None:
    sim = SimCluster("healthy", tmpdir=tmp_path / "sim").start()
    sim.store.create(crd())
    port = sim.port
    lines: list[str] = []
    diag = Scripted()
    pub = publisher(sim, diag, interval=1, lines=lines)
    stop = threading.Event()
    crashed: list[BaseException] = []

    def loop() -> None:
        try:
            pub.forever(stop)
        except BaseException as exc:  # would be a crash
            crashed.append(exc)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    back = None
    try:
        wait_for(lambda: sim.store.get(ND, None, NODE), timeout=10)
        sim.stop()  # the apiserver goes away
        wait_for(lambda: any("retrying in" in ln for ln in lines), timeout=10)
        time.sleep(1.5)
        back = SimCluster("healthy", tmpdir=tmp_path / "sim", port=port).start()
        back.store.create(crd())  # a fresh store: nothing of ours is there any more
        nd = wait_for(lambda: back.store.get(ND, None, NODE), timeout=15)
        assert nd["status"]["healthy"] == "True"
        assert wait_for(lambda: condition(back), timeout=5)["status"] == "True"
    finally:
        stop.set()
        t.join(10)
        if back is not None:
            back.stop()
        sim.stop()
    assert not crashed and not t.is_alive()
    failures = [ln for ln in lines if "retrying in" in ln]
    assert failures and all("\n" not in ln and "Traceback" not in ln for ln in failures)
    delays = [float(ln.rsplit("retrying in ", 1)[1].split()[0]) for ln in failures]
    assert all(0 < d <= 1.0 for d in delays)  # backoff capped at the interval, with jitter


def test_after_an_unreachable_diagnose_it_reads_the_apiserver_again(sim: SimCluster) -> None:
    from ciliumtui.errors import CiliumtuiError
    from ciliumtui.fleet.publisher import NothingToPublishTo

    diag = Scripted()
    pub = publisher(sim, diag, interval=600)
    pub.cycle()
    real = pub.diagnose_fn

    def unreachable(_opts: Options):
        raise NothingToPublishTo("apiserver unreachable from this node: timed out")

    pub.diagnose_fn = unreachable
    with pytest.raises(CiliumtuiError, match="unreachable"):
        pub.cycle()
    sim.store.delete(ND, None, NODE)  # it came back from an older backup: our report is gone
    pub.diagnose_fn = real
    assert "nodediagnosis" in pub.cycle().wrote
    assert sim.store.get(ND, None, NODE) is not None


def test_a_report_deleted_between_cycles_is_back_by_the_next_heartbeat(sim: SimCluster) -> None:
    """`kubectl delete nd`, or an apiserver restored between two cycles: no request
    failed, so only re-reading before the heartbeat notices the report is gone."""
    diag = Scripted()
    pub = publisher(sim, diag, interval=1)
    pub.cycle()
    sim.store.delete(ND, None, NODE)
    time.sleep(1.0)
    assert sorted(pub.cycle().wrote) == ["heartbeat", "nodediagnosis"]
    assert sim.store.get(ND, None, NODE)["status"]["healthy"] == "True"
    n = len(sim.requests)
    assert pub.cycle().wrote == []  # heartbeat not due yet: no reads, no writes
    assert sim.requests[n:] == []


def test_one_heartbeat_per_interval_by_the_publishers_own_clock(sim: SimCluster) -> None:
    """Re-reading before a heartbeat must not reset when the last beat was: the
    condition's timestamp has whole seconds, the publisher's clock does not. An hour
    at the default interval, by a clock the test steps: one heartbeat per cycle."""
    now = [0.0]
    opts = Options(kubeconfig=sim.kubeconfig, node=NODE, timeout=1.0)
    pub = Publisher(opts, 600, diagnose_fn=Scripted(), clock=lambda: now[0])
    assert sorted(pub.cycle().wrote) == ["condition", "nodediagnosis"]
    beats = []
    for _ in range(6):
        now[0] += 600
        beats.append(pub.cycle().wrote)
    assert beats == [["heartbeat"]] * 6
