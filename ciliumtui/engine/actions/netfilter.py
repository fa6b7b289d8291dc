"""netfilter.purge / netfilter.restore: Cilium's iptables chains and rules, both backends.

Purge is incremental (DESIGN §6): for each backend and family, ONE
`iptables-restore --noflush -w` whose input names only Cilium's objects — `-D` of
each rule elsewhere that jumps into a Cilium chain, `-F` then `-X` of each Cilium
chain — one COMMIT per table, so each table changes atomically and nothing else
in it is rewritten. A rule that kube-proxy, docker or a person adds meanwhile is
never lost: `-w` holds the xtables lock for the whole restore (as kube-proxy
does) and iptables-nft replays its batch when the ruleset changed under it.
Afterwards the tables are read again and every line that was not Cilium's must
still be there, byte for byte; if one is not, the step fails and says which.

Bytes: iptables-save output is handled as bytes (latin-1 maps each byte to one
character and back), so a comment in any encoding is kept and backed up exactly.

A backend whose tools are missing is never "nothing there": when it may hold
tables (node.netfilter.cannot_check), planning fails and says so.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import CiliumtuiError
from ...node.backend import Command, CommandFailed, NodeBackend, shell_text
from ...node.netfilter import restore_tool, save_tool
from ...ownership import is_cilium_chain
from .base import Action, ActionContext, ActionResult, Param, RestoreAction, register

BACKENDS = ("legacy", "nft")
FAMILIES = (4, 6)
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_COUNTERS = re.compile(r" \[\d+:\d+\]$")


def tools(backend: str, family: int) -> tuple[str, str]:
    """(save, restore) binaries for one backend and family."""
    return save_tool(backend, family), restore_tool(backend, family)


def rule_chain_and_target(line: str) -> tuple[str, str | None]:
    """The chain of an `-A CHAIN ...` line and its -j/-g target (quoted text ignored)."""
    # Comments are quoted by iptables-save; blank them so '-j X' inside one never counts.
    bare = _QUOTED.sub('""', line) if '"' in line else line
    tokens = bare.split()
    chain = tokens[1] if len(tokens) > 1 else ""
    target = None
    skip = False
    for i, tok in enumerate(tokens):
        if skip:
            skip = False
            continue
        if tok == "--comment":
            skip = True
        elif tok in ("-j", "-g", "--jump", "--goto") and i + 1 < len(tokens):
            target = tokens[i + 1]
    return chain, target


@dataclass
class TablePurge:
    """What purge removes from one table: explicit deletes, then Cilium's chains."""

    name: str
    deletes: list[str] = field(default_factory=list)  # "-D CHAIN …": jumps from other chains
    chains: list[str] = field(default_factory=list)  # Cilium's chains: -F, then -X
    removed_rules: int = 0  # Cilium's rules: those in its chains plus the jumps

    @property
    def changed(self) -> bool:
        return bool(self.deletes or self.chains)

    def lines(self) -> list[str]:
        return [
            f"*{self.name}",
            *self.deletes,
            *(f"-F {c}" for c in self.chains),
            *(f"-X {c}" for c in self.chains),
            "COMMIT",
        ]


def _text(data: bytes) -> str:
    return data.decode("latin-1")  # one character per byte, reversible: never re-encodes


def purge_tables(save: bytes) -> list[TablePurge]:
    """Cilium's chains and rules in one iptables-save dump, table by table (pure)."""
    tables: list[TablePurge] = []
    cur: TablePurge | None = None
    for line in _text(save).split("\n"):
        line = line.rstrip("\r")
        if line.startswith("*"):
            cur = TablePurge(line[1:].strip())
            tables.append(cur)
        elif cur is None or not line or line.startswith("#"):
            continue
        elif line.startswith(":"):
            name = line[1:].split(" ", 1)[0]
            if is_cilium_chain(name):
                cur.chains.append(name)
        elif line.startswith("-A "):
            chain, target = rule_chain_and_target(line)
            if is_cilium_chain(chain):
                cur.removed_rules += 1  # goes with its chain's -F
            elif target is not None and is_cilium_chain(target):
                cur.removed_rules += 1
                cur.deletes.append("-D " + line[3:])
    return [t for t in tables if t.changed]


def purge_input(save: bytes) -> bytes | None:
    """The `iptables-restore --noflush` input removing Cilium's objects; None: nothing to do."""
    tables = purge_tables(save)
    if not tables:
        return None
    return ("\n".join(line for t in tables for line in t.lines()) + "\n").encode("latin-1")


def kept_lines(save: bytes) -> Counter[tuple[str, str]]:
    """(table, line) of every line that is not Cilium's; chain lines without counters."""
    out: Counter[tuple[str, str]] = Counter()
    table = ""
    for line in _text(save).split("\n"):
        line = line.rstrip("\r")
        if line.startswith("*"):
            table = line[1:].strip()
        elif not line or line.startswith("#") or line == "COMMIT":
            continue
        elif line.startswith(":"):
            if not is_cilium_chain(line[1:].split(" ", 1)[0]):
                out[(table, _COUNTERS.sub("", line))] += 1
        elif line.startswith("-A "):
            chain, target = rule_chain_and_target(line)
            if not is_cilium_chain(chain) and not (target and is_cilium_chain(target)):
                out[(table, line)] += 1
    return out


