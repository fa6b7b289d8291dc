"""Reverse-path filtering on Cilium's devices (`rp-filter-strict`).

The kernel applies max(conf.all.rp_filter, conf.<dev>.rp_filter): a hardening file
that sets `all = 1` breaks replies from local pods even while Cilium's own
`99-zzz-override_cilium.conf` sets 0 on its devices (cilium/cilium#10645,
systemd-networkd resetting it). Read in the node's netns by the probe.
"""

from __future__ import annotations

import fnmatch

from ..model import Finding, Snapshot, SysctlSetting
from ..ownership import is_cilium_link
from .catalogue import finding

_SHOW = 4
_KEY = "net.ipv4.conf.{}.rp_filter"


def cilium_devices(snap: Snapshot) -> list[str]:
    """cilium_host, cilium_net and the lxc* endpoint devices present on the node."""
    if snap.node is None:
        return []
    return [
        link.name
        for link in snap.node.links
        if link.name in ("cilium_host", "cilium_net")
        or (link.name.startswith("lxc") and is_cilium_link(link.name))
    ]


def _value(table: dict[str, int], key: str) -> int:
    v = table.get(key, 0)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def setter(settings: list[SysctlSetting], key: str) -> SysctlSetting | None:
    """The sysctl file that sets `key` last (files apply in order; globs count)."""
    found = None
    for s in settings:
        pattern = s.key.lstrip("-").strip().replace("/", ".")
        if pattern == key or fnmatch.fnmatchcase(key, pattern):
            found = s
    return found


def _names(devs: list[str]) -> str:
    named = [d for d in devs if not d.startswith("lxc") or d == "lxc_health"]
    lxc = [d for d in devs if d not in named]
    parts = named + lxc[: max(0, _SHOW - len(named))]
    rest = len(devs) - len(parts)
    return ", ".join(parts) + (f" and {rest} more lxc devices" if rest else "")


def rp_filter_strict(snap: Snapshot) -> list[Finding]:
    if snap.node is None or not snap.node.rp_filter:
        return []
    table = snap.node.rp_filter
    everywhere = _value(table, "all")
    strict: dict[int, list[str]] = {}
    for dev in cilium_devices(snap):
        eff = max(everywhere, _value(table, dev))
        if eff:
            strict.setdefault(eff, []).append(dev)
    if not strict:
        return []
    settings = snap.node.host.sysctl_files
    ev = []
    for eff, devs in sorted(strict.items(), reverse=True):
        mode = "strict" if eff == 1 else "loose"
        ev.append(f"effective rp_filter {eff} ({mode}) on {_names(devs)}")
    if everywhere:
        s = setter(settings, _KEY.format("all"))
        where = f" (set by {s.file}: {s.key} = {s.value})" if s else ""
        ev.append(
            f"net.ipv4.conf.all.rp_filter = {everywhere}{where}: the kernel uses "
            "max(all, <device>), so Cilium's per-device 0 does not count"
        )
    for devs in strict.values():
        for dev in devs:
            own = _value(table, dev)
            if own:
                s = setter(settings, _KEY.format(dev))
                where = f" (set by {s.file})" if s else ""
                ev.append(f"net.ipv4.conf.{dev}.rp_filter = {own}{where}")
    ev.append(
        "replies from local pods are dropped as spoofed; fix: a sysctl drop-in that sorts "
        "after the hardening file, setting net.ipv4.conf.all.rp_filter = 0 (as Cilium's "
        "99-zzz-override_cilium.conf intends)"
    )
    return [finding("rp-filter-strict", ev[:12])]


CHECKS = [rp_filter_strict]
