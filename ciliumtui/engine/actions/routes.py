"""iproute.cilium-cleanup / iproute.restore: the ip rule `fwmark 0x200/0xf00 lookup 2004`
and the routes of tables 2004/2005.

Rules and routes are read numerically (`ip -N`: a name for 2004 in rt_tables means
nothing) and only what ownership.py calls Cilium's is removed — never an inverted
(`not …`) rule. The plan is the `ip -batch` that runs, line for line.

The kernel finds the rule to delete by the selectors given and ignores `not`, so
when another rule shares the Cilium rule's priority, mark and table the delete
could hit that one instead: then the step refuses it and says so.

Backups are `ip -batch` files that put back exactly what was removed:
    ip [-n NETNS] -4 -force -batch <backup dir>/iproute-v4.batch   (and -6)
or the `iproute.restore` action (`backup_of: STEP` or `dir:`).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import CiliumtuiError
from ...model import IpRule, Route
from ...node.backend import Command, CommandFailed, NodeBackend, render
from ...ownership import CILIUM_TABLES
from .base import Action, ActionContext, ActionResult, RestoreAction, register

FAMILIES = (4, 6)


def rule_selector(rule: IpRule) -> str:
    """`priority P [not] [from S] [to D] [fwmark F] [iif I] [oif O]` of a rule."""
    parts = [f"priority {rule.priority}"]
    if rule.invert:
        parts.append("not")
    if rule.src and rule.src != "all":
        parts.append(f"from {rule.src}")
    if rule.dst and rule.dst != "all":
        parts.append(f"to {rule.dst}")
    if rule.fwmark:
        parts.append(f"fwmark {rule.fwmark}")
    if rule.iif:
        parts.append(f"iif {rule.iif}")
    if rule.oif:
        parts.append(f"oif {rule.oif}")
    return " ".join(parts)


def rule_add(rule: IpRule) -> str:
    what = f"table {rule.table}" if rule.table else (rule.action or "")
    return f"rule add {rule_selector(rule)} {what}".rstrip()


def route_add(route: Route) -> str:
    """`route replace …` that puts `route` back (replace: idempotent)."""
    parts = ["route replace"]
    if route.type and route.type != "unicast":
        parts.append(route.type)
    parts.append(route.dst)
    for key, value in (
        ("via", route.gateway),
        ("dev", route.dev),
        ("table", route.table),
        ("proto", route.protocol),
        ("scope", route.scope),
        ("src", route.prefsrc),
        ("metric", route.metric),
        ("mtu", route.mtu),
    ):
        if value is not None:
            parts.append(f"{key} {value}")
    return " ".join(parts)


@dataclass
class Found:
    """Per family: Cilium's rules and tables present, and rules it must not delete."""

    rules: dict[int, list[IpRule]] = field(default_factory=dict)
    tables: dict[int, list[str]] = field(default_factory=dict)
    routes: dict[int, list[Route]] = field(default_factory=dict)
    ambiguous: list[str] = field(default_factory=list)

    def batch(self, fam: int) -> list[str]:
        lines = [f"rule del {rule_selector(r)} table {r.table}" for r in self.rules.get(fam, [])]
        return lines + [f"route flush table {t}" for t in self.tables.get(fam, [])]

    def commands(self) -> list[Command]:
        # -force: an entry that vanished meanwhile does not stop the rest (checked after).
        return [
            Command(("ip", f"-{fam}", "-force", "-batch", "-"), ("\n".join(lines) + "\n").encode())
            for fam in FAMILIES
            if (lines := self.batch(fam))
        ]

    def restore_batch(self, fam: int) -> str:
        lines = [rule_add(r) for r in self.rules.get(fam, [])]
        lines += [route_add(r) for r in self.routes.get(fam, [])]
        return "".join(f"{x}\n" for x in lines)


def find(rules: list[IpRule], routes: list[Route]) -> Found:
    """What of Cilium's is there (pure)."""
    found = Found()
    for r in rules:
        if not r.cilium or r.invert:
            continue
        twins = [
            o
            for o in rules
            if o is not r
            and not o.cilium
            and (o.family, o.priority, o.fwmark, o.table)
            == (r.family, r.priority, r.fwmark, r.table)
        ]
        if twins:
            found.ambiguous.append(
                f"ip -{r.family} rule {rule_selector(r)} table {r.table}: another rule has the "
                f"same priority, mark and table ({rule_selector(twins[0])} table {twins[0].table}) "
                "and the kernel could delete that one instead; delete it by hand"
            )
            continue
        found.rules.setdefault(r.family, []).append(r)
    for route in routes:
        if route.table in CILIUM_TABLES:
            found.routes.setdefault(route.family, []).append(route)
            tables = found.tables.setdefault(route.family, [])
            if route.table not in tables:
                tables.append(route.table)
    for fam in found.tables:
        found.tables[fam].sort()
    return found


async def read(node: NodeBackend) -> Found:
    return find(await node.rules(), await node.routes())


def _leftover(found: Found) -> list[str]:
    return [f"ip -{fam} {line}" for fam in FAMILIES for line in found.batch(fam)]


