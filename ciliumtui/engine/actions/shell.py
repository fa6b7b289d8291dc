"""shell / shell.read: run one argv (never through a shell), inside --netns by default.

The argv is the plan: shown exactly as it runs (through the node's backend).
`shell` counts as mutating; `shell.read` is for commands the playbook author
vouches only read. `in_netns: false` runs it on the host (helm, kubectl).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from ...node.backend import Command, CommandFailed, render
from .base import Action, ActionContext, ActionResult, Param, register


class _Shell(Action):
    params = {
        "argv": Param("list", required=True, help="the command, as a list"),
        "in_netns": Param("bool", default=True, help="run inside --netns when one is given"),
        "check": Param("bool", default=True, help="a non-zero exit fails the step"),
    }

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        argv = params.get("argv")
        if isinstance(argv, list) and not argv:
            return [("argv", "must not be empty")]
        return []

    def _command(self, ctx: ActionContext) -> Command:
        argv = tuple(str(a) for a in ctx.params["argv"])
        return Command(argv, where="netns" if ctx.params.get("in_netns", True) else "host")

    async def plan(self, ctx: ActionContext) -> list[str]:
        return render(ctx.backend, [self._command(ctx)])

    async def run(self, ctx: ActionContext) -> ActionResult:
        rc, err = 0, ""
        try:
            out = (await ctx.backend.run(self._command(ctx), timeout=3600)).decode(errors="replace")
        except CommandFailed as exc:
            rc, out, err = exc.rc, exc.stdout, exc.stderr
        for line in (out + err).splitlines()[-50:]:
            ctx.out(line)
        ok = rc == 0 or not ctx.params.get("check", True)
        data: dict[str, Any] = {"rc": rc, "stdout": out, "stderr": err}
        with contextlib.suppress(ValueError):
            data["json"] = json.loads(out)
        return ActionResult(
            ok=ok,
            rc=rc,
            stdout=out,
            data=data,
            changed=self.mutates,
            message="" if ok else f"exit {rc}: {err.strip()[-300:]}",
        )


@register
class Shell(_Shell):
    name = "shell"
    summary = "run a command (argv list, no shell); shown before it runs"
    mutates = True
    default_risk = "high"


@register
class ShellRead(_Shell):
    name = "shell.read"
    summary = "run a read-only command (argv list); runs in dry-run too"
    mutates = False
