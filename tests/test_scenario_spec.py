"""The scenario format is declared once (sim/scenario.py): a typo'd key at any depth is an
error naming file:line:col, never a silently healthy node (issue 12 item 3)."""

from __future__ import annotations

import re
from importlib.resources import files

import jsonschema
import pytest
import yaml

from ciliumtui.errors import CiliumtuiError
from ciliumtui.sim.scenario import list_scenarios, load_scenario, scenario_schema

BROKEN = """\
id: broken-node
title: A trainer's broken node
host:
  agent_running: false
  kernel: 5.4.0-old
network:
  cilium:
    present: true
cluster:
  cilium:
    agent: crashloop
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "col", "message"),
    [
        (
            "network:",
            "netwrok:",
            6,
            1,
            "unknown key 'netwrok' in scenario (did you mean 'network'?)",
        ),
        ("  kernel:", "  kernal:", 5, 3, "unknown key 'kernal' in host (did you mean 'kernel'?)"),
        ("    present:", "    presnet:", 8, 5, "unknown key 'presnet' in network.cilium"),
        ("    agent:", "    agnet:", 11, 5, "unknown key 'agnet' in cluster.cilium"),
    ],
)
def test_a_typo_at_any_depth_is_an_error_with_file_line_col(tmp_path, old, new, line, col, message):
    f = tmp_path / "broken.yaml"
    f.write_text(BROKEN.replace(old, new, 1))
    with pytest.raises(CiliumtuiError) as exc:
        load_scenario(f)
    msg = str(exc.value)
    assert msg.startswith(f"{f}:{line}:{col}: ") and message in msg, msg
    assert "\n" not in msg


def test_the_typo_no_longer_makes_the_broken_node_healthy(tmp_path):
    # Before: `netwrok:` was ignored, the healthy network was merged in, and the trainer's
    # "stale Cilium state" scenario built a node with nothing stale on it.
    good = tmp_path / "good.yaml"
    good.write_text(BROKEN.replace("present: true", "present: false"))
    sc = load_scenario(good)
    assert sc["network"]["cilium"]["present"] is False and sc["host"]["kernel"] == "5.4.0-old"
    typo = tmp_path / "typo.yaml"
    typo.write_text(
        BROKEN.replace("present: true", "present: false").replace("network:", "netwrok:")
    )
    with pytest.raises(CiliumtuiError, match="unknown key 'netwrok'"):
        load_scenario(typo)


def test_unknown_keys_in_list_items_and_on_fix(tmp_path):
    f = tmp_path / "deep.yaml"
    f.write_text(
        "cluster:\n  nodes:\n    - name: n1\n      pod_cird: 10.0.0.0/24\n"
        "on_fix:\n  trigger: manual\n  dns:\n    external_name: ok\n"
    )
    with pytest.raises(CiliumtuiError) as exc:
        load_scenario(f)
    msg = str(exc.value)
    assert msg.startswith(f"{f}:4:7: unknown key 'pod_cird' in cluster.nodes[0]"), msg
    assert "(+1 more)" in msg  # the on_fix typo is found too


def test_wrong_types_are_located(tmp_path):
    f = tmp_path / "types.yaml"
    f.write_text("cluster:\n  restart_delay: soon\n")
    with pytest.raises(
        CiliumtuiError, match=r"types.yaml:2:18: cluster.restart_delay must be a number"
    ):
        load_scenario(f)
    f.write_text("host:\n  agent_running: maybe\n")
    with pytest.raises(CiliumtuiError, match=r"types.yaml:2:18: host.agent_running must be"):
        load_scenario(f)


def test_a_dict_scenario_is_checked_too():
    with pytest.raises(CiliumtuiError, match=r"^<scenario>: unknown key 'clsuter' in scenario"):
        load_scenario({"clsuter": {"restart_delay": 0.1}})
    assert load_scenario({"cluster": {"restart_delay": 0.1}})["cluster"]["restart_delay"] == 0.1


@pytest.mark.parametrize("sid", [s[0] for s in list_scenarios()])
def test_every_builtin_scenario_loads_and_matches_the_derived_json_schema(sid):
    load_scenario(sid)
    text = (files("ciliumtui.assets") / "scenarios" / f"{sid}.yaml").read_text()
    jsonschema.validate(yaml.safe_load(text), scenario_schema())


def test_hints_are_strings_not_accidental_mappings():
    # "Look at the pod: its state" unquoted is a YAML mapping; the declaration caught one.
    for sid, _, _ in list_scenarios():
        for hint in load_scenario(sid)["hints"]:
            assert isinstance(hint, str) and not re.match(r"^\{", hint), (sid, hint)
