"""Lay a scenario's `network` section into an existing network namespace (root).

A node, as a trainee sees it from inside its namespace, holds what a real
k3s+Cilium node holds and nothing else. Everything the node talks to lives in a
second namespace, `<netns>.upstream` ("the rest of the cluster and the LAN"),
reached the way a real node reaches it: by routes.

The node's namespace (assets/scenarios/README.md, healthy.yaml):
- uplink: `eth0` with the node address and the default route; its far end is
  in the upstream namespace (no `gw-eth0` on the node).
- Cilium: the cilium_host/cilium_net veth pair (cilium_host carries the router
  IP /32), cilium_vxlan (collect-metadata, port 8472), lxc_health and
  `lxc<12 hex>` endpoint veths whose pod ends are in the upstream namespace (as
  a pod's end is in its own namespace on a real node), the pod-CIDR, router and
  peer-node routes via cilium_host, a `/32 dev lxc…` route per endpoint (the
  shape of Cilium's endpoint routes), `local default dev lo table 2004`, the ip
  rules `fwmark 0x200/0xf00 lookup 2004 pref 9` and `lookup local pref 100`.
  The first endpoints are the CoreDNS pods of this node (their pod IPs).
- netfilter: the reference iptables-save of a k3s+Cilium node (assets/samples),
  with the scenario's addresses substituted, split into Cilium's part (loaded
  into `cilium.iptables`) and the KUBE-* part (into `kube_iptables`).
- `cilium.leftover_rules` (links gone): the ip rules and table 2004 alone.
- flannel (`network.flannel`, k3s's embedded flannel): flannel.1 (vxlan 1, UDP
  8472 on the uplink) with the subnet's /32 and routes to the peers' subnets,
  cni0 with the subnet's .1 and a `veth<8 hex>` on it per CoreDNS pod of this node
  (pod end in the upstream namespace, answered like an lxc endpoint's).
- decoys (not Cilium's): bridge lxcbr0, bridge docker0 with a veth on it, a
  USER-INPUT chain whose rule's comment mentions cilium.
- no service or pod address on `lo`.

The upstream namespace: the uplink's far end (`lan0`) with the gateway address,
a default route back to the node; on its `lo` the kube-dns Service IP, the
CoreDNS pod IPs and the node's nameservers, where the simulated DNS responders
listen (ciliumtui.sim.server); the endpoints' pod ends, and for each CoreDNS
pod a source rule so its replies go back through its own veth. Without Cilium's
BPF nothing on the node forwards pod traffic, so a CoreDNS pod is answered
through its endpoint route (or, once Cilium's links are gone, the default route),
and the kube-dns Service through kube-proxy's DNAT or the default route.

Teardown: `remove_node(netns)` deletes both namespaces; `reap_upstreams()`
deletes an upstream namespace whose node namespace is gone (a caller that
deleted only the node's).
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
UPSTREAM_SUFFIX = ".upstream"
UPSTREAM_UPLINK = "lan0"  # the uplink's far end, in the upstream namespace
POD_TABLE = 100  # upstream: replies from CoreDNS pod k use table POD_TABLE + k
DOCKER_VETH = ("veth3f2a1b0", "ctr-3f2a1b0")
DECOY_CHAIN = "USER-INPUT"
DECOY_RULE_COMMENT = "user: keep ssh open even when cilium is broken"


def endpoint_name(node: str, i: int) -> str:
    """`lxc` + 12 hex, stable per node and index (snapshots compare across runs)."""
    return "lxc" + hashlib.sha256(f"{node}/{i}".encode()).hexdigest()[:12]


def pod_end_name(lxc: str) -> str:
    """The pod end of endpoint veth `lxc…` or flannel's `veth…` (in the upstream namespace)."""
    return f"pod{lxc[3:13] if lxc.startswith('lxc') else lxc[4:14]}"


def endpoint_ip(pod_cidr: str, i: int) -> str:
    net = ipaddress.ip_network(pod_cidr, strict=False)
    return str(net.network_address + 100 + i)