def lost_lines(before: bytes, after: bytes) -> list[str]:
    """Non-Cilium lines present before and missing after ("table: line")."""
    missing = kept_lines(before) - kept_lines(after)
    return [f"{t}: {line}" for (t, line), n in sorted(missing.items()) for _ in range(n)]


def cilium_left(save: bytes) -> list[str]:
    """Cilium's chains, and jumps into them, still in a dump ("table: what")."""
    return [f"{t.name}: {x}" for t in purge_tables(save) for x in [*t.chains, *t.deletes]]


def _explain(exc: CommandFailed, stdin: bytes | None) -> str:
    """iptables-restore says "line N failed": name the line, the node changed under the plan."""
    m = re.search(r"line (\d+) failed", exc.stderr)
    if not m or stdin is None:
        return str(exc)
    lines = stdin.decode("utf-8", "backslashreplace").split("\n")
    n = int(m.group(1))
    what = lines[n - 1] if 0 < n <= len(lines) else "?"
    return f"{exc} (line {n}: {what}; the node changed since the plan? run it again)"


def _selected(ctx: ActionContext) -> list[tuple[str, int]]:
    backends = [str(b) for b in ctx.params.get("backends") or BACKENDS]
    families = [int(f) for f in ctx.params.get("families") or FAMILIES]
    return [(b, f) for b in backends for f in families]


def _backup_name(backend: str, family: int) -> str:
    return f"iptables-{backend}-v{family}.rules"


@dataclass
class _Work:
    backend: str
    family: int
    before: bytes
    tables: list[TablePurge]
    command: Command

    @property
    def label(self) -> str:
        return f"{self.backend} IPv{self.family}"


async def _saves(
    node: NodeBackend, selected: list[tuple[str, int]]
) -> tuple[dict[tuple[str, int], bytes], list[str]]:
    """Each selected dump (absent: no such backend here), and what cannot be checked."""
    saved: dict[tuple[str, int], bytes] = {}
    problems: list[str] = []
    for b, f in selected:  # one at a time: the saves would only contend for the xtables lock
        try:
            data = await node.iptables_save(b, f)
        except CiliumtuiError as exc:
            problems.append(str(exc))
            continue
        if data is not None:
            saved[(b, f)] = data
    return saved, problems


