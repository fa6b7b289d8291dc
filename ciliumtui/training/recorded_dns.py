"""What a recorded node's own resolvers answer: the node's DNS queries, simulated.

In a namespace the node's resolv.conf nameservers answer in its upstream namespace
like a provider's resolver (ciliumtui.sim.server: public names resolve, cluster
names do not), and whether a query reaches one is up to the node itself: its
routes (a pod CIDR over the resolver's address sends the query into cilium_host),
and what its uplink does with the replies (a dead agent's tc program that drops
everything makes the node dark). A recorded node has no kernel, so its file
records the world around it (`simulated_world`, beside the NodeState) and each
query is answered from that and the node as the file says it is now: the same
routes and BPF programs the trainee's fixes change.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from ..model import BpfState, DnsCheck, NodeState, Route

if TYPE_CHECKING:
    from ..dns import Kind

NOT_RECORDED = "recorded node: what its resolvers answer was not recorded"
_REFUSED = {  # what sendto(2) says for a route of these types
    "unreachable": "No route to host",
    "prohibit": "Permission denied",
    "blackhole": "Invalid argument",
}


def simulated_world(scenario: dict[str, Any], bpf: BpfState) -> dict[str, Any]:
    """What surrounds the scenario's node (JSON): the uplink its resolvers sit behind,
    how each resolver answers (as the simulator's upstream resolver does), and the ids
    of the programs in `bpf` that drop what their device receives."""
    from ..sim.server import UPSTREAM_DNS

    host = scenario.get("host") or {}
    net = scenario.get("network") or {}
    uplink = net.get("uplink") or None
    servers = [*(host.get("nameservers") or []), *(host.get("resolved_nameservers") or [])]
    dropping = []
    for t in (net.get("bpf") or {}).get("tc") or []:
        if not t.get("drop"):
            continue
        hook, dev = f"tc-{t.get('direction', 'ingress')}", str(t["dev"])
        name = str(t.get("name", "cil_from_netdev"))[:15]
        dropping += [
            a.program.id
            for a in bpf.attachments
            if (a.via, a.hook, a.target, a.program.name) == ("tc", hook, dev, name)
        ]
    return {
        "uplink": str(uplink.get("name", "eth0")) if uplink else None,
        "resolvers": {str(ip): dict(UPSTREAM_DNS) for ip in servers},
        "dropping": dropping,
    }


def _route_for(
    node: NodeState, addr: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> Route | None:
    """The route the kernel picks for a query the node sends to `addr`: the ip rules
    in priority order (those that match an unmarked packet from the node itself),
    the longest prefix of the table a rule names."""
    rules = sorted((r for r in node.rules if r.family == addr.version), key=lambda r: r.priority)
    tables: list[str | None] = []
    for rule in rules:
        if rule.invert or rule.fwmark or rule.iif or rule.oif or rule.src not in (None, "all"):
            continue
        if rule.dst not in (None, "all") and addr not in ipaddress.ip_network(rule.dst, False):
            continue
        if rule.action in _REFUSED:
            return Route(dst=str(addr), family=addr.version, type=rule.action)
        tables.append(rule.table)
    for table in tables or ["main"]:
        best: tuple[int, Route] | None = None
        for route in node.routes:
            if route.family != addr.version or route.table != (table or "main"):
                continue
            dst = "0.0.0.0/0" if addr.version == 4 else "::/0"
            net = ipaddress.ip_network(dst if route.dst == "default" else route.dst, False)
            if addr in net and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, route)
        if best is not None:
            return best[1]
    return None


def _unreached(node: NodeState, world: dict[str, Any], server: str) -> str | None:
    """Why a query to `server` gets no answer ("timeout" or the error sendto(2) gives),
    or None when it reaches whatever listens there."""
    try:
        addr = ipaddress.ip_address(server)
    except ValueError:
        return f"not an IP address: {server}"
    if addr.is_loopback:
        return None  # on the node itself (systemd-resolved's stub)
    route = _route_for(node, addr)
    if route is None:
        return "Network is unreachable"
    if route.type in _REFUSED:
        return _REFUSED[route.type]
    uplink = world.get("uplink")
    if route.dev != uplink:
        return "timeout"  # into a device with no resolver behind it (cilium_host, cni0 …)
    dropping = set(world.get("dropping") or [])
    if any(a.target == uplink and a.program.id in dropping for a in node.bpf.attachments):
        return "timeout"  # the replies come in on the uplink, and are dropped there
    return None


def answer(
    node: NodeState,
    world: dict[str, Any] | None,
    qname: str,
    server: str,
    shown: str,
    via: str,
    kind: Kind,
    timeout: float,
) -> DnsCheck:
    """The DnsCheck that ciliumtui.dns.query would give on this node (`shown`: the
    server as the check names it, "192.168.1.1:53")."""
    from ..sim.dns_server import EXTERNAL_A

    check = DnsCheck(qname=qname, server=shown, via=via, kind=kind)
    resolvers = (world or {}).get("resolvers")
    if world is None or resolvers is None:
        check.error = NOT_RECORDED
        return check
    why = _unreached(node, world, server)
    behaviour = resolvers.get(server)
    if why is None and behaviour is None:
        why = "timeout"  # nothing listens at that address
    mode = "timeout" if why == "timeout" else str((behaviour or {}).get(f"{kind}_names", "ok"))
    if why is not None and why != "timeout":
        check.error, check.ms = why, 0.0
    elif mode == "timeout":
        check.error, check.ms = f"timeout after {timeout:g}s", round(timeout * 1000, 2)
    else:
        check.ms = 1.0
        check.rcode = {"ok": "NOERROR", "nxdomain": "NXDOMAIN"}.get(mode, "SERVFAIL")
        check.answers = [EXTERNAL_A] if mode == "ok" else []
    return check