def local_coredns_ips(scenario: dict[str, Any]) -> list[str]:
    """The CoreDNS pod IPs inside this node's pod CIDR (those pods run here)."""
    cil = (scenario.get("network") or {}).get("cilium") or {}
    coredns = ((scenario.get("cluster") or {}).get("coredns") or {}).get("ips") or []
    try:
        net = ipaddress.ip_network(str(cil.get("pod_cidr")), strict=False)
    except ValueError:
        return []
    return [str(ip) for ip in coredns if _in(str(ip), net)]


def _in(ip: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(ip) in net
    except ValueError:
        return False


def endpoints(scenario: dict[str, Any]) -> list[tuple[str, str]]:
    """(lxc name, pod IP) of this node's endpoints: its CoreDNS pods first, then the
    scenario's other `endpoints` (at .100 + i of the pod CIDR)."""
    net = scenario.get("network") or {}
    cil = net.get("cilium") or {}
    if not cil.get("present", False):
        return []
    node = str(scenario.get("node_name") or "node")
    pod_cidr = str(cil.get("pod_cidr"))
    dns = local_coredns_ips(scenario)
    count = max(int(cil.get("endpoints", 0) or 0), len(dns))
    return [
        (endpoint_name(node, i), dns[i] if i < len(dns) else endpoint_ip(pod_cidr, i))
        for i in range(count)
    ]


FLANNEL_VNI = 1
FLANNEL_PORT = 8472  # the port cilium_vxlan needs too


def flannel_endpoints(scenario: dict[str, Any]) -> list[tuple[str, str]]:
    """(veth name, pod IP) of the pods flannel's bridge plugin wired to cni0: this
    node's CoreDNS pods (their pod ends are in the upstream namespace)."""
    fl = (scenario.get("network") or {}).get("flannel") or {}
    if not fl.get("present", False) or not fl.get("pod_cidr"):
        return []
    net = ipaddress.ip_network(str(fl["pod_cidr"]), strict=False)
    coredns = ((scenario.get("cluster") or {}).get("coredns") or {}).get("ips") or []
    node = str(scenario.get("node_name") or "node")
    return [
        ("veth" + hashlib.sha256(f"{node}/flannel/{ip}".encode()).hexdigest()[:8], str(ip))
        for ip in coredns
        if _in(str(ip), net)
    ]


def _pod_ends(scenario: dict[str, Any]) -> list[tuple[str, str]]:
    """(node-side veth, pod IP) of every pod end in the upstream namespace, in the
    order their reply tables are numbered."""
    return endpoints(scenario) + flannel_endpoints(scenario)


def flannel_batch(scenario: dict[str, Any], far: str) -> list[str]:
    """flannel.1 (vxlan, UDP 8472 on the uplink) with its /32 and the routes to the
    peers' subnets, cni0 with the subnet's .1 and a veth per pod on it — as k3s's
    flannel and the bridge plugin leave them."""
    net = scenario.get("network") or {}
    fl = net.get("flannel") or {}
    if not fl.get("present", False):
        return []
    uplink = net.get("uplink") or {}
    dev = uplink.get("name", "eth0")
    local = str(uplink.get("address") or "").split("/")[0]
    cmds = [
        f"link add flannel.1 type vxlan id {FLANNEL_VNI}"
        + (f" local {local}" if local else "")
        + f" dev {dev} dstport {FLANNEL_PORT} nolearning",
    ]
    pod_cidr = fl.get("pod_cidr")
    if pod_cidr:
        subnet = ipaddress.ip_network(str(pod_cidr), strict=False)
        cmds += [
            f"addr add {subnet.network_address}/32 dev flannel.1",
            "link add cni0 type bridge",
            f"addr add {subnet.network_address + 1}/{subnet.prefixlen} dev cni0",
        ]
        for veth, _ip in flannel_endpoints(scenario):
            cmds += [
                f"link add {veth} type veth peer name {pod_end_name(veth)}{far}",
                *([] if far else [f"link set {pod_end_name(veth)} up"]),
                f"link set {veth} master cni0",
                f"link set {veth} up",
            ]
        cmds.append("link set cni0 up")
    cmds.append("link set flannel.1 up")
    for peer in fl.get("peers") or []:
        sub = ipaddress.ip_network(str(peer["pod_cidr"]), strict=False)
        cmds.append(f"route add {sub} via {sub.network_address} dev flannel.1 onlink")
    return cmds


def upstream_netns(netns: str) -> str:
    """The namespace holding what node `netns` talks to (see the module docstring)."""
    return netns + UPSTREAM_SUFFIX


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


def ip_batch(scenario: dict[str, Any], upstream: str | None = None) -> list[str]:
    """The `ip -batch` lines that build the scenario's links, addresses, routes and
    rules in the node's namespace. `upstream`: the namespace the far ends of the
    veths go to (None: they stay beside their node end, for callers that build
    the node's links only)."""
    net = scenario.get("network") or {}
    cil = net.get("cilium") or {}
    far = f" netns {upstream}" if upstream else ""
    cmds = ["link set lo up"]

    uplink = net.get("uplink")
    if uplink:
        dev = uplink.get("name", "eth0")
        cmds += [f"link add {dev} type veth peer name {UPSTREAM_UPLINK}{far}", f"link set {dev} up"]
        if not upstream:
            cmds.append(f"link set {UPSTREAM_UPLINK} up")
        if uplink.get("address"):
            cmds.append(f"addr add {uplink['address']} dev {dev}")
            if uplink.get("gateway"):
                src = str(uplink["address"]).split("/")[0]
                cmds.append(
                    f"route add default via {uplink['gateway']} dev {dev} proto dhcp src {src} metric 100"
                )

    def veth(name: str, peer: str) -> list[str]:
        out = [f"link add {name} type veth peer name {peer}{far}"]
        return out + ([] if upstream else [f"link set {peer} up"]) + [f"link set {name} up"]

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
            *veth("lxc_health", "health-ep"),
            f"route add {host_ip} dev cilium_host proto kernel scope link",
            f"route add {pod_cidr} via {host_ip} dev cilium_host proto kernel src {host_ip}",
        ]
        for lxc, ip in endpoints(scenario):
            cmds += veth(lxc, pod_end_name(lxc))
            cmds.append(f"route add {ip}/32 dev {lxc} scope link")
        for peer in cil.get("peers") or []:
            cmds.append(
                f"route add {peer['pod_cidr']} via {host_ip} dev cilium_host proto kernel src {host_ip} mtu 1450"
            )
    if cil.get("present", False) or cil.get("leftover_rules", False):
        cmds += [
            "route add local default dev lo table 2004",
            "rule add fwmark 0x200/0xf00 lookup 2004 pref 9",
            # Cilium moves the local-table rule from 0 to 100 (add first, then delete).
            "rule add lookup local pref 100",
            "rule del pref 0",
        ]
    cmds += flannel_batch(scenario, far)

    if net.get("decoys", False):
        veth_name, ctr = DOCKER_VETH
        cmds += [
            "link add lxcbr0 type bridge",
            "link set lxcbr0 up",
            "link add docker0 type bridge",
            "addr add 172.17.0.1/16 dev docker0",
            f"link add {veth_name} type veth peer name {ctr}{far}",
            f"link set {veth_name} master docker0",
            *([] if upstream else [f"link set {ctr} up"]),
            f"link set {veth_name} up",
            "link set docker0 up",
        ]

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


