"""CNI config fixes: cni.cleanup (restore Cilium's *.cilium_bak renames, remove an
orphaned Cilium config) and cni.set-aside (move a foreign config that outranks
Cilium's aside, as Cilium's cni.exclusive does).

Both read the CNI files the node's host probe reports (through the backend, like
every probe), decide with pure functions over them (testable without a node),
back up every file they touch, change the files through the backend
(hostfiles.py), and change nothing when there is nothing to do (plan == []).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ...model import CniFile
from ...ownership import CILIUM_CNI_BACKUP_SUFFIX, is_cni_config_name, runtime_cni_config
from . import hostfiles
from .base import Action, ActionContext, ActionResult, register

ORPHANED = "cni-config-orphaned"


@dataclass(frozen=True)
class FileOp:
    op: str  # "rm" | "mv"
    path: str  # node path
    to: str | None = None  # node path, for "mv"


def _by_dir(files: list[CniFile]) -> dict[str, list[CniFile]]:
    out: dict[str, list[CniFile]] = {}
    for f in files:
        out.setdefault(f.dir, []).append(f)
    return out


def cleanup_ops(files: list[CniFile], orphaned: bool) -> tuple[list[FileOp], list[str]]:
    """(operations, notes) that clean Cilium's CNI state out of the dirs.

    orphaned (the finding `cni-config-orphaned`: Cilium's config while Cilium is not
    installed): Cilium's configs are removed. Backups are restored in a dir that
    then holds no Cilium config: there a restored config cannot outrank Cilium's,
    while beside a live Cilium config the agent (cni.exclusive) would only rename
    it again. A backup whose original name is taken again is left alone.
    """
    ops: list[FileOp] = []
    notes: list[str] = []
    for directory, entries in _by_dir(files).items():
        names = {f.name for f in entries}
        cilium = [f.name for f in entries if f.cilium]
        if orphaned:
            ops += [FileOp("rm", f"{directory}/{n}") for n in cilium]
        backups = [f.name for f in entries if f.backup]
        if cilium and not orphaned:
            if backups:
                notes.append(
                    f"# {directory}: {len(backups)} *{CILIUM_CNI_BACKUP_SUFFIX} kept: Cilium's "
                    f"{cilium[0]} stays (its cni.exclusive would rename them again)"
                )
            continue
        for name in backups:
            original = name[: -len(CILIUM_CNI_BACKUP_SUFFIX)]
            if original in names:
                notes.append(f"# {directory}/{name} kept: {original} exists again")
                continue
            ops.append(FileOp("mv", f"{directory}/{name}", f"{directory}/{original}"))
    return ops, notes


def set_aside_ops(files: list[CniFile]) -> tuple[list[FileOp], list[str]]:
    """Foreign configs that sort before Cilium's in its dir, renamed <name>.cilium_bak.

    Only the ones that outrank Cilium's config move (minimal; later ones are never
    read). A config that chains cilium-cni is Cilium's in chaining mode and stays.
    A dir without Cilium's config is not touched: moving files there would leave
    the runtime with no config at all.
    """
    ops: list[FileOp] = []
    notes: list[str] = []
    for directory, entries in _by_dir(files).items():
        cilium = sorted(f.name for f in entries if f.cilium and is_cni_config_name(f.name))
        if not cilium:
            continue
        names = {f.name for f in entries}
        winner = runtime_cni_config(list(names))
        if winner == cilium[0]:
            continue
        notes.append(
            f"# {directory}: the runtime uses {winner} (first by name); Cilium's {cilium[0]} should"
        )
        for f in sorted(entries, key=lambda e: e.name):
            if f.name >= cilium[0]:
                break
            if not is_cni_config_name(f.name) or f.cilium:
                continue
            if "cilium-cni" in f.plugins:
                notes.append(f"# {directory}/{f.name} kept: it chains cilium-cni")
                continue
            target = f.name + CILIUM_CNI_BACKUP_SUFFIX
            if target in names:
                notes.append(
                    f"# {directory}/{f.name} NOT moved: {target} exists; move it away first"
                )
                continue
            ops.append(FileOp("mv", f"{directory}/{f.name}", f"{directory}/{target}"))
    return ops, notes


def plan_lines(ctx: ActionContext, ops: list[FileOp], notes: list[str]) -> list[str]:
    """Pasteable commands (notes as # lines), then the backend's notes; [] when there
    is nothing to do."""
    if not ops:
        return []
    lines = list(notes)
    for op in ops:
        if op.op == "rm":
            lines.append(f"rm -- {hostfiles.shown(ctx, op.path)}")
        else:
            assert op.to is not None
            lines.append(f"mv -n -- {hostfiles.shown(ctx, op.path)} {hostfiles.shown(ctx, op.to)}")
    return lines + ctx.backend.plan_notes()


def backup_ops(ctx: ActionContext, ops: list[FileOp]) -> list[Path]:
    """A copy of every file an op touches, and a manifest saying how to undo each."""
    saved = [hostfiles.save_copy(ctx, op.path, ctx.backup_dir) for op in ops]
    undo = []
    for op, copy in zip(ops, saved, strict=True):
        if op.op == "rm":
            undo.append(f"cp -a -- {copy} {hostfiles.shown(ctx, op.path)}")
        else:
            assert op.to is not None
            undo.append(f"mv -n -- {hostfiles.shown(ctx, op.to)} {hostfiles.shown(ctx, op.path)}")
    manifest = ctx.backup_dir / "cni-manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "ops": [{"op": o.op, "path": o.path, "to": o.to} for o in ops],
                "copies": [str(p) for p in saved],
                "undo": undo,
            },
            indent=1,
        )
    )
    return [*saved, manifest]


def run_ops(ctx: ActionContext, ops: list[FileOp], notes: list[str]) -> ActionResult:
    for line in notes:
        ctx.out(line)
    done = []
    for op in ops:
        if op.op == "rm":
            hostfiles.remove(ctx, op.path)
            ctx.out(f"removed {op.path}")
        else:
            assert op.to is not None
            hostfiles.rename(ctx, op.path, op.to)
            ctx.out(f"renamed {op.path} -> {op.to}")
        done.append({"op": op.op, "path": op.path, "to": op.to})
    if not ops:
        ctx.out("nothing to do")
    return ActionResult(ok=True, rc=0, changed=bool(ops), data={"ops": done})


async def _files(ctx: ActionContext) -> list[CniFile]:
    # What the host probe reports (the dirs the runtime reads: k3s's too on a k3s node),
    # so the plan acts on the very files the findings were made from.
    return (await ctx.backend.host()).cni_files


@register
class CniCleanup(Action):
    name = "cni.cleanup"
    summary = (
        "restore the *.cilium_bak CNI configs Cilium renamed; remove Cilium's config when "
        f"{ORPHANED} was found (Cilium not installed)"
    )
    mutates = True
    needs_root = True
    default_risk = "high"
    params = {}

    async def _ops(self, ctx: ActionContext) -> tuple[list[FileOp], list[str]]:
        orphaned = any(f.id == ORPHANED for f in ctx.findings)
        return cleanup_ops(await _files(ctx), orphaned)

    async def plan(self, ctx: ActionContext) -> list[str]:
        return plan_lines(ctx, *await self._ops(ctx))

    async def backup(self, ctx: ActionContext) -> list[Path]:
        return backup_ops(ctx, (await self._ops(ctx))[0])

    async def run(self, ctx: ActionContext) -> ActionResult:
        return run_ops(ctx, *await self._ops(ctx))


@register
class CniSetAside(Action):
    name = "cni.set-aside"
    summary = (
        "rename the foreign CNI configs that sort before Cilium's to <name>.cilium_bak "
        "(what Cilium's cni.exclusive does), so the runtime uses Cilium's"
    )
    mutates = True
    needs_root = True
    default_risk = "high"
    params = {}

    async def _ops(self, ctx: ActionContext) -> tuple[list[FileOp], list[str]]:
        return set_aside_ops(await _files(ctx))

    async def plan(self, ctx: ActionContext) -> list[str]:
        return plan_lines(ctx, *await self._ops(ctx))

    async def backup(self, ctx: ActionContext) -> list[Path]:
        return backup_ops(ctx, (await self._ops(ctx))[0])

    async def run(self, ctx: ActionContext) -> ActionResult:
        return run_ops(ctx, *await self._ops(ctx))
