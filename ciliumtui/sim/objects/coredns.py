"""CoreDNS: its Deployment/ReplicaSet, the CoreDNS pods and the kube-dns Service.

Without a netns the pods and the Service point at the DNS responder's real
address (`dns_addr`, 127.0.0.1 on a free port); with one they carry the
scenario's addresses (assets/scenarios/README.md).
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


def _coredns_configmap(cd: dict[str, Any], domain: str) -> Obj:
    corefile = cd.get("corefile")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "coredns",
            "namespace": KUBE_SYSTEM,
            "uid": uid_for("cm", "coredns"),
            "creationTimestamp": ts(),
        },
        "data": {
            "Corefile": str(corefile) if corefile else K3S_COREFILE.format(domain=domain),
            "NodeHosts": "",
        },
    }


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
        state = pod_state(r)
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
    out.append(_coredns_configmap(cd, str(cl.get("domain", "cluster.local"))))
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
