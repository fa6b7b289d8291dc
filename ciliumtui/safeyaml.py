"""The one YAML reader: bounded in size, nesting and alias expansion, every error located.

    read_text(path, what="playbook")  -> str          # file → text; not UTF-8 is file:line:col
    compose(text, file)               -> Node | None   # values with their positions
    load(text, file)                  -> Any           # plain Python values (kubeconfig, k3s config)
    load_file(path, what=...)         -> Any

Every problem is a `YamlError` (a CiliumtuiError: one line, exit 3) reading
`file:line:col: message`. PyYAML's own composer recurses per nesting level and
its constructor expands aliases without limit (a 1 kB "billion laughs" document
grew `playbooks validate` by ~55 MB/s until OOM), so this module composes the
event stream itself: iteratively, with a depth limit, and with every alias
charged the size of what it stands for, so the expanded document is bounded
before anything walks it. Aliases are shared, never copied.

Scalars are read exactly as `yaml.safe_load` reads them (the safe resolver and
constructors); tags that name Python objects are errors. Merge keys (`<<`) work.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import CiliumtuiError

MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Limits:
    """What one document may cost. The defaults are far above any real playbook,
    scenario, kubeconfig or k3s config (the largest built-in playbook is ~3 kB
    and ~200 nodes; a kubeconfig with 50 contexts and embedded certificates is
    ~300 kB and ~1k nodes), and far below what hurts: 200k nodes build in ~1 s."""

    max_bytes: int = 8 * 1024 * 1024
    max_nodes: int = 200_000  # nodes after expanding aliases
    max_depth: int = 64


DEFAULT_LIMITS = Limits()


class YamlError(CiliumtuiError):
    """`file:line:col: problem` (1-based)."""

    def __init__(self, file: str, line: int, col: int, problem: str) -> None:
        super().__init__(f"{file}:{line}:{col}: {problem}")
        self.file, self.line, self.col, self.problem = file, line, col, problem


class Node:
    """A YAML value where it starts. `value` is a scalar (as safe_load reads it), a
    `dict[key, (key Node, value Node)]` or a `list[Node]`. An alias is the very
    same Node object as its anchor."""

    __slots__ = ("value", "line", "col", "size", "tag")

    def __init__(self, value: Any, line: int, col: int, tag: str, size: int = 1) -> None:
        self.value = value
        self.line = line
        self.col = col
        self.tag = tag
        self.size = size  # nodes in this subtree, aliases expanded

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_seq(self) -> bool:
        return isinstance(self.value, list)

    @property
    def is_scalar(self) -> bool:
        return not isinstance(self.value, (dict, list))

    def items(self) -> Iterator[tuple[Node, Node]]:
        """(key node, value node) pairs of a mapping."""
        assert isinstance(self.value, dict)
        return iter(self.value.values())

    def get(self, key: Hashable) -> Node | None:
        """The value node at `key` of a mapping (None when absent or not a mapping)."""
        if not isinstance(self.value, dict):
            return None
        pair = self.value.get(key)
        return pair[1] if pair else None

    def plain(self) -> Any:
        """Plain Python values (dicts, lists, scalars); bounded by the composer's limits."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, (_, v) in self.value.items()}
        if isinstance(self.value, list):
            return [x.plain() for x in self.value]
        return self.value

    def __repr__(self) -> str:
        return f"Node({self.value!r}@{self.line}:{self.col})"


def type_name(value: Any) -> str:
    """How a value is named in messages: "a mapping", "int 3", "null"."""
    if isinstance(value, Node):
        value = value.plain() if value.size < 50 else ({} if value.is_map else [])
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


# --------------------------------------------------------------------------- reading