def upstream_addresses(scenario: dict[str, Any]) -> list[str]:
    """What answers in the upstream namespace (on its lo): the kube-dns Service IP,
    the CoreDNS pod IPs and the node's nameservers and systemd-resolved's upstreams
    (other than the gateway; a loopback stub answers on the node itself)."""
    cluster = scenario.get("cluster") or {}
    uplink = (scenario.get("network") or {}).get("uplink") or {}
    host = scenario.get("host") or {}
    ips = [
        cluster.get("kube_dns_ip"),
        *((cluster.get("coredns") or {}).get("ips") or []),
        *(host.get("nameservers") or []),
        *(host.get("resolved_nameservers") or []),  # behind a 127.0.0.53 stub
    ]
    return [
        ip
        for ip in dict.fromkeys(str(x) for x in ips if x)
        if ip != uplink.get("gateway") and not _loopback(ip)  # a stub runs on the node
    ]


def _loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def upstream_batch(scenario: dict[str, Any]) -> list[str]:
    """The upstream namespace's `ip -batch` lines, after the node's (run with -force:
    re-running it after the node's links were relaid only adds what is missing)."""
    net = scenario.get("network") or {}
    cmds = ["link set lo up"]
    uplink = net.get("uplink") or {}
    if uplink:
        cmds.append(f"link set {UPSTREAM_UPLINK} up")
        if uplink.get("address") and uplink.get("gateway"):
            iface = ipaddress.ip_interface(str(uplink["address"]))
            cmds.append(
                f"addr add {uplink['gateway']}/{iface.network.prefixlen} dev {UPSTREAM_UPLINK}"
            )
            cmds.append(f"route add default via {iface.ip} dev {UPSTREAM_UPLINK}")
    cmds += [f"addr add {ip}/32 dev lo" for ip in upstream_addresses(scenario)]
    if (net.get("cilium") or {}).get("present", False):
        cmds.append("link set health-ep up")
    if _pod_ends(scenario):
        dns = set(local_coredns_ips(scenario)) | {ip for _, ip in flannel_endpoints(scenario)}
        for k, (lxc, ip) in enumerate(_pod_ends(scenario)):
            pod = pod_end_name(lxc)
            cmds.append(f"link set {pod} up")
            if ip in dns:
                # A CoreDNS pod answers through its own veth, as from its own namespace.
                cmds += [
                    f"route replace default dev {pod} table {POD_TABLE + k}",
                    f"rule del pref {POD_TABLE + k}",  # a relaid node: no duplicate rule
                    f"rule add from {ip} lookup {POD_TABLE + k} pref {POD_TABLE + k}",
                ]
    if net.get("decoys", False):
        cmds.append(f"link set {DOCKER_VETH[1]} up")
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


