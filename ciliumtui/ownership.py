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


# Cilium's cni.exclusive renames every foreign config in its dir to <name>.cilium_bak.
CILIUM_CNI_BACKUP_SUFFIX = ".cilium_bak"
# What a runtime loads from a CNI config dir (containerd's go-cni, libcni ConfFiles).
CNI_CONFIG_SUFFIXES = (".conf", ".conflist", ".json")


def is_cni_config_name(name: str) -> bool:
    return name.endswith(CNI_CONFIG_SUFFIXES)


def runtime_cni_config(names: list[str]) -> str | None:
    """The config a runtime uses from a dir holding `names`: the lexicographically first
    *.conf/*.conflist/*.json (go-cni sorts the dir and takes the first), None if none."""
    configs = sorted(n for n in names if is_cni_config_name(n))
    return configs[0] if configs else None


def is_cilium_cni_config(name: str, plugins: list[str] | None = None) -> bool:
    """Cilium's CNI config: one of its file names, or a conflist whose plugins include
    `cilium-cni` (chaining, a custom `cni.confFileName`). Backups are not configs."""
    if name.endswith(".cilium_bak"):
        return False
    return is_cilium_cni_file(name) or "cilium-cni" in (plugins or [])


# BPF (DESIGN §5 stale-cilium-bpf). Program names are the kernel's (at most 15
# chars): the Go loader names them cil_* (cil_from_netdev, cil_xdp_entry,
# cil_sock4_connect); older agents left the ELF object's name in the tc filter.
_CILIUM_BPF_OBJECTS = ("bpf_host", "bpf_netdev", "bpf_overlay", "bpf_lxc", "bpf_network")
BPFFS_ROOTS = ("/sys/fs/bpf", "/run/cilium/bpffs")  # the agent's fallback mount
CILIUM_CGROUP_ROOT = "/run/cilium/cgroupv2"


def is_cilium_bpf_program(name: str | None) -> bool:
    """A BPF program (tc/tcx/XDP/cgroup) is Cilium's by its name."""
    if not name:
        return False
    return name.startswith("cil_") or any(obj in name for obj in _CILIUM_BPF_OBJECTS)


def is_cilium_bpf_pin(path: str) -> bool:
    """A bpffs pin is Cilium's: `cilium_*` under tc/globals, anything under cilium/
    (Cilium >= 1.15 pins its tcx/XDP bpf_links at cilium/devices/<dev>/links/)."""
    for root in BPFFS_ROOTS:
        if not path.startswith(root + "/"):
            continue
        rel = path[len(root) + 1 :].strip("/")
        if ".." in rel.split("/"):
            continue
        if rel.startswith("cilium/"):  # not cilium/ itself: the agent makes it again
            return True
        head, _, base = rel.rpartition("/")
        if head == "tc/globals" and base.startswith("cilium_"):
            return True
    return False
