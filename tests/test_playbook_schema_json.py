"""playbooks/schema.json (for editors) is current and agrees with the loader."""

from __future__ import annotations

import json
from importlib.resources import files

import jsonschema
import pytest
import yaml

from ciliumtui.engine.json_schema import render
from ciliumtui.engine.loader import builtin_ids, validate_text

SCHEMA = json.loads((files("ciliumtui.playbooks") / "schema.json").read_text())


def test_schema_file_is_generated_from_the_registry():
    assert (files("ciliumtui.playbooks") / "schema.json").read_text() == render(), (
        "regenerate: python -m ciliumtui.engine.json_schema > playbooks/schema.json"
    )


@pytest.mark.parametrize("pid", builtin_ids())
def test_builtin_playbooks_validate_against_the_schema(pid):
    data = yaml.safe_load((files("ciliumtui.playbooks") / f"{pid}.yaml").read_text())
    jsonschema.validate(data, SCHEMA)


@pytest.mark.parametrize(
    "step",
    [
        {"id": "a", "action": "shel"},
        {"id": "a", "action": "shell", "params": {"argv": "ls"}},
        {"id": "a", "action": "shell", "params": {"argv": ["ls"], "bogus": 1}},
        {"id": "a", "action": "netfilter.purge", "params": {"backends": ["iptables"]}},
        {"id": "a", "action": "shell.read", "params": {"argv": ["ls"]}, "risk": "medium"},
        {"id": "a", "action": "shell.read", "params": {"argv": ["ls"]}, "tiemout": 3},
        {"id": "Bad Id", "action": "diagnose"},
        {"id": "a", "action": "diagnose", "retry": {"attempts": 0}},
        {"id": "a", "action": "diagnose", "retry": {"tries": 3}},
        # (.nan is the loader's alone: JSON has no NaN, and JSON Schema cannot reject it)
        {"id": "a", "action": "diagnose", "timeout": 0},
        {
            "id": "a",
            "action": "shell",
            "risk": "low",
            "params": {"argv": ["x"]},
            "rate_limit": {"key": "k", "max": 0},
        },
        {"id": "a", "action": "diagnose", "capture": {"_x": "p"}},
        {"id": "a", "action": "diagnose", "rollback": {"action": "shell", "params": {"nope": 1}}},
    ],
)
def test_schema_and_loader_both_reject(step):
    doc = {"id": "x", "steps": [step]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)
    assert validate_text(yaml.safe_dump(doc), "x.yaml")
