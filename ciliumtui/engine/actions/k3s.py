"""k3s.hook: a systemd drop-in so stopping k3s cleans Cilium's links and iptables rules.

The field notes' lesson: after a hard stop/reboot, stale cilium_* links and
CILIUM_* chains break the next start. The drop-in's ExecStopPost runs ciliumtui's
node-only cleanup playbook. Idempotent: an identical drop-in is left alone.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ...node.backend import Command, CommandFailed, shell_text
from .base import Action, ActionContext, ActionResult, Param, register

DROPIN_NAME = "10-ciliumtui-cleanup.conf"
RELOAD = Command(("systemctl", "daemon-reload"), where="host")


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

    def _node_path(self, ctx: ActionContext) -> str:
        unit = ctx.params.get("unit") or "k3s.service"
        return f"/etc/systemd/system/{unit}.d/{DROPIN_NAME}"

    def _path(self, ctx: ActionContext) -> Path:
        return ctx.backend.host_path(self._node_path(ctx))

    def _text(self, ctx: ActionContext) -> str:
        from .hookbin import hook_command  # an executable that exists on the node, or refused

        p = ctx.params
        return dropin_text(hook_command(ctx.opts, p.get("binary") or None, p.get("command")))

    def _reload_reason(self, ctx: ActionContext) -> str | None:
        """Why daemon-reload is skipped, or None when it will run."""
        if Path(ctx.backend.host_root).resolve() != Path("/"):
            return f"host root is {ctx.backend.host_root}, not this system"
        if not Path("/run/systemd/system").is_dir():
            return "systemd is not running here"
        return None

    async def plan(self, ctx: ActionContext) -> list[str]:
        path = self._path(ctx)
        if path.is_file() and path.read_text() == self._text(ctx):
            return []  # already installed: nothing to do
        # What runs writes exactly these bytes (atomically: a temp file renamed over it).
        q = shlex.quote
        write = f"mkdir -p {q(str(path.parent))} && cat > {q(str(path))} <<'EOF'\n"
        write += self._text(ctx) + "EOF"
        why = self._reload_reason(ctx)
        reload = (
            shell_text(ctx.backend.argv(RELOAD))
            if why is None
            else f"# skipped: systemctl daemon-reload ({why})"
        )
        return [write, reload, *ctx.backend.plan_notes()]

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
        written = await ctx.backend.write_host_file(self._node_path(ctx), text.encode())
        ctx.out(f"wrote {written}")
        why = self._reload_reason(ctx)
        if why is None:
            try:
                await ctx.backend.run(RELOAD, timeout=30)
            except CommandFailed as exc:
                return ActionResult(ok=False, rc=exc.rc, changed=True, message=str(exc))
            ctx.out("systemctl daemon-reload: done")
        else:
            ctx.out(f"skipped systemctl daemon-reload: {why}")
        return ActionResult(ok=True, rc=0, changed=True, data={"path": str(path)})
