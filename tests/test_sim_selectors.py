"""Label/field selectors and patches as the apiserver applies them (pure functions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ciliumtui.sim.patch import PatchError, apply_patch, json_patch, merge_patch
from ciliumtui.sim.selectors import (
    SelectorError,
    field_matcher,
    label_matcher,
    parse_field_selector,
)

KEYS = st.sampled_from(["app", "k8s-app", "io.cilium/app", "tier"])
VALUES = st.sampled_from(["cilium", "kube-dns", "web", "operator", ""])
REQ = st.one_of(
    st.tuples(st.just("="), KEYS, st.lists(VALUES, min_size=1, max_size=1)),
    st.tuples(st.just("!="), KEYS, st.lists(VALUES, min_size=1, max_size=1)),
    st.tuples(st.just("in"), KEYS, st.lists(VALUES.filter(bool), min_size=1, max_size=3)),
    st.tuples(st.just("notin"), KEYS, st.lists(VALUES.filter(bool), min_size=1, max_size=3)),
    st.tuples(st.just("exists"), KEYS, st.just([])),
    st.tuples(st.just("!exists"), KEYS, st.just([])),
)


def render(op: str, key: str, values: list[str]) -> str:
    if op in ("=", "!="):
        return f"{key}{op}{values[0]}"
    if op in ("in", "notin"):
        return f"{key} {op} ({','.join(values)})"
    return key if op == "exists" else f"!{key}"


def reference(op: str, key: str, values: list[str], labels: dict[str, str]) -> bool:
    """The Kubernetes semantics, written out plainly."""
    if op == "=":
        return labels.get(key) == values[0] if key in labels else False
    if op == "!=":
        return key not in labels or labels[key] != values[0]
    if op == "in":
        return key in labels and labels[key] in values
    if op == "notin":
        return key not in labels or labels[key] not in values
    return (key in labels) == (op == "exists")


@given(reqs=st.lists(REQ, min_size=1, max_size=4), labels=st.dictionaries(KEYS, VALUES, max_size=4))
def test_label_selector_matches_kubernetes_semantics(reqs, labels):
    match = label_matcher(",".join(render(*r) for r in reqs))
    assert match is not None
    want = all(reference(op, k, v, labels) for op, k, v in reqs)
    assert match({"metadata": {"labels": labels}}) is want


@pytest.mark.parametrize("bad", ["a in (b", "a)", "!a in (b)", "a b c", "=x"])
def test_malformed_label_selectors_are_refused(bad):
    with pytest.raises(SelectorError):
        label_matcher(bad)


def test_field_selector_on_nested_fields():
    pod = {
        "metadata": {"name": "p", "namespace": "kube-system"},
        "spec": {"nodeName": "n1", "hostNetwork": True},
        "status": {"phase": "Running"},
    }
    assert field_matcher(parse_field_selector("spec.nodeName=n1,status.phase==Running"))(pod)
    assert not field_matcher(parse_field_selector("metadata.namespace!=kube-system"))(pod)
    assert field_matcher(parse_field_selector("spec.hostNetwork=true"))(pod)
    assert field_matcher(parse_field_selector("spec.missing="))(pod)  # absent reads as ""
    with pytest.raises(SelectorError):
        parse_field_selector("spec.nodeName")


def test_merge_patch_rfc7386_examples():
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert merge_patch({"a": "b"}, {"a": None}) == {}
    assert merge_patch({"a": ["b"]}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}


def test_json_patch_ops_and_errors():
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    out = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "remove", "path": "/a/b/0"},
            {"op": "copy", "from": "/c", "path": "/d"},
            {"op": "test", "path": "/d", "value": "y"},
        ],
    )
    assert out == {"a": {"b": [2, 3]}, "c": "y", "d": "y"}
    assert doc == {"a": {"b": [1, 2]}, "c": "x"}  # the input is untouched
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "test", "path": "/c", "value": "nope"}])
    with pytest.raises(PatchError):
        apply_patch(doc, "application/apply-patch+yaml", {})
