"""Scenario loading: the merge over healthy.yaml and one-line errors with file:line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ciliumtui.errors import CiliumtuiError
from ciliumtui.sim.scenario import deep_merge, list_scenarios, load_scenario


def test_healthy_loads_complete():
    sc = load_scenario("healthy")
    assert sc["id"] == "healthy"
    assert sc["node_name"] == "k3s-node1"
    assert [n["name"] for n in sc["cluster"]["nodes"]] == ["k3s-node1", "k3s-node2"]
    assert sc["cluster"]["cilium"]["config"]["cluster-pool-ipv4-cidr"] == "10.42.0.0/16"


def test_scenario_file_merges_maps_and_replaces_lists(tmp_path):
    f = tmp_path / "broken-dns.yaml"
    f.write_text(
        "title: Broken DNS\n"
        "dns: {external_names: servfail}\n"
        "cluster:\n"
        "  cilium: {agent: crashloop}\n"
        "  pods: [{name: only-one, namespace: default, state: running}]\n"
    )
    sc = load_scenario(f)
    assert sc["id"] == "broken-dns"  # from the file name when the file has none
    assert sc["dns"] == {"cluster_names": "ok", "external_names": "servfail"}
    # the map merged: the rest of cilium's settings survive
    assert sc["cluster"]["cilium"]["agent"] == "crashloop"
    assert sc["cluster"]["cilium"]["version"] == "1.18.4"
    # the list replaced
    assert [p["name"] for p in sc["cluster"]["pods"]] == ["only-one"]
    # the base is not modified by a merge
    assert load_scenario("healthy")["dns"]["external_names"] == "ok"


def test_unknown_scenario_names_the_known_ones():
    with pytest.raises(CiliumtuiError) as exc:
        load_scenario("no-such-scenario")
    assert "unknown scenario 'no-such-scenario'" in str(exc.value)
    assert "healthy" in str(exc.value)


def test_malformed_yaml_reports_file_and_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("id: bad\ncluster:\n  nodes: [\n    {name: a\n  oops: : :\n")
    with pytest.raises(CiliumtuiError) as exc:
        load_scenario(str(f))
    msg = str(exc.value)
    assert msg.startswith(f"{f}:") and "YAML syntax error" in msg
    line = int(msg[len(str(f)) + 1 :].split(":")[0])
    assert 3 <= line <= 5
    assert "\n" not in msg


def test_bad_enum_value_points_at_its_line(tmp_path):
    f = tmp_path / "typo.yaml"
    f.write_text("id: typo\ndns:\n  cluster_names: ok\n  external_names: servfial\n")
    with pytest.raises(
        CiliumtuiError,
        match=r"typo.yaml:4:19: dns.external_names must be one of .*, got str 'servfial'",
    ):
        load_scenario(f)


def test_not_a_mapping_and_missing_file(tmp_path):
    f = tmp_path / "list.yaml"
    f.write_text("- a\n- b\n")
    with pytest.raises(CiliumtuiError, match=r"list.yaml:1:1: scenario must be a mapping"):
        load_scenario(f)
    with pytest.raises(CiliumtuiError, match="no such scenario file"):
        load_scenario(tmp_path / "missing.yaml")


def test_on_fix_trigger_is_checked(tmp_path):
    f = tmp_path / "fix.yaml"
    f.write_text("on_fix:\n  trigger: [agent-restart, reboot]\n")
    with pytest.raises(
        CiliumtuiError,
        match=r"fix.yaml:2:28: on_fix.trigger\[1\] must be one of .*, got str 'reboot'",
    ):
        load_scenario(f)


def test_list_scenarios_starts_with_healthy():
    rows = list_scenarios()
    assert rows[0][:2] == ("healthy", "A healthy node (learn what normal looks like)")
    assert all(len(r) == 3 and r[0] for r in rows)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    base=st.dictionaries(st.text(max_size=3), _json, max_size=4),
    over=st.dictionaries(st.text(max_size=3), _json, max_size=4),
)
def test_deep_merge_keeps_every_override_and_every_untouched_key(base, over):
    merged = deep_merge(base, over)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            assert set(merged[key]) == set(base[key]) | set(value)
        else:
            assert merged[key] == value
    for key in set(base) - set(over):
        assert merged[key] == base[key]
