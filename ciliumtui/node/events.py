"""Live netlink events (links, addresses, routes) for the TUI, via pyroute2.

    async with NetEvents(netns="x") as events:
        async for ev in events:          # NetEvent(kind="link", action="new", name="eth0", ...)
            ...

Inside a namespace pyroute2 is opened with `flags=0`: without it a missing
namespace would be silently created. A missing namespace is a CiliumtuiError.
Snapshots are still taken with `ip -j` (much faster); events only say *what*
changed so the TUI knows which panel to refresh.
"""

from __future__ import annotations

import socket
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import CiliumtuiError
from ..ownership import is_cilium_link

EventKind = Literal["link", "addr", "route"]


@dataclass(frozen=True)
class NetEvent:
    kind: EventKind
    action: Literal["new", "del"]
    ifindex: int | None = None
    name: str | None = None  # link name (known from link events seen so far)
    state: str | None = None  # operstate, for link events
    link_kind: str | None = None  # veth, vxlan, bridge ... for link events
    address: str | None = (
        None  # "10.0.0.1/24" (addr) or destination "10.42.0.0/24"/"default" (route)
    )
    gateway: str | None = None
    table: int | None = None
    family: int | None = None  # 4 or 6 for addr/route events
    cilium: bool = False  # the link (or the route's device / table) is Cilium's


_FAMILIES = {socket.AF_INET: 4, socket.AF_INET6: 6}
_KINDS: dict[str, tuple[EventKind, Literal["new", "del"]]] = {
    "RTM_NEWLINK": ("link", "new"),
    "RTM_DELLINK": ("link", "del"),
    "RTM_NEWADDR": ("addr", "new"),
    "RTM_DELADDR": ("addr", "del"),
    "RTM_NEWROUTE": ("route", "new"),
    "RTM_DELROUTE": ("route", "del"),
}


def _groups() -> int:
    from pyroute2.netlink import rtnl

    return (
        rtnl.RTMGRP_LINK
        | rtnl.RTMGRP_IPV4_IFADDR
        | rtnl.RTMGRP_IPV6_IFADDR
        | rtnl.RTMGRP_IPV4_ROUTE
        | rtnl.RTMGRP_IPV6_ROUTE
    )


def to_event(msg: Any, names: dict[int, str]) -> NetEvent | None:
    """One pyroute2 message -> NetEvent (None for messages we do not follow)."""
    kind_action = _KINDS.get(msg.get("event"))
    if kind_action is None:
        return None
    kind, action = kind_action
    if kind == "link":
        index = msg.get("index")
        name = msg.get("ifname")
        if name and index is not None:
            if action == "del":
                names.pop(index, None)
            else:
                names[index] = name
        return NetEvent(
            kind,
            action,
            ifindex=index,
            name=name,
            state=msg.get("operstate"),
            link_kind=msg.get(("linkinfo", "kind")),
            cilium=bool(name and is_cilium_link(name)),
        )
    family = _FAMILIES.get(msg.get("family"))
    if kind == "addr":
        index = msg.get("index")
        addr = msg.get("address") or msg.get("local")
        name = names.get(index) or msg.get("label")
        return NetEvent(
            kind,
            action,
            ifindex=index,
            name=name,
            address=f"{addr}/{msg.get('prefixlen')}" if addr else None,
            family=family,
            cilium=bool(name and is_cilium_link(name)),
        )
    index = msg.get("oif")
    dst = msg.get("dst")
    table = msg.get("table")
    name = names.get(index) if index is not None else None
    return NetEvent(
        kind,
        action,
        ifindex=index,
        name=name,
        address=f"{dst}/{msg.get('dst_len')}" if dst else "default",
        gateway=msg.get("gateway"),
        table=table,
        family=family,
        cilium=bool((name and is_cilium_link(name)) or table in (2004, 2005)),
    )


class NetEvents:
    """An async iterator of NetEvents from a netlink subscription (in netns when given)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._ipr: Any = None
        self._pending: deque[NetEvent] = deque()
        self._names: dict[int, str] = {}

    async def open(self) -> NetEvents:
        from pyroute2 import AsyncIPRoute  # lazy: only the live TUI needs pyroute2

        kwargs: dict[str, Any] = {"netns": self.netns, "flags": 0} if self.netns else {}
        try:
            self._ipr = AsyncIPRoute(**kwargs)
            await self._ipr.bind(groups=_groups())
        except FileNotFoundError:
            self.close()
            raise CiliumtuiError(f"network namespace {self.netns} does not exist") from None
        except OSError as exc:
            self.close()
            raise CiliumtuiError(f"cannot subscribe to netlink events: {exc}") from None
        return self

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    async def __aenter__(self) -> NetEvents:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> NetEvents:
        return self

    async def __anext__(self) -> NetEvent:
        if self._ipr is None:
            raise StopAsyncIteration
        while not self._pending:
            # get() yields one batch of messages, then ends; loop for the next batch.
            async for msg in self._ipr.get():
                ev = to_event(msg, self._names)
                if ev is not None:
                    self._pending.append(ev)
        return self._pending.popleft()