def read_text(path: str | Path, what: str = "file", *, max_bytes: int | None = None) -> str:
    """A file's text: missing/unreadable/too big/not UTF-8 are one located line each."""
    limit = DEFAULT_LIMITS.max_bytes if max_bytes is None else max_bytes
    name = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise CiliumtuiError(f"{name}: no such {what}") from None
    except IsADirectoryError:
        raise CiliumtuiError(f"{name}: is a directory, not a {what}") from None
    except OSError as exc:
        raise CiliumtuiError(f"{name}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise YamlError(name, 1, 1, f"{what} larger than {limit} bytes")
    return decode(data, name)


def decode(data: bytes, file: str) -> str:
    """UTF-8 text, or YamlError at the first bad byte's line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise YamlError(
            file, line, col, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


# ------------------------------------------------------------------------- composing


def _loader_class() -> type[Any]:
    # libyaml's parser when present: ~10x faster and, like the pure one, not recursive.
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Frame:
    __slots__ = ("node", "anchor", "pending_key", "merges", "items")

    def __init__(self, node: Node, anchor: str | None) -> None:
        self.node = node
        self.anchor = anchor
        self.pending_key: Node | None = None
        self.merges: list[Node] = []
        self.items: list[Node] = []


class _Composer:
    def __init__(self, file: str, limits: Limits, errors: list[str] | None) -> None:
        self.file = file
        self.limits = limits
        self.errors = errors
        self.anchors: dict[str, Node] = {}
        self.open_anchors: set[str] = set()
        self.total = 0
        self.ctor = yaml.constructor.SafeConstructor()
        self.resolver = yaml.resolver.Resolver()

    def fail(self, mark: Any, problem: str) -> YamlError:
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return YamlError(self.file, line, col, problem)

    def soft(self, node: Node, problem: str) -> None:
        """A problem that does not stop composing (duplicate key, bad scalar)."""
        err = YamlError(self.file, node.line, node.col, problem)
        if self.errors is None:
            raise err
        self.errors.append(str(err))

    def charge(self, n: int, mark: Any) -> None:
        self.total += n
        if self.total > self.limits.max_nodes:
            raise self.fail(
                mark,
                f"document too large: more than {self.limits.max_nodes} values "
                "once aliases are expanded (an alias bomb?)",
            )

    def scalar(self, ev: Any) -> Node:
        tag = ev.tag
        if tag is None or tag == "!":
            tag = self.resolver.resolve(yaml.ScalarNode, ev.value, ev.implicit)
        node = Node(None, ev.start_mark.line + 1, ev.start_mark.column + 1, tag)
        construct = self.ctor.yaml_constructors.get(tag)
        if construct is None or tag == MERGE_TAG:
            if tag != MERGE_TAG:
                self.soft(node, f"unsupported tag {tag!r}")
            node.value = "<<" if tag == MERGE_TAG else None
            return node
        ynode = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, ev.style)
        try:
            node.value = construct(self.ctor, ynode)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            # e.g. `!!int zz`, an int past Python's 4300-digit limit, bad base64
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            self.soft(node, f"cannot read value: {problem}")
        return node

    def compose(self, text: str) -> Node | None:
        if len(text) > self.limits.max_bytes:
            raise YamlError(self.file, 1, 1, f"document larger than {self.limits.max_bytes} bytes")
        loader = _loader_class()(text)
        stack: list[_Frame] = []
        root: Node | None = None
        docs = 0
        try:
            while loader.check_event():
                ev = loader.get_event()
                if isinstance(ev, yaml.DocumentStartEvent):
                    docs += 1
                    if docs > 1:
                        raise self.fail(ev.start_mark, "more than one YAML document in the file")
                    continue
                if isinstance(ev, (yaml.StreamStartEvent, yaml.StreamEndEvent)):
                    continue
                if isinstance(ev, yaml.DocumentEndEvent):
                    continue
                done: Node | None = None
                if isinstance(ev, yaml.AliasEvent):
                    if ev.anchor in self.open_anchors:
                        raise self.fail(ev.start_mark, f"recursive alias *{ev.anchor}")
                    target = self.anchors.get(ev.anchor or "")
                    if target is None:
                        raise self.fail(ev.start_mark, f"undefined alias *{ev.anchor}")
                    self.charge(target.size, ev.start_mark)
                    done = target
                elif isinstance(ev, yaml.ScalarEvent):
                    self.charge(1, ev.start_mark)
                    done = self.scalar(ev)
                    if ev.anchor:
                        self.anchors[ev.anchor] = done
                elif isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                    self.charge(1, ev.start_mark)
                    if len(stack) >= self.limits.max_depth:
                        raise self.fail(
                            ev.start_mark, f"nested more than {self.limits.max_depth} levels deep"
                        )
                    is_map = isinstance(ev, yaml.MappingStartEvent)
                    want = MAP_TAG if is_map else SEQ_TAG
                    tag = ev.tag if ev.tag not in (None, "!") else want
                    mark = ev.start_mark
                    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
                    node = Node({} if is_map else [], line, col, tag)
                    if tag != want:
                        self.soft(node, f"unsupported tag {tag!r}")
                    if ev.anchor:
                        self.open_anchors.add(ev.anchor)
                    stack.append(_Frame(node, ev.anchor))
                    continue
                elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                    frame = stack.pop()
                    done = self.finish(frame)
                    if frame.anchor:
                        self.open_anchors.discard(frame.anchor)
                        self.anchors[frame.anchor] = done
                if done is None:
                    continue
                if not stack:
                    root = done
                else:
                    self.add(stack[-1], done)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            what = " ".join(x for x in (exc.context, exc.problem) if x) or "invalid YAML"
            raise self.fail(mark, f"YAML syntax error: {what}") from None
        except yaml.YAMLError as exc:
            raise YamlError(self.file, 1, 1, f"YAML error: {str(exc).splitlines()[0]}") from None
        except RecursionError:
            raise YamlError(self.file, 1, 1, "YAML nested too deeply") from None
        return root

    def add(self, frame: _Frame, child: Node) -> None:
        node = frame.node
        if isinstance(node.value, list):
            node.value.append(child)
            node.size += child.size
            return
        if frame.pending_key is None:
            frame.pending_key = child
            return
        key, frame.pending_key = frame.pending_key, None
        node.size += key.size + child.size
        if key.tag == MERGE_TAG:
            frame.merges.append(child)
            return
        if not key.is_scalar or not isinstance(key.value, Hashable):
            self.soft(key, "a mapping key must be a plain value")
            return
        if key.value in node.value:
            self.soft(key, f"duplicate key {key.value!r}")
            return
        node.value[key.value] = (key, child)

    def finish(self, frame: _Frame) -> Node:
        node = frame.node
        # Merge keys: explicit keys win, then earlier merged mappings over later ones.
        for merged in frame.merges:
            sources = merged.value if merged.is_seq else [merged]
            for src in sources:
                if not src.is_map:
                    self.soft(src, "a merge key (<<) takes a mapping or a list of mappings")
                    continue
                for k, pair in src.value.items():
                    node.value.setdefault(k, pair)
        return node


def compose(
    text: str, file: str, limits: Limits = DEFAULT_LIMITS, errors: list[str] | None = None
) -> Node | None:
    """The document's root Node (None when empty). Fatal problems raise YamlError;
    soft ones (duplicate keys, unreadable scalars) go to `errors` when given, else raise."""
    return _Composer(file, limits, errors).compose(text)


def load(text: str, file: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Plain Python values, like yaml.safe_load, bounded; raises YamlError."""
    root = compose(text, file, limits)
    return None if root is None else root.plain()


def load_file(path: str | Path, what: str = "file", limits: Limits = DEFAULT_LIMITS) -> Any:
    return load(read_text(path, what, max_bytes=limits.max_bytes), str(path), limits)
