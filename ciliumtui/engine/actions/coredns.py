"""coredns.forward: point CoreDNS's `forward .` at the real upstream resolvers (the
coredns-forward-loop fix), in the `coredns` ConfigMap's Corefile, backed up first.

The loop: CoreDNS (dnsPolicy Default) forwards to the resolv.conf kubelet gives it,
the node's; on a systemd-resolved host that names only the stub 127.0.0.53, which
inside the pod is CoreDNS itself. The upstreams are those behind the stub
(/run/systemd/resolve/resolv.conf, `HostInfo.resolved_nameservers`), else the
node's non-loopback nameservers, or the input. They go into the Corefile as
addresses, not as the path /run/systemd/resolve/resolv.conf: the CoreDNS pod does
not mount the node's /run, so that path does not exist where CoreDNS reads it.
Only targets that loop are replaced (a loopback address, or a resolv.conf file);
the forward line's options block stays. The plan shows the change as a diff and
the `kubectl patch` that makes it; CoreDNS reads its Corefile at start (the
playbook restarts it), and on k3s the coredns manifest it re-applies when k3s
starts puts `/etc/resolv.conf` back — the plan says what makes it last.
"""

from __future__ import annotations

import asyncio
import difflib
import ipaddress
import re
from pathlib import Path
from typing import Any

from ...errors import CiliumtuiError
from . import kubeobj
from .base import Action, ActionContext, ActionResult, Param, register

COREFILE = "Corefile"
RESOLVED = "/run/systemd/resolve/resolv.conf"
_FORWARD = re.compile(r"^(?P<indent>\s*)forward\s+(?P<zone>\S+)\s+(?P<rest>.*?)\s*$")


def _host(target: str) -> str:
    """The address of a forward target: dns://127.0.0.1:53, [::1]:53, 127.0.0.53."""
    t = target.split("://", 1)[-1]
    if t.startswith("["):
        return t[1:].split("]", 1)[0]
    return t.split(":", 1)[0] if t.count(":") == 1 else t


def is_loopback(target: str) -> bool:
    host = _host(target)
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loops(target: str, resolv_loops: bool = True) -> bool:
    """A forward target that leads back to CoreDNS: a loopback address, or a
    resolv.conf file when the one CoreDNS gets names only loopback (`resolv_loops`)."""
    return is_loopback(target) or (target.startswith("/") and resolv_loops)


def kubelet_resolv(k3s: bool, resolv_conf: str | None, etc: list[str], resolved: list[str]) -> str:
    """The node file CoreDNS gets as its /etc/resolv.conf (dnsPolicy Default: the
    kubelet's resolv-conf): the one set (k3s `resolv-conf`, a kubelet-arg), else
    /etc/resolv.conf — except on k3s when that names only loopback and
    systemd-resolved's file has servers: k3s then takes that one itself (a plain
    kubelet does not)."""
    if resolv_conf:
        return resolv_conf
    if k3s and etc and all(is_loopback(s) for s in etc) and resolved:
        return RESOLVED
    return "/etc/resolv.conf"


def rewrite(
    corefile: str, upstreams: list[str], zone: str = ".", resolv_loops: bool = True
) -> tuple[str, list[str]]:
    """(new Corefile, the old forward lines replaced): each `forward ZONE …` whose
    targets loop gets `upstreams` instead; targets that do not loop, and the
    options after them (`{ … }`, `policy …` inside the block), stay."""
    out, changed = [], []
    for line in corefile.splitlines(keepends=True):
        body = line.rstrip("\n")
        code, sep, comment = body.partition("#")
        m = _FORWARD.match(code)
        if not m or m.group("zone") != zone:
            out.append(line)
            continue
        words = m.group("rest").split()
        targets: list[str] = []
        tail: list[str] = []
        for i, w in enumerate(words):
            if w == "{" or w.startswith("{"):
                tail = words[i:]
                break
            targets.append(w)
        if not any(loops(t, resolv_loops) for t in targets):
            out.append(line)
            continue
        kept = [t for t in targets if not loops(t, resolv_loops)]
        new_targets = list(dict.fromkeys([*upstreams, *kept]))
        new = f"{m.group('indent')}forward {zone} {' '.join([*new_targets, *tail])}"
        if sep:
            new += f" #{comment}"
        out.append(new + ("\n" if line.endswith("\n") else ""))
        changed.append(body.strip())
    return "".join(out), changed


def diff_notes(old: str, new: str) -> list[str]:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), "Corefile", "Corefile (new)", lineterm="", n=1
    )
    return [f"# {line}" for line in lines]


def upstreams_of(resolved: list[str], nameservers: list[str]) -> list[str]:
    """The real upstreams: behind systemd-resolved's stub, else the node's own
    non-loopback nameservers."""
    for servers in (resolved, nameservers):
        real = [s for s in servers if not is_loopback(s)]
        if real:
            return real
    return []


