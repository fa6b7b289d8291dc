"""Tiny real-HTTP stand-ins for the cluster-probe tests (not mocks: real sockets).

- FakeApiServer: an aiohttp server speaking just enough of the Kubernetes API
  (get/list, label and field selectors, limit/continue, 404 Status for absent
  objects and CRDs) plus injectable faults: hang, 401, 403, 500, garbage, reset.
- black_hole(): a TCP listener that completes the handshake and never answers.
- self_signed_tls(): cert+key from the openssl binary for a TLS-failure server.
- DnsResponder: a dnspython UDP responder: answer / nxdomain / servfail / timeout.

The simulated cluster (ciliumtui.sim) is the richer version of this; these keep
the error-path tests independent of it and exact about the bytes on the wire.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import struct
import subprocess
import threading
from contextlib import suppress
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from ciliumtui.sim.faults import (
    black_hole,  # noqa: F401 - re-exported for the tests
    status_body,  # a real apiserver Status object
)

Obj = dict[str, Any]

_PATH = re.compile(
    r"^/(?P<prefix>api/v1|apis/[^/]+/[^/]+)"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$"
)


def _field(obj: Obj, dotted: str) -> Any:
    cur: Any = obj
    for part in dotted.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def _matches(obj: Obj, label_sel: str | None, field_sel: str | None) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, (label_sel or "").split(",")):
        k, _, v = term.partition("=")
        if labels.get(k) != v:
            return False
    for term in filter(None, (field_sel or "").split(",")):
        k, _, v = term.partition("=")
        if str(_field(obj, k) or "") != v:
            return False
    return True


class FakeApiServer:
    """`collections` maps "api/v1/pods", "apis/apps/v1/daemonsets", "apis/cilium.io/v2/ciliumnodes"
    ... to object lists; a group/version/plural not present answers 404 (CRD not installed)."""

    def __init__(
        self, collections: dict[str, list[Obj]] | None = None, *, tls: ssl.SSLContext | None = None
    ):
        self.collections = collections or {}
        self.fault: str | None = None
        self.fault_on: str | None = None  # only paths containing this string misbehave
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.auth_headers: list[str | None] = []
        self.logs: dict[str, str] = {}  # pod name -> the text GET pods/NAME/log answers
        self._tls = tls
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> FakeApiServer:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True, name="fake-apiserver")
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)  # type: ignore[union-attr]
        with suppress(Exception):
            fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)  # type: ignore[union-attr]

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._tls)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def kubeconfig(self, directory: Path, name: str = "kubeconfig", **cluster_extra: Any) -> str:
        path = directory / name
        path.write_text(yaml.safe_dump(kubeconfig_dict(self.url, **cluster_extra)))
        return str(path)

    # -------------------------------------------------------------- serving
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append((path, dict(request.query)))
        self.auth_headers.append(request.headers.get("Authorization"))
        if self.fault and (self.fault_on is None or self.fault_on in path):
            return await self._misbehave(request)
        if path == "/version":
            return web.json_response({"major": "1", "minor": "31", "gitVersion": "v1.31.4+k3s1"})
        if path.endswith(
            "/log"
        ):  # GET pods/NAME/log: what `logs` holds, else the 400 kubelet gives
            name = path.split("/")[-2]
            if name in self.logs:
                return web.Response(text=self.logs[name], content_type="text/plain")
            container = request.query.get("container", "main")
            return self._status(
                400,
                "BadRequest",
                f'previous terminated container "{container}" in pod "{name}" not found',
            )
        m = _PATH.match(path)
        if not m:
            return self._status(404, "NotFound", "the server could not find the requested resource")
        key = f"{m['prefix']}/{m['plural']}"
        if key not in self.collections:
            return self._status(404, "NotFound", "the server could not find the requested resource")
        items = [
            o
            for o in self.collections[key]
            if m["ns"] is None or (o.get("metadata") or {}).get("namespace") == m["ns"]
        ]
        if m["name"]:
            found = [o for o in items if o["metadata"]["name"] == m["name"]]
            if not found:
                return self._status(404, "NotFound", f'{m["plural"]} "{m["name"]}" not found')
            return web.json_response(found[0])
        items = [
            o
            for o in items
            if _matches(o, request.query.get("labelSelector"), request.query.get("fieldSelector"))
        ]
        start = int(request.query.get("continue") or 0)
        limit = int(request.query.get("limit") or 0) or len(items) or 1
        page = items[start : start + limit]
        meta: Obj = {"resourceVersion": "100"}
        if start + limit < len(items):
            meta["continue"] = str(start + limit)
        return web.json_response(
            {"kind": "List", "apiVersion": "v1", "metadata": meta, "items": page}
        )

    def _status(self, code: int, reason: str, message: str) -> web.Response:
        return web.json_response(status_body(code, reason, message), status=code)

    async def _misbehave(self, request: web.Request) -> web.StreamResponse:
        fault = self.fault
        if fault == "hang":
            await asyncio.sleep(3600)
        if fault == "401":
            return self._status(401, "Unauthorized", "Unauthorized")
        if fault == "403":
            return self._status(
                403,
                "Forbidden",
                'pods is forbidden: User "system:serviceaccount:default:viewer" cannot list resource '
                '"pods" in API group "" in the namespace "kube-system"',
            )
        if fault == "500":
            return self._status(500, "InternalError", "etcdserver: request timed out")
        if fault == "garbage":
            return web.Response(
                text="<html><body>502 Bad Gateway</body></html>", content_type="text/html"
            )
        if fault == "reset":
            sock = request.transport.get_extra_info("socket")  # type: ignore[union-attr]
            # SO_LINGER 0: close() sends RST, like a crashing proxy
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            request.transport.abort()  # type: ignore[union-attr]
            await asyncio.sleep(1)
        raise web.HTTPInternalServerError()


def kubeconfig_dict(server: str, *, context: str = "fake", **cluster_extra: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake-cluster", "cluster": {"server": server, **cluster_extra}}],
        "users": [{"name": "fake-user", "user": {"token": "t0ken-not-for-logs"}}],
        "contexts": [
            {"name": context, "context": {"cluster": "fake-cluster", "user": "fake-user"}}
        ],
        "current-context": context,
    }


def free_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """(server context, cert path): a self-signed cert for IP 127.0.0.1."""
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx, cert


# ---------------------------------------------------------------------- DNS


class DnsResponder:
    """A real UDP DNS server (dnspython wire format) on `addr` (loopback, or inside a netns
    when `sock` is given). Behaviour per kind: "ok" | "nxdomain" | "servfail" | "timeout" |
    "drop-first" (the first datagram of each query is lost, its resend answered); a name under `cluster_domain` is "cluster", anything else "external"."""

    def __init__(
        self,
        cluster: str = "ok",
        external: str = "ok",
        *,
        sock: socket.socket | None = None,
        cluster_domain: str = "cluster.local",
        answer_ip: str = "10.43.0.1",
    ):
        self.behaviour = {"cluster": cluster, "external": external}
        self.domain = cluster_domain
        self.answer_ip = answer_ip
        self.queries: list[str] = []
        self.sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if sock is None:
            self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="dns-responder")

    @property
    def addr(self) -> tuple[str, int]:
        return self.sock.getsockname()[:2]

    def __enter__(self) -> DnsResponder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rrset

        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            q = dns.message.from_wire(wire)
            name = q.question[0].name.to_text().rstrip(".")
            self.queries.append(name)
            kind = "cluster" if name.endswith("." + self.domain) else "external"
            how = self.behaviour[kind]
            if how == "timeout":
                continue
            if how == "drop-first" and self.queries.count(name) == 1:
                continue
            r = dns.message.make_response(q)
            if how == "nxdomain":
                r.set_rcode(dns.rcode.NXDOMAIN)
            elif how == "servfail":
                r.set_rcode(dns.rcode.SERVFAIL)
            else:
                ip = self.answer_ip if kind == "cluster" else "93.184.215.14"
                r.answer.append(dns.rrset.from_text(q.question[0].name, 30, "IN", "A", ip))
            self.sock.sendto(r.to_wire(), peer)
