"""Lay a scenario's `network` section into an existing network namespace (root).

What it builds (assets/scenarios/README.md, healthy.yaml):
- uplink: a veth `eth0` with the node address and default route. Its peer
  (`gw-eth0`, no address) stays in the same namespace so deleting the namespace
  removes everything; nothing is ever placed in the host namespace.
- Cilium: the cilium_host/cilium_net veth pair (cilium_host carries the router
  IP /32), cilium_vxlan (collect-metadata, port 8472), lxc_health and
  `lxc<12 hex>` endpoint veths (peers `pod<10 hex>` / `health-ep` in the same
  namespace), the pod-CIDR, router, endpoint /32 and peer-node routes via
  cilium_host, `local default dev lo table 2004`, the ip rules
  `fwmark 0x200/0xf00 lookup 2004 pref 9` and `lookup local pref 100`.
- netfilter: the reference iptables-save of a k3s+Cilium node (assets/samples),
  with the scenario's addresses substituted, split into Cilium's part (loaded
  into `cilium.iptables`) and the KUBE-* part (into `kube_iptables`).
- decoys (not Cilium's): bridge lxcbr0, bridge docker0 with a veth on it, a
  USER-INPUT chain whose rule's comment mentions cilium.
- the kube-dns Service IP and the CoreDNS pod IPs on lo, so a DNS responder can
  bind there.
There is no teardown: `ip netns del NAME` removes all of it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..errors import CiliumtuiError
from ..node.netfilter import parse_rule
from ..ownership import is_cilium_chain

SAMPLE = "samples/iptables-save-k3s-cilium-node.txt"
# Values of the reference sample's node, replaced by the scenario's own.
SAMPLE_POD_CIDR = "10.42.0.0/24"
SAMPLE_POOL = "10.42.0.0/16"
SAMPLE_HOST_IP = "10.42.0.183"
SAMPLE_NODE_IP = "192.168.1.21"
SAMPLE_DNS_IP = "10.43.0.10"
SAMPLE_API_IP = "10.43.0.1"
SAMPLE_COREDNS_IP = "10.42.0.15"
UPLINK_PEER = "gw-eth0"
DOCKER_VETH = ("veth3f2a1b0", "ctr-3f2a1b0")
DECOY_CHAIN = "USER-INPUT"
DECOY_RULE_COMMENT = "user: keep ssh open even when cilium is broken"


def endpoint_name(node: str, i: int) -> str:
    """`lxc` + 12 hex, stable per node and index (snapshots compare across runs)."""
    return "lxc" + hashlib.sha256(f"{node}/{i}".encode()).hexdigest()[:12]


def endpoint_ip(pod_cidr: str, i: int) -> str:
    net = ipaddress.ip_network(pod_cidr, strict=False)
    return str(net.network_address + 100 + i)


# ------------------------------------------------------------------ iptables


@dataclass
class _Table:
    name: str
    builtins: list[str] = field(default_factory=list)  # ":INPUT ACCEPT [0:0]"
    chains: list[tuple[bool, str]] = field(default_factory=list)  # (cilium?, line)
    rules: list[tuple[bool, str]] = field(default_factory=list)


def _parse_tables(text: str) -> list[_Table]:
    tables: list[_Table] = []
    cur: _Table | None = None
    for line in text.splitlines():
        if line.startswith("*"):
            cur = _Table(line[1:])
            tables.append(cur)
        elif cur is None or line.startswith("#") or line == "COMMIT":
            continue
        elif line.startswith(":"):
            name, policy = line[1:].split()[:2]
            if policy != "-":
                cur.builtins.append(line)
            else:
                cur.chains.append((is_cilium_chain(name), line))
        elif line.startswith("-A "):
            chain = line.split(" ", 2)[1]
            cur.rules.append((parse_rule(chain, line).cilium, line))
    return tables


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace whole addresses/CIDRs of the sample by the scenario's (10.43.0.1 never hits 10.43.0.10)."""
    if not values:
        return text
    keys = sorted(values, key=len, reverse=True)
    pattern = re.compile(r"(?<![\d.])(" + "|".join(re.escape(k) for k in keys) + r")(?!\d|\.\d)")
    # Longest keys first: "10.42.0.0/24" is replaced whole, never cut short by a shorter key.
    return pattern.sub(lambda m: values[m.group(1)], text)


