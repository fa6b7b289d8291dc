"""Loading scenarios: `assets/scenarios/<id>.yaml` deep-merged over `healthy.yaml`.

A scenario states only what differs from the healthy one (assets/scenarios/README.md):
maps merge key by key, lists and scalars replace. Errors are one line with
file:line so a trainer writing a scenario sees where it went wrong.
"""

from __future__ import annotations

import copy
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from ..errors import CiliumtuiError

BASE_ID = "healthy"

# Enumerated fields checked at load time: path -> allowed values. A typo here would
# otherwise silently become "healthy" deep inside the simulator.
_ENUMS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("cluster", "cilium", "agent"): ("ready", "not-ready", "crashloop", "missing"),
    ("dns", "cluster_names"): ("ok", "nxdomain", "servfail", "timeout"),
    ("dns", "external_names"): ("ok", "nxdomain", "servfail", "timeout"),
    ("faults", "apiserver"): ("hang", "500", "403", "garbage", "reset", "slow-watch"),
    ("agent_api",): ("healthy", "unhealthy", "garbage", "hang", "none"),
}
# What makes the simulator apply `on_fix` (all listed must have happened).
TRIGGERS = ("agent-restart", "ciliumnode-recreated", "manual")


def _scenario_dir():
    return files("ciliumtui.assets") / "scenarios"


def deep_merge(base: Any, over: Any) -> Any:
    """`over` merged onto a copy of `base`: maps merge recursively, everything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def _parse(text: str, where: str) -> tuple[dict[str, Any], yaml.Node | None]:
    """The mapping in `text` and its node tree (for line numbers); errors name file:line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise CiliumtuiError(f"{where}{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise CiliumtuiError(f"{where}: invalid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CiliumtuiError(f"{where}:1: a scenario must be a mapping, not {type(data).__name__}")
    return data, node


def _line_of(node: yaml.Node | None, path: tuple[str, ...]) -> int | None:
    """1-based line of the value at `path` in a composed YAML tree, when present."""
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                node = v
                break
        else:
            return None
    return node.start_mark.line + 1 if node is not None else None


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _validate(own: dict[str, Any], node: yaml.Node | None, where: str) -> None:
    """Check the enumerated fields the scenario file itself sets."""
    for path, allowed in _ENUMS.items():
        value = _get(own, path)
        if value is None:
            continue
        if str(value) not in allowed:
            line = _line_of(node, path)
            at = f"{where}:{line}" if line else where
            raise CiliumtuiError(
                f"{at}: {'.'.join(path)}: {value!r} is not one of {', '.join(allowed)}"
            )
    trigger = _get(own, ("on_fix", "trigger"))
    for t in trigger if isinstance(trigger, list) else ([trigger] if trigger is not None else []):
        if t not in TRIGGERS:
            line = _line_of(node, ("on_fix", "trigger"))
            raise CiliumtuiError(
                f"{where}:{line or 1}: on_fix.trigger: {t!r} is not one of {', '.join(TRIGGERS)}"
            )
    for section in ("host", "network", "cluster", "dns", "faults", "on_fix"):
        if section in own and own[section] is not None and not isinstance(own[section], dict):
            line = _line_of(node, (section,))
            raise CiliumtuiError(f"{where}:{line or 1}: {section}: must be a mapping")
    nodes = _get(own, ("cluster", "nodes"))
    if nodes is not None and not isinstance(nodes, list):
        line = _line_of(node, ("cluster", "nodes"))
        raise CiliumtuiError(f"{where}:{line or 1}: cluster.nodes: must be a list")


def _read_builtin(scenario_id: str) -> tuple[str, str]:
    path = _scenario_dir() / f"{scenario_id}.yaml"
    if not path.is_file():
        known = ", ".join(s[0] for s in list_scenarios()) or "none"
        raise CiliumtuiError(f"unknown scenario {scenario_id!r} (known: {known})")
    return path.read_text(encoding="utf-8"), f"scenarios/{scenario_id}.yaml"


def _read(id_or_path: str | Path) -> tuple[str, str]:
    """The text of a scenario and the name used in error messages."""
    text_id = str(id_or_path)
    looks_like_path = (
        isinstance(id_or_path, Path) or "/" in text_id or text_id.endswith((".yaml", ".yml"))
    )
    if looks_like_path:
        p = Path(text_id)
        try:
            return p.read_text(encoding="utf-8"), str(p)
        except FileNotFoundError:
            raise CiliumtuiError(f"{p}: no such scenario file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CiliumtuiError(f"{p}: cannot read scenario: {exc}") from None
    return _read_builtin(text_id)


def _base() -> dict[str, Any]:
    text, where = _read_builtin(BASE_ID)
    data, _ = _parse(text, where)
    return data


def load_scenario(id_or_path: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A complete scenario: the named/given one deep-merged over healthy.yaml.

    Accepts a built-in id ("healthy"), a path to a YAML file, or an already
    parsed dict (merged over healthy too, handy for tests and generators).
    """
    if isinstance(id_or_path, dict):
        own, node, where = id_or_path, None, "<scenario>"
    else:
        text, where = _read(id_or_path)
        own, node = _parse(text, where)
    _validate(own, node, where)
    base = _base()
    merged = deep_merge(base, own)
    if "id" not in own:
        merged["id"] = Path(where).stem if where != "<scenario>" else "custom"
    return merged


def list_scenarios() -> list[tuple[str, str, str]]:
    """(id, title, summary) of every built-in scenario, healthy first."""
    out: list[tuple[str, str, str]] = []
    for entry in sorted(_scenario_dir().iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        sid = entry.name[: -len(".yaml")]
        try:
            data = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        out.append((sid, str(data.get("title", sid)), str(data.get("summary", "")).strip()))
    out.sort(key=lambda s: (s[0] != BASE_ID, s[0]))
    return out
