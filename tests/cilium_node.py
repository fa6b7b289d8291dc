"""A Cilium node in a network namespace, built by hand for the playbook tests.

The same objects a k3s node running Cilium 1.18 has (reference/cilium/
node-netstate-k3s-cilium.txt, iptables-save-k3s-cilium-node.txt) plus decoys that
only look like Cilium's. Root only. `build(ns, pod_ns)` lays it out; the helpers
read state back with `ip -j` and iptables-save.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

# The reference dump (shared/reference/cilium/) ships with the package as a sample.
REFERENCE = (
    Path(__file__).resolve().parent.parent / "assets/samples/iptables-save-k3s-cilium-node.txt"
)
ENDPOINTS = ["lxc1a2b3c4d5e6f", "lxc0123456789ab", "lxcfedcba987654"]
CILIUM_LINKS = ["cilium_host", "cilium_net", "cilium_vxlan", "lxc_health", *ENDPOINTS]
DECOY_LINKS = ["eth0", "lxcbr0", "docker0", "vethd0c4e1", "lxc12345678"]

# Decoys: a user chain, user rules whose comments/names only look like Cilium's.
USER_RULES_V4 = {
    "filter": [
        ":USER-FW - [0:0]",
        ":CILIUMX - [0:0]",
        ":MY_CILIUM_X - [0:0]",
        '-A INPUT -p tcp -m tcp --dport 4240 -m comment --comment "allow cilium health checks" -j ACCEPT',
        "-A INPUT -j USER-FW",
        "-A USER-FW -s 10.99.0.0/16 -j DROP",
        "-A USER-FW -j CILIUMX",
        '-A CILIUMX -m comment --comment "cilium-feeder: CILIUM_FORWARD" -j RETURN',
        "-A MY_CILIUM_X -j ACCEPT",
    ],
}
V6_RULES = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:CILIUM_FORWARD - [0:0]
:CILIUM_INPUT - [0:0]
:USER6 - [0:0]
-A INPUT -m comment --comment "cilium-feeder: CILIUM_INPUT" -j CILIUM_INPUT
-A INPUT -m comment --comment "cilium: user note" -j USER6
-A FORWARD -m comment --comment "cilium-feeder: CILIUM_FORWARD" -j CILIUM_FORWARD
-A CILIUM_FORWARD -o cilium_host -m comment --comment "cilium: any->cluster on cilium_host forward accept" -j ACCEPT
-A CILIUM_INPUT -m mark --mark 0x200/0xf00 -m comment --comment "cilium: ACCEPT for proxy traffic" -j ACCEPT
-A USER6 -s fd00::/8 -j ACCEPT
COMMIT
"""


