"""The `when:` / `until:` expression language: what it evaluates and what it refuses."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ciliumtui.engine.expr import ExprError, parse, render

FUNCS = {
    "finding": lambda fid: fid in ("stale-cilium-iptables",),
    "any_finding": lambda sev: sev == "warning",
    "len": len,
}
SCOPE = {
    "inputs": {"node": "k3s-node1", "restart_pods": True},
    "pods": ["a", "b"],
    "count": 3,
    "result": {"items": [{"name": "x"}]},
}


def ev(text: str):
    return parse(text).evaluate(SCOPE, FUNCS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("inputs.restart_pods", True),
        ("inputs.node == 'k3s-node1'", True),
        ("count > 2 and len(pods) == 2", True),
        ("not finding('stale-cilium-iptables')", False),
        ("finding('coredns-not-ready') or any_finding('warning')", True),
        ("'a' in pods and 'z' not in pods", True),
        ("result.items[0].name == 'x'", True),
        ("result['items'][5]", None),
        ("missing == None", True),
        ("1 < count < 4", True),
        ("-count", -3),
        ("[1, 2] == [1, 2]", True),
        ("inputs.nothing.deeper", None),
    ],
)
def test_expressions_evaluate(text, expected):
    assert ev(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "().__class__",
        "inputs.__class__",
        "pods.__len__",
        "__import__('os')",
        "_private",
        "open('/etc/passwd')",
        "eval('1')",
        "pods.append(1)",
        "getattr(pods, 'x')",
        "len(pods, 2)",
        "finding(id='x')",
        "lambda: 1",
        "[x for x in pods]",
        "pods[0:1]",
        "1 if count else 2",
        "count + 1",
        "f'{count}'",
        "{'a': 1}",
        "count := 2",
        "b'bytes'",
        "count; 1",
        "import os",
        "",
        "x" * 2000,
    ],
)
def test_refused_at_parse_time(text):
    with pytest.raises(ExprError):
        parse(text)


def test_templates_keep_type_of_a_single_hole_and_join_text():
    evaluate = lambda e: e.evaluate(SCOPE, FUNCS)  # noqa: E731
    assert render("{{ pods }}", evaluate) == ["a", "b"]
    assert (
        render("node {{ inputs.node }} has {{ count }} pods", evaluate)
        == "node k3s-node1 has 3 pods"
    )
    with pytest.raises(ExprError):
        render("{{ pods.__class__ }}", evaluate)
    with pytest.raises(ExprError):
        render("{{ unclosed", evaluate)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_fails_cleanly(text):
    try:
        e = parse(text)
    except ExprError:
        return
    with contextlib.suppress(ExprError):
        e.evaluate(SCOPE, FUNCS)
