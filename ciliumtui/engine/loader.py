"""Load and validate playbooks. Every error carries file:line:column.

    load_playbook(id_or_path) -> Playbook     # raises CiliumtuiError (first error)
    validate_file(path) -> list[str]          # all errors, "file:line:col: message"
    builtin_ids() -> list[str]
    resolve_inputs(playbook, given, node)     # (engine/inputs.py) --input k=v, typed

The format itself is declared once, in engine/schema.py: ciliumtui.yamlspec reads
the document (through the bounded ciliumtui.safeyaml reader) into those classes,
with unknown keys, types and bounds checked and durations converted. What is left
here needs the whole playbook: each action's params (declared on the action), the
names expressions may read, phases in order, unique step ids, risk against what
the action does.
"""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files
from typing import Any

from ..errors import CiliumtuiError
from ..safeyaml import Limits, Node, YamlError, compose, read_text
from ..yamlspec import INVALID, Ctx, Report, at, convert, given, node_of, suggest
from . import expr as exprmod
from .actions import REGISTRY
from .actions.base import Action, with_defaults
from .inputs import coerce_input, parse_input_args, resolve_inputs
from .schema import Playbook, Step, Where

__all__ = [
    "builtin_ids",
    "coerce_input",
    "load_playbook",
    "parse_input_args",
    "parse_playbook",
    "resolve_inputs",
    "validate_file",
    "validate_text",
]

# Names every expression may read besides inputs and captures.
BUILTIN_NAMES = (
    "run_id",
    "inputs",
    "node",
    "dry_run",
    "findings",
    "context",
    "true",
    "false",
    "True",
    "False",
    "None",
)
# A playbook is a few kB (the largest built-in: 3 kB, ~200 values). These bound what a
# hostile one costs: a billion-laughs file is refused after 50k values, in milliseconds.
LIMITS = Limits(max_bytes=1024 * 1024, max_nodes=50_000, max_depth=32)


def _capture_names(root: Node) -> set[str]:
    """Every capture name in the document, read from the raw nodes, so that a step that
    failed to convert does not make later references to its captures look unknown."""
    names: set[str] = set()
    for section in ("steps", "always"):
        seq = root.get(section)
        for item in seq.value if seq is not None and seq.is_seq else []:
            cap = item.get("capture")
            if cap is not None and cap.is_map:
                names.update(k for k in cap.value if isinstance(k, str))
    return names


def _has_template(node: Node) -> bool:
    if node.is_map:
        return any(_has_template(v) for _, v in node.items())
    if node.is_seq:
        return any(_has_template(x) for x in node.value)
    return exprmod.has_template(node.value)