def sh(*argv: str, input: str | None = None, check: bool = True) -> str:
    res = subprocess.run(argv, input=input, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")
    return res.stdout


def reference_v4() -> str:
    """The reference rule set plus the decoys (nfacct needs a kernel object: dropped)."""
    lines = [x for x in REFERENCE.read_text().splitlines() if "nfacct" not in x]
    out, table = [], None
    for line in lines:
        if line.startswith("*"):
            table = line[1:]
        if line == "COMMIT" and table in USER_RULES_V4:
            decl = [x for x in USER_RULES_V4[table] if x.startswith(":")]
            rules = [x for x in USER_RULES_V4[table] if not x.startswith(":")]
            out.extend(decl + rules)
        out.append(line)
    # chain declarations must precede rules: move the decoy ":" lines up
    text = "\n".join(out) + "\n"
    return _decl_first(text)


def _decl_first(text: str) -> str:
    out: list[str] = []
    block: list[str] = []
    for line in text.splitlines():
        if line.startswith("*"):
            out.append(line)
            block = []
        elif line == "COMMIT":
            out.extend(
                [x for x in block if x.startswith(":")]
                + [x for x in block if not x.startswith(":")]
            )
            out.append(line)
            block = []
        else:
            block.append(line)
    return "\n".join(out) + "\n"


def build(ns: str, pod_ns: str, *, extra_lxc: int = 0) -> None:
    """Lay out the Cilium node in `ns`; veth peers of endpoints live in `pod_ns`."""
    ip = ["ip", "-n", ns]
    batch = [
        # uplink and decoys
        f"link add eth0 type veth peer name uplink netns {pod_ns}",
        "addr add 192.168.1.21/24 dev eth0",
        "link set eth0 up",
        "link add lxcbr0 type bridge",
        "link add docker0 type bridge",
        f"link add vethd0c4e1 type veth peer name dockerpeer netns {pod_ns}",
        "link set vethd0c4e1 master docker0",
        "link add lxc12345678 type bridge",  # 8 hex: not an endpoint name
        # Cilium's
        "link add cilium_host type veth peer name cilium_net",
        "addr add 10.42.0.183/32 dev cilium_host",
        "link set cilium_host up",
        "link set cilium_net up",
        "link add cilium_vxlan type vxlan external dstport 8472",
        "link set cilium_vxlan up",
        f"link add lxc_health type veth peer name health0 netns {pod_ns}",
        "link set lxc_health up",
        "route add 10.42.0.0/24 via 10.42.0.183 dev cilium_host src 10.42.0.183",
        "route add local 0.0.0.0/0 dev lo table 2004",
        "rule add fwmark 0x200/0xf00 lookup 2004 pref 9",
        # decoy rule and table
        "rule add fwmark 0x100/0x100 lookup 100 pref 50",
        "route add 10.99.0.0/16 via 192.168.1.1 dev eth0 table 100",
        "route add 10.5.0.0/24 via 192.168.1.1 dev eth0",
    ]
    names = ENDPOINTS + [f"lxc{i:012x}" for i in range(0x100000000000, 0x100000000000 + extra_lxc)]
    for i, name in enumerate(names):
        batch += [f"link add {name} type veth peer name p{i} netns {pod_ns}", f"link set {name} up"]
    for i, name in enumerate(names[:3]):
        batch.append(f"route add 10.42.0.{10 + i}/32 dev {name}")
    sh(*ip, "-batch", "-", input="\n".join(batch) + "\n")
    v4 = reference_v4()
    for backend in ("legacy", "nft"):
        sh("ip", "netns", "exec", ns, f"iptables-{backend}-restore", input=v4)
        sh("ip", "netns", "exec", ns, f"ip6tables-{backend}-restore", input=V6_RULES)


def links(ns: str) -> dict[str, dict]:
    return {x["ifname"]: x for x in json.loads(sh("ip", "-n", ns, "-j", "-d", "link", "show"))}


def ip_rules(ns: str) -> list[dict]:
    return json.loads(sh("ip", "-n", ns, "-j", "rule", "show"))


def routes(ns: str, table: str = "main") -> list[dict]:
    return json.loads(sh("ip", "-n", ns, "-j", "route", "show", "table", table))


def save(ns: str, backend: str, family: int = 4) -> str:
    prefix = "iptables" if family == 4 else "ip6tables"
    return sh("ip", "netns", "exec", ns, f"{prefix}-{backend}-save")


_COUNTERS = re.compile(r"\[\d+:\d+\]")
_CILIUM = re.compile(
    r"^(?::(?:OLD_)?CILIUM_\S+ |-A (?:OLD_)?CILIUM_\S+ |.* -j (?:OLD_)?CILIUM_\S+)"
)


def normalized(text: str) -> list[str]:
    """iptables-save lines without comments/timestamps and with counters zeroed."""
    return [_COUNTERS.sub("[0:0]", x) for x in text.splitlines() if x and not x.startswith("#")]


def without_cilium(text: str) -> list[str]:
    """An independent (simple) filter: what purge should leave, for the reference set."""
    return [x for x in normalized(text) if not _CILIUM.match(x)]
