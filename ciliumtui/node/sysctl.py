"""IPv4 rp_filter: the live values in the node's netns, and the sysctl files that set them.

The kernel filters on max(conf.all.rp_filter, conf.<dev>.rp_filter), so a
hardening file that sets `all = 1` breaks replies to local pods even while
Cilium's devices say 0 (cilium#10645). `sysctl_files` lists every rp_filter
setting in the order systemd-sysctl applies them, so the evidence can name the
file that wins.

/proc/sys/net is per network namespace: the kernel answers for the namespace of
the task that reads it. The values are read by a short-lived thread that entered
--netns with setns(2) (the thread dies with its namespace change). Measured on
500 devices: 8.7-18 ms, against 35-59 ms for one `ip netns exec NS grep -r`
(fork, exec and a mount namespace) and 2-3 s for `sysctl -a`.
"""

from __future__ import annotations

import os
from typing import TypeVar

from ..model import SysctlSetting
from ..netns import in_netns
from .hostfs import read_text, resolve

T = TypeVar("T")

CONF_DIR = "/proc/sys/net/ipv4/conf"
# systemd-sysctl's search path, highest priority first (sysctl.d(5)); a file name in
# an earlier dir masks the same name in later ones, and all files apply sorted by name.
SYSCTL_DIRS = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
)
SYSCTL_CONF = "/etc/sysctl.conf"


# ------------------------------------------------------------------ pure parsers


def normalize_key(key: str) -> str:
    """`net/ipv4/conf/eth0.100/rp_filter` -> `net.ipv4.conf.eth0.100.rp_filter`.

    sysctl.d(5): when the first separator is "/", dots inside are part of a name.
    """
    key = key.strip()
    slash, dot = key.find("/"), key.find(".")
    if slash != -1 and (dot == -1 or slash < dot):
        return ".".join(p for p in key.split("/") if p)
    return key


def is_rp_filter_key(key: str) -> bool:
    return key.startswith("net.ipv4.conf.") and key.endswith(".rp_filter")


def parse_sysctl_text(text: str) -> list[tuple[str, str]]:
    """(normalized key, value) per assignment, in file order (comments: # and ;)."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, eq, value = line.partition("=")
        if not eq:
            continue
        key = key.strip().lstrip("-")  # "-key = v": ignore a failure to set it
        if key:
            out.append((normalize_key(key), value.strip()))
    return out


def apply_order(listing: dict[str, list[str]]) -> list[str]:
    """Node paths in the order systemd-sysctl applies them.

    listing: dir -> the *.conf names in it. Sorted by file name across dirs; a
    name present in several dirs is taken from the first dir of SYSCTL_DIRS.
    """
    chosen: dict[str, str] = {}
    for directory in SYSCTL_DIRS:
        for name in listing.get(directory, []):
            chosen.setdefault(name, f"{directory}/{name}")
    return [chosen[name] for name in sorted(chosen)]


# ---------------------------------------------------------------- file readers


def _conf_names(host_root: str, directory: str) -> list[str]:
    try:
        path = resolve(host_root, directory)
        return [e.name for e in os.scandir(path) if e.name.endswith(".conf")]
    except OSError:
        return []


def _masked(host_root: str, node_path: str) -> bool:
    """A symlink to /dev/null masks the file (and every lower-priority one of that name)."""
    try:
        return str(resolve(host_root, node_path)) == str(resolve(host_root, "/dev/null"))
    except OSError:
        return False


def read_sysctl_files(host_root: str) -> list[SysctlSetting]:
    """Every rp_filter setting of the node's sysctl files, in the order they apply.

    /etc/sysctl.conf is applied by systemd-sysctl through the distro's
    `/etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf` link (it is named after the
    link's target then); without the link, procps' `sysctl --system` applies it
    last, so it comes last.
    """
    listing = {d: _conf_names(host_root, d) for d in SYSCTL_DIRS}
    files = [p for p in apply_order(listing) if not _masked(host_root, p)]
    conf = str(resolve(host_root, SYSCTL_CONF))
    named = []
    for path in files:
        try:
            real = str(resolve(host_root, path))
        except OSError:
            continue
        named.append(SYSCTL_CONF if real == conf else path)
    if SYSCTL_CONF not in named:
        named.append(SYSCTL_CONF)
    settings = []
    for path in named:
        text = read_text(host_root, path)
        if text is None:
            continue
        settings += [
            SysctlSetting(path, key, value)
            for key, value in parse_sysctl_text(text)
            if is_rp_filter_key(key)
        ]
    return settings


# ----------------------------------------------------------------- live values


def _read_conf_dir() -> dict[str, int]:
    values: dict[str, int] = {}
    for entry in os.scandir(CONF_DIR):
        try:
            with open(f"{CONF_DIR}/{entry.name}/rp_filter", "rb") as f:
                values[entry.name] = int(f.read().strip())
        except (OSError, ValueError):
            continue  # a device that went away while we read
    return values


def read_rp_filter(netns: str | None) -> dict[str, int]:
    """{"all": 1, "default": 0, "eth0": 0, ...}: IPv4 rp_filter as read in `netns` (blocking)."""
    return in_netns(netns, _read_conf_dir)


def effective_rp_filter(values: dict[str, int], dev: str) -> int:
    """What the kernel filters `dev` with: max(conf.all, conf.<dev>) (IN_DEV_RPFILTER)."""
    return max(values.get("all", 0), values.get(dev, 0))