@register
class CorednsForward(Action):
    name = "coredns.forward"
    summary = "point CoreDNS's `forward .` at the real upstream resolvers (not a loopback stub); backs up the coredns ConfigMap"
    mutates = True
    default_risk = "high"
    requires = frozenset({"apiserver"})
    params = {
        "namespace": Param("str", default="kube-system"),
        "name": Param("str", default="coredns", help="the ConfigMap holding the Corefile"),
        "upstreams": Param(
            "any",
            help="resolver addresses, a list or 'a,b' (default: behind the node's stub, else "
            "its nameservers)",
        ),
    }

    async def _upstreams(self, ctx: ActionContext) -> tuple[list[str], str]:
        raw = ctx.params.get("upstreams") or []
        words = raw.replace(",", " ").split() if isinstance(raw, str) else [str(u) for u in raw]
        given = [w.strip() for w in words if w.strip()]
        if given:
            bad = [u for u in given if is_loopback(u)]
            if bad:
                raise CiliumtuiError(f"{', '.join(bad)}: a loopback address is the loop itself")
            return given, "given"
        from ...node.host import read_host

        host = await asyncio.to_thread(read_host, ctx.opts)
        found = upstreams_of(host.resolved_nameservers, host.nameservers)
        if not found:
            raise CiliumtuiError(
                "no upstream resolver known (the node's resolv.conf names only loopback, and "
                f"{RESOLVED} none): give them with --input upstreams=IP,IP"
            )
        src = RESOLVED if upstreams_of(host.resolved_nameservers, []) else "/etc/resolv.conf"
        return found, src

    async def _change(
        self, ctx: ActionContext
    ) -> tuple[kubeobj.Ref, dict[str, Any], str, str, list[str], str, list[str]]:
        p = ctx.params
        ref, obj = await kubeobj.get(ctx, kubeobj.CONFIGMAP, p.get("namespace"), str(p.get("name")))
        old = str((obj.get("data") or {}).get(COREFILE) or "")
        if not old:
            raise CiliumtuiError(f"{ref.label} has no {COREFILE}")
        ups, src = await self._upstreams(ctx)
        new, changed = rewrite(old, ups, resolv_loops=await self._resolv_loops(ctx))
        return ref, obj, old, new, changed, src, ups

    async def _resolv_loops(self, ctx: ActionContext) -> bool:
        """Does the resolv.conf CoreDNS reads name only loopback (the loop)?"""
        from ...node import hostfs
        from ...node.host import parse_resolv, read_k3s

        root = ctx.opts.host_root

        def servers() -> list[str]:
            k3s = read_k3s(ctx.opts)
            etc = parse_resolv(hostfs.read_text(root, "/etc/resolv.conf") or "")
            resolved = parse_resolv(hostfs.read_text(root, RESOLVED) or "")
            path = kubelet_resolv(k3s is not None, k3s.resolv_conf if k3s else None, etc, resolved)
            return parse_resolv(hostfs.read_text(root, path) or "")

        found = await asyncio.to_thread(servers)
        return bool(found) and all(is_loopback(x) for x in found)

    async def plan(self, ctx: ActionContext) -> list[str]:
        ref, _obj, old, new, changed, src, ups = await self._change(ctx)
        if not changed:
            return [f"# {ref.label}: no `forward .` to a loopback resolver: nothing to change"]
        origin = "as given" if src == "given" else f"from the node's {src}"
        lines = [f"# upstreams {', '.join(ups)}: {origin}", *diff_notes(old, new)]
        lines.append(kubeobj.kubectl_patch(ref, {"data": {COREFILE: new}}))
        lines.append(
            "# CoreDNS reads its Corefile when it starts: the next step restarts it. On k3s "
            "the coredns manifest puts `forward . /etc/resolv.conf` back when k3s starts: "
            f"make that file real with k3s `resolv-conf: {RESOLVED}`"
        )
        return lines

    async def backup(self, ctx: ActionContext) -> list[Path]:
        ref, obj, *_ = await self._change(ctx)
        return [kubeobj.save(ctx, ref, obj)]

    async def run(self, ctx: ActionContext) -> ActionResult:
        ref, _obj, _old, new, changed, src, _ups = await self._change(ctx)
        if not changed:
            ctx.out(f"{ref.label}: nothing to change")
            return ActionResult(ok=True, data={"resolved": src == RESOLVED})
        await kubeobj.patch(ctx, ref, {"data": {COREFILE: new}})
        for line in changed:
            ctx.out(f"{ref.label}: replaced `{line}`")
        return ActionResult(
            ok=True,
            changed=True,
            data={"replaced": changed, "upstreams_from": src, "resolved": src == RESOLVED},
        )