def render_restore(
    tables: list[_Table],
    want_cilium: bool,
    want_kube: bool,
    extra: dict[str, tuple[list[str], list[str]]] | None = None,
) -> str:
    """iptables-restore input holding the selected parts (+ extra chains/rules per table)."""
    extra = extra or {}
    out: list[str] = []
    for t in tables:
        chains = [line for c, line in t.chains if (want_cilium if c else want_kube)]
        rules = [line for c, line in t.rules if (want_cilium if c else want_kube)]
        more_chains, more_rules = extra.get(t.name, ([], []))
        if not (chains or rules or more_chains or more_rules):
            continue
        # The decoy jump goes after Cilium's feeders, like a rule added by hand later.
        out += [f"*{t.name}", *t.builtins, *chains, *more_chains, *rules, *more_rules, "COMMIT"]
    return "\n".join(out) + "\n"


def iptables_texts(scenario: dict[str, Any]) -> dict[str, str]:
    """{backend: iptables-restore text} for the scenario (backends "nft"/"legacy")."""
    net = scenario.get("network") or {}
    cil = net.get("cilium") or {}
    cluster = scenario.get("cluster") or {}
    # Cilium's chains can outlive its links (stale rules), so `iptables` is read even when absent.
    cilium_backend = cil.get("iptables", "nft" if cil.get("present", False) else "none") or "none"
    kube_backend = net.get("kube_iptables", "nft") or "none"

    sample = files("ciliumtui.assets").joinpath(SAMPLE).read_text()
    # nfacct needs an accounting object that only the `nfacct` tool can create; drop that one rule.
    sample = "\n".join(line for line in sample.splitlines() if "-m nfacct" not in line)
    sample = substitute(sample, _sample_values(scenario, cil, cluster, net))
    tables = _parse_tables(sample)

    decoy_backend = None
    if net.get("decoys", False):
        decoy_backend = next((b for b in (cilium_backend, kube_backend) if b != "none"), "nft")
    decoy = {
        "filter": (
            [f":{DECOY_CHAIN} - [0:0]"],
            [
                f"-A INPUT -j {DECOY_CHAIN}",
                f'-A {DECOY_CHAIN} -p tcp -m tcp --dport 22 -m comment --comment "{DECOY_RULE_COMMENT}" -j ACCEPT',
            ],
        )
    }
    texts: dict[str, str] = {}
    for backend in ("nft", "legacy"):
        want_cilium = cilium_backend == backend
        want_kube = kube_backend == backend
        extra = decoy if decoy_backend == backend else None
        if want_cilium or want_kube or extra:
            texts[backend] = render_restore(tables, want_cilium, want_kube, extra)
    return texts


def _sample_values(
    scenario: dict[str, Any], cil: dict[str, Any], cluster: dict[str, Any], net: dict[str, Any]
) -> dict[str, str]:
    values: dict[str, str] = {}
    if cil.get("pod_cidr"):
        values[SAMPLE_POD_CIDR] = str(cil["pod_cidr"])
    if cil.get("host_ip"):
        values[SAMPLE_HOST_IP] = str(cil["host_ip"])
    pool = ((cluster.get("cilium") or {}).get("config") or {}).get("cluster-pool-ipv4-cidr")
    if pool:
        values[SAMPLE_POOL] = str(pool).split()[0]
    uplink = net.get("uplink") or {}
    if uplink.get("address"):
        values[SAMPLE_NODE_IP] = str(uplink["address"]).split("/")[0]
    if cluster.get("kube_dns_ip"):
        values[SAMPLE_DNS_IP] = str(cluster["kube_dns_ip"])
    svc = cluster.get("service_cidr")
    if svc:
        values[SAMPLE_API_IP] = str(ipaddress.ip_network(svc, strict=False).network_address + 1)
    coredns_ips = (cluster.get("coredns") or {}).get("ips") or []
    if coredns_ips:
        values[SAMPLE_COREDNS_IP] = str(coredns_ips[0])
    return values


# ------------------------------------------------------------------ links/routes


