"""A small, safe expression language for `when:` / `until:` and `{{ }}` templates.

Parsed with Python's `ast` and checked against a whitelist at load time; evaluated
by walking the tree ourselves — never `eval`. What it allows:

- names (inputs, captures, `node`, `dry_run`, `findings`), attribute access
  (`inputs.node`, read as a mapping lookup) and subscripts (`pods[0]`, `x['k']`)
- literals (str, int, float, bool, None, lists/tuples), comparisons
  (== != < <= > >= in, not in, is, is not), `and` / `or` / `not`, unary minus
- calls to exactly three functions: `finding('id')`, `any_finding('critical')`
  and `len(x)`

Names and attributes starting with `_` are rejected (no `__class__` escapes).
"""

from __future__ import annotations

import ast
import operator
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class ExprError(ValueError):
    """A bad expression: the message says what is wrong and where in the text."""

    def __init__(self, message: str, col: int = 0) -> None:
        super().__init__(message)
        self.col = col  # 0-based offset into the expression text


FUNCTIONS = ("finding", "any_finding", "len")
_CMP: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_MAX_LEN = 1000  # expressions are short conditions, not programs


@dataclass(frozen=True)
class Expr:
    """A validated expression; `evaluate(scope)` walks its tree."""

    text: str
    tree: ast.Expression

    def names(self) -> set[str]:
        """Top-level names the expression reads (for load-time reference checks)."""
        return {n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name)} - set(FUNCTIONS)

    def evaluate(
        self, scope: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
    ) -> Any:
        return _Eval(scope, functions).visit(self.tree.body)


def parse(text: str) -> Expr:
    """Parse and whitelist-check `text`; raises ExprError with a clear reason."""
    if not isinstance(text, str):
        raise ExprError(f"expression must be a string, got {type(text).__name__}")
    src = text.strip()
    if not src:
        raise ExprError("empty expression")
    if len(src) > _MAX_LEN:
        raise ExprError(f"expression longer than {_MAX_LEN} characters")
    try:
        with (
            warnings.catch_warnings()
        ):  # "invalid decimal literal" etc. become our error, not stderr noise
            warnings.simplefilter("ignore")
            tree = ast.parse(src, mode="eval")
    except SyntaxError as exc:
        raise ExprError(
            f"syntax error in expression {src!r}: {exc.msg}", (exc.offset or 1) - 1
        ) from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise ExprError(f"cannot parse expression {src!r}: {exc}") from None
    _check(tree.body, src)
    return Expr(src, tree)


def _check(node: ast.AST, src: str) -> None:
    col = getattr(node, "col_offset", 0)

    def bad(why: str) -> ExprError:
        return ExprError(f"{why} in expression {src!r}", col)

    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (str, int, float, bool, type(None))):
            raise bad(f"literal {node.value!r} not allowed")
        return
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise bad(f"name {node.id!r} not allowed")
        return
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            raise bad(f"attribute {node.attr!r} not allowed")
        _check(node.value, src)
        return
    if isinstance(node, ast.Subscript):
        if isinstance(node.slice, ast.Slice):
            raise bad("slices not allowed")
        _check(node.value, src)
        _check(node.slice, src)
        return
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, src)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.Not, ast.USub)):
            raise bad(f"operator {type(node.op).__name__} not allowed")
        _check(node.operand, src)
        return
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _CMP:
                raise bad(f"comparison {type(op).__name__} not allowed")
        _check(node.left, src)
        for c in node.comparators:
            _check(c, src)
        return
    if isinstance(node, (ast.List, ast.Tuple)):
        for e in node.elts:
            _check(e, src)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            what = ast.unparse(node.func) if hasattr(ast, "unparse") else "?"
            raise bad(f"call to {what!r} not allowed (only {', '.join(FUNCTIONS)})")
        if node.keywords or len(node.args) != 1:
            raise bad(f"{node.func.id}() takes exactly one argument")
        _check(node.args[0], src)
        return
    raise bad(f"{type(node).__name__} not allowed")


class _Eval:
    def __init__(
        self, scope: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
    ) -> None:
        self.scope = scope
        self.functions = functions

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in ("true", "True"):
                return True
            if node.id in ("false", "False"):
                return False
            if node.id not in self.scope:
                return None  # an unset capture reads as None: `when: pod != None`
            return self.scope[node.id]
        if isinstance(node, ast.Attribute):
            return _lookup(self.visit(node.value), node.attr)
        if isinstance(node, ast.Subscript):
            return _lookup(self.visit(node.value), self.visit(node.slice))
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                result: Any = True
                for v in node.values:
                    result = self.visit(v)
                    if not result:
                        return result
                return result
            result = False
            for v in node.values:
                result = self.visit(v)
                if result:
                    return result
            return result
        if isinstance(node, ast.UnaryOp):
            val = self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return not val
            if isinstance(val, (int, float)) and not isinstance(val, bool):
                return -val
            raise ExprError(f"cannot negate {val!r}")
        if isinstance(node, ast.Compare):
            left = self.visit(node.left)
            for op, comp in zip(node.ops, node.comparators, strict=False):
                right = self.visit(comp)
                try:
                    ok = _CMP[type(op)](left, right)
                except TypeError as exc:
                    raise ExprError(f"cannot compare {left!r} and {right!r}: {exc}") from None
                if not ok:
                    return False
                left = right
            return True
        if isinstance(node, ast.List):
            return [self.visit(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.visit(e) for e in node.elts)
        if isinstance(node, ast.Call):
            fn = self.functions.get(node.func.id)  # type: ignore[attr-defined]
            if fn is None:
                raise ExprError(f"function {node.func.id}() is not available here")  # type: ignore[attr-defined]
            arg = self.visit(node.args[0])
            try:
                return fn(arg)
            except TypeError as exc:
                raise ExprError(f"{node.func.id}({arg!r}): {exc}") from None  # type: ignore[attr-defined]
        raise ExprError(f"{type(node).__name__} not allowed")


def _lookup(value: Any, key: Any) -> Any:
    """Mapping/sequence access only; never getattr (no way out to Python objects)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(value, (list, tuple, str)) and isinstance(key, int) and not isinstance(key, bool):
        try:
            return value[key]
        except IndexError:
            return None
    return None


def render(template: str, evaluate: Callable[[Expr], Any]) -> Any:
    """Fill `{{ expr }}` holes. A string that is exactly one hole keeps the value's type."""
    parts = split_template(template)
    if len(parts) == 1 and isinstance(parts[0], Expr):
        return evaluate(parts[0])
    out: list[str] = []
    for part in parts:
        if isinstance(part, Expr):
            val = evaluate(part)
            out.append("" if val is None else str(val))
        else:
            out.append(part)
    return "".join(out)


def split_template(template: str) -> list[str | Expr]:
    """Literal text and parsed `{{ }}` expressions, in order; raises ExprError."""
    parts: list[str | Expr] = []
    pos = 0
    while True:
        start = template.find("{{", pos)
        if start < 0:
            break
        end = template.find("}}", start + 2)
        if end < 0:
            raise ExprError(f"unclosed '{{{{' in {template!r}", start)
        if start > pos:
            parts.append(template[pos:start])
        try:
            parts.append(parse(template[start + 2 : end]))
        except ExprError as exc:
            raise ExprError(str(exc), start + 2 + exc.col) from None
        pos = end + 2
    if pos < len(template) or not parts:
        parts.append(template[pos:])
    return parts


def has_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value
