"""netfilter.purge / netfilter.restore: Cilium's iptables chains and rules, both backends.

Purge works on `iptables-save` text: drop exactly the chains ownership.py calls
Cilium's, the rules inside them and the rules that jump (-j/-g) to them — nothing
else (a user rule whose comment says "cilium" stays). Each changed table is
loaded back whole with iptables-restore (no --noflush), so every table switches
atomically: there is no moment with half of Cilium's rules gone. One restore
call per backend and family carries all of that backend's changed tables.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path

from ... import netns
from ...errors import CiliumtuiError
from ...ownership import is_cilium_chain
from .base import Action, ActionContext, ActionResult, Param, register

BACKENDS = ("legacy", "nft")
FAMILIES = (4, 6)
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def tools(backend: str, family: int) -> tuple[str, str]:
    """(save, restore) binaries for one backend and family."""
    prefix = "iptables" if family == 4 else "ip6tables"
    return f"{prefix}-{backend}-save", f"{prefix}-{backend}-restore"


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
    name: str
    lines: list[str]  # the table's new text, "*name" … "COMMIT"
    removed_chains: list[str] = field(default_factory=list)
    removed_rules: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.removed_chains or self.removed_rules)


def purge_text(save: str) -> list[TablePurge]:
    """Split iptables-save output into tables, each without Cilium's chains and rules."""
    tables: list[TablePurge] = []
    cur: TablePurge | None = None
    for line in save.splitlines():
        if line.startswith("*"):
            cur = TablePurge(line[1:].strip(), [line])
            tables.append(cur)
            continue
        if cur is None or not line or line.startswith("#"):
            continue  # comments/warnings are not part of a table
        if line.startswith(":"):
            name = line[1:].split(" ", 1)[0]
            if is_cilium_chain(name):
                cur.removed_chains.append(name)
                continue
        elif line.startswith("-A "):
            chain, target = rule_chain_and_target(line)
            if is_cilium_chain(chain) or (target is not None and is_cilium_chain(target)):
                cur.removed_rules += 1
                continue
        cur.lines.append(line)
    return tables


def restore_input(tables: list[TablePurge], only_changed: bool = True) -> str:
    chosen = [t for t in tables if t.changed or not only_changed]
    return "".join("\n".join(t.lines) + "\n" for t in chosen)


async def save(backend: str, family: int, ns: str | None, timeout: float = 30.0) -> str | None:
    """iptables-save output, or None when this backend's tool is not installed."""
    save_bin, _ = tools(backend, family)
    try:
        res = await netns.run([save_bin], netns=ns, timeout=timeout)
    except CiliumtuiError as exc:
        if "not found" in str(exc):
            return None
        raise
    if res.rc != 0:
        if res.rc == 127 or "No such file" in res.stderr or "not found" in res.stderr:
            return None  # `ip netns exec` could not find the binary
        raise CiliumtuiError(
            f"{save_bin}: exit {res.rc}: {res.stderr.strip().splitlines()[-1:] or ''}"
        )
    return res.stdout


async def restore(
    backend: str, family: int, ns: str | None, text: str, timeout: float = 60.0
) -> None:
    _, restore_bin = tools(backend, family)
    res = await netns.run([restore_bin], netns=ns, timeout=timeout, stdin=text.encode())
    if res.rc != 0:
        err = " ".join(res.stderr.strip().splitlines()[-2:])
        raise CiliumtuiError(f"{restore_bin} failed (exit {res.rc}): {err}")


def _selected(ctx: ActionContext) -> list[tuple[str, int]]:
    backends = [str(b) for b in ctx.params.get("backends") or BACKENDS]
    families = [int(f) for f in ctx.params.get("families") or FAMILIES]
    return [(b, f) for b in backends for f in families]


def _backup_name(backend: str, family: int) -> str:
    return f"iptables-{backend}-v{family}.rules"


