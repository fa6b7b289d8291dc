"""Apiserver faults, injected in front of every request (an aiohttp middleware).

hang        accept the connection and never answer (the black-holed apiserver)
500         every request fails with a Status 500 InternalError
403         resource requests are refused like RBAC does, naming verb and resource;
            discovery and /version still answer (system:discovery allows them)
garbage     200 with a body that is not JSON
reset       the connection is reset (RST) without an answer
slow-watch  everything answers, but watch streams deliver no events
slow-drip   200 and its headers at once, then the body one byte every 0.5 s, forever:
            every recv returns within any read timeout, so only a deadline ends it
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

FAULTS = ("hang", "500", "403", "garbage", "reset", "slow-watch", "slow-drip")
DRIP_INTERVAL = 0.5  # seconds between two bytes of a slow-drip answer
GARBAGE = b'{"kind": "PodList", "apiVersion": "v1", "items": [{"metadata": <html>502 Bad Gateway'


@dataclass
class FaultState:
    mode: str | None = None
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    def set(self, mode: str | None) -> None:
        if mode is not None and mode not in FAULTS:
            raise ValueError(f"unknown fault {mode!r} (known: {', '.join(FAULTS)})")
        self.mode = mode


def status_body(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def status_response(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> web.Response:
    return web.Response(
        status=code,
        body=json.dumps(status_body(code, reason, message, details)).encode(),
        content_type="application/json",
    )


def verb_of(request: web.Request, has_name: bool) -> str:
    method = request.method
    if method == "GET":
        if request.query.get("watch") in ("1", "true", "True"):
            return "watch"
        return "get" if has_name else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower()
    )


def resource_target(path: str) -> tuple[str, str, str | None, str | None] | None:
    """(group, plural, namespace, name) of a resource request path, None for discovery."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return None
    ns = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns, rest = rest[1], rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    return group, plural, ns, name


def forbidden(request: web.Request) -> web.Response | None:
    """The 403 a real apiserver gives a user without RBAC, or None for discovery paths."""
    target = resource_target(request.path)
    if target is None:
        return None
    group, plural, ns, name = target
    verb = verb_of(request, name is not None)
    what = f'{plural} "{name}"' if name else plural
    scope = f'in the namespace "{ns}"' if ns else "at the cluster scope"
    user = "system:anonymous"
    msg = f'{what} is forbidden: User "{user}" cannot {verb} resource "{plural}" in API group "{group}" {scope}'
    details: dict[str, Any] = {"kind": plural}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return status_response(403, "Forbidden", msg, details)


async def _hang(state: FaultState) -> None:
    # Ends only when the server shuts down (or the client goes away: the handler is cancelled).
    await state.closing.wait()


async def _drip(request: web.Request, state: FaultState) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)  # status line and headers go out now
    body = b'{"kind": "Status", "apiVersion": "v1", "metadata": {}, "message": "'
    i = 0
    while not state.closing.is_set():  # the client going away cancels the handler
        await resp.write(body[i : i + 1] if i < len(body) else b".")
        i += 1
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(state.closing.wait(), DRIP_INTERVAL)
    return resp


def _reset(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER 0: close() sends RST instead of FIN — "connection reset by peer".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def middleware(state: FaultState):
    @web.middleware
    async def fault_middleware(request: web.Request, handler):
        mode = state.mode
        if mode == "hang":
            await _hang(state)
            raise web.HTTPServiceUnavailable()
        if mode == "slow-drip":
            return await _drip(request, state)
        if mode == "reset":
            _reset(request)
            raise asyncio.CancelledError()
        if mode == "500":
            return status_response(
                500,
                "InternalError",
                "Internal error occurred: etcdserver: request timed out",
                {"causes": [{"message": "etcdserver: request timed out"}]},
            )
        if mode == "garbage":
            return web.Response(status=200, body=GARBAGE, content_type="application/json")
        if mode == "403":
            refused = forbidden(request)
            if refused is not None:
                return refused
        return await handler(request)

    return fault_middleware


@contextmanager
def black_hole() -> Iterator[int]:
    """A loopback port whose listener completes TCP handshakes (the kernel backlog) and
    never answers: the apiserver that hangs before it says anything."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


def black_hole_kubeconfig(port: int, path: Path) -> Path:
    """A kubeconfig (context "bh") pointing at `black_hole()`'s port."""
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: bh\n"
        f"clusters: [{{name: bh, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "contexts: [{name: bh, context: {cluster: bh, user: bh}}]\n"
        "users: [{name: bh, user: {token: x}}]\n"
    )
    return path