def ip_batch(scenario: dict[str, Any]) -> list[str]:
    """The `ip -batch` lines that build the scenario's links, addresses, routes and rules."""
    net = scenario.get("network") or {}
    cil = net.get("cilium") or {}
    cluster = scenario.get("cluster") or {}
    node = str(scenario.get("node_name") or "node")
    cmds = ["link set lo up"]

    uplink = net.get("uplink")
    if uplink:
        dev = uplink.get("name", "eth0")
        cmds += [
            f"link add {dev} type veth peer name {UPLINK_PEER}",
            f"link set {UPLINK_PEER} up",
            f"link set {dev} up",
        ]
        if uplink.get("address"):
            cmds.append(f"addr add {uplink['address']} dev {dev}")
            if uplink.get("gateway"):
                src = str(uplink["address"]).split("/")[0]
                cmds.append(
                    f"route add default via {uplink['gateway']} dev {dev} proto dhcp src {src} metric 100"
                )

    if cil.get("present", False):
        host_ip = str(cil.get("host_ip"))
        pod_cidr = str(cil.get("pod_cidr"))
        cmds += [
            "link add cilium_host type veth peer name cilium_net",
            "link set cilium_net up",
            "link set cilium_host up",
            f"addr add {host_ip}/32 dev cilium_host",
            "link add cilium_vxlan type vxlan external dstport 8472",
            "link set cilium_vxlan up",
            "link add lxc_health type veth peer name health-ep",
            "link set health-ep up",
            "link set lxc_health up",
            f"route add {host_ip} dev cilium_host proto kernel scope link",
            f"route add {pod_cidr} via {host_ip} dev cilium_host proto kernel src {host_ip}",
        ]
        for i in range(int(cil.get("endpoints", 0) or 0)):
            lxc = endpoint_name(node, i)
            cmds += [
                f"link add {lxc} type veth peer name pod{lxc[3:13]}",
                f"link set pod{lxc[3:13]} up",
                f"link set {lxc} up",
                f"route add {endpoint_ip(pod_cidr, i)}/32 via {host_ip} dev cilium_host",
            ]
        for peer in cil.get("peers") or []:
            cmds.append(
                f"route add {peer['pod_cidr']} via {host_ip} dev cilium_host proto kernel src {host_ip} mtu 1450"
            )
        cmds += [
            "route add local default dev lo table 2004",
            "rule add fwmark 0x200/0xf00 lookup 2004 pref 9",
            # Cilium moves the local-table rule from 0 to 100 (add first, then delete).
            "rule add lookup local pref 100",
            "rule del pref 0",
        ]

    if net.get("decoys", False):
        veth, ctr = DOCKER_VETH
        cmds += [
            "link add lxcbr0 type bridge",
            "link set lxcbr0 up",
            "link add docker0 type bridge",
            "addr add 172.17.0.1/16 dev docker0",
            f"link add {veth} type veth peer name {ctr}",
            f"link set {veth} master docker0",
            f"link set {ctr} up",
            f"link set {veth} up",
            "link set docker0 up",
        ]

    lo_ips = [cluster.get("kube_dns_ip"), *((cluster.get("coredns") or {}).get("ips") or [])]
    for ip in dict.fromkeys(str(x) for x in lo_ips if x):
        cmds.append(f"addr add {ip}/32 dev lo")

    for r in net.get("extra_routes") or []:
        line = f"route add {r['dst']}"
        if r.get("via"):
            line += f" via {r['via']}"
        if r.get("dev"):
            line += f" dev {r['dev']}"
        if r.get("table"):
            line += f" table {r['table']}"
        cmds.append(line)
    return cmds


def _run(argv: list[str], stdin: str, what: str) -> None:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise CiliumtuiError(f"{argv[0]}: command not found") from None
    if done.returncode != 0:
        why = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()
        raise CiliumtuiError(f"building {what}: {' '.join(why[:2])}")


def _check_netns(netns: str) -> None:
    if "/" in netns or not Path(f"/run/netns/{netns}").exists():
        raise CiliumtuiError(
            f"network namespace {netns} does not exist (create it with `ip netns add`)"
        )


def restore(netns: str, backend: str, text: str, family: int = 4) -> None:
    """Load iptables-restore text into one backend inside netns."""
    binary = f"{'ip6tables' if family == 6 else 'iptables'}-{backend}-restore"
    _run(["ip", "netns", "exec", netns, binary], text, f"{backend} iptables rules")


def run_ip_batch(netns: str, lines: Iterable[str]) -> None:
    _run(["ip", "-n", netns, "-batch", "-"], "\n".join(lines) + "\n", "links and routes")


def build_node(scenario: dict[str, Any], netns: str) -> None:
    """Build the scenario's node inside the existing namespace `netns` (needs root)."""
    _check_netns(netns)
    run_ip_batch(netns, ip_batch(scenario))
    for backend, text in iptables_texts(scenario).items():
        restore(netns, backend, text)
