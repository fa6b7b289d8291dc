"""A stand-in for the Cilium agent's REST API: GET /v1/healthz on a unix socket.

Modes: "healthy" / "unhealthy" (bodies from the reference samples in
assets/samples), "garbage" (HTTP 200, a body that is not JSON), "hang" (accepts
the connection, never answers), "none" (no socket at all). The mode can be
changed while serving (`server.mode = "healthy"`), e.g. when a trainee's fix lands.

Sync use (tests):   with AgentApiServer("healthy", path): ...   (own thread + loop)
Async use:          server = AgentApiServer(...); await server.start(); ...; await server.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from importlib.resources import files
from pathlib import Path

from aiohttp import web

MODES = ("healthy", "unhealthy", "garbage", "hang", "none")
GARBAGE = b"\x00\x1b[31mpanic: runtime error: invalid memory address\n<html>"


def sample_body(mode: str) -> bytes:
    return files("ciliumtui.assets").joinpath(f"samples/healthz-v1-{mode}.json").read_bytes()


class AgentApiServer:
    def __init__(self, mode: str, socket_path: str | Path) -> None:
        if mode not in MODES:
            raise ValueError(f"agent_api mode {mode!r}: expected one of {', '.join(MODES)}")
        self.mode = mode
        self.socket_path = Path(socket_path)
        self.requests = 0  # healthz requests received (for assertions)
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._hung: set[asyncio.Future[None]] = set()

    async def _healthz(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.mode == "hang":
            # Never answer; stop() cancels these so the server can shut down.
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._hung.add(fut)
            try:
                await fut
            finally:
                self._hung.discard(fut)
        if self.mode == "garbage":
            return web.Response(body=GARBAGE, content_type="text/plain")
        body = sample_body("unhealthy" if self.mode == "unhealthy" else "healthy")
        return web.Response(body=body, content_type="application/json")

    # ------------------------------------------------------------------ async API

    async def start(self) -> None:
        if self.mode == "none":
            return
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # a stale socket from an earlier run
        app = web.Application()
        app.router.add_get("/v1/healthz", self._healthz)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.UnixSite(self._runner, str(self.socket_path)).start()

    async def stop(self) -> None:
        for fut in list(self._hung):
            fut.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    async def __aenter__(self) -> AgentApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------- sync API

    def __enter__(self) -> AgentApiServer:
        ready = threading.Event()
        errors: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        def serve() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to __enter__'s caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self.stop())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="agent-api", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._loop = None
        self._thread = None
