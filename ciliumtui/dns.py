"""DNS probes: does CoreDNS answer cluster names and public names, and does the
node's own resolver answer public names?

Real UDP queries (dnspython) for `kubernetes.default.svc.<domain>` ("cluster")
and the configured public name ("external"), sent to the kube-dns Service's
clusterIP+port and to each CoreDNS pod's IP + "dns" containerPort; and the public
name to each nameserver of the node's resolv.conf (via "node"), so that a CoreDNS
that cannot resolve public names is told apart from a node that cannot either.
With --netns each query's socket is created inside that namespace
(ciliumtui.netns). All queries run at once with a short timeout, so the whole
probe costs one timeout; `query` is the one DNS query function of the project
(the playbook action dns.resolve uses it too).

The node's own resolvers are asked through the node's backend (DESIGN §3: the one
way in to the node): the kernel backend sends `query` from --netns, another
backend (a node kept in a file) answers as that node would.

`DnsProbe` starts what needs no apiserver — the node's resolvers, and the k3s
config's cluster DNS IP — as soon as a collection starts, in parallel with the
cluster probes; `finish(cluster)` adds what the cluster told us. So the node's
rows exist when the apiserver is unreachable, and a dead apiserver does not
make the DNS checks wait for its timeout first.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import time
from typing import TYPE_CHECKING, Literal

from .cluster.deadline import Deadline, in_daemon_thread
from .cluster.hints import k3s_hints
from .model import ClusterState, DnsCheck, DnsState, PodInfo, ProbeStatus, ServiceInfo
from .netns import socket_in_netns
from .options import Options
from .probe import guarded, one_line
from .record import record

if TYPE_CHECKING:
    from dns.message import Message

    from .node.backend import NodeBackend

DNS_TIMEOUT = 1.5  # seconds per query; CoreDNS answers in ms when it works
# Below this, a query that gets no answer proves nothing: not asking is honest,
# a "timeout after 0.05s" row would be a false DNS finding.
MIN_QUERY_TIME = 0.3
RETRANSMIT_AFTER = 1 / 3  # of the timeout: one lost datagram is sent again (see _udp)
DEFAULT_PORT = 53
NODE_VIA = "node"
Kind = Literal["cluster", "external"]


@record(frozen=True)
class DnsTarget:
    server: str  # IP address
    port: int
    via: str  # "service" | "pod/<name>" | "node"


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


def node_targets(nameservers: list[str]) -> list[DnsTarget]:
    """The node's resolv.conf nameservers, each once, in resolv.conf's order."""
    return [DnsTarget(ns, DEFAULT_PORT, NODE_VIA) for ns in dict.fromkeys(nameservers)]


def _refused_line(exc: OSError, target: DnsTarget) -> str:
    """What a local refusal to send means. A netfilter REJECT or DROP of a locally
    generated packet makes sendto(2) fail with EPERM: for the kube-dns Service that
    is kube-proxy's (or Cilium's socket LB's) rule for a Service without endpoints."""
    why = exc.strerror or "Operation not permitted"
    if target.via == "service":
        return f"kube-dns has no ready endpoints: the query is rejected on this node ({why})"
    return f"the query is rejected on this node by a firewall rule ({why})"


