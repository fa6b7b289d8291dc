"""Netlink events applied as deltas to the links and routes the panels show.

A crash-looping pod's veth coming and going is ~10 netlink events a second; a
full re-read of links and routes per event (the old way) cost ~35% of a core on
a node with 500 links. pyroute2 hands over each message (ciliumtui.node.events
turns it into a NetEvent), so the event itself says what changed: a link
appeared, went, changed state; an address or a route came or went. What an
event does not carry (a new link's MTU, MAC or master, a route's protocol) is
filled in by the periodic full read, which is the resync.

Pure functions: no I/O, no Textual.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..model import Link, Route
from ..ownership import is_cilium_link, is_cilium_route

if TYPE_CHECKING:  # ciliumtui.node is imported by the probes' thread, off the first frame
    from ..node.events import NetEvent

# Kernel table ids as `ip -j route` names them (the Route model keeps ip's names).
TABLE_NAMES = {253: "default", 254: "main", 255: "local"}


def table_name(table: int | None) -> str:
    if table is None:
        return "main"
    return TABLE_NAMES.get(table, str(table))


@dataclass
class Delta:
    """What one or more events changed: link names to redraw or drop, routes likewise."""

    links: set[str] = field(default_factory=set)  # added or changed (by name)
    links_removed: set[str] = field(default_factory=set)
    routes: bool = False  # the route list changed
    incomplete: bool = False  # something only a full read can fill in (a new link's MTU)

    def merge(self, other: Delta) -> None:
        self.links |= other.links
        self.links_removed -= other.links
        self.links_removed |= other.links_removed
        self.links -= other.links_removed
        self.routes = self.routes or other.routes
        self.incomplete = self.incomplete or other.incomplete

    def __bool__(self) -> bool:
        return bool(self.links or self.links_removed or self.routes)


def _same_route(route: Route, ev: NetEvent, dev: str | None) -> bool:
    return (
        route.dst == ev.address
        and route.table == table_name(ev.table)
        and (ev.family is None or route.family == ev.family)
        and (route.dev or None) == dev
        and (route.gateway or None) == (ev.gateway or None)
    )


def apply_event(links: list[Link], routes: list[Route], ev: NetEvent) -> Delta:
    """Apply one event to `links` and `routes` in place; say what changed."""
    if ev.kind == "link":
        return _link_event(links, routes, ev)
    if ev.kind == "addr":
        return _addr_event(links, ev)
    return _route_event(links, routes, ev)


def _find_link(links: list[Link], ev: NetEvent) -> int | None:
    for i, link in enumerate(links):
        if ev.ifindex is not None and link.index == ev.ifindex:
            return i
    if ev.name:
        for i, link in enumerate(links):
            if link.name == ev.name:
                return i
    return None


def _link_event(links: list[Link], routes: list[Route], ev: NetEvent) -> Delta:
    at = _find_link(links, ev)
    if ev.action == "del":
        if at is None:
            return Delta()
        gone = links.pop(at)
        before = len(routes)
        routes[:] = [r for r in routes if r.dev != gone.name]  # the kernel drops them too
        return Delta(links_removed={gone.name}, routes=len(routes) != before)
    if at is None:
        if not ev.name or ev.ifindex is None:
            return Delta(incomplete=True)
        new = Link(
            name=ev.name,
            index=ev.ifindex,
            kind=ev.link_kind,
            state=ev.state or "UNKNOWN",
            cilium=is_cilium_link(ev.name),
        )
        links.append(new)
        return Delta(links={new.name}, incomplete=True)  # MTU, MAC, master: next full read
    old = links[at]
    new = dataclasses.replace(
        old,
        name=ev.name or old.name,
        state=ev.state or old.state,
        kind=ev.link_kind or old.kind,
        cilium=is_cilium_link(ev.name or old.name),
    )
    if new == old:
        return Delta()
    links[at] = new
    delta = Delta(links={new.name})
    if new.name != old.name:
        delta.links_removed.add(old.name)
    return delta


def _addr_event(links: list[Link], ev: NetEvent) -> Delta:
    at = _find_link(links, ev)
    if at is None or not ev.address:
        return Delta(incomplete=at is None)
    old = links[at]
    addresses = [a for a in old.addresses if a != ev.address]
    if ev.action == "new":
        addresses.append(ev.address)
    if addresses == old.addresses:
        return Delta()
    links[at] = dataclasses.replace(old, addresses=addresses)
    return Delta(links={old.name})


def _route_event(links: list[Link], routes: list[Route], ev: NetEvent) -> Delta:
    if not ev.address:
        return Delta()
    dev = ev.name
    if dev is None and ev.ifindex is not None:
        dev = next((link.name for link in links if link.index == ev.ifindex), None)
    match = [i for i, r in enumerate(routes) if _same_route(r, ev, dev)]
    if ev.action == "del":
        if not match:
            return Delta()
        for i in reversed(match):
            routes.pop(i)
        return Delta(routes=True)
    if match:
        return Delta()  # a replace: the periodic read refreshes what the event does not carry
    table = table_name(ev.table)
    routes.append(
        Route(
            dst=ev.address,
            gateway=ev.gateway,
            dev=dev,
            table=table,
            family=ev.family or 4,
            cilium=ev.cilium or is_cilium_route(table, dev),
        )
    )
    return Delta(routes=True, incomplete=True)