@register
class NetfilterPurge(Action):
    name = "netfilter.purge"
    requires = frozenset({"iptables"})
    summary = (
        "remove Cilium's iptables chains and rules (legacy + nft, v4 + v6), atomically per table"
    )
    mutates = True
    needs_root = True
    default_risk = "destructive"
    params = {
        "backends": Param("list", default=list(BACKENDS), choices=BACKENDS),
        "families": Param("list", default=list(FAMILIES)),
    }

    @classmethod
    def check_params(cls, params: dict) -> list[tuple[str, str]]:
        fams = params.get("families") or []
        if isinstance(fams, list) and any(str(f) not in ("4", "6") for f in fams):
            return [("families", "families are 4 and/or 6")]
        return []

    def __init__(self) -> None:
        self._saved: dict[tuple[str, int], str | None] = {}

    async def _save_all(self, ctx: ActionContext) -> dict[tuple[str, int], str | None]:
        sel = _selected(ctx)
        texts = await asyncio.gather(*(save(b, f, ctx.netns) for b, f in sel))
        return dict(zip(sel, texts, strict=False))

    async def plan(self, ctx: ActionContext) -> list[str]:
        if ctx.opts.recorded_node:  # training without root: the node is a JSON file
            from ...training import recorded

            return recorded.plan_netfilter(ctx.opts.recorded_node)
        lines = []
        for (b, f), text in (await self._save_all(ctx)).items():
            _, restore_bin = tools(b, f)
            if text is None:
                lines.append(f"{b} IPv{f}: {tools(b, f)[0]} not installed, skipped")
                continue
            changed = [t for t in purge_text(text) if t.changed]
            if not changed:
                lines.append(f"# {b} IPv{f}: no Cilium chains or rules")
                continue
            chains = sum(len(t.removed_chains) for t in changed)
            rules = sum(t.removed_rules for t in changed)
            names = ", ".join(t.name for t in changed)
            lines.append(
                f"{b} IPv{f}: remove {chains} CILIUM_* chains and {rules} rules from {names}: "
                f"{' '.join(netns.ns_argv(ctx.netns, [restore_bin]))} < purged {tools(b, f)[0]}"
            )
        return lines

    async def backup(self, ctx: ActionContext) -> list[Path]:
        if ctx.opts.recorded_node:
            from ...training import recorded

            return recorded.backup_file(ctx.opts.recorded_node, ctx.backup_dir)
        self._saved = await self._save_all(ctx)
        ctx.backup_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for (b, f), text in self._saved.items():
            if text is None:
                continue
            path = ctx.backup_dir / _backup_name(b, f)
            path.write_text(text)
            written.append(path)
        if not written:
            raise CiliumtuiError("no iptables-save tool found: nothing could be backed up")
        return written

    async def run(self, ctx: ActionContext) -> ActionResult:
        if ctx.opts.recorded_node:
            from ...training import recorded

            return recorded.run_netfilter(ctx.opts.recorded_node, ctx.out)
        # Reuse the texts the backup saved: what is restored is exactly the backup minus Cilium's.
        saved = self._saved or await self._save_all(ctx)
        removed_rules = 0
        removed_chains = 0
        for (b, f), text in saved.items():
            if text is None:
                continue
            tables = purge_text(text)
            changed = [t for t in tables if t.changed]
            if not changed:
                continue
            await restore(b, f, ctx.netns, restore_input(changed))
            r = sum(t.removed_rules for t in changed)
            c = sum(len(t.removed_chains) for t in changed)
            removed_rules += r
            removed_chains += c
            ctx.out(
                f"{b} IPv{f}: removed {c} chains, {r} rules ({', '.join(t.name for t in changed)})"
            )
        if not removed_rules and not removed_chains:
            ctx.out("no Cilium iptables chains or rules found")
        return ActionResult(
            ok=True,
            rc=0,
            changed=bool(removed_rules or removed_chains),
            data={"removed_rules": removed_rules, "removed_chains": removed_chains},
        )


@register
class NetfilterRestore(Action):
    name = "netfilter.restore"
    requires = frozenset({"iptables"})
    summary = "load an iptables backup (a netfilter.purge step's backup) back, whole tables"
    mutates = True
    needs_root = True
    default_risk = "high"
    params = {
        "backup_of": Param("str", help="id of the step whose backup to restore"),
        "dir": Param("str", help="a backup directory (instead of backup_of)"),
    }

    @classmethod
    def check_params(cls, params: dict) -> list[tuple[str, str]]:
        if not params.get("backup_of") and not params.get("dir"):
            return [("backup_of", "give backup_of (a step id) or dir")]
        return []

    def _dir(self, ctx: ActionContext) -> Path:
        if ctx.params.get("dir"):
            return Path(ctx.params["dir"])
        step = ctx.params["backup_of"]
        return ctx.backups.get(step, ctx.run_dir / "backups" / step)

    def _files(self, ctx: ActionContext) -> list[tuple[str, int, Path]]:
        d = self._dir(ctx)
        out = []
        for b in BACKENDS:
            for f in FAMILIES:
                p = d / _backup_name(b, f)
                if p.is_file():
                    out.append((b, f, p))
        return out

    async def plan(self, ctx: ActionContext) -> list[str]:
        files = self._files(ctx)
        if not files:
            return [f"no iptables backup in {self._dir(ctx)}"]
        return [
            f"{' '.join(netns.ns_argv(ctx.netns, [tools(b, f)[1]]))} < {p}" for b, f, p in files
        ]

    async def run(self, ctx: ActionContext) -> ActionResult:
        files = self._files(ctx)
        if not files:
            return ActionResult(ok=False, message=f"no iptables backup in {self._dir(ctx)}")
        for b, f, p in files:
            text = p.read_text()
            if not text.strip() or "*" not in text:
                continue
            await restore(b, f, ctx.netns, text)
            ctx.out(f"restored {b} IPv{f} from {p}")
        return ActionResult(ok=True, rc=0, changed=True)