@register
class NetfilterPurge(Action):
    name = "netfilter.purge"
    requires = frozenset({"iptables"})
    summary = (
        "remove Cilium's iptables chains and rules (legacy + nft, v4 + v6): "
        "iptables-restore --noflush -w, atomic per table, nothing else rewritten"
    )
    mutates = True
    needs_root = True
    default_risk = "destructive"
    params = {
        "backends": Param("list", default=list(BACKENDS), choices=BACKENDS),
        "families": Param("list", default=list(FAMILIES)),
    }

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        fams = params.get("families") or []
        if isinstance(fams, list) and any(str(f) not in ("4", "6") for f in fams):
            return [("families", "families are 4 and/or 6")]
        return []

    def __init__(self) -> None:
        self._planned: list[_Work] | None = None
        self._backup: dict[tuple[str, int], bytes] = {}

    async def _prepare(self, ctx: ActionContext) -> list[_Work]:
        node = ctx.backend
        saved, problems = await _saves(node, _selected(ctx))
        work = []
        for (b, f), data in saved.items():
            tables = purge_tables(data)
            if not tables:
                continue
            if not node.has_tool(restore_tool(b, f)):
                problems.append(
                    f"cannot clean {b} IPv{f}: {restore_tool(b, f)} is not installed, and "
                    f"{sum(len(t.chains) for t in tables)} Cilium chains are there"
                )
                continue
            stdin = purge_input(data)
            argv = (restore_tool(b, f), "--noflush", "-w")
            work.append(_Work(b, f, data, tables, Command(argv, stdin)))
        if problems:
            hint = "; or give `backends:` only the backends this node can check"
            raise CiliumtuiError("; ".join(problems) + hint)
        return work

    async def plan(self, ctx: ActionContext) -> list[str]:
        self._planned = work = await self._prepare(ctx)
        lines = []
        for w in work:
            chains = sum(len(t.chains) for t in w.tables)
            rules = sum(t.removed_rules for t in w.tables)
            names = ", ".join(t.name for t in w.tables)
            lines.append(f"# {w.label}: {chains} Cilium chains and {rules} rules in {names}")
            lines.append(shell_text(ctx.backend.argv(w.command), w.command.stdin))
        return lines + (ctx.backend.plan_notes() if lines else [])

    async def backup(self, ctx: ActionContext) -> list[Path]:
        saved, problems = await _saves(ctx.backend, _selected(ctx))
        if problems:
            raise CiliumtuiError("; ".join(problems))
        ctx.backup_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for (b, f), data in saved.items():
            path = ctx.backup_dir / _backup_name(b, f)
            path.write_bytes(data)  # exactly as iptables-save printed it
            written.append(path)
        if not written:
            raise CiliumtuiError("no iptables backend found: nothing could be backed up")
        self._backup = saved
        return written

    async def run(self, ctx: ActionContext) -> ActionResult:
        # Exactly what the plan showed (the operator approved it); planned anew only
        # when no plan was made, or for a retry.
        work = self._planned if self._planned is not None else await self._prepare(ctx)
        self._planned = None
        node = ctx.backend
        removed_rules = removed_chains = 0
        failures: list[str] = []
        lost: list[str] = []
        for w in work:
            before = self._backup.get((w.backend, w.family), w.before)
            try:
                await node.run(w.command)
            except CommandFailed as exc:
                why = await self._rerun(node, w, exc)
                if why:
                    failures.append(why)
                    continue
            c = sum(len(t.chains) for t in w.tables)
            r = sum(t.removed_rules for t in w.tables)
            removed_chains, removed_rules = removed_chains + c, removed_rules + r
            ctx.out(
                f"{w.label}: removed {c} chains, {r} rules ({', '.join(t.name for t in w.tables)})"
            )
            # Prove it: every line that was not Cilium's is still there, and Cilium's are gone.
            after = await node.iptables_save(w.backend, w.family) or b""
            gone = lost_lines(before, after)
            if gone:
                lost += [f"{w.label} {x}" for x in gone]
            left = cilium_left(after)
            if left:
                failures.append(f"{w.label}: still present after the purge: {', '.join(left)}")
        if lost:
            failures.append(
                f"{len(lost)} rule(s) that were not Cilium's are gone (removed by another "
                f"program meanwhile? the backup has them): {'; '.join(lost[:10])}"
                + (" …" if len(lost) > 10 else "")
            )
        if not work:
            ctx.out("no Cilium iptables chains or rules found")
        for line in failures:
            ctx.out(line)
        return ActionResult(
            ok=not failures,
            rc=0 if not failures else 1,
            changed=bool(removed_rules or removed_chains),
            data={"removed_rules": removed_rules, "removed_chains": removed_chains, "lost": lost},
            message="; ".join(failures),
        )

    @staticmethod
    async def _rerun(node: NodeBackend, w: _Work, exc: CommandFailed) -> str | None:
        """The node changed under the plan (e.g. an interrupted run's restore finished
        after all): read it again and run what is left IF that is part of what was
        approved — never a command the operator did not see. None: done."""
        data = await node.iptables_save(w.backend, w.family)
        left = purge_input(data) if data is not None else None
        if left is None:
            return None  # nothing of Cilium's left: someone finished it
        approved = Counter(_lines(w.command.stdin))
        if Counter(_lines(left)) - approved:
            return f"{w.label}: {_explain(exc, w.command.stdin)}"
        try:
            await node.run(Command(w.command.argv, left))
        except CommandFailed as again:
            return f"{w.label}: {_explain(again, left)}"
        return None


def _lines(data: bytes | None) -> list[tuple[str, str]]:
    """(table, line) of each command in a restore input."""
    out, table = [], ""
    for line in _text(data or b"").split("\n"):
        if line.startswith("*"):
            table = line[1:]
        elif line and line != "COMMIT":
            out.append((table, line))
    return out


@register
class NetfilterRestore(RestoreAction):
    name = "netfilter.restore"
    requires = frozenset({"iptables"})
    summary = (
        "load an iptables backup (a netfilter.purge step's backup) back: each table "
        "in it whole, as it was"
    )

    def _commands(self, ctx: ActionContext) -> list[tuple[str, Command]]:
        d = self._dir(ctx)
        out = []
        for b in BACKENDS:
            for f in FAMILIES:
                p = d / _backup_name(b, f)
                if not p.is_file():
                    continue
                data = p.read_bytes()
                if b"*" not in data:
                    continue  # an empty dump: that backend had no tables
                out.append((str(p), Command((restore_tool(b, f), "-w"), data)))
        return out

    async def plan(self, ctx: ActionContext) -> list[str]:
        cmds = self._commands(ctx)
        if not cmds:
            raise CiliumtuiError(f"no iptables backup in {self._dir(ctx)}")
        lines = [f"{shlex.join(ctx.backend.argv(c))} < {shlex.quote(p)}" for p, c in cmds]
        return lines + ctx.backend.plan_notes()

    async def run(self, ctx: ActionContext) -> ActionResult:
        cmds = self._commands(ctx)
        if not cmds:
            return ActionResult(ok=False, message=f"no iptables backup in {self._dir(ctx)}")
        for p, c in cmds:
            await ctx.backend.run(c)
            ctx.out(f"restored {c.argv[0]} from {p}")
        return ActionResult(ok=True, rc=0, changed=True)
