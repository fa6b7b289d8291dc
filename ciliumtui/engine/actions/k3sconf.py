"""k3s's own configuration: k3s.info (which unit, server or agent, can it be
restarted from here) and k3s.config (settings written to a config.yaml.d drop-in).

k3s merges `/etc/rancher/k3s/config.yaml` and then `config.yaml.d/*.yaml` in name
order, later files winning, so a drop-in named `99-ciliumtui-*.yaml` overrides
what the others say without editing them. Some settings belong to the server
only: `flannel-backend` and `disable-network-policy` are server flags, and an
agent takes the server's flannel setting — writing them on an agent changes
nothing, so there they are not written and the plan says where they belong.
Changes take effect when k3s restarts; the playbook asks for that separately.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from ...model import K3sInfo
from . import hostfiles
from .base import Action, ActionContext, ActionResult, Param, register

CONFIG_D = "/etc/rancher/k3s/config.yaml.d"
DEFAULT_FILE = "99-ciliumtui.yaml"  # sorts after the usual 10-/50- drop-ins
SERVER_ONLY = ("flannel-backend", "disable-network-policy", "cluster-cidr", "service-cidr")
UNITS = {"server": "k3s", "agent": "k3s-agent"}


def live_reason(ctx: ActionContext) -> str | None:
    """Why k3s cannot be restarted from here (None: it can): only on the node itself
    (host root /) with systemd running."""
    if Path(ctx.opts.host_root).resolve() != Path("/"):
        return f"host root is {ctx.opts.host_root}, not this system"
    if not Path("/run/systemd/system").is_dir():
        return "systemd is not running here"
    return None


def role_of(k: K3sInfo | None) -> str | None:
    if k is None:
        return None
    if k.role in ("server", "agent"):
        return k.role
    unit = (k.unit_file or "").rsplit("/", 1)[-1]
    if unit.startswith("k3s-agent"):
        return "agent"
    return "server" if unit.startswith("k3s") else None


def unit_of(k: K3sInfo | None) -> str:
    unit = (k.unit_file or "").rsplit("/", 1)[-1] if k is not None else ""
    if unit.endswith(".service"):
        return unit[: -len(".service")]
    return UNITS.get(role_of(k) or "server", "k3s")


async def read_k3s(ctx: ActionContext) -> K3sInfo | None:
    from ...node.host import read_k3s as probe

    return await asyncio.to_thread(probe, ctx.opts)


def drop_in_text(settings: dict[str, Any]) -> str:
    body = yaml.safe_dump(settings, default_flow_style=False, sort_keys=False)
    return (
        "# Written by ciliumtui: k3s reads config.yaml.d/*.yaml after config.yaml, in name\n"
        "# order (later wins). Takes effect when k3s restarts.\n" + body
    )


def split_settings(
    settings: dict[str, Any], role: str | None, server_only: tuple[str, ...] = SERVER_ONLY
) -> tuple[dict[str, Any], list[str]]:
    """(what this node's k3s takes, notes about what it does not)."""
    if role != "agent":
        return dict(settings), []
    kept = {k: v for k, v in settings.items() if k not in server_only}
    left = [k for k in settings if k in server_only]
    notes = (
        [
            f"# k3s agent: {', '.join(left)} belong to the server (agents follow the server's "
            "flannel setting): set them there (ciliumtui run k3s-disable-flannel on the server), "
            "then restart k3s-agent here"
        ]
        if left
        else []
    )
    return kept, notes


@register
class K3sStatus(Action):
    name = "k3s.info"
    summary = (
        "k3s on this node: server or agent, its unit, and whether it can be restarted from here"
    )

    async def run(self, ctx: ActionContext) -> ActionResult:
        k = await read_k3s(ctx)
        if k is None:
            ctx.out("no k3s on this node")
            return ActionResult(ok=True, data={"present": False, "live": False})
        role, unit = role_of(k), unit_of(k)
        why = live_reason(ctx)
        ctx.out(f"k3s {role or 'role unknown (treated as a server)'}: unit {unit}.service")
        ctx.out(
            f"restarting k3s: systemctl restart {unit}"
            + ("" if why is None else f" — not from here ({why}): run it on the node")
        )
        return ActionResult(
            ok=True,
            data={
                "present": True,
                "role": role or "server",
                "unit": unit,
                "live": why is None,
                "not_live": why,
                "flannel_backend": k.flannel_backend,
            },
        )


@register
class K3sConfig(Action):
    name = "k3s.config"
    summary = "write k3s settings to a config.yaml.d drop-in (server-only keys skipped on agents); backs up what it replaces"
    mutates = True
    default_risk = "high"
    needs_root = True
    host_files_only = True
    params = {
        "settings": Param("map", required=True, help="k3s config keys and values"),
        "file": Param("str", default=DEFAULT_FILE, help="the drop-in's name in config.yaml.d"),
    }

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        name = str(params.get("file") or "")
        if "/" in name or not name.endswith((".yaml", ".yml")):
            return [("file", "must be a file name ending in .yaml (no directory)")]
        return []

    def _path(self, ctx: ActionContext) -> str:
        return f"{CONFIG_D}/{ctx.params.get('file') or DEFAULT_FILE}"

    async def _want(self, ctx: ActionContext) -> tuple[str | None, list[str]]:
        """(the drop-in's text, or None when there is nothing to write; notes)."""
        k = await read_k3s(ctx)
        role = role_of(k)
        notes = [] if k is not None else ["# no k3s unit or /etc/rancher/k3s found: written anyway"]
        if k is not None and role is None:
            notes.append("# k3s role unknown: treated as a server")
        kept, skipped = split_settings(dict(ctx.params.get("settings") or {}), role)
        notes += skipped
        if not kept:
            return None, notes
        text = drop_in_text(kept)
        return (None if hostfiles.read(ctx, self._path(ctx)) == text else text), notes

    async def plan(self, ctx: ActionContext) -> list[str]:
        text, notes = await self._want(ctx)
        path = self._path(ctx)
        if text is None:
            if hostfiles.read(ctx, path) is not None and not any("belong" in n for n in notes):
                notes.append(f"# {hostfiles.shown(ctx, path)} already says so")
            return notes
        shown = hostfiles.shown(ctx, path)
        # One pasteable entry: the here-doc is part of the command.
        write = f"mkdir -p {hostfiles.shown(ctx, CONFIG_D)} && cat > {shown} <<'EOF'\n{text}EOF"
        return [*notes, write, "# k3s reads it when it restarts (a later step asks)"]

    async def backup(self, ctx: ActionContext) -> list[Path]:
        path = self._path(ctx)
        ctx.backup_dir.mkdir(parents=True, exist_ok=True)
        if hostfiles.read(ctx, path) is not None:
            return [hostfiles.save_copy(ctx, path, ctx.backup_dir)]
        absent = ctx.backup_dir / (path.strip("/").replace("/", "_") + ".absent")
        absent.write_text(f"{path} did not exist before this step: undo = rm it\n")
        return [absent]

    async def run(self, ctx: ActionContext) -> ActionResult:
        text, notes = await self._want(ctx)
        for n in notes:
            ctx.out(n.lstrip("# "))
        if text is None:
            return ActionResult(ok=True, data={"written": False})
        hostfiles.write(ctx, self._path(ctx), text)
        ctx.out(
            f"wrote {hostfiles.host_file(ctx, self._path(ctx))}: takes effect when k3s restarts"
        )
        return ActionResult(ok=True, changed=True, data={"written": True, "restart_needed": True})
