"""helm.release (is Cilium a helm release here?) and helm.upgrade (change values of
that release, nothing else).

A playbook applies a Cilium setting with helm when helm AND the release exist
(`helm.release` detects both), else by patching cilium-config (`configmap.patch`):
a later `helm upgrade` would otherwise put the old value back.

`helm.upgrade` runs exactly the argv its plan prints (shell-quoted with shlex, so
the line pastes into bash, zsh or dash): the release's own chart at its own
version (`--version`: an upgrade must change values, not Cilium), `--reuse-values`
so every other value stays, and one `--set` per changed value — a list in helm's
`{a,b}` syntax (`ipam.operator.clusterPoolIPv4PodCIDRList` is a list; the `[0]=`
form would keep any further entries of the old list). Values that already hold
what is wanted are not set; when none is left, nothing runs. The release's values
and revision are backed up first, with the `helm rollback` line that undoes it.
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import netns
from ...errors import CiliumtuiError
from .base import Action, ActionContext, ActionResult, Param, register

CILIUM_REPO_URL = "https://helm.cilium.io/"
HELM_TIMEOUT = 60.0  # a status/values read
UPGRADE_TIMEOUT = 600.0  # an upgrade renders and applies the whole chart


def kube_flags(ctx: ActionContext) -> list[str]:
    """helm's own flags for the kubeconfig/context ciliumtui uses (so helm talks to
    the same cluster); none when in-cluster."""
    from ...cluster.client import find_kubeconfig

    out: list[str] = []
    path = find_kubeconfig(ctx.opts).path
    if path:
        out += ["--kubeconfig", path]
    if ctx.opts.context:
        out += ["--kube-context", ctx.opts.context]
    return out


def lookup(values: dict[str, Any], dotted: str) -> Any:
    """values['a']['b'] for 'a.b' (None when absent)."""
    cur: Any = values
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def set_value(value: Any) -> str:
    """A value as `--set` writes it: a list as {a,b}; commas in a scalar escaped."""
    if isinstance(value, (list, tuple)):
        return "{" + ",".join(str(v).replace(",", "\\,") for v in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).replace(",", "\\,")


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (list, tuple)):
        return not [v for v in value if v is not None and str(v).strip()]
    return str(value).strip() == ""


def same(current: Any, wanted: Any) -> bool:
    """Does the release already hold `wanted`? (compared as text: values files mix
    1450 and "1450")."""
    if isinstance(wanted, (list, tuple)):
        return isinstance(current, list) and [str(x) for x in current] == [str(x) for x in wanted]
    if isinstance(current, (list, dict)):
        return False
    return current is not None and str(current).lower() == set_value(wanted).lower()


@dataclass
class Release:
    present: bool
    why: str = ""  # when not present: helm missing, no such release
    name: str = ""
    namespace: str = ""
    chart: str | None = None  # chart name, "cilium"
    chart_version: str | None = None  # "1.18.4"
    revision: int | None = None
    status: str | None = None  # deployed | failed | pending-upgrade ...
    values: dict[str, Any] = field(default_factory=dict)  # computed (--all)
    repo: str | None = None  # name of a configured repo serving Cilium's charts

    def to_json(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "why": self.why,
            "release": self.name,
            "namespace": self.namespace,
            "chart": self.chart,
            "chart_version": self.chart_version,
            "revision": self.revision,
            "status": self.status,
            "values": self.values,
            "repo": self.repo,
        }


async def _helm(ctx: ActionContext, *args: str, timeout: float = HELM_TIMEOUT) -> netns.Completed:
    return await netns.run(["helm", *args, *kube_flags(ctx)], timeout=timeout)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


async def find_release(ctx: ActionContext, name: str, namespace: str) -> Release:
    """Whether `name` is a helm release in `namespace`, and what it is."""
    if shutil.which("helm") is None:
        return Release(False, "helm is not installed (not in PATH)", name, namespace)
    st = await _helm(ctx, "status", name, "--namespace", namespace, "-o", "json")
    if st.rc != 0:
        why = (st.stderr.strip().splitlines() or [f"exit {st.rc}"])[-1]
        return Release(False, f"no helm release {name} in {namespace} ({why})", name, namespace)
    status = _json(st.stdout)
    status = status if isinstance(status, dict) else {}
    meta = (status.get("chart") or {}).get("metadata") or {}
    rel = Release(
        True,
        name=name,
        namespace=namespace,
        chart=meta.get("name"),
        chart_version=meta.get("version"),
        revision=status.get("version") if isinstance(status.get("version"), int) else None,
        status=(status.get("info") or {}).get("status"),
    )
    vals = await _helm(ctx, "get", "values", name, "--namespace", namespace, "--all", "-o", "json")
    got = _json(vals.stdout) if vals.rc == 0 else None
    rel.values = got if isinstance(got, dict) else {}
    repos = await netns.run(["helm", "repo", "list", "-o", "json"], timeout=HELM_TIMEOUT)
    listed = _json(repos.stdout) if repos.rc == 0 else None
    for repo in listed if isinstance(listed, list) else []:
        if isinstance(repo, dict) and "helm.cilium.io" in str(repo.get("url", "")):
            rel.repo = str(repo.get("name"))
            break
    return rel


@register
class HelmRelease(Action):
    name = "helm.release"
    summary = "is Cilium installed as a helm release? (helm present, the release, its chart version and values)"
    params = {
        "release": Param("str", default="cilium"),
        "namespace": Param("str", default="kube-system"),
    }

    async def run(self, ctx: ActionContext) -> ActionResult:
        rel = await find_release(
            ctx, str(ctx.params.get("release") or "cilium"), str(ctx.params.get("namespace"))
        )
        if rel.present:
            ctx.out(
                f"helm release {rel.name} in {rel.namespace}: chart {rel.chart or '?'} "
                f"{rel.chart_version or '?'}, revision {rel.revision}, {rel.status or 'status ?'}"
            )
            ctx.out("the change is made with helm upgrade (the release keeps it)")
        else:
            ctx.out(f"{rel.why}: the change is made in the cilium-config ConfigMap instead")
        return ActionResult(ok=True, data=rel.to_json())


@register
class HelmUpgrade(Action):
    name = "helm.upgrade"
    summary = "helm upgrade the release with changed values only (its chart, its version, --reuse-values); backs up its values"
    mutates = True
    default_risk = "high"
    requires = frozenset({"apiserver"})
    params = {
        "release": Param("str", default="cilium"),
        "namespace": Param("str", default="kube-system"),
        "set": Param("map", required=True, help="dotted value: value (a list becomes {a,b})"),
        "chart": Param(
            "str",
            help="chart reference (default: <repo>/cilium of a configured repo serving "
            "helm.cilium.io, else cilium --repo https://helm.cilium.io/)",
        ),
        "version": Param("str", help="chart version (default: the release's own)"),
    }

    async def _release(self, ctx: ActionContext) -> Release:
        rel = await find_release(
            ctx, str(ctx.params.get("release") or "cilium"), str(ctx.params.get("namespace"))
        )
        if not rel.present:
            raise CiliumtuiError(rel.why)
        return rel

    def _argv(self, ctx: ActionContext, rel: Release) -> tuple[list[str], list[str]]:
        """(argv, notes); argv is [] when every value already holds what is wanted."""
        notes: list[str] = []
        sets: list[str] = []
        for key, wanted in (ctx.params.get("set") or {}).items():
            if _empty(wanted):
                notes.append(f"# {key}: unchanged (no value given)")
                continue
            current = lookup(rel.values, str(key))
            if same(current, wanted):
                notes.append(f"# {key}: already {set_value(wanted)}")
                continue
            notes.append(f"# {key}: {json.dumps(current)} -> {set_value(wanted)}")
            sets += ["--set", f"{key}={set_value(wanted)}"]
        if not sets:
            return [], notes
        chart_args: list[str]
        if ctx.params.get("chart"):
            chart_args = [str(ctx.params["chart"])]
        elif rel.repo:
            chart_args = [f"{rel.repo}/{rel.chart or 'cilium'}"]
        else:
            chart_args = [rel.chart or "cilium", "--repo", CILIUM_REPO_URL]
        version = ctx.params.get("version") or rel.chart_version
        argv = ["helm", "upgrade", rel.name, *chart_args, "--namespace", rel.namespace]
        if version:
            argv += ["--version", str(version)]
            notes.append(f"# chart version {version} kept: only the values change")
        else:
            notes.append("# the release's chart version is unknown: helm takes the newest chart")
        argv += ["--reuse-values", *sets, *kube_flags(ctx)]
        return argv, notes

    async def plan(self, ctx: ActionContext) -> list[str]:
        rel = await self._release(ctx)
        argv, notes = self._argv(ctx, rel)
        return [*notes, shlex.join(argv)] if argv else notes

    async def backup(self, ctx: ActionContext) -> list[Path]:
        rel = await self._release(ctx)
        ctx.backup_dir.mkdir(parents=True, exist_ok=True)
        got = await _helm(
            ctx, "get", "values", rel.name, "--namespace", rel.namespace, "-o", "yaml"
        )
        if got.rc != 0:
            raise CiliumtuiError(f"helm get values {rel.name}: {got.stderr.strip() or got.rc}")
        values = ctx.backup_dir / f"helm-values-{rel.name}-rev{rel.revision}.yaml"
        values.write_text(got.stdout)
        undo = ctx.backup_dir / "undo.sh"
        rollback = ["helm", "rollback", rel.name, str(rel.revision), "--namespace", rel.namespace]
        undo.write_text(
            "#!/bin/sh\n# Written by ciliumtui: puts the release back at the revision before "
            "the upgrade.\n" + shlex.join([*rollback, *kube_flags(ctx)]) + "\n"
        )
        undo.chmod(0o700)
        return [values, undo]

    async def run(self, ctx: ActionContext) -> ActionResult:
        rel = await self._release(ctx)
        argv, _ = self._argv(ctx, rel)
        if not argv:
            ctx.out(f"helm release {rel.name}: values already as wanted")
            return ActionResult(ok=True)
        ctx.out(f"$ {shlex.join(argv)}")
        res = await netns.run(argv, timeout=UPGRADE_TIMEOUT)
        for line in (res.stdout + res.stderr).splitlines()[-20:]:
            ctx.out(line)
        if res.rc != 0:
            last = (res.stderr.strip().splitlines() or [f"exit {res.rc}"])[-1]
            return ActionResult(ok=False, rc=res.rc, changed=True, message=f"helm upgrade: {last}")
        return ActionResult(ok=True, rc=0, changed=True, data={"argv": argv})
