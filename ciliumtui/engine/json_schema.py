"""JSON Schema of the playbook format, for editors (playbooks/schema.json).

Derived from the one declaration (engine/schema.py, through ciliumtui.yamlspec) plus
each registered action's Params, so it cannot drift:
`python -m ciliumtui.engine.json_schema > playbooks/schema.json` (a test checks the
file is current). The loader stays the authority for what needs the whole document
(names in expressions, duplicate ids, phases); the schema gives editors completion
and early red squiggles.
"""

from __future__ import annotations

import json
from typing import Any

from ..yamlspec import json_schema
from .actions import REGISTRY
from .actions.base import Action, Param
from .schema import Playbook

_TEMPLATE = {"type": "string", "pattern": "\\{\\{.*\\}\\}"}


def _param(p: Param) -> dict[str, Any]:
    base = dict(p.spec.schema({}))
    if p.help:
        base["description"] = p.help
    # A param may be a {{ template }} instead (converted once rendered).
    return {"anyOf": [base, _TEMPLATE]} if base else base


def _params(cls: type[Action]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {k: _param(p) for k, p in cls.params.items()},
    }
    required = [k for k, p in cls.params.items() if p.required]
    if required:
        out["required"] = required
    return out


def _per_action(record: dict[str, Any]) -> None:
    """Each action's params, as if/then on the record's `action` (steps and rollbacks)."""
    record["allOf"] = [
        {
            "if": {"properties": {"action": {"const": name}}, "required": ["action"]},
            "then": {"properties": {"params": _params(cls)}},
        }
        for name, cls in sorted(REGISTRY.items())
    ]


def playbook_schema() -> dict[str, Any]:
    schema = json_schema(
        Playbook,
        **{"$id": "https://ciliumtui.io/schemas/playbook-v1alpha1.json"},
        title="ciliumtui playbook",
    )
    for name in ("Step", "Rollback"):
        _per_action(schema["$defs"][name])
    return schema


def render() -> str:
    return json.dumps(playbook_schema(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
