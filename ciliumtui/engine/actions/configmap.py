"""configmap.patch: set keys of a ConfigMap's data (cilium-config without helm: the
pool, `mtu`), backed up first, shown as the `kubectl patch` that does the same.

Keys that already hold the wanted value are not sent; when none is left the plan
is empty (nothing to do). Cilium reads cilium-config when it starts: the playbook
restarts the operator / agents after this step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import kubeobj
from .base import Action, ActionContext, ActionResult, Param, register


def changes(current: dict[str, Any] | None, wanted: dict[str, Any]) -> dict[str, str]:
    """The keys of `wanted` whose value differs from the ConfigMap's (as strings: a
    ConfigMap holds text)."""
    current = current or {}
    return {str(k): str(v) for k, v in wanted.items() if str(current.get(k, "")) != str(v)}


def change_notes(current: dict[str, Any] | None, diff: dict[str, str]) -> list[str]:
    current = current or {}
    out = []
    for key, new in diff.items():
        old = current.get(key)
        out.append(
            f"# {key}: {old!r} -> {new!r}" if old is not None else f"# {key}: (unset) -> {new!r}"
        )
    return out


@register
class ConfigMapPatch(Action):
    name = "configmap.patch"
    summary = "set keys of a ConfigMap's data (merge patch); backs the ConfigMap up first"
    mutates = True
    default_risk = "high"
    requires = frozenset({"apiserver"})
    params = {
        "namespace": Param("str", default="kube-system"),
        "name": Param("str", required=True, help="the ConfigMap"),
        "data": Param("map", required=True, help="key: value (values are text)"),
    }

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        data = params.get("data")
        if isinstance(data, dict) and not data:
            return [("data", "must name at least one key")]
        return []

    async def _read(self, ctx: ActionContext) -> tuple[kubeobj.Ref, dict[str, Any]]:
        p = ctx.params
        return await kubeobj.get(ctx, kubeobj.CONFIGMAP, p.get("namespace"), str(p["name"]))

    def _wanted(self, ctx: ActionContext) -> dict[str, Any]:
        """The keys to set; a key whose value rendered empty stays as it is (an
        optional value the playbook did not get, e.g. the IPv6 pool)."""
        data = ctx.params.get("data") or {}
        return {k: v for k, v in data.items() if v is not None and str(v).strip() != ""}

    async def plan(self, ctx: ActionContext) -> list[str]:
        ref, obj = await self._read(ctx)
        current = obj.get("data") or {}
        wanted = self._wanted(ctx)
        skipped = [
            f"# {k}: unchanged (no value given)"
            for k in ctx.params.get("data") or {}
            if k not in wanted
        ]
        diff = changes(current, wanted)
        if not diff:
            keys = ", ".join(str(k) for k in wanted) or "nothing to set"
            return [*skipped, f"# {ref.label} already as wanted ({keys})"]
        return [*skipped, *change_notes(current, diff), kubeobj.kubectl_patch(ref, {"data": diff})]

    async def backup(self, ctx: ActionContext) -> list[Path]:
        ref, obj = await self._read(ctx)
        return [kubeobj.save(ctx, ref, obj)]

    async def run(self, ctx: ActionContext) -> ActionResult:
        ref, obj = await self._read(ctx)
        diff = changes(obj.get("data") or {}, self._wanted(ctx))
        if not diff:
            ctx.out(f"{ref.label}: nothing to change")
            return ActionResult(ok=True, data={"changed_keys": []})
        await kubeobj.patch(ctx, ref, {"data": diff})
        for key, value in diff.items():
            ctx.out(f"{ref.label}: {key} = {value}")
        return ActionResult(ok=True, changed=True, data={"changed_keys": sorted(diff)})
