"""k3s.hook: a systemd drop-in so stopping k3s cleans Cilium's links and iptables rules.

The field notes' lesson: after a hard stop/reboot, stale cilium_* links and
CILIUM_* chains break the next start. The drop-in's ExecStopPost runs ciliumtui's
node-only cleanup playbook. Idempotent: an identical drop-in is left alone.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ... import netns
from .base import Action, ActionContext, ActionResult, Param, register

DROPIN_NAME = "10-ciliumtui-cleanup.conf"


def dropin_text(command: list[str]) -> str:
    # No leading '-': with it systemd counts a failed cleanup (or a missing binary,
    # status 203/EXEC) as a success and nobody learns the hook never ran. Without it
    # the unit ends "failed (Result: exit-code)" after the stop, in `systemctl status`
    # and the journal; the stop itself is not held up (the service is already gone)
    # and the next start is not blocked.
    return (
        "# Written by ciliumtui (playbook k3s-stop-hook). When k3s stops, remove Cilium's\n"
        "# links, iptables chains/rules and ip rule, so the next start is clean.\n"
        "# A failed cleanup marks the unit failed (systemctl status k3s shows it).\n"
        "[Service]\n"
        f"ExecStopPost={shlex.join(command)}\n"
    )


@register
class K3sHook(Action):
    name = "k3s.hook"
    host_files_only = True
    summary = "install a k3s.service drop-in whose ExecStopPost cleans Cilium's node state"
    mutates = True
    needs_root = True
    default_risk = "low"
    params = {
        "unit": Param("str", default="k3s.service", help="k3s.service or k3s-agent.service"),
        "command": Param("list", help="cleanup argv (default: ciliumtui run cleanup-node --yes)"),
        "binary": Param(
            "str", help="the node's ciliumtui (default: the running one, if on the node)"
        ),
    }

    def _path(self, ctx: ActionContext) -> Path:
        unit = ctx.params.get("unit") or "k3s.service"
        return ctx.opts.host_path(f"/etc/systemd/system/{unit}.d/{DROPIN_NAME}")

    def _text(self, ctx: ActionContext) -> str:
        from .hookbin import hook_command  # an executable that exists on the node, or refused

        p = ctx.params
        return dropin_text(hook_command(ctx.opts, p.get("binary") or None, p.get("command")))

    def _reload_reason(self, ctx: ActionContext) -> str | None:
        """Why daemon-reload is skipped, or None when it will run."""
        if Path(ctx.opts.host_root).resolve() != Path("/"):
            return f"host root is {ctx.opts.host_root}, not this system"
        if not Path("/run/systemd/system").is_dir():
            return "systemd is not running here"
        return None

    async def plan(self, ctx: ActionContext) -> list[str]:
        path = self._path(ctx)
        if path.is_file() and path.read_text() == self._text(ctx):
            return [f"{path}: already installed (nothing to do)"]
        lines = [f"write {path}:"] + ["    " + x for x in self._text(ctx).splitlines()]
        why = self._reload_reason(ctx)
        lines.append(
            "systemctl daemon-reload" if why is None else f"skip systemctl daemon-reload ({why})"
        )
        return lines

    async def backup(self, ctx: ActionContext) -> list[Path]:
        path = self._path(ctx)
        ctx.backup_dir.mkdir(parents=True, exist_ok=True)
        saved = ctx.backup_dir / (DROPIN_NAME + (".orig" if path.is_file() else ".absent"))
        saved.write_text(path.read_text() if path.is_file() else "")
        return [saved]

    async def run(self, ctx: ActionContext) -> ActionResult:
        path = self._path(ctx)
        text = self._text(ctx)
        if path.is_file() and path.read_text() == text:
            ctx.out(f"{path}: already installed")
            return ActionResult(ok=True, rc=0, changed=False, data={"path": str(path)})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)  # atomic: systemd never reads half a file
        ctx.out(f"wrote {path}")
        if ctx.opts.recorded_node:  # training without root: the node's host facts are a JSON file
            from ...training import recorded

            recorded.set_stop_hook(ctx.opts.recorded_node, True)
            ctx.out(f"stop hook recorded {recorded.SIMULATED}")
        why = self._reload_reason(ctx)
        if why is None:
            res = await netns.run(["systemctl", "daemon-reload"], timeout=30)
            ctx.out(f"systemctl daemon-reload: exit {res.rc}")
            if res.rc != 0:
                return ActionResult(
                    ok=False,
                    rc=res.rc,
                    changed=True,
                    message=f"systemctl daemon-reload failed: {res.stderr.strip()}",
                )
        else:
            ctx.out(f"skipped systemctl daemon-reload: {why}")
        return ActionResult(ok=True, rc=0, changed=True, data={"path": str(path)})
