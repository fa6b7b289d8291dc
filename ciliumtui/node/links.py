"""Links and their addresses, from one `ip -j -d addr show`.

`-d` adds linkinfo (the kind: veth, vxlan, bridge ...); `addr show` carries the
link attributes too, so one call gives everything the interfaces panel needs.
"""

from __future__ import annotations

from typing import Any

from ..model import Link
from ..ownership import is_cilium_link
from .ipjson import ip_json


def parse_links(data: list[dict[str, Any]]) -> list[Link]:
    """`ip -j -d addr show` output -> Links (Cilium's marked per DESIGN §6)."""
    links: list[Link] = []
    for item in data:
        name = item.get("ifname")
        if not name:
            continue
        info = item.get("linkinfo") or {}
        addresses = [
            f"{a['local']}/{a.get('prefixlen', 32 if a.get('family') == 'inet' else 128)}"
            for a in item.get("addr_info", [])
            if a.get("local")
        ]
        links.append(
            Link(
                name=name,
                index=int(item.get("ifindex", 0)),
                kind=info.get("info_kind"),
                state=item.get("operstate", "UNKNOWN"),
                mtu=int(item.get("mtu", 0)),
                mac=item.get("address"),
                addresses=addresses,
                master=item.get("master"),
                # "link" names the veth peer / lower device when it is in the same namespace.
                peer=item.get("link"),
                altnames=list(item.get("altnames", [])),
                flags=list(item.get("flags", [])),
                cilium=is_cilium_link(name),
            )
        )
    return links


async def probe_links(netns: str | None) -> list[Link]:
    return parse_links(await ip_json(["-d", "addr", "show"], netns))