class _Checks:
    """The whole-playbook rules, run on the converted Playbook."""

    def __init__(self, pb: Playbook, root: Node, r: Report) -> None:
        self.pb = pb
        self.r = r
        self.known = set(BUILTIN_NAMES) | _capture_names(root)
        self.phases = pb.phases + ([] if "always" in pb.phases else ["always"])
        self.ids: dict[str, Node] = {}

    def run(self) -> None:
        pb = self.pb
        pb.title = pb.title or pb.id
        for s in pb.steps:
            self.step(s)
        for s in pb.always:
            self.step(s)
        # Phases run in order: a step may not go back to an earlier phase.
        order = {p: i for i, p in enumerate(self.phases)}
        last = 0
        for s in pb.steps:
            rank = order.get(s.phase, last)
            if rank < last:
                self.r.error(
                    node_of(s),
                    f"step {s.id!r} is in phase {s.phase!r} after a later phase "
                    f"(phases run in order: {', '.join(pb.phases)})",
                )
            last = max(last, rank)
        for s in pb.always:
            if s.phase not in order or s.phase == "remediate":
                s.phase = "always"

    def unique(self, sid: str, node: Node | None) -> None:
        if sid in self.ids:
            self.r.error(node, f"duplicate step id {sid!r} (first at line {self.ids[sid].line})")
        elif node is not None:
            self.ids[sid] = node

    def names(self, parsed: exprmod.Expr, node: Node | None, what: str) -> None:
        for name in sorted(parsed.names()):
            if name not in self.known:
                self.r.error(
                    node, f"unknown name {name!r} in {what}{suggest(name, sorted(self.known))}"
                )

    def templates(self, node: Node, what: str) -> None:
        """Every {{ }} inside node: syntax and names."""
        if node.is_map:
            for _, v in node.items():
                self.templates(v, what)
            return
        if node.is_seq:
            for x in node.value:
                self.templates(x, what)
            return
        if not exprmod.has_template(node.value):
            return
        try:
            parts = exprmod.split_template(node.value)
        except exprmod.ExprError as exc:
            self.r.error(node, f"bad template in {what}: {exc}")
            return
        for p in parts:
            if isinstance(p, exprmod.Expr):
                self.names(p, node, what)

    def params(
        self, cls: type[Action], pnode: Node | None, at_node: Node | None
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """(converted params, names of templated params) against the action's declaration."""
        out: dict[str, Any] = {}
        templated: list[str] = []
        nodes: dict[str, Node] = {}
        for knode, vnode in pnode.items() if pnode is not None and pnode.is_map else ():
            key = knode.value
            spec = cls.params.get(key) if isinstance(key, str) else None
            if spec is None:
                self.r.error(
                    knode,
                    f"unknown key {key!r} in params of {cls.name}{suggest(key, list(cls.params))}",
                )
                continue
            nodes[key] = vnode
            if _has_template(vnode):  # checked by type once rendered (the runner)
                self.templates(vnode, f"param {key!r}")
                out[key] = vnode.plain()
                templated.append(key)
                continue
            value = spec.spec.convert(vnode, self.r, Ctx(cls.name, f"param {key!r}"))
            if value is not INVALID:
                out[key] = value
        for key, spec in cls.params.items():
            if spec.required and key not in nodes:
                self.r.error(pnode or at_node, f"{cls.name} needs param {key!r}")
        for key, message in cls.check_params(with_defaults(cls, out)):
            self.r.error(
                nodes.get(key) or pnode or at_node, f"param {key!r} of {cls.name}: {message}"
            )
        return out, tuple(templated)

    def step(self, s: Step) -> None:
        r, node = self.r, node_of(s)
        assert node is not None
        s.where = Where(r.file, node.line, node.col)
        self.unique(s.id, node_of(s, "id"))
        cls = REGISTRY[s.action]
        s.params, s.templated = self.params(cls, node_of(s, "params"), node)
        if given(s, "mutates") and s.mutates != cls.mutates:
            r.error(
                node_of(s, "mutates"),
                f"step {s.id!r} says mutates: {str(s.mutates).lower()} but action {cls.name} "
                f"{'changes' if cls.mutates else 'does not change'} the node/cluster",
            )
        s.mutates = cls.mutates
        if not given(s, "risk"):
            s.risk = cls.default_risk
        if s.mutates and s.risk == "read":
            r.error(
                at(s, "risk"),
                f"step {s.id!r} mutates, so its risk cannot be 'read' (low, high or destructive)",
            )
        if not s.mutates and s.risk != "read":
            r.error(at(s, "risk"), f"step {s.id!r} only reads, so its risk must be 'read'")
        if not given(s, "phase"):
            s.phase = self.phases[min(1, len(self.pb.phases) - 1)]
        elif s.phase not in self.phases:
            r.error(
                node_of(s, "phase"),
                f"unknown phase {s.phase!r} of step {s.id!r}{suggest(s.phase, self.phases)} "
                f"(phases: {', '.join(self.pb.phases)})",
            )
        if s.when is not None:
            self.names(s.when, node_of(s, "when"), f"when of step {s.id!r}")
        if s.retry is not None and s.retry.until is not None:
            self.names(s.retry.until, node_of(s.retry, "until"), f"until of step {s.id!r}")
        rb = s.rollback
        if rb is not None:
            rnode = node_of(rb)
            assert rnode is not None
            rid = rb.id or f"{s.id}-rollback"
            self.unique(rid, node_of(rb, "id") or rnode)
            rcls = REGISTRY[rb.action]
            params, templated = self.params(rcls, node_of(rb, "params"), rnode)
            s.undo = Step(
                id=rid,
                action=rb.action,
                title=rb.title or f"Roll back {s.id}",
                phase="rollback",
                params=params,
                mutates=rcls.mutates,
                risk=rcls.default_risk,
                timeout=rb.timeout,
                where=Where(r.file, rnode.line, rnode.col),
                templated=templated,
            )


def parse_playbook(text: str, file: str) -> tuple[Playbook | None, list[str]]:
    """Parse a playbook's text; returns (playbook or None, errors)."""
    soft: list[str] = []
    try:
        root = compose(text, file, LIMITS, soft)
    except YamlError as exc:
        return None, [str(exc)]
    r = Report(file)
    r.errors.extend(soft)
    if root is None:
        r.error(None, "empty playbook")
        return None, r.errors
    pb = convert(Playbook, root, r)
    if pb is INVALID:
        return None, r.errors
    pb.source = file
    pb.sha256 = hashlib.sha256(text.encode()).hexdigest()
    _Checks(pb, root, r).run()
    return (pb if r.ok else None), r.errors


# ----------------------------------------------------------------------- entry points


def builtin_ids() -> list[str]:
    root = files("ciliumtui.playbooks")
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def _read(id_or_path: str) -> tuple[str, str]:
    """(text, display name) of a built-in id or a file path."""
    looks_like_path = "/" in id_or_path or id_or_path.endswith((".yaml", ".yml"))
    if not looks_like_path:
        res = files("ciliumtui.playbooks") / f"{id_or_path}.yaml"
        if res.is_file():
            return res.read_text(encoding="utf-8"), f"playbooks/{id_or_path}.yaml"
        hint = suggest(id_or_path, builtin_ids())
        shown = id_or_path if len(id_or_path) <= 80 else id_or_path[:77] + "..."
        raise CiliumtuiError(
            f"no playbook {shown!r}{hint}; built-in: {', '.join(builtin_ids())} (or give a file path)"
        )
    return read_text(id_or_path, "file", max_bytes=LIMITS.max_bytes), id_or_path


def validate_text(text: str, file: str) -> list[str]:
    return parse_playbook(text, file)[1]


def validate_file(path: str) -> list[str]:
    """All errors of one playbook file (or built-in id), each `file:line:col: message`."""
    try:
        text, name = _read(path)
    except CiliumtuiError as exc:
        msg = str(exc)
        return [msg if re.match(r"^.+:\d+:\d+: ", msg) else f"{path}:1:1: {msg.split(': ', 1)[-1]}"]
    return validate_text(text, name)


def load_playbook(id_or_path: str) -> Playbook:
    """A validated Playbook, or CiliumtuiError naming the first error's file:line:col."""
    text, name = _read(id_or_path)
    pb, errors = parse_playbook(text, name)
    if errors or pb is None:
        more = (
            f" (+{len(errors) - 1} more; see `ciliumtui playbooks validate`)"
            if len(errors) > 1
            else ""
        )
        raise CiliumtuiError(f"{errors[0]}{more}")
    return pb
