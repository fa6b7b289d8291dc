"""CoreDNS: its Deployment/ReplicaSet, the CoreDNS pods, the kube-dns Service and
the `coredns` ConfigMap (its Corefile).

Without a netns the pods and the Service point at the DNS responder's real
address (`dns_addr`, 127.0.0.1 on a free port); with one they carry the
scenario's addresses (assets/scenarios/README.md).

CoreDNS's `loop` plugin: a Corefile that forwards to a loopback resolver — an
address, or `/etc/resolv.conf` when the resolv.conf the kubelet hands the pod
(dnsPolicy Default) names one, like systemd-resolved's 127.0.0.53 stub — makes
CoreDNS exit with `[FATAL] plugin/loop: Loop … detected`; the pods crash-loop
until the Corefile forwards to a real upstream (`forward_loops`).
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from .meta import (
    KUBE_SYSTEM,
    BuildContext,
    Obj,
    node_ip,
    nodes_of,
    owner_ref,
    suffix,
    this_node,
    ts,
    uid_for,
)
from .pods import make_pod
from .services import service
from .workloads import deployment

IMAGE = "rancher/mirrored-coredns-coredns:1.12.0"


def coredns_port(dns_addr: tuple[str, int] | None) -> int:
    return dns_addr[1] if dns_addr else 53


def pod_state(ready: Any) -> str:
    """`cluster.coredns.ready` (true | false | "crashloop") as a pod state."""
    return (
        "running" if ready is True else ("crashloop" if str(ready) == "crashloop" else "not-ready")
    )


def _pick_node(scenario: dict[str, Any], ip: str | None) -> dict[str, Any] | None:
    """The node whose pod CIDR holds `ip`, else this node, else the first."""
    nodes = nodes_of(scenario)
    if ip:
        addr = ipaddress.ip_address(ip)
        for n in nodes:
            cidr = n.get("pod_cidr")
            if isinstance(cidr, str) and addr in ipaddress.ip_network(cidr, strict=False):
                return n
    return this_node(scenario) or (nodes[0] if nodes else None)


def build(ctx: BuildContext) -> list[Obj]:
    return _coredns(ctx.scenario, ctx.rng, ctx.dns_addr)


# k3s's own Corefile (its coredns.yaml manifest); `cluster.coredns.corefile` replaces it.
K3S_COREFILE = """\
.:53 {{
    errors
    health
    ready
    kubernetes {domain} in-addr.arpa ip6.arpa {{
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }}
    hosts /etc/coredns/NodeHosts {{
      ttl 60
      reload 15s
      fallthrough
    }}
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
    import /etc/coredns/custom/*.override
}}
import /etc/coredns/custom/*.server
"""
RESOLV_CONF = "/etc/resolv.conf"
RESOLVED_CONF = "/run/systemd/resolve/resolv.conf"


def corefile_of(scenario: dict[str, Any]) -> str:
    cl = scenario["cluster"]
    own = (cl.get("coredns") or {}).get("corefile")
    return str(own) if own else K3S_COREFILE.format(domain=cl.get("domain", "cluster.local"))


def configmap(scenario: dict[str, Any]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "coredns",
            "namespace": KUBE_SYSTEM,
            "uid": uid_for("cm", "coredns"),
            "creationTimestamp": ts(),
        },
        "data": {"Corefile": corefile_of(scenario), "NodeHosts": ""},
    }


def _k3s_resolv_conf(scenario: dict[str, Any]) -> str | None:
    """The resolv.conf k3s's kubelet was told to use (`resolv-conf`, kubelet-arg)."""
    config = ((scenario.get("host") or {}).get("k3s") or {}).get("config") or {}
    args = config.get("kubelet-arg") or []
    for arg in reversed(args if isinstance(args, list) else [args]):
        key, _, value = str(arg).lstrip("-").partition("=")
        if key == "resolv-conf" and value:
            return value
    return str(config["resolv-conf"]) if config.get("resolv-conf") else None


def _file_nameservers(scenario: dict[str, Any], path: str) -> list[str] | None:
    """The nameservers of a node file the scenario describes (None: no such file)."""
    host = scenario.get("host") or {}
    if path == RESOLV_CONF:
        return [str(x) for x in host.get("nameservers") or []]
    if path == RESOLVED_CONF:
        return [str(x) for x in host.get("resolved_nameservers") or []] or None
    text = (host.get("files") or {}).get(path)
    if text is None:
        return None
    return [
        line.split()[1]
        for line in str(text).splitlines()
        if line.split()[:1] == ["nameserver"] and len(line.split()) > 1
    ]


def pod_nameservers(scenario: dict[str, Any]) -> list[str]:
    """The /etc/resolv.conf a dnsPolicy-Default pod (CoreDNS) gets: the kubelet's
    resolv-conf — on k3s the node's /etc/resolv.conf, or systemd-resolved's upstream
    file when that one names only loopback stubs, unless `resolv-conf` says which."""
    chosen = _k3s_resolv_conf(scenario)
    if chosen is not None:
        return _file_nameservers(scenario, chosen) or []
    servers = _file_nameservers(scenario, RESOLV_CONF) or []
    resolved = _file_nameservers(scenario, RESOLVED_CONF)
    if servers and all(_loopback(s) for s in servers) and resolved:
        return resolved  # what k3s does by itself
    return servers


def _loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.split("%")[0]).is_loopback
    except ValueError:
        return False


def forward_targets(corefile: str) -> list[str]:
    """The `forward . <to…>` targets of the root zone's server block, in order."""
    out: list[str] = []
    for line in corefile.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 3 and words[0] == "forward" and words[1] == ".":
            out += [w for w in words[2:] if w != "{"]
    return out


def forward_loops(corefile: str, scenario: dict[str, Any]) -> bool:
    """Does CoreDNS forward to itself? A loopback target (127.x, ::1), directly or
    through a resolv.conf path inside the pod (only /etc/resolv.conf exists there,
    and /run/systemd/resolve/resolv.conf when the scenario's node has it, as a
    hostPath would give it)."""
    for target in forward_targets(corefile):
        if target.startswith("/"):
            servers = (
                pod_nameservers(scenario)
                if target == RESOLV_CONF
                else _file_nameservers(scenario, target)
            )
            if any(_loopback(s) for s in servers or []):
                return True
        elif _loopback(_target_host(target)):
            return True
    return False


def _target_host(target: str) -> str:
    """The address of a forward target: `1.1.1.1`, `127.0.0.1:5353`, `[::1]:53`, `dns://…`."""
    t = target.split("://", 1)[-1]
    if t.startswith("["):
        return t[1:].split("]", 1)[0]
    return t.rsplit(":", 1)[0] if t.count(":") == 1 else t


def corefile_state(ready: Any, corefile: str, scenario: dict[str, Any]) -> str:
    """A CoreDNS pod's state: the scenario's, except that a looping Corefile crash-loops."""
    state = pod_state(ready)
    return "crashloop" if state == "running" and forward_loops(corefile, scenario) else state


def _coredns(
    scenario: dict[str, Any], rng: random.Random, dns_addr: tuple[str, int] | None
) -> list[Obj]:
    cl = scenario["cluster"]
    cd = cl.get("coredns") or {}
    replicas = int(cd.get("replicas", 1))
    ready = cd.get("ready", True)
    ips = [str(x) for x in cd.get("ips") or []]
    port = coredns_port(dns_addr)
    labels = {"k8s-app": "kube-dns"}
    image = IMAGE
    dep, rs = deployment("coredns", labels, image, "coredns", replicas, labels)
    out = [dep, rs]
    ports = {
        "coredns": [
            {"name": "dns", "containerPort": port, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": port, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
        ]
    }
    for i in range(replicas):
        ip = ips[i] if i < len(ips) else None
        node = _pick_node(scenario, ip) or {"name": None}
        # ready: true | false | "crashloop" | a list per replica
        r = ready[i] if isinstance(ready, list) and i < len(ready) else ready
        state = corefile_state(r, corefile_of(scenario), scenario)
        pod = make_pod(
            name=f"{rs['metadata']['name']}-{suffix(rng)}",
            namespace=KUBE_SYSTEM,
            node=node.get("name"),
            labels=rs["spec"]["template"]["metadata"]["labels"],
            containers=[("coredns", image)],
            state=state,
            host_ip=node_ip(node),
            pod_ip=dns_addr[0] if dns_addr else ip,
            owner=owner_ref("ReplicaSet", rs["metadata"]["name"], rs["metadata"]["uid"]),
            ports=ports,
            restarts=7 if state == "crashloop" else 0,
        )
        out.append(pod)
    out.append(configmap(scenario))
    kube_dns_ip = dns_addr[0] if dns_addr else str(cl.get("kube_dns_ip", "10.43.0.10"))
    out.append(
        service(
            "kube-dns",
            KUBE_SYSTEM,
            kube_dns_ip,
            [
                {"name": "dns", "port": port, "protocol": "UDP", "targetPort": port},
                {"name": "dns-tcp", "port": port, "protocol": "TCP", "targetPort": port},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
            {
                "k8s-app": "kube-dns",
                "kubernetes.io/cluster-service": "true",
                "kubernetes.io/name": "CoreDNS",
            },
            labels,
        )
    )
    return out
