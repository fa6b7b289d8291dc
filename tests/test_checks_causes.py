"""The explains-relation (issue 13 item 1, DESIGN §4): which finding explains which,
root causes first, a symptom takes its root cause's playbook. Pure: findings in,
findings out — every id pair of the catalogue, and hypothesis over random sets."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ciliumtui.checks import CATALOGUE
from ciliumtui.checks.catalogue import finding
from ciliumtui.checks.causes import EXPLAINS, closure, explains, link, roots_of, symptoms_of
from ciliumtui.model import Finding, severity_order

IDS = sorted(CATALOGUE)
STALE = ["stale-cilium-interfaces", "stale-cilium-iptables", "stale-cilium-bpf"]
AGENT_BLOCKERS = [
    *STALE,
    "pod-cidr-overlaps-node-network",
    "kernel-too-old",
    "bpffs-not-mounted",
    "cni-config-conflict",
    "k3s-flannel-not-disabled",
]
AGENT_SYMPTOMS = [
    "cilium-agent-not-ready",
    "cilium-agent-unhealthy",
    "node-taint-agent-not-ready",
    "pods-failing-on-node",
]
DNS_AND_PODS = ["dns-cluster-names-fail", "dns-external-names-fail", "pods-failing-on-node"]


def fs(*ids: str) -> list[Finding]:
    return [finding(i, [f"evidence of {i}"]) for i in ids]


def by_id(found: list[Finding]) -> dict[str, Finding]:
    return {f.id: f for f in found}


# ------------------------------------------------------------------ the declaration


def test_relation_is_over_catalogue_ids_and_acyclic():
    named = set(EXPLAINS) | {s for v in EXPLAINS.values() for s in v}
    assert named <= set(CATALOGUE)
    closure(EXPLAINS)  # raises on a cycle
    assert not any(explains(i, i) for i in IDS)


def test_a_cycle_is_refused():
    with pytest.raises(ValueError, match="cycle"):
        closure({"a": ("b",), "b": ("c",), "c": ("a",)})


@pytest.mark.parametrize(
    ("cause", "symptom"),
    [
        *[(c, s) for c in AGENT_BLOCKERS for s in AGENT_SYMPTOMS],
        *[
            (c, s)
            for c in ("cilium-agent-not-ready", "cilium-agent-unhealthy")
            for s in DNS_AND_PODS
        ],
        *[("cilium-agent-missing", s) for s in DNS_AND_PODS],
        *[("coredns-not-ready", s) for s in DNS_AND_PODS],
        ("node-upstream-dns-fails", "dns-external-names-fail"),
        ("coredns-forward-loop", "coredns-not-ready"),
        ("k3s-flannel-not-disabled", "cni-config-conflict"),
        ("pod-cidr-overlaps-upstream-dns", "dns-external-names-fail"),
        ("cilium-agent-unhealthy", "cilium-agent-not-ready"),
    ],
)
def test_the_issue_s_relation_holds(cause: str, symptom: str):
    assert explains(cause, symptom)
    (c, s) = link(fs(cause, symptom))
    assert (c.id, c.root_cause) == (cause, True)
    assert s.explained_by == [cause] and not s.root_cause


@pytest.mark.parametrize(
    ("cause", "symptom"),
    [
        # an unreachable apiserver explains nothing it cannot see
        *[("apiserver-unreachable", s) for s in IDS],
        # the node's resolver is not why cluster names fail
        ("node-upstream-dns-fails", "dns-cluster-names-fail"),
        ("node-upstream-dns-fails", "coredns-not-ready"),
        # symptoms explain nothing
        *[("dns-cluster-names-fail", s) for s in IDS],
        *[("dns-external-names-fail", s) for s in IDS],
        *[("pods-failing-on-node", s) for s in IDS],
        *[("node-taint-agent-not-ready", s) for s in IDS],
        # the missing stop hook did not make this reboot's debris
        *[("k3s-stop-hook-missing", s) for s in IDS],
        # the agent does not leave debris behind by being down
        *[("cilium-agent-not-ready", s) for s in STALE],
    ],
)
def test_what_does_not_explain(cause: str, symptom: str):
    assert not explains(cause, symptom)


@pytest.mark.parametrize(("a", "b"), list(itertools.permutations(IDS, 2)))
def test_every_pair(a: str, b: str):
    """Any two findings that show together: linked exactly as declared, root first."""
    found = by_id(link(fs(a, b)))
    assert found[b].explained_by == ([a] if explains(a, b) else [])
    assert found[a].explained_by == ([b] if explains(b, a) else [])
    assert not (explains(a, b) and explains(b, a))
    order = [f.id for f in link(fs(a, b))]
    if explains(a, b):
        assert order == [a, b]
        assert found[b].playbook == CATALOGUE[a].playbook  # the root cause's fix (or None)


# -------------------------------------------------------------------- the stories


def test_after_a_hard_reboot_the_debris_is_the_cause_not_the_agent():
    """Issue 13: the first row said 'agent not Ready → restart'; the cause is the debris."""
    found = link(
        fs(
            "cilium-agent-not-ready",
            "dns-external-names-fail",
            "pods-failing-on-node",
            "stale-cilium-interfaces",
            "stale-cilium-iptables",
        )
    )
    assert [f.id for f in found][:2] == ["stale-cilium-interfaces", "stale-cilium-iptables"]
    f = by_id(found)
    assert f["cilium-agent-not-ready"].explained_by == [
        "stale-cilium-interfaces",
        "stale-cilium-iptables",
    ]
    assert f["dns-external-names-fail"].explained_by == ["cilium-agent-not-ready"]
    assert f["pods-failing-on-node"].explained_by == ["cilium-agent-not-ready"]
    assert {x.playbook for x in found} == {"cleanup"}  # nobody is sent to `restart`
    assert [s.id for s in symptoms_of("stale-cilium-interfaces", found)] == [
        "cilium-agent-not-ready",
        "dns-external-names-fail",
        "pods-failing-on-node",
    ]


def test_an_absent_intermediate_is_bridged():
    """No agent finding (the apiserver answers, the pod is gone): the debris explains
    the pods directly."""
    f = by_id(link(fs("stale-cilium-bpf", "pods-failing-on-node")))
    assert f["pods-failing-on-node"].explained_by == ["stale-cilium-bpf"]


def test_two_independent_roots_both_show_first():
    found = link(
        fs(
            "dns-external-names-fail",
            "cilium-agent-not-ready",
            "stale-cilium-interfaces",
            "pod-cidr-overlaps-upstream-dns",
            "lb-pool-overlaps-pod-cidr",
        )
    )
    roots = [f.id for f in found if f.root_cause]
    assert [f.id for f in found][: len(roots)] == roots
    assert set(roots) == {
        "stale-cilium-interfaces",
        "pod-cidr-overlaps-upstream-dns",
        "lb-pool-overlaps-pod-cidr",
    }
    dns = by_id(found)["dns-external-names-fail"]
    assert dns.explained_by == ["pod-cidr-overlaps-upstream-dns", "cilium-agent-not-ready"]
    assert roots_of(dns.id, {x.id: x.explained_by for x in found}) == {
        "stale-cilium-interfaces",
        "pod-cidr-overlaps-upstream-dns",
    }
    # the root explaining more comes first, and its playbook is the symptom's
    assert roots[0] == "stale-cilium-interfaces"
    assert dns.playbook == "cleanup"


def test_the_node_s_own_resolver_is_not_cilium_s_fault():
    f = by_id(link(fs("node-upstream-dns-fails", "dns-external-names-fail")))
    assert f["dns-external-names-fail"].explained_by == ["node-upstream-dns-fails"]
    assert f["dns-external-names-fail"].playbook is None  # no Cilium playbook fixes it


def test_an_old_kernel_takes_restart_away():
    f = by_id(link(fs("kernel-too-old", "cilium-agent-not-ready")))
    assert f["cilium-agent-not-ready"].playbook is None


def test_to_json_carries_the_links():
    f = by_id(link(fs("stale-cilium-bpf", "cilium-agent-not-ready")))
    assert f["cilium-agent-not-ready"].to_json()["root_cause"] is False
    assert f["cilium-agent-not-ready"].to_json()["explained_by"] == ["stale-cilium-bpf"]
    assert f["cilium-agent-not-ready"].to_json()["remediation"]["playbook"] == "cleanup"
    assert f["stale-cilium-bpf"].to_json()["root_cause"] is True


# --------------------------------------------------------------------- hypothesis


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(IDS), unique=True, max_size=len(IDS)), st.randoms())
def test_random_sets_no_cycles_roots_first(ids: list[str], rnd):
    found = link(fs(*ids))
    present = {f.id: f for f in found}
    assert sorted(present) == sorted(ids)
    parents = {f.id: f.explained_by for f in found}
    # explained_by: present, declared, never itself
    for f in found:
        assert set(f.explained_by) <= set(present) - {f.id}
        assert all(explains(c, f.id) for c in f.explained_by)
    # no cycles: walking causes always ends at a root
    for f in found:
        seen, todo = set(), [f.id]
        while todo:
            x = todo.pop()
            assert x not in seen or not parents[x]
            seen.add(x)
            todo += parents[x]
    # roots first, each group by severity
    keys = [(not f.root_cause, severity_order(f.severity)) for f in found]
    assert keys == sorted(keys)
    # a symptom's playbook: the first of its roots (in the output order) that has one
    order = [f.id for f in found]
    for f in found:
        if f.explained_by:
            roots = sorted(roots_of(f.id, parents), key=order.index)
            assert f.playbook == next(
                (CATALOGUE[r].playbook for r in roots if CATALOGUE[r].playbook), None
            )
        else:
            assert f.playbook == CATALOGUE[f.id].playbook
    # the input order does not matter
    shuffled = list(fs(*ids))
    rnd.shuffle(shuffled)
    assert link(shuffled) == found
