"""The Cilium agent, seen from the node: its pidfile and its REST API.

GET /v1/healthz over the unix socket (/var/run/cilium/cilium.sock) works when the
apiserver does not. The answer is summarised into model.AgentHealth.

pid liveness: with --host-root "/" the pid is looked up in /proc. Under any other
host root (a prepared directory: a simulated node, tests) the pidfile was written by
something on this machine, so the pid counts as alive only if os.kill(pid, 0)
succeeds. Note that on a real node the agent runs in its own pid namespace, so
the pidfile's number is a hint; the API answering is the real sign of life.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path
from typing import Any

from ..model import AgentHealth, AgentState
from ..options import Options

PIDFILE = "/var/run/cilium/cilium.pid"
AGENT_TIMEOUT = 1.0  # seconds: a live agent answers healthz in milliseconds


def _state(obj: Any) -> str | None:
    return obj.get("state") if isinstance(obj, dict) else None


def parse_healthz(data: dict[str, Any]) -> AgentHealth:
    """StatusResponse (GET /v1/healthz) -> AgentHealth. Missing parts stay None."""
    cilium = data.get("cilium") or {}
    msg = cilium.get("msg") if isinstance(cilium, dict) else None
    # cilium.msg is "<version> (<build>)" and, when failing, "<version>    <reason>".
    version = msg.split()[0] if msg and msg.split() and msg.split()[0][:1].isdigit() else None
    k8s = data.get("kubernetes") or {}
    cluster = data.get("cluster") or {}
    routing = data.get("routing") or {}
    masq = data.get("masquerading") or {}
    kpr = data.get("kube-proxy-replacement") or {}
    ipam = data.get("ipam") or {}

    components = {
        name: value["state"]
        for name, value in data.items()
        if isinstance(value, dict) and isinstance(value.get("state"), str)
    }
    if _state(cluster.get("ciliumHealth")):
        components["cilium-health"] = cluster["ciliumHealth"]["state"]

    failing = []
    for ctrl in data.get("controllers") or []:
        status = ctrl.get("status") or {}
        if int(status.get("consecutive-failure-count") or 0) > 0:
            failing.append(
                f"{ctrl.get('name', '?')}: {status.get('last-failure-msg', '')}".rstrip(": ")
            )

    stale = data.get("stale") or {}
    masquerading = None
    if masq:
        masquerading = masq.get("mode") if masq.get("enabled", True) else "Disabled"
    return AgentHealth(
        state=_state(cilium),
        msg=msg,
        version=version,
        kubernetes_state=_state(k8s),
        kubernetes_msg=k8s.get("msg") or None,
        kvstore_state=_state(data.get("kvstore")),
        cluster_health_state=_state(cluster.get("ciliumHealth")),
        ipam=(ipam.get("status") or "").strip().rstrip(",") or None,
        kube_proxy_replacement=kpr.get("mode"),
        routing_mode=routing.get("inter-host-routing-mode"),
        tunnel_protocol=routing.get("tunnel-protocol"),
        masquerading=masquerading,
        components=components,
        failing_controllers=failing,
        stale=[f"{k}: {v}" for k, v in stale.items()] if isinstance(stale, dict) else [],
    )


def read_pid(opts: Options) -> tuple[str | None, int | None, bool]:
    """(pidfile path if present, pid, alive)."""
    path = opts.host_path(PIDFILE)
    try:
        text = path.read_text().strip()
    except OSError:
        return None, None, False
    try:
        pid = int(text.split()[0])
    except (ValueError, IndexError):
        return str(path), None, False
    if pid <= 0:
        return str(path), pid, False
    if Path(opts.host_root).resolve() == Path("/"):
        return str(path), pid, Path(f"/proc/{pid}").exists()
    try:
        os.kill(pid, 0)
    except PermissionError:
        return str(path), pid, True  # exists, owned by someone else
    except OSError:
        return str(path), pid, False
    return str(path), pid, True


def get_healthz(socket_path: Path, timeout: float = AGENT_TIMEOUT) -> tuple[int, bytes]:
    """GET http://localhost/v1/healthz over the unix socket -> (status, body). Blocking.

    Stdlib http.client in a worker thread rather than aiohttp: importing aiohttp
    takes ~0.3 s on the event loop, which would stall the TUI's first frame.
    """
    import http.client

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(str(socket_path))
            except OSError:
                sock.close()
                raise
            self.sock = sock

    conn = UnixConnection("localhost", timeout=timeout)
    try:
        conn.request("GET", "/v1/healthz")
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


async def probe_agent(opts: Options, timeout: float = AGENT_TIMEOUT) -> AgentState:
    """Pidfile + healthz; every way the agent can be missing or broken becomes state.error."""
    pidfile, pid, alive = read_pid(opts)
    sock = opts.agent_socket_path
    state = AgentState(pidfile=pidfile, pid=pid, pid_alive=alive, socket=str(sock))
    state.socket_present = sock.is_socket()
    if not state.socket_present:
        state.error = f"no agent API socket at {sock}"
        return state
    import http.client

    try:
        status, body = await asyncio.wait_for(
            asyncio.to_thread(get_healthz, sock, timeout), timeout + 0.5
        )
    except (asyncio.TimeoutError, TimeoutError):
        state.error = f"agent API did not answer within {timeout:g}s"
        return state
    except http.client.HTTPException as exc:  # before OSError: RemoteDisconnected is both
        state.error = f"agent API at {sock}: not an HTTP answer ({type(exc).__name__})"
        return state
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        state.error = f"agent API at {sock}: {reason}"
        return state
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        snippet = body[:40].decode(errors="replace").strip()
        state.error = f"agent API answered HTTP {status} with an unreadable body: {snippet!r}"
        return state
    state.reachable = True
    state.health = parse_healthz(data)
    if status != 200:
        state.error = f"agent API answered HTTP {status}"
    return state
