"""link.delete: remove Cilium's network links (cilium_host, cilium_net, lxc…) with pyroute2.

Only names ownership.is_cilium_link accepts are ever deleted (a Cilium veth's
other end, which Cilium created with it, goes with it: the plan says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import random
import subprocess
from pathlib import Path
from typing import Any

from ... import netns
from ...errors import CiliumtuiError
from ...ownership import is_cilium_link
from .base import Action, ActionContext, ActionResult, Param, register


async def ip_json(ctx_netns: str | None, *args: str) -> Any:
    res = await netns.run(["ip", "-j", *args], netns=ctx_netns, timeout=30)
    if res.rc != 0:
        raise CiliumtuiError(f"ip -j {' '.join(args)}: {res.stderr.strip() or f'exit {res.rc}'}")
    return json.loads(res.stdout or "[]")


def choose_links(
    links: list[dict[str, Any]], wanted: str | list[str]
) -> tuple[list[str], list[str]]:
    """(names to delete, notes) from `ip -j link` output and the links param.

    Only names ownership.is_cilium_link accepts are chosen. A Cilium veth's other
    end (a pod's eth0, or a peer in this namespace) was created by Cilium with it
    and goes with it; the notes say so.
    """
    by_name = {link.get("ifname"): link for link in links if link.get("ifname")}
    if wanted == "all-cilium":
        names = [n for n in by_name if is_cilium_link(n)]
    else:
        names = [n for n in wanted if n in by_name]
    delete, notes = [], []
    for name in names:
        if not is_cilium_link(name):
            notes.append(f"# {name}: not a Cilium link, refused")
            continue
        delete.append(name)
        link = by_name[name]
        peer = link.get("link")
        # `link` names the peer when it lives in this namespace (else link_netnsid is set)
        if peer and "link_netnsid" not in link and peer in by_name and not is_cilium_link(peer):
            notes.append(f"# {name}: its veth peer {peer} goes with it")
    return delete, notes


def _free_group(links: list[dict[str, Any]]) -> int:
    used = {link.get("group") for link in links}
    while True:
        group = random.randint(100_000, 2**31 - 1)
        if group not in used and str(group) not in used:
            return group


def _delete_in_thread(ns: str | None, names: list[str], group: int) -> tuple[list[str], list[str]]:
    """Runs in a worker thread: a sync IPRoute cannot be built on a running loop.

    Deleting links one by one costs the kernel an RCU grace period each (~20 ms per
    veth). Instead the links are moved into a fresh link group and the group is
    deleted with ONE RTM_DELLINK, which the kernel unregisters as a batch.
    """
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    marked, gone = [], []
    kwargs: dict[str, Any] = {"netns": ns, "flags": 0} if ns else {}
    with IPRoute(**kwargs) as ipr:
        for name in names:
            try:
                ipr.link("set", ifname=name, group=group)
                marked.append(name)
            except NetlinkError as exc:
                if exc.code in (errno.ENODEV, errno.ENOENT):
                    gone.append(name)  # e.g. the peer of a veth deleted just before
                else:
                    raise CiliumtuiError(f"marking link {name} for deletion: {exc}") from None
        if not marked:
            return [], gone
        # Safety: the group must hold exactly the links we marked before it is deleted.
        # (`ip -j link show group N` prints {} for every link outside the group.)
        res = subprocess.run(
            netns.ns_argv(ns, ["ip", "-j", "link", "show", "group", str(group)]),
            capture_output=True,
            text=True,
            timeout=30,
        )
        members = (
            {x["ifname"] for x in json.loads(res.stdout or "[]") if x.get("ifname")}
            if res.returncode == 0
            else None
        )
        if members is None or not members <= set(marked):
            for name in marked:  # put them back; delete nothing
                with contextlib.suppress(NetlinkError):
                    ipr.link("set", ifname=name, group=0)
            raise CiliumtuiError(
                f"link group {group} holds links that are not ours: {sorted(members or [])}"
            )
        ipr.link("del", group=group)
    return marked, gone


@register
class LinkDelete(Action):
    name = "link.delete"
    requires = frozenset({"ip"})
    summary = (
        "delete Cilium's links (cilium_host/net/vxlan, lxc*, lxc_health); refuses any other name"
    )
    mutates = True
    needs_root = True
    default_risk = "high"
    params = {
        "links": Param("any", default="all-cilium", help="all-cilium, or a list of link names")
    }

    @classmethod
    def check_params(cls, params: dict) -> list[tuple[str, str]]:
        links = params.get("links")
        if isinstance(links, str) and "{{" in links:
            return []
        if links == "all-cilium":
            return []
        if not isinstance(links, list) or not all(isinstance(x, str) for x in links):
            return [("links", "must be 'all-cilium' or a list of link names")]
        bad = [x for x in links if "{{" not in x and not is_cilium_link(x)]
        if bad:
            return [("links", f"not Cilium's, refused: {', '.join(bad)}")]
        return []

    async def _choose(self, ctx: ActionContext) -> tuple[list[str], list[str]]:
        links = await ip_json(ctx.netns, "-d", "link", "show")
        return choose_links(links, ctx.params.get("links", "all-cilium"))

    async def plan(self, ctx: ActionContext) -> list[str]:
        if ctx.opts.recorded_node:  # training without root: the node is a JSON file
            from ...training import recorded

            return recorded.plan_links(ctx.opts.recorded_node)
        delete, notes = await self._choose(ctx)
        where = f" in netns {ctx.netns}" if ctx.netns else ""
        lines = [f"ip link delete {n}{where}" for n in delete] or ["no Cilium links present"]
        return lines + notes

    async def backup(self, ctx: ActionContext) -> list[Path]:
        """Links cannot be put back, but what they were is kept as evidence."""
        if ctx.opts.recorded_node:
            from ...training import recorded

            return recorded.backup_file(ctx.opts.recorded_node, ctx.backup_dir)
        ctx.backup_dir.mkdir(parents=True, exist_ok=True)
        out = []
        for fname, args in (
            ("links.json", ("-d", "link", "show")),
            ("addresses.json", ("addr", "show")),
            ("routes.json", ("route", "show", "table", "all")),
        ):
            data = await ip_json(ctx.netns, *args)
            path = ctx.backup_dir / fname
            path.write_text(json.dumps(data, indent=1))
            out.append(path)
        return out

    async def run(self, ctx: ActionContext) -> ActionResult:
        if ctx.opts.recorded_node:
            from ...training import recorded

            return recorded.run_links(ctx.opts.recorded_node, ctx.out)
        delete, notes = await self._choose(ctx)
        for line in notes:
            ctx.out(line)
        if not delete:
            ctx.out("no Cilium links to delete")
            return ActionResult(ok=True, rc=0, data={"deleted": []})
        links = await ip_json(ctx.netns, "link", "show")
        deleted, gone = await asyncio.to_thread(
            _delete_in_thread, ctx.netns, delete, _free_group(links)
        )
        ctx.out(
            f"deleted {len(deleted)} links: {', '.join(deleted[:12])}{' …' if len(deleted) > 12 else ''}"
        )
        if gone:
            ctx.out(f"already gone (veth peers): {', '.join(gone)}")
        return ActionResult(
            ok=True,
            rc=0,
            changed=bool(deleted),
            data={"deleted": deleted, "gone": gone},
        )