@register
class CiliumRouteCleanup(Action):
    name = "iproute.cilium-cleanup"
    requires = frozenset({"ip"})
    summary = (
        "remove Cilium's ip rule (fwmark 0x200/0xf00 lookup 2004) and routes in tables 2004/2005"
    )
    mutates = True
    needs_root = True
    default_risk = "high"
    params = {}

    def __init__(self) -> None:
        self._planned: Found | None = None

    async def plan(self, ctx: ActionContext) -> list[str]:
        self._planned = found = await read(ctx.backend)
        notes = [f"# refused: {x}" for x in found.ambiguous]
        return render(ctx.backend, found.commands(), notes)

    async def backup(self, ctx: ActionContext) -> list[Path]:
        found = await read(ctx.backend)
        ctx.backup_dir.mkdir(parents=True, exist_ok=True)
        out = []
        for fam in FAMILIES:
            path = ctx.backup_dir / f"iproute-v{fam}.batch"
            path.write_text(found.restore_batch(fam))
            out.append(path)
        evidence = {
            "rules": [dataclasses.asdict(r) for fam in FAMILIES for r in found.rules.get(fam, [])],
            "routes": [
                dataclasses.asdict(r) for fam in FAMILIES for r in found.routes.get(fam, [])
            ],
        }
        path = ctx.backup_dir / "ip-rules-routes.json"
        path.write_text(json.dumps(evidence, indent=1))
        return [*out, path]

    async def run(self, ctx: ActionContext) -> ActionResult:
        found = self._planned if self._planned is not None else await read(ctx.backend)
        self._planned = None
        errors = []
        for cmd in found.commands():
            try:
                await ctx.backend.run(cmd)
            except CommandFailed as exc:  # -force went on; what is left is checked below
                errors.append(str(exc))
            for line in (cmd.stdin or b"").decode().splitlines():
                ctx.out(f"ip {cmd.argv[1]} {line}")
        left = _leftover(await read(ctx.backend))
        if left:
            raise CiliumtuiError(
                f"still present after cleanup: {'; '.join(left)}"
                + (f" ({'; '.join(errors)})" if errors else "")
            )
        if found.ambiguous:
            raise CiliumtuiError("; ".join(found.ambiguous))
        removed = sum(len(found.batch(fam)) for fam in FAMILIES)
        if not removed:
            ctx.out("no Cilium ip rule or table 2004/2005 routes present")
        return ActionResult(ok=True, rc=0, changed=bool(removed), data={"removed": removed})


@register
class IprouteRestore(RestoreAction):
    name = "iproute.restore"
    summary = "put back the ip rule and table 2004/2005 routes an iproute.cilium-cleanup removed"

    def _commands(self, ctx: ActionContext) -> list[Command]:
        d = self._dir(ctx)
        files = [(fam, d / f"iproute-v{fam}.batch") for fam in FAMILIES]
        if not any(p.is_file() for _, p in files):
            raise CiliumtuiError(f"no ip rule/route backup (iproute-v4.batch) in {d}")
        return [
            Command(("ip", f"-{fam}", "-force", "-batch", str(p)))
            for fam, p in files
            if p.is_file() and p.read_text().strip()
        ]

    async def plan(self, ctx: ActionContext) -> list[str]:
        return render(ctx.backend, self._commands(ctx))

    async def run(self, ctx: ActionContext) -> ActionResult:
        cmds = self._commands(ctx)
        errors = []
        for cmd in cmds:
            try:
                await ctx.backend.run(cmd)
            except CommandFailed as exc:  # e.g. "File exists": checked below
                errors.append(str(exc))
            ctx.out(shlex.join(ctx.backend.argv(cmd)))
        missing = await _missing(ctx.backend, cmds)
        if missing:
            raise CiliumtuiError(
                f"not back after the restore: {'; '.join(missing)}"
                + (f" ({'; '.join(errors)})" if errors else "")
            )
        return ActionResult(ok=True, rc=0, changed=bool(cmds))


async def _missing(node: NodeBackend, cmds: list[Command]) -> list[str]:
    """Backup lines whose rule or route is not on the node."""
    rules = {(r.family, r.priority, r.fwmark, r.table) for r in await node.rules()}
    routes = {(r.family, r.dst, r.table) for r in await node.routes()}
    missing = []
    for cmd in cmds:
        fam = int(cmd.argv[1][1:])
        for line in Path(cmd.argv[-1]).read_text().splitlines():
            words = line.split()
            opts = dict(zip(words, words[1:], strict=False))  # each word -> the next
            if line.startswith("rule add"):
                key = (fam, int(opts["priority"]), opts.get("fwmark"), opts.get("table"))
                if key not in rules:
                    missing.append(line)
            elif line.startswith("route replace"):
                dst = words[3] if words[2] in _TYPES else words[2]
                dst = dst if dst == "default" or "/" in dst else f"{dst}/{32 if fam == 4 else 128}"
                if (fam, dst, opts.get("table")) not in routes:
                    missing.append(line)
    return missing


_TYPES = {"local", "broadcast", "anycast", "multicast", "blackhole", "unreachable", "prohibit"}
_TYPES |= {"throw", "nat", "unicast"}