def run_ip_batch(netns: str, lines: Iterable[str], *, force: bool = False) -> None:
    argv = ["ip", "-n", netns, *(["-force"] if force else []), "-batch", "-"]
    try:
        _run(argv, "\n".join(lines) + "\n", "links and routes")
    except CiliumtuiError:
        if not force:  # -force: some lines may exist already; the rest were applied
            raise


def _netns_add(name: str) -> None:
    if not Path("/run/netns", name).exists():
        _run(["ip", "netns", "add", name], "", f"the namespace {name}")


def _netns_del(name: str) -> None:
    if Path("/run/netns", name).exists():
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def build_node(scenario: dict[str, Any], netns: str) -> None:
    """Build the scenario's node inside the existing namespace `netns` and what it
    talks to in `upstream_netns(netns)` (created here; needs root)."""
    _check_netns(netns)
    reap_upstreams()
    upstream = upstream_netns(netns)
    _netns_add(upstream)
    run_ip_batch(netns, ip_batch(scenario, upstream))
    run_ip_batch(upstream, upstream_batch(scenario), force=True)
    for backend, text in iptables_texts(scenario).items():
        restore(netns, backend, text)


def remove_node(netns: str) -> None:
    """Delete a built node: its namespace and its upstream namespace."""
    _netns_del(upstream_netns(netns))
    _netns_del(netns)


def reap_upstreams() -> list[str]:
    """Delete upstream namespaces whose node namespace is gone (its owner deleted only
    the node's, or was killed); returns their names."""
    reaped = []
    root = Path("/run/netns")
    for entry in root.glob(f"*{UPSTREAM_SUFFIX}") if root.is_dir() else []:
        node = entry.name[: -len(UPSTREAM_SUFFIX)]
        if node and not (root / node).exists():
            _netns_del(entry.name)
            reaped.append(entry.name)
    return reaped
