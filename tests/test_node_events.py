"""Live netlink events from inside a network namespace."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest

from ciliumtui.errors import CiliumtuiError
from ciliumtui.node.events import NetEvent, NetEvents

pytestmark = pytest.mark.root


async def first(events: NetEvents, match, timeout: float = 3.0) -> NetEvent:
    async def scan():
        async for ev in events:
            if match(ev):
                return ev

    return await asyncio.wait_for(scan(), timeout)


def ip(netns, *args):
    subprocess.run(["ip", "-n", netns, *args], check=True)


async def test_link_added_and_set_down_is_seen(make_netns):
    ns = make_netns("nd")
    async with NetEvents(ns) as events:
        ip(ns, "link", "add", "lxc0123456789ab", "type", "veth", "peer", "name", "pod0")
        added = await first(events, lambda e: e.kind == "link" and e.name == "lxc0123456789ab")
        assert added.action == "new" and added.link_kind == "veth" and added.cilium
        ip(ns, "link", "set", "pod0", "up")
        ip(ns, "link", "set", "lxc0123456789ab", "up")
        ip(ns, "addr", "add", "10.42.0.9/24", "dev", "lxc0123456789ab")
        addr = await first(events, lambda e: e.kind == "addr" and e.action == "new")
        assert (
            addr.address == "10.42.0.9/24" and addr.name == "lxc0123456789ab" and addr.family == 4
        )
        route = await first(events, lambda e: e.kind == "route" and e.address == "10.42.0.0/24")
        assert route.action == "new" and route.table == 254
        ip(ns, "link", "set", "lxc0123456789ab", "down")
        down = await first(
            events, lambda e: e.kind == "link" and e.state == "DOWN" and e.name == "lxc0123456789ab"
        )
        assert down.action == "new"
        ip(ns, "link", "del", "pod0")
        gone = await first(
            events, lambda e: e.kind == "link" and e.action == "del" and e.name == "pod0"
        )
        assert not gone.cilium


async def test_events_do_not_leak_from_other_namespaces(make_netns):
    watched, other = make_netns("nd"), make_netns("nd")
    async with NetEvents(watched) as events:
        ip(other, "link", "add", "elsewhere0", "type", "veth", "peer", "name", "elsewhere1")
        ip(watched, "link", "add", "here0", "type", "veth", "peer", "name", "here1")
        seen = await first(events, lambda e: e.kind == "link")
        assert seen.name in ("here0", "here1")


async def test_missing_namespace_is_an_error_and_is_not_created():
    with pytest.raises(CiliumtuiError, match="nd-missing-ns does not exist"):
        async with NetEvents("nd-missing-ns"):
            pass
    assert not os.path.exists("/run/netns/nd-missing-ns")
