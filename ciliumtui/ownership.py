"""What counts as Cilium's (DESIGN §6). Cleanup touches nothing else.

Pure functions, shared by the probes (to mark objects), the checks and the
actions (which refuse anything these functions do not claim).
"""

from __future__ import annotations

import re

CILIUM_LINKS = frozenset(
    {
        "cilium_host",
        "cilium_net",
        "cilium_vxlan",
        "cilium_geneve",
        "cilium_ipip4",
        "cilium_ipip6",
        "cilium_wg0",
        "lxc_health",
    }
)
# Endpoint veths: "lxc" + 5 hex (old agents) or 12 hex (sha256 prefix, current agents).
_LXC_RE = re.compile(r"^lxc(?:[0-9a-f]{5}|[0-9a-f]{12})$")
_CHAIN_RE = re.compile(r"^(?:OLD_)?CILIUM_[A-Za-z0-9_]+$")
# The ip rule the agent installs for proxy traffic, and its routing tables.
CILIUM_FWMARK = "0x200/0xf00"
CILIUM_TABLES = frozenset({"2004", "2005"})


def is_cilium_link(name: str) -> bool:
    return name in CILIUM_LINKS or bool(_LXC_RE.match(name))


def is_cilium_chain(name: str) -> bool:
    return bool(_CHAIN_RE.match(name))


def is_cilium_rule(chain: str, target: str | None) -> bool:
    """A rule is Cilium's when it lives in a Cilium chain or jumps to one.

    A comment that merely mentions "cilium" does not make a rule Cilium's.
    """
    return is_cilium_chain(chain) or (target is not None and is_cilium_chain(target))


def is_cilium_route(table: str, dev: str | None) -> bool:
    return str(table) in CILIUM_TABLES or (dev is not None and is_cilium_link(dev))


def is_cilium_ip_rule(fwmark: str | None, table: str | None, invert: bool = False) -> bool:
    """The agent's proxy rule `fwmark 0x200/0xf00 lookup 2004`, the table read as a
    number (`ip -N`: a name in rt_tables means nothing). An inverted rule (`not
    fwmark …`) is never Cilium's: the agent never installs one."""
    return not invert and fwmark == CILIUM_FWMARK and str(table) == "2004"


def is_cilium_cni_file(name: str) -> bool:
    return name in {
        "05-cilium.conflist",
        "05-cilium.conf",
        "05-cilium-cni.conf",
        "00-cilium-cni.conf",
        "10-cilium-cni.conf",
    }
