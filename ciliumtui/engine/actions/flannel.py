"""flannel.cleanup: remove what k3s's flannel left that keeps Cilium from working —
its links (flannel.1 holds UDP 8472, the port cilium_vxlan needs; cni0, its
bridge), its CNI config (it can win the CNI dir) and /run/flannel/subnet.env.

What is flannel's: the links k3s-killall.sh deletes and flannel's lease file
(`checks.k3s`, the same facts the finding reads), and CNI configs whose plugins
or name say flannel. Cilium's links and configs are never touched. Links are
read and deleted through the NodeBackend (the kernel, or a node recorded in a
file); files are copied into the step's backup first; what the links were is
written there too (a link cannot be restored from a file: flannel recreates its
own when it runs).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...model import CniFile
from ...node.backend import Command, CommandFailed, shell_text
from ...ownership import is_cilium_link
from . import hostfiles
from .base import Action, ActionContext, ActionResult, register


def is_flannel_cni(f: CniFile) -> bool:
    """A flannel CNI config (the predicate checks.k3s.flannel_traces uses)."""
    from ...ownership import is_cilium_cni_config

    return (
        not f.backup
        and ("flannel" in f.plugins or "flannel" in f.name)
        and not is_cilium_cni_config(f.name, f.plugins)
    )


@dataclass
class Traces:
    links: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # node paths
    link_details: list[dict[str, Any]] = field(default_factory=list)


def delete_link(name: str) -> Command:

    return Command(("ip", "link", "delete", name))


async def find_traces(ctx: ActionContext) -> Traces:
    from ...checks.k3s import FLANNEL_LINKS, FLANNEL_SUBNET_ENV
    from ...node.cni import read_cni

    out = Traces()
    for link in await ctx.backend.links():
        if link.name in FLANNEL_LINKS and not is_cilium_link(link.name):
            out.links.append(link.name)
            out.link_details.append(dataclasses.asdict(link))
    k3s = (
        ctx.opts.host_path("/etc/rancher/k3s").is_dir()
        or ctx.opts.host_path("/var/lib/rancher/k3s").is_dir()
    )
    _dirs, files = await asyncio.to_thread(read_cni, ctx.opts.host_root, k3s)
    out.files += [f"{f.dir}/{f.name}" for f in files if is_flannel_cni(f)]
    if hostfiles.read(ctx, FLANNEL_SUBNET_ENV) is not None:
        out.files.append(FLANNEL_SUBNET_ENV)
    return out


@register
class FlannelCleanup(Action):
    name = "flannel.cleanup"
    summary = "remove flannel's links (flannel.1, cni0 …), its CNI config and /run/flannel/subnet.env; files backed up first"
    mutates = True
    default_risk = "high"
    needs_root = True
    requires = frozenset({"ip"})

    async def plan(self, ctx: ActionContext) -> list[str]:

        t = await find_traces(ctx)
        backend = ctx.backend
        lines = [shell_text(backend.argv(delete_link(n))) for n in t.links]
        lines += [f"rm -- {hostfiles.shown(ctx, p)}" for p in t.files]
        if not lines:
            return []
        lines.append("# files are copied to the backup first; flannel's pods need a restart")
        return [*lines, *backend.plan_notes()]

    async def backup(self, ctx: ActionContext) -> list[Path]:
        t = await find_traces(ctx)
        ctx.backup_dir.mkdir(parents=True, exist_ok=True)
        saved = [hostfiles.save_copy(ctx, p, ctx.backup_dir) for p in t.files]
        links = ctx.backup_dir / "flannel-links.json"
        links.write_text(json.dumps(t.link_details, indent=1, default=str) + "\n")
        return [*saved, links]

    async def run(self, ctx: ActionContext) -> ActionResult:

        t = await find_traces(ctx)
        for name in t.links:
            try:
                await ctx.backend.run(delete_link(name), timeout=30)
            except CommandFailed as exc:
                if "Cannot find device" not in str(exc):
                    raise
            ctx.out(f"deleted link {name}")
        for path in t.files:
            hostfiles.remove(ctx, path)
            ctx.out(f"removed {hostfiles.host_file(ctx, path)}")
        return ActionResult(
            ok=True, changed=bool(t.links or t.files), data={"links": t.links, "files": t.files}
        )