def query(
    qname: str,
    target: DnsTarget,
    *,
    kind: Kind = "cluster",
    netns: str | None = None,
    timeout: float = DNS_TIMEOUT,
    rdtype: str = "A",
) -> DnsCheck:
    """One real UDP query; never raises — the outcome (rcode, answers, error) is the result."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode

    check = DnsCheck(qname=qname, server=hostport(target), via=target.via, kind=kind)
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
        resp = _udp(msg, target, family, sock, timeout)
        check.rcode = dns.rcode.to_text(resp.rcode())
        check.answers = [rd.to_text() for rrset in resp.answer for rd in rrset]
    except dns.exception.Timeout:
        check.error = f"timeout after {timeout:g}s"
    except dns.exception.DNSException as exc:
        check.error = f"bad answer: {exc}"
    except OSError as exc:
        if exc.errno == errno.EPERM:
            check.error = _refused_line(exc, target)
        else:
            check.error = exc.strerror or str(exc) or type(exc).__name__
    except Exception as exc:  # CiliumtuiError from socket_in_netns, anything unexpected
        check.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    finally:
        check.ms = round((time.perf_counter() - start) * 1000, 2)
        if sock is not None:
            sock.close()
    return check


def _udp(
    msg: Message, target: DnsTarget, family: int, sock: socket.socket, timeout: float
) -> Message:
    """`msg` to `target` over UDP, sent again once if no answer came within a third of
    the timeout — what a stub resolver does (resolv.conf `attempts`): one lost
    datagram is not a DNS failure. A server that never answers still costs exactly
    `timeout`. Raises dns.exception.Timeout, or DNSException for a bad answer."""
    import dns.exception
    import dns.inet
    import dns.query

    wire = msg.to_wire()
    dest = dns.inet.low_level_address_tuple((target.server, target.port), family)
    end = time.time() + timeout  # dnspython's expirations are time.time()
    resend = time.time() + timeout * RETRANSMIT_AFTER
    dns.query.send_udp(sock, wire, dest, end)
    while True:
        try:
            resp, _when = dns.query.receive_udp(
                sock, dest, min(resend, end), ignore_unexpected=True
            )
        except dns.exception.Timeout:
            if resend >= end:
                raise
            dns.query.send_udp(sock, wire, dest, end)  # same id: a late first answer counts
            resend = end
            continue
        if not msg.is_response(resp):
            raise dns.query.BadResponse
        return resp


def hostport(t: DnsTarget) -> str:
    """The server as a check names it: "10.43.0.10:53", "[fd00::a]:53"."""
    return f"[{t.server}]:{t.port}" if ":" in t.server else f"{t.server}:{t.port}"


async def run_checks(
    targets: list[DnsTarget],
    names: list[tuple[str, Kind]],
    *,
    netns: str | None,
    timeout: float = DNS_TIMEOUT,
) -> list[DnsCheck]:
    """Every (qname, kind) against every target, all at once; results in a stable order."""
    # One daemon thread per query: queued behind each other (the default executor has
    # cpu+4 workers) the probe would cost several timeouts instead of one, and a
    # daemon never holds up the exit of a process that stopped waiting for it.
    return list(
        await asyncio.gather(
            *(
                in_daemon_thread(query_job, q, t, k, netns, timeout)
                for t in targets
                for q, k in names
            )
        )
    )


def query_job(qname: str, target: DnsTarget, kind: Kind, netns: str | None, t: float) -> DnsCheck:
    """`query` with positional arguments (for a worker thread)."""
    return query(qname, target, kind=kind, netns=netns, timeout=t)


async def ask_node(
    backend: NodeBackend,
    targets: list[DnsTarget],
    names: list[tuple[str, Kind]],
    *,
    timeout: float = DNS_TIMEOUT,
) -> list[DnsCheck]:
    """`run_checks` for queries sent from the node itself: through its backend."""
    return list(
        await asyncio.gather(
            *(backend.dns_query(q, t, k, timeout) for t in targets for q, k in names)
        )
    )


def _names(opts: Options, domain: str) -> list[tuple[str, Kind]]:
    return [(cluster_qname(domain), "cluster"), (opts.public_name, "external")]


Key = tuple[str, str, str, str]


def _key(target: DnsTarget, qname: str, kind: str) -> Key:
    return (hostport(target), target.via, qname, kind)


def _check_key(c: DnsCheck) -> Key:
    return (c.server, c.via, c.qname, c.kind)


class DnsProbe:
    """The DNS checks of one collection: start early, finish once the cluster is known.

    Create it inside the running event loop (it starts its early queries as tasks).
    """

    def __init__(
        self,
        opts: Options,
        probes: dict[str, ProbeStatus],
        deadline: Deadline | None = None,
        nameservers: list[str] | None = None,
    ) -> None:
        self.opts = opts
        self.probes = probes
        self.deadline = deadline
        hints = k3s_hints(opts)
        self.hint_ip = hints.cluster_dns
        self._node = asyncio.ensure_future(self._node_checks(nameservers))
        # The k3s config's cluster DNS IP, asked now: used when the apiserver is down
        # (no Service to ask), or when it is the Service's address anyway.
        self._early_status: dict[str, ProbeStatus] = {}
        self._early: asyncio.Future[list[DnsCheck]] | None = None
        self._hint_target = DnsTarget(self.hint_ip or "", DEFAULT_PORT, "service")
        if self.hint_ip:
            names = _names(opts, hints.cluster_domain or "cluster.local")
            self._early = asyncio.ensure_future(self._early_checks(names))

    async def _early_checks(self, names: list[tuple[str, Kind]]) -> list[DnsCheck]:
        work = run_checks(
            [self._hint_target], names, netns=self.opts.netns, timeout=self._timeout()
        )
        return await guarded(self._early_status, "dns", work, list[DnsCheck]())

    def _timeout(self) -> float:
        return self.deadline.bound(DNS_TIMEOUT) if self.deadline else DNS_TIMEOUT

    async def _node_checks(self, nameservers: list[str] | None) -> list[DnsCheck]:
        backend = self.opts.node_backend  # the node's resolvers are the node's: ask through it
        if nameservers is None:
            try:
                nameservers = await backend.nameservers()  # what the host probe reports
            except Exception as exc:  # the probe boundary: unreadable is data, not a crash
                self.probes["node-dns"] = ProbeStatus(False, one_line(exc), 0.0)
                return []
        targets = node_targets(nameservers)
        if not targets:
            return []
        names: list[tuple[str, Kind]] = [(self.opts.public_name, "external")]
        work = ask_node(backend, targets, names, timeout=self._timeout())
        return await guarded(self.probes, "node-dns", work, list[DnsCheck]())

    def cancel(self) -> None:
        """The collection was abandoned: stop waiting for what was started early."""
        for task in (self._node, self._early):
            if task is not None:
                task.cancel()

    async def finish(self, cluster: ClusterState) -> DnsState:
        state = DnsState(cluster_domain=cluster.cluster_domain, public_name=self.opts.public_name)
        # Apiserver down: no Service or pods to ask, but k3s's config names the cluster DNS IP.
        targets = dns_targets(cluster, None if cluster.reachable else self.hint_ip)
        names = _names(self.opts, cluster.cluster_domain)
        early: list[DnsCheck] = []
        if self._early is not None:
            if self._hint_target in targets:
                early = await self._early
            else:  # the Service lives elsewhere: those answers are not wanted, nor waited for
                self._early.cancel()
        known = {_check_key(c): c for c in early}
        todo = [t for t in targets if any(_key(t, q, k) not in known for q, k in names)]
        fresh: list[DnsCheck] = []
        timeout = self._timeout()
        if todo and timeout < MIN_QUERY_TIME:
            self.probes["dns"] = ProbeStatus(False, "not asked: the cluster deadline had passed", 0)
        elif todo:
            work = run_checks(todo, names, netns=self.opts.netns, timeout=timeout)
            fresh = await guarded(self.probes, "dns", work, list[DnsCheck]())
        elif targets and "dns" in self._early_status:
            self.probes["dns"] = self._early_status["dns"]
        node = await self._node  # started with the collection: done by now, or soon
        known.update((_check_key(c), c) for c in fresh)
        wanted = [_key(t, q, k) for t in targets for q, k in names]
        state.checks = [known[k] for k in wanted if k in known] + node
        return state


async def collect_dns(
    opts: Options,
    cluster: ClusterState,
    probes: dict[str, ProbeStatus],
    *,
    deadline: Deadline | None = None,
    nameservers: list[str] | None = None,
) -> DnsState:
    """The DNS checks for a cluster already probed (the TUI's path): Service, pods, node."""
    return await DnsProbe(opts, probes, deadline, nameservers).finish(cluster)
