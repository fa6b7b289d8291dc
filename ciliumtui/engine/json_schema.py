"""JSON Schema of the playbook format, for editors (playbooks/schema.json).

Generated from the schema constants and the action registry, so it cannot drift:
`python -m ciliumtui.engine.json_schema > playbooks/schema.json` (a test checks
the file is current). The loader stays the authority (expressions, names,
duplicate ids and line numbers are its job); the schema gives editors
completion and early red squiggles.
"""

from __future__ import annotations

import json
from typing import Any

from .actions import REGISTRY
from .actions.base import Param
from .loader import CAPTURE_FROM, INPUT_KEYS, RATE_KEYS, RETRY_KEYS, STEP_KEYS, TOP_KEYS
from .schema import INPUT_TYPES, ON_FAILURE, RISKS

_TEMPLATE = {"type": "string", "pattern": "\\{\\{.*\\}\\}"}
_DURATION = {
    "oneOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": "^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)?\\s*$"},
    ]
}


def _param(p: Param) -> dict[str, Any]:
    base: dict[str, Any] = {
        "str": {"type": "string"},
        "int": {"type": "integer"},
        "float": {"type": "number"},
        "bool": {"type": "boolean"},
        "list": {"type": "array", "items": {"type": ["string", "integer"]}},
        "map": {"type": "object"},
        "duration": _DURATION,
        "any": {},
    }[p.type]
    if p.choices:
        if p.type == "list":
            base = {"type": "array", "items": {"enum": list(p.choices)}}
        else:
            base = {"enum": list(p.choices)}
    if p.help:
        base = {**base, "description": p.help}
    return {"anyOf": [base, _TEMPLATE]} if base else base


def _params(cls: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {k: _param(p) for k, p in cls.params.items()},
        "required": [k for k, p in cls.params.items() if p.required],
    }


def playbook_schema() -> dict[str, Any]:
    step_props: dict[str, Any] = {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"},
        "title": {"type": "string"},
        "phase": {"type": "string"},
        "action": {"enum": sorted(REGISTRY), "description": "a registered action"},
        "params": {"type": "object"},
        "mutates": {"type": "boolean", "description": "restates the action's own declaration"},
        "risk": {"enum": list(RISKS)},
        "when": {
            "type": ["string", "boolean"],
            "description": "expression: names, ==, in, and/or/not, finding('id'), any_finding('critical'), len(x)",
        },
        "timeout": _DURATION,
        "retry": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "attempts": {"type": "integer", "minimum": 1, "maximum": 1000},
                "delay": _DURATION,
                "until": {"type": "string"},
            },
        },
        "capture": {
            "type": "object",
            "additionalProperties": {
                "oneOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "minProperties": 1,
                        "maxProperties": 1,
                        "properties": {
                            "path": {"type": "string"},
                            "count": {"type": "string"},
                            "from": {"enum": list(CAPTURE_FROM)},
                        },
                    },
                ]
            },
        },
        "on_failure": {"enum": list(ON_FAILURE)},
        "rollback": {
            "type": "object",
            "additionalProperties": False,
            "required": ["action"],
            "properties": {
                "id": {"type": "string"},
                "title": {"type": "string"},
                "action": {"enum": sorted(REGISTRY)},
                "params": {"type": "object"},
                "timeout": _DURATION,
            },
        },
        "rate_limit": {
            "type": "object",
            "additionalProperties": False,
            "required": ["key"],
            "properties": {
                "key": {"type": "string"},
                "max": {"type": "integer", "minimum": 1},
                "per": _DURATION,
            },
        },
        "explain": {"type": "string"},
    }
    assert set(step_props) == set(STEP_KEYS)
    per_action = [
        {
            "if": {"properties": {"action": {"const": name}}, "required": ["action"]},
            "then": {"properties": {"params": _params(cls)}},
        }
        for name, cls in sorted(REGISTRY.items())
    ]
    step = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "action"],
        "properties": step_props,
        "allOf": per_action,
    }
    inp = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "type": {"enum": list(INPUT_TYPES)},
            "required": {"type": "boolean"},
            "default": {},
            "choices": {"type": "array", "items": {"type": "string"}},
            "regex": {"type": "string"},
            "secret": {"type": "boolean"},
            "help": {"type": "string"},
            "description": {"type": "string"},
        },
    }
    assert set(inp["properties"]) == set(INPUT_KEYS)
    assert {"attempts", "delay", "until"} == set(RETRY_KEYS) and {"key", "max", "per"} == set(
        RATE_KEYS
    )
    top = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://ciliumtui.io/schemas/playbook-v1alpha1.json",
        "title": "ciliumtui playbook",
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "steps"],
        "properties": {
            "apiVersion": {"const": "ciliumtui.io/v1alpha1"},
            "kind": {"const": "Playbook"},
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"},
            "version": {"type": "integer"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "phases": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "inputs": {"type": "object", "additionalProperties": inp},
            "steps": {"type": "array", "minItems": 1, "items": step},
            "always": {"type": "array", "items": step},
        },
    }
    assert set(top["properties"]) == set(TOP_KEYS)
    return top


def render() -> str:
    return json.dumps(playbook_schema(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
