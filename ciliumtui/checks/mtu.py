"""Cilium's devices above the uplink's MTU (`mtu-mismatch`).

The uplink is the default route's device. On a healthy node Cilium's devices
carry the uplink's MTU and, in tunnel mode, the 50-byte overhead is taken off the
routes' `mtu`, not the devices; a device above the uplink (devices pinned at 1500
by a helm `mtu` value on a cloud network with eth0 at 1450) drops or fragments
every full-size packet from a pod.
"""

from __future__ import annotations

from ..model import Finding, Link, Route, Snapshot
from ..ownership import is_cilium_link
from .catalogue import finding

_DEVICES = ("cilium_host", "cilium_net", "cilium_vxlan", "cilium_geneve")
_SHOW = 4


def uplink(snap: Snapshot) -> tuple[Link, Route] | None:
    """The default route's device (main table; IPv4 first, lowest metric)."""
    if snap.node is None:
        return None
    links = {link.name: link for link in snap.node.links}
    defaults = [
        r
        for r in snap.node.routes
        if r.dst in ("default", "0.0.0.0/0", "::/0")
        and r.table in ("main", None)
        and r.type in (None, "unicast")
        and r.dev in links
        and not links[r.dev].cilium
    ]
    defaults.sort(key=lambda r: (r.family != 4, r.metric if isinstance(r.metric, int) else 0))
    for r in defaults:
        link = links[r.dev or ""]
        if isinstance(link.mtu, int) and link.mtu > 0:
            return link, r
    return None


def cilium_devices(snap: Snapshot) -> list[Link]:
    if snap.node is None:
        return []
    return [
        link
        for link in snap.node.links
        if link.name in _DEVICES or (link.name.startswith("lxc") and is_cilium_link(link.name))
    ]


def mtu_mismatch(snap: Snapshot) -> list[Finding]:
    up = uplink(snap)
    if up is None:
        return []
    link, route = up
    above: dict[int, list[str]] = {}
    for dev in cilium_devices(snap):
        if isinstance(dev.mtu, int) and dev.mtu > link.mtu:
            above.setdefault(dev.mtu, []).append(dev.name)
    if not above:
        return []
    via = f" via {route.gateway}" if route.gateway else ""
    ev = [f"uplink {link.name} (default route{via}) MTU {link.mtu}"]
    for mtu, names in sorted(above.items(), reverse=True):
        named = [n for n in names if not n.startswith("lxc") or n == "lxc_health"]
        lxc = [n for n in names if n not in named]
        shown = named + ([f"{len(lxc)} lxc device{'s' if len(lxc) != 1 else ''}"] if lxc else [])
        ev.append(f"MTU {mtu} > {link.mtu} on {', '.join(shown[: _SHOW + 1])}")
    assert snap.node is not None
    tunnel = sorted(
        {r.mtu for r in snap.node.routes if r.cilium and isinstance(r.mtu, int) and r.mtu > 0}
    )
    if tunnel:
        ev.append(f"Cilium's routes carry mtu {', '.join(map(str, tunnel))}")
    ev.append(
        f"full-size packets from pods do not fit the uplink: TLS handshakes and large "
        f"answers hang; fix: helm --set mtu={link.mtu} (or restart the agent so it detects "
        "the uplink's MTU)"
    )
    return [finding("mtu-mismatch", ev)]


CHECKS = [mtu_mismatch]
