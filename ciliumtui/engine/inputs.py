"""A run's inputs: `--input k=v` pairs checked and typed against the playbook's `inputs:`."""

from __future__ import annotations

from typing import Any

from ..errors import CiliumtuiError
from ..yamlspec import Invalid, suggest
from .schema import Input, Playbook


def coerce_input(inp: Input, raw: Any) -> Any:
    """A raw value as the input's type; ValueError (yamlspec.Invalid) when it is not."""
    return inp.coerce(raw)


def resolve_inputs(
    playbook: Playbook, given: dict[str, str], node_name: str | None = None
) -> dict[str, Any]:
    """The inputs for a run: given values (typed), defaults, `node` inputs default to this node."""
    out: dict[str, Any] = {}
    for key in given:
        if key not in playbook.inputs:
            known = ", ".join(playbook.inputs) or "none"
            raise CiliumtuiError(
                f"playbook {playbook.id} has no input {key!r}"
                f"{suggest(key, list(playbook.inputs))} (inputs: {known})"
            )
    for name, inp in playbook.inputs.items():
        if name in given:
            try:
                out[name] = inp.coerce(given[name])
            except Invalid as exc:
                raise CiliumtuiError(f"--input {name}: {exc}") from None
        elif inp.default is not None:
            out[name] = inp.default
        elif inp.type == "node" and node_name:
            out[name] = node_name
        elif inp.required:
            raise CiliumtuiError(
                f"{playbook.source}: missing required input {name!r}: pass --input {name}=VALUE"
                + (f" ({inp.help})" if inp.help else "")
            )
        else:
            out[name] = None
    return out


def parse_input_args(pairs: list[str]) -> dict[str, str]:
    """`--input k=v` strings → dict; a malformed pair is a usage error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            shown = pair if len(pair) <= 60 else pair[:57] + "..."
            raise CiliumtuiError(f"--input {shown!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out
