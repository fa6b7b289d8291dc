"""link.delete: remove Cilium's network links (cilium_host, cilium_net, lxc…).

Only names ownership.is_cilium_link accepts are ever deleted (a Cilium veth's
other end, which Cilium created with it, goes with it: the plan says so).

Deleting links one by one costs the kernel an RCU grace period each (~20 ms per
veth). Instead the links are moved into a fresh link group (one `ip -batch`) and
the group is deleted with ONE `ip link delete group G`, which the kernel
unregisters as a batch. Between the two the group is read back: it must hold
only the links marked, else they are put back and nothing is deleted.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

from ...errors import CiliumtuiError
from ...model import Link
from ...node.backend import Command, CommandFailed, render
from ...ownership import is_cilium_link
from .base import Action, ActionContext, ActionResult, Param, register


def choose_links(links: list[Link], wanted: str | list[str]) -> tuple[list[str], list[str]]:
    """(names to delete, notes) from the node's links and the links param.

    Only names ownership.is_cilium_link accepts are chosen. A Cilium veth's other
    end in this namespace (Link.peer is only set then) goes with it; the notes say so.
    """
    by_name = {link.name: link for link in links}
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
        peer = by_name[name].peer
        if peer and peer in by_name and not is_cilium_link(peer):
            notes.append(f"# {name}: its veth peer {peer} goes with it")
    return delete, notes


def free_group() -> int:
    """A link group number no one uses (groups of a fresh node are all 0)."""
    return random.randint(100_000, 2**31 - 1)


def mark(names: list[str], group: int) -> Command:
    # -force: a link that vanished meanwhile (a veth's peer) does not stop the rest.
    body = "".join(f"link set {n} group {group}\n" for n in names)
    return Command(("ip", "-force", "-batch", "-"), body.encode())


def delete_group(group: int) -> Command:
    return Command(("ip", "link", "delete", "group", str(group)))


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

    def __init__(self) -> None:
        self._planned: tuple[list[str], int] | None = None

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
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
        return choose_links(await ctx.backend.links(), ctx.params.get("links", "all-cilium"))

    async def plan(self, ctx: ActionContext) -> list[str]:
        delete, notes = await self._choose(ctx)
        if not delete:
            return []
        group = free_group()
        self._planned = (delete, group)
        check = f"# between the two the group is read back: only these {len(delete)} links"
        return render(ctx.backend, [mark(delete, group), delete_group(group)], [check, *notes])

    async def backup(self, ctx: ActionContext) -> list[Path]:
        """Links cannot be put back, but what they were is kept as evidence."""
        ctx.backup_dir.mkdir(parents=True, exist_ok=True)
        out = []
        for fname, read in (("links.json", ctx.backend.links), ("routes.json", ctx.backend.routes)):
            path = ctx.backup_dir / fname
            path.write_text(json.dumps([dataclasses.asdict(x) for x in await read()], indent=1))
            out.append(path)
        return out

    async def run(self, ctx: ActionContext) -> ActionResult:
        if self._planned is not None:  # exactly what the plan showed
            (delete, group), self._planned = self._planned, None
        else:
            delete, notes = await self._choose(ctx)
            for line in notes:
                ctx.out(line)
            group = free_group()
        if not delete:
            ctx.out("no Cilium links to delete")
            return ActionResult(ok=True, rc=0, data={"deleted": [], "gone": []})
        node = ctx.backend
        try:
            await node.run(mark(delete, group))
        except CommandFailed as exc:  # some vanished meanwhile: the group says what is left
            ctx.out(f"(marking: {exc})")
        members = await node.link_group(group)
        if not members <= set(delete):
            # Not ours (a group number someone else uses): put them back, delete nothing.
            back = "".join(f"link set {n} group 0\n" for n in sorted(members & set(delete)))
            if back:
                await node.run(Command(("ip", "-force", "-batch", "-"), back.encode()))
            raise CiliumtuiError(
                f"link group {group} holds links that are not ours: {sorted(members - set(delete))}"
            )
        failed: CommandFailed | None = None
        if members:
            try:
                await node.run(delete_group(group))
            except CommandFailed as exc:  # e.g. "No such device": they went meanwhile
                failed = exc
        left = await node.link_group(group)
        if left:
            why = f" ({failed})" if failed else ""
            raise CiliumtuiError(
                f"still present after `link delete group {group}`: {sorted(left)}{why}"
            )
        deleted = [n for n in delete if n in members]
        gone = [n for n in delete if n not in members]
        ctx.out(
            f"deleted {len(deleted)} links: {', '.join(deleted[:12])}"
            + (" …" if len(deleted) > 12 else "")
        )
        if gone:
            ctx.out(f"already gone (veth peers): {', '.join(gone)}")
        return ActionResult(
            ok=True, rc=0, changed=bool(deleted), data={"deleted": deleted, "gone": gone}
        )
