"""DNS probes: does CoreDNS answer cluster names and public names?

Real UDP queries (dnspython) for `kubernetes.default.svc.<domain>` ("cluster")
and the configured public name ("external"), sent to the kube-dns Service's
clusterIP+port and to each CoreDNS pod's IP + "dns" containerPort. With --netns
each query's socket is created inside that namespace (ciliumtui.netns). All
queries run at once with a short timeout, so the whole probe costs one timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .cluster.hints import k3s_hints
from .model import ClusterState, DnsCheck, DnsState, PodInfo, ProbeStatus, ServiceInfo
from .netns import socket_in_netns
from .options import Options
from .probe import guarded

DNS_TIMEOUT = 1.5  # seconds per query; CoreDNS answers in ms when it works
DEFAULT_PORT = 53


@dataclass(frozen=True)
class DnsTarget:
    server: str  # IP address
    port: int
    via: str  # "service" | "pod/<name>"


def cluster_qname(domain: str) -> str:
    return f"kubernetes.default.svc.{domain.strip('.')}"


def _udp_port(ports: list[tuple[str, int, str]], default: int = DEFAULT_PORT) -> int:
    """The "dns" UDP port, else the first UDP port, else 53."""
    udp = [(name, port) for name, port, proto in ports if proto.upper() == "UDP"]
    named = [port for name, port in udp if name == "dns"]
    if named:
        return named[0]
    return udp[0][1] if udp else default


def service_target(svc: ServiceInfo | None) -> DnsTarget | None:
    if svc is None or not svc.cluster_ip:
        return None
    return DnsTarget(svc.cluster_ip, _udp_port(svc.ports), "service")


def pod_target(pod: PodInfo) -> DnsTarget | None:
    if not pod.ip or pod.deleting:
        return None
    return DnsTarget(pod.ip, _udp_port(pod.ports), f"pod/{pod.name}")


def dns_targets(cluster: ClusterState, fallback_ip: str | None = None) -> list[DnsTarget]:
    """Where to ask: the kube-dns Service, then every CoreDNS pod that has an IP."""
    targets: list[DnsTarget] = []
    svc = service_target(cluster.kube_dns)
    if svc:
        targets.append(svc)
    elif fallback_ip:
        targets.append(DnsTarget(fallback_ip, DEFAULT_PORT, "service"))
    targets.extend(t for t in map(pod_target, cluster.coredns_pods) if t)
    return targets


def query(
    qname: str,
    target: DnsTarget,
    *,
    kind: str = "cluster",
    netns: str | None = None,
    timeout: float = DNS_TIMEOUT,
    rdtype: str = "A",
) -> DnsCheck:
    """One real UDP query; never raises — the outcome (rcode, answers, error) is the result."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode

    check = DnsCheck(qname=qname, server=_hostport(target), via=target.via, kind=kind)  # type: ignore[arg-type]
    try:
        family = (
            socket.AF_INET6 if ipaddress.ip_address(target.server).version == 6 else socket.AF_INET
        )
    except ValueError:
        check.error = f"not an IP address: {target.server}"
        return check
    sock: socket.socket | None = None
    start = time.perf_counter()
    try:
        sock = socket_in_netns(netns, family, socket.SOCK_DGRAM)
        sock.setblocking(False)  # dnspython requires a non-blocking socket
        msg = dns.message.make_query(qname, rdtype)
        resp = dns.query.udp(
            msg, target.server, port=target.port, timeout=timeout, sock=sock, ignore_unexpected=True
        )
        check.ms = round((time.perf_counter() - start) * 1000, 2)
        check.rcode = dns.rcode.to_text(resp.rcode())
        check.answers = [rd.to_text() for rrset in resp.answer for rd in rrset]
    except dns.exception.Timeout:
        check.error = f"timeout after {timeout:g}s"
    except dns.exception.DNSException as exc:
        check.error = f"bad answer: {exc}"
    except OSError as exc:
        check.error = exc.strerror or str(exc) or type(exc).__name__
    except Exception as exc:  # CiliumtuiError from socket_in_netns, anything unexpected
        check.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    finally:
        if sock is not None:
            sock.close()
    return check


def _hostport(t: DnsTarget) -> str:
    return f"[{t.server}]:{t.port}" if ":" in t.server else f"{t.server}:{t.port}"


async def run_checks(
    targets: list[DnsTarget],
    names: list[tuple[str, str]],
    *,
    netns: str | None,
    timeout: float = DNS_TIMEOUT,
) -> list[DnsCheck]:
    """Every (qname, kind) against every target, all at once; results in a stable order."""
    jobs = [(qname, kind, t) for t in targets for qname, kind in names]
    if not jobs:
        return []
    loop = asyncio.get_running_loop()
    # One thread per query: with the default executor (cpu+4 workers) queries would queue
    # behind timeouts and the probe would cost several timeouts instead of one.
    with ThreadPoolExecutor(max_workers=min(len(jobs), 64), thread_name_prefix="dns-probe") as pool:
        futures = [
            loop.run_in_executor(
                pool, lambda q=q, k=k, t=t: query(q, t, kind=k, netns=netns, timeout=timeout)
            )
            for q, k, t in jobs
        ]
        return list(await asyncio.gather(*futures))


async def collect_dns(
    opts: Options, cluster: ClusterState, probes: dict[str, ProbeStatus]
) -> DnsState:
    state = DnsState(cluster_domain=cluster.cluster_domain, public_name=opts.public_name)
    # Apiserver down: no Service or pods to ask, but k3s's config names the cluster DNS IP.
    fallback = None if cluster.reachable else k3s_hints(opts).cluster_dns
    if not cluster.reachable and not fallback:
        return state  # nothing to ask: no Service, no pods, no k3s hint
    targets = dns_targets(cluster, fallback)
    names = [(cluster_qname(cluster.cluster_domain), "cluster"), (opts.public_name, "external")]
    state.checks = await guarded(probes, "dns", run_checks(targets, names, netns=opts.netns), [])
    return state
