"""The fleet's pure parts: verdicts, the condition, change detection, fleet status,
the roll's plan and budget, the Job, and the simulator's strategic merge."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ciliumtui.errors import CiliumtuiError
from ciliumtui.fleet import CONDITION, jobs
from ciliumtui.fleet import objects as O
from ciliumtui.fleet.status import fleet_status, node_facts, render_text, report_facts
from ciliumtui.fleet.verdict import MESSAGE_LIMIT, camel, digest, verdict
from ciliumtui.sim.fleet.strategic import status_only, strategic_merge

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)


def finding(fid, severity="critical", explained_by=(), playbook="cleanup", root=None):
    out = {
        "id": fid,
        "severity": severity,
        "title": fid,
        "evidence": [f"{fid} evidence"],
        "remediation": {"playbook": playbook, "docs": None},
        "explained_by": list(explained_by),
    }
    if root is not None:
        out["root_cause"] = root
    return out


def result(*findings, generated_at="2026-12-01T11:59:00Z"):
    return {
        "schema": 2,
        "generated_at": generated_at,
        "node": "n1",
        "cilium_version": "1.18.4",
        "findings": list(findings),
        "probes": {"node": {"ok": True, "error": None, "ms": 1.5}},
    }


# ------------------------------------------------------------------ verdict


def test_camel_case_reason() -> None:
    assert camel("stale-cilium-interfaces") == "StaleCiliumInterfaces"
    assert camel("dns-external-names-fail") == "DnsExternalNamesFail"


def test_critical_finding_is_false_with_the_root_cause_behind_it() -> None:
    # schema 2 order: roots first; the critical symptom is explained by a warning root.
    r = result(
        finding("iptables-backend-split", "warning", root=True),
        finding("dns-cluster-names-fail", explained_by=["iptables-backend-split"], root=False),
    )
    v = verdict(r)
    assert (v.status, v.root_cause, v.reason) == (
        "False",
        "iptables-backend-split",
        "IptablesBackendSplit",
    )
    assert "dns-cluster-names-fail" in v.message and "iptables-backend-split" in v.message


def test_first_root_cause_in_order_wins() -> None:
    r = result(
        finding("stale-cilium-interfaces", root=True),
        finding("stale-cilium-iptables", root=True),
        finding("cilium-agent-not-ready", explained_by=["stale-cilium-interfaces"], root=False),
    )
    assert verdict(r).reason == "StaleCiliumInterfaces"


def test_schema_1_result_reads_every_finding_as_a_root() -> None:
    r = result(finding("cilium-agent-not-ready"), finding("stale-cilium-iptables"))
    v = verdict(r)
    assert v.root_cause == "cilium-agent-not-ready" and v.status == "False"


def test_warnings_only_is_true_and_names_them() -> None:
    v = verdict(result(finding("mtu-mismatch", "warning", playbook="mtu-fix")))
    assert (v.status, v.reason, v.root_cause) == ("True", "NoCriticalFindings", "mtu-mismatch")
    assert "mtu-mismatch" in v.message


def test_could_not_diagnose_is_unknown() -> None:
    v = verdict(O.error_result("n1", "--netns x: no such network namespace", "t"))
    assert v.status == "Unknown" and "no such network namespace" in v.message
    assert v.state == "unknown"


@given(st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=60))
def test_message_never_exceeds_one_kib(ids) -> None:
    r = result(*[finding(i) for i in ids])
    assert len(verdict(r).message.encode()) <= MESSAGE_LIMIT


def test_digest_ignores_timestamps_and_durations_but_not_findings() -> None:
    a = result(finding("stale-cilium-iptables"), generated_at="2026-12-01T10:00:00Z")
    b = result(finding("stale-cilium-iptables"), generated_at="2026-12-01T11:00:00Z")
    b["probes"]["node"]["ms"] = 99.0
    assert digest(a) == digest(b)
    c = result(finding("stale-cilium-iptables"), finding("mtu-mismatch", "warning"))
    assert digest(a) != digest(c)
    assert digest({**a, "interval_s": 0}) != digest({**a, "interval_s": 600})


# ---------------------------------------------------------------- condition


def test_transition_time_moves_only_with_the_status() -> None:
    broken = verdict(result(finding("stale-cilium-iptables")))
    first = O.condition(broken, "2026-12-01T10:00:00Z", None)
    assert first["lastTransitionTime"] == first["lastHeartbeatTime"] == "2026-12-01T10:00:00Z"
    again = O.condition(broken, "2026-12-01T10:10:00Z", first)
    assert again["lastTransitionTime"] == "2026-12-01T10:00:00Z"
    assert again["lastHeartbeatTime"] == "2026-12-01T10:10:00Z"
    assert not O.condition_changed(first, again)
    healed = O.condition(verdict(result()), "2026-12-01T10:20:00Z", again)
    assert healed["lastTransitionTime"] == "2026-12-01T10:20:00Z" and healed["status"] == "True"
    assert O.condition_changed(again, healed)


def test_nd_status_patch_removes_stale_keys_but_keeps_the_rolls_result() -> None:
    old = {"error": "x", "findings": [], "last_run": {"result": "ok"}}
    patch = O.nd_status_patch(old, {"findings": [1]})["status"]
    assert patch == {"findings": [1], "error": None}


def test_event_reasons_follow_the_critical_set() -> None:
    v = verdict(result(finding("stale-cilium-iptables")))
    broke = O.event("n1", "uid", frozenset(), frozenset({"stale-cilium-iptables"}), v, NOW)
    assert broke["reason"] == "CiliumNetworkBroken" and broke["type"] == "Warning"
    assert broke["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Node",
        "name": "n1",
        "uid": "uid",
    }
    ok = O.event(
        "n1", None, frozenset({"stale-cilium-iptables"}), frozenset(), verdict(result()), NOW
    )
    assert ok["reason"] == "CiliumNetworkRecovered" and ok["type"] == "Normal"


# -------------------------------------------------------------- fleet status


def node(name, cond=None):
    conds = [{"type": "Ready", "status": "True"}] + ([cond] if cond else [])
    return {"metadata": {"name": name}, "status": {"conditions": conds}}


def nd(name, status):
    return {"metadata": {"name": name}, "status": status}


def ago(seconds):
    return O.rfc3339(NOW - timedelta(seconds=seconds))


def reported(name, *findings, age=10, interval=600):
    r = result(*findings, generated_at=ago(age))
    return nd(name, O.nd_status(r, interval, verdict(r)))


def test_fleet_status_states_grouping_and_exit_codes() -> None:
    nodes = [node(n) for n in ("a", "b", "c", "d", "e", "f", "g")]
    reports = [
        reported("a"),
        reported("b", finding("stale-cilium-iptables")),
        reported("c", finding("stale-cilium-iptables")),
        reported("d", finding("mtu-mismatch", "warning")),
        reported("e", age=1801, interval=600),  # older than 3 intervals
        reported("f", age=10**6, interval=0),  # --once: never stale
        # g: no report at all
    ]
    fs = fleet_status(map(node_facts, nodes), map(report_facts, reports), NOW)
    state = {r.node: r.state for r in fs.nodes}
    assert state == {
        "a": "healthy",
        "b": "broken",
        "c": "broken",
        "d": "healthy",
        "e": "not-reporting",
        "f": "healthy",
        "g": "not-reporting",
    }
    assert [r.node for r in fs.nodes][:2] == ["b", "c"]  # broken first, grouped
    assert fs.by_root_cause == {"stale-cilium-iptables": ["b", "c"], "mtu-mismatch": ["d"]}
    assert fs.exit_code == 2
    js = fs.to_json()
    assert set(js) == {"nodes", "by_root_cause"}
    assert set(js["nodes"][0]) == {
        "node",
        "state",
        "root_cause",
        "critical",
        "warning",
        "generated_at",
    }
    text = render_text(fs)
    assert "stale-cilium-iptables (2): b, c" in text and "not-reporting (2): e, g" in text


def test_exit_codes_healthy_and_warnings_only() -> None:
    healthy = fleet_status([node_facts(node("a"))], [report_facts(reported("a"))], NOW)
    assert healthy.exit_code == 0
    warn = fleet_status(
        [node_facts(node("a"))],
        [report_facts(reported("a", finding("mtu-mismatch", "warning")))],
        NOW,
    )
    assert warn.exit_code == 1


def test_a_fresh_heartbeat_keeps_an_old_report_reporting() -> None:
    # Unchanged results are not rewritten: the condition's heartbeat says the node is alive.
    cond = {"type": CONDITION, "status": "True", "lastHeartbeatTime": ago(30)}
    fs = fleet_status(
        [node_facts(node("a", cond))], [report_facts(reported("a", age=7200, interval=600))], NOW
    )
    assert fs.nodes[0].state == "healthy" and fs.nodes[0].age_s == 30


# ---------------------------------------------------------------- the roll


def test_budget_parsing() -> None:
    assert jobs.parse_budget("2", 50) == 2
    assert jobs.parse_budget("10%", 50) == 5
    assert jobs.parse_budget("1%", 50) == 1  # rounded down, at least one
    for bad in ("0", "abc", "150%", "-1"):
        with pytest.raises(CiliumtuiError):
            jobs.parse_budget(bad, 10)


def test_only_node_playbooks_roll() -> None:
    with pytest.raises(CiliumtuiError, match="not a node playbook"):
        jobs.check_playbook("pod-cidr-change")


def test_plan_targets_only_nodes_whose_diagnosis_asks_for_it() -> None:
    nodes = [node(n) for n in ("a", "b", "c", "d")]
    reports = [
        reported("a"),
        reported("b", finding("stale-cilium-interfaces", playbook="cleanup")),
        reported("c", finding("k3s-stop-hook-missing", "info", playbook="k3s-stop-hook")),
    ]
    fs = fleet_status(map(node_facts, nodes), map(report_facts, reports), NOW)
    by_node = {t.node: t for t in jobs.plan(fs, "cleanup-node")}
    assert [n for n, t in by_node.items() if t.run] == ["b"]
    assert "no report" in by_node["d"].why
    assert [t.node for t in jobs.plan(fs, "k3s-stop-hook") if t.run] == ["c"]


def test_job_is_pinned_privileged_and_bounded() -> None:
    job = jobs.job_object("cleanup-node", "node-c", "20261201T120000Z-fleet-x", "ns", "img:1", 600)
    spec = job["spec"]
    pod = spec["template"]["spec"]
    assert len(job["metadata"]["name"]) <= 63
    assert pod["nodeName"] == "node-c" and pod["hostNetwork"] is True
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert spec["ttlSecondsAfterFinished"] > 0 and spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 600
    run = pod["initContainers"][0]
    assert (
        run["args"][:3] == ["run", "cleanup-node", "--yes"] and run["securityContext"]["privileged"]
    )
    assert pod["containers"][0]["args"][:2] == ["publish", "--once"]


def test_job_names_are_dns_labels_even_for_long_nodes() -> None:
    name = jobs.job_name("k3s-stop-hook", "Node_" + "x" * 80, "run")
    assert len(name) <= 63 and name == name.lower() and name[0].isalnum() and name[-1].isalnum()


# ------------------------------------------------------- simulator: patches


def test_strategic_merge_keeps_the_kubelets_conditions() -> None:
    obj = {"status": {"conditions": [{"type": "Ready", "status": "True"}], "phase": "x"}}
    cond = {"type": CONDITION, "status": "False", "reason": "R"}
    out = strategic_merge(obj, O.condition_patch(cond))
    assert [c["type"] for c in out["status"]["conditions"]] == ["Ready", CONDITION]
    again = strategic_merge(out, O.condition_patch({**cond, "status": "True"}))
    assert len(again["status"]["conditions"]) == 2
    assert again["status"]["conditions"][1]["status"] == "True"


def test_status_subresource_changes_only_the_status() -> None:
    old = {"metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}, "status": {"s": 1}}
    new = {"metadata": {"labels": {}}, "spec": {"x": 2}, "status": {"s": 2}}
    assert status_only(old, new, "status") == {**old, "status": {"s": 2}}
    assert status_only(old, new, None) == new
