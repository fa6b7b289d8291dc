"""shell / shell.read: run one argv (never through a shell), inside --netns by default.

The argv is the plan: shown exactly before it runs. `shell` counts as mutating;
`shell.read` is for commands the playbook author vouches only read.
"""

from __future__ import annotations

from ... import netns
from .base import Action, ActionContext, ActionResult, Param, register


class _Shell(Action):
    params = {
        "argv": Param("list", required=True, help="the command, as a list"),
        "in_netns": Param("bool", default=True, help="run inside --netns when one is given"),
        "check": Param("bool", default=True, help="a non-zero exit fails the step"),
    }

    @classmethod
    def check_params(cls, params: dict) -> list[tuple[str, str]]:
        argv = params.get("argv")
        if isinstance(argv, list) and not argv:
            return [("argv", "must not be empty")]
        return []

    def _argv(self, ctx: ActionContext) -> list[str]:
        argv = [str(a) for a in ctx.params["argv"]]
        return netns.ns_argv(ctx.netns if ctx.params.get("in_netns", True) else None, argv)

    async def plan(self, ctx: ActionContext) -> list[str]:
        import shlex

        return [shlex.join(self._argv(ctx))]

    async def run(self, ctx: ActionContext) -> ActionResult:
        argv = [str(a) for a in ctx.params["argv"]]
        ns = ctx.netns if ctx.params.get("in_netns", True) else None
        res = await netns.run(argv, netns=ns, timeout=3600)
        for line in (res.stdout + res.stderr).splitlines()[-50:]:
            ctx.out(line)
        ok = res.rc == 0 or not ctx.params.get("check", True)
        data = {"rc": res.rc, "stdout": res.stdout, "stderr": res.stderr}
        try:
            import json

            data["json"] = json.loads(res.stdout)
        except ValueError:
            pass
        return ActionResult(
            ok=ok,
            rc=res.rc,
            stdout=res.stdout,
            data=data,
            changed=self.mutates,
            message="" if ok else f"exit {res.rc}",
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
