"""The kube-dns responder: real DNS packets over UDP and TCP (dnspython).

Cluster names (`<svc>.<ns>.svc.<domain>`) are answered from the Services in the
store (so `kubernetes.default.svc.cluster.local` gets the kubernetes Service IP);
any other name is "external" and gets a fixed public A record. The scenario's `dns`
section decides per class: ok | nxdomain | servfail | timeout (never answer).

Binding (assets/scenarios/README.md): without a netns, 127.0.0.1 on a free port (UDP and
TCP share it); with a netns, port 53 on the kube-dns IP and each CoreDNS pod IP
inside that namespace (the node builder puts them on `lo`; added here when missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
import subprocess
from collections.abc import Callable
from typing import Any, cast

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from ..errors import CiliumtuiError
from ..netns import socket_in_netns
from .store import Store

EXTERNAL_A = "93.184.215.14"
EXTERNAL_AAAA = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
TTL = 5


class Responder:
    def __init__(
        self, store: Store, domain: Callable[[], str], behaviour: Callable[[], dict[str, Any]]
    ) -> None:
        self.store = store
        self._domain = domain
        self._behaviour = behaviour
        self.queries = 0
        # False until the store holds the cluster: like CoreDNS's kubernetes plugin before
        # its first sync, it stays silent rather than answer NXDOMAIN for every Service
        # (a restarted simulator would otherwise say "cluster DNS broken" for an instant).
        self.synced = True
        self._transports: list[asyncio.BaseTransport] = []
        self._servers: list[asyncio.AbstractServer] = []
        self.addresses: list[tuple[str, int]] = []

    # ------------------------------------------------------------- answering

    def _cluster_lookup(self, labels: list[str], domain: list[str]) -> list[str] | None:
        """IPs for <svc>.<ns>.svc.<domain>; None when the name does not exist."""
        rel = labels[: len(labels) - len(domain)]
        if len(rel) == 3 and rel[2] == "svc":
            svc = self.store.get("v1/Service", rel[1], rel[0])
            if svc is None:
                return None
            ip = (svc.get("spec") or {}).get("clusterIP")
            return [ip] if ip and ip != "None" else []
        return None

    def answer(self, wire: bytes) -> bytes | None:
        """The reply for one query, or None to stay silent (timeout behaviour, junk)."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # not a DNS message: a real server drops it too
            return None
        self.queries += 1
        if not query.question or not self.synced:
            return None
        q = query.question[0]
        name = q.name.to_text().rstrip(".").lower()
        labels = name.split(".") if name else []
        domain = self._domain().strip(".").lower().split(".")
        is_cluster = len(labels) > len(domain) and labels[-len(domain) :] == domain
        behaviour = self._behaviour() or {}
        mode = str(behaviour.get("cluster_names" if is_cluster else "external_names", "ok"))
        if mode == "timeout":
            return None
        resp = dns.message.make_response(query)
        resp.flags |= dns.flags.RA
        if mode == "servfail":
            resp.set_rcode(dns.rcode.SERVFAIL)
            return resp.to_wire()
        if mode == "nxdomain":
            resp.set_rcode(dns.rcode.NXDOMAIN)
            return resp.to_wire()
        if is_cluster:
            resp.flags |= dns.flags.AA
            ips = self._cluster_lookup(labels, domain)
            if ips is None:
                resp.set_rcode(dns.rcode.NXDOMAIN)
                return resp.to_wire()
        else:
            ips = [EXTERNAL_AAAA] if q.rdtype == dns.rdatatype.AAAA else [EXTERNAL_A]
        want = dns.rdatatype.AAAA if q.rdtype == dns.rdatatype.AAAA else dns.rdatatype.A
        if q.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.ANY):
            fits = [ip for ip in ips if (":" in ip) == (want == dns.rdatatype.AAAA)]
            if fits:
                resp.answer.append(
                    dns.rrset.from_text_list(q.name, TTL, dns.rdataclass.IN, want, fits)
                )
        return resp.to_wire()

    # -------------------------------------------------------------- serving

    async def start(self, netns: str | None, ips: list[str]) -> list[tuple[str, int]]:
        """Listen; returns the (ip, port) pairs. Without netns `ips` is ignored (127.0.0.1:free)."""
        if netns is None:
            for _ in range(20):
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                udp.bind(("127.0.0.1", 0))
                port = udp.getsockname()[1]
                tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    udp.close()
                    tcp.close()
                    continue
                await self._serve(udp, tcp)
                self.addresses = [("127.0.0.1", port)]
                return self.addresses
            raise CiliumtuiError("cannot find a free port for the simulated kube-dns")
        for ip in dict.fromkeys(ips):
            udp = _bind_in_netns(netns, ip, socket.SOCK_DGRAM)
            tcp = _bind_in_netns(netns, ip, socket.SOCK_STREAM)
            await self._serve(udp, tcp)
            self.addresses.append((ip, 53))
        return self.addresses

    async def _serve(self, udp: socket.socket, tcp: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        udp.setblocking(False)
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=udp)
        self._transports.append(transport)
        tcp.listen(16)
        tcp.setblocking(False)
        self._servers.append(await asyncio.start_server(self._tcp_client, sock=tcp))

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                reply = self.answer(await reader.readexactly(size))
                if reply is None:
                    await reader.read()  # timeout behaviour: hold the connection silently
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        for t in self._transports:
            t.close()
        for s in self._servers:
            s.close()
        for s in self._servers:
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(s.wait_closed(), 1.0)
        self._transports.clear()
        self._servers.clear()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A datagram endpoint's transport (asyncio's selector one does not subclass
        # DatagramTransport, so no isinstance check).
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = self.responder.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


def _bind_in_netns(netns: str, ip: str, kind: int) -> socket.socket:
    """A socket bound to ip:53 inside netns; puts ip on lo there when it is missing."""
    for attempt in range(2):
        sock = socket_in_netns(netns, socket.AF_INET, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, 53))
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRNOTAVAIL and attempt == 0:
                subprocess.run(
                    ["ip", "-n", netns, "addr", "add", f"{ip}/32", "dev", "lo"],
                    check=False,
                    capture_output=True,
                )
                subprocess.run(
                    ["ip", "-n", netns, "link", "set", "lo", "up"], check=False, capture_output=True
                )
                continue
            raise CiliumtuiError(
                f"simulated kube-dns cannot listen on {ip}:53 in {netns}: {exc.strerror}"
            ) from None
    raise CiliumtuiError(f"simulated kube-dns cannot listen on {ip}:53 in {netns}")
