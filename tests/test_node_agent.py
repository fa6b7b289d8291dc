"""The agent probe (pidfile + GET /v1/healthz over the unix socket) against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from importlib.resources import files

import pytest

from ciliumtui.node.agent import parse_healthz, probe_agent
from ciliumtui.options import Options
from ciliumtui.sim.agent_api import AgentApiServer


def sample(name):
    return json.loads(
        files("ciliumtui.assets").joinpath(f"samples/healthz-v1-{name}.json").read_text()
    )


def test_parse_healthy_sample():
    h = parse_healthz(sample("healthy"))
    assert (h.state, h.version, h.msg) == ("Ok", "1.18.4", "1.18.4 (v1.18.4-afda2aa9)")
    assert (h.kubernetes_state, h.kvstore_state, h.cluster_health_state) == ("Ok", "Disabled", "Ok")
    assert (h.routing_mode, h.tunnel_protocol) == ("Tunnel", "vxlan")
    assert (h.kube_proxy_replacement, h.masquerading) == ("False", "iptables")
    assert h.ipam == "IPv4: 4/254 allocated from 10.42.0.0/24"
    assert h.components["cni-file"] == "Ok" and h.components["cilium-health"] == "Ok"
    assert h.failing_controllers == [] and h.stale == []


def test_parse_unhealthy_sample():
    h = parse_healthz(sample("unhealthy"))
    assert h.state == "Failure" and h.version == "1.18.4"
    assert "Kubernetes service is not ready" in h.msg
    assert h.kubernetes_state == "Failure" and h.cluster_health_state == "Warning"
    assert h.failing_controllers == [
        'cilium-health-ep: Get "http://10.42.0.77:4240/hello": context deadline exceeded '
        "(Client.Timeout exceeded while awaiting headers)"
    ]
    assert h.stale == ["k8s: 2025-03-04T10:13:41.552Z"]


def test_parse_tolerates_a_nearly_empty_answer():
    h = parse_healthz({"cilium": {"state": "Warning"}})
    assert h.state == "Warning" and h.version is None and h.components == {"cilium": "Warning"}


def opts_for(tmp_path):
    return Options(host_root=str(tmp_path), agent_socket=str(tmp_path / "cilium.sock"))


async def probe(tmp_path, timeout=0.5):
    # A bound on the whole probe: a hang past its own timeout fails the test instead of stalling.
    return await asyncio.wait_for(probe_agent(opts_for(tmp_path), timeout=timeout), timeout + 2)


@pytest.mark.parametrize("mode,state", [("healthy", "Ok"), ("unhealthy", "Failure")])
async def test_agent_answers(tmp_path, mode, state):
    async with AgentApiServer(mode, tmp_path / "cilium.sock") as server:
        agent = await probe(tmp_path)
    assert agent.reachable and agent.error is None and agent.socket_present
    assert agent.health.state == state
    assert server.requests == 1


async def test_agent_garbage(tmp_path):
    async with AgentApiServer("garbage", tmp_path / "cilium.sock"):
        agent = await probe(tmp_path)
    assert not agent.reachable and agent.health is None
    assert "unreadable body" in agent.error and "\n" not in agent.error


async def test_agent_hang_times_out(tmp_path):
    async with AgentApiServer("hang", tmp_path / "cilium.sock") as server:
        agent = await probe(tmp_path, timeout=0.3)
        assert server.requests == 1
    assert not agent.reachable and agent.error == "agent API did not answer within 0.3s"


async def test_agent_absent(tmp_path):
    agent = await probe(tmp_path)
    assert not agent.socket_present and not agent.reachable
    assert agent.error == f"no agent API socket at {tmp_path / 'cilium.sock'}"
    assert agent.pidfile is None and not agent.alive


async def test_agent_socket_without_listener(tmp_path):
    # A stale socket file left by a dead agent: connecting is refused.
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / "cilium.sock"))
    s.close()
    agent = await probe(tmp_path)
    assert agent.socket_present and not agent.reachable
    assert "refused" in agent.error.lower()


async def test_agent_not_speaking_http(tmp_path):
    async def junk(reader, writer):
        await reader.readuntil(b"\r\n\r\n")  # take the request, answer nonsense
        writer.write(b"\x00\x01\x02 not http at all\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(junk, path=str(tmp_path / "cilium.sock"))
    async with server:
        agent = await probe(tmp_path)
    assert not agent.reachable and "not an HTTP answer" in agent.error


async def test_live_pid_counts_as_alive_without_api(tmp_path):
    pidfile = tmp_path / "var/run/cilium/cilium.pid"
    pidfile.parent.mkdir(parents=True)
    pidfile.write_text(f"{os.getpid()}\n")
    agent = await probe(tmp_path)
    assert agent.pid == os.getpid() and agent.pid_alive and agent.alive and not agent.reachable


def test_sync_server_and_mode_switch(tmp_path):
    with AgentApiServer("unhealthy", tmp_path / "cilium.sock") as server:
        first = asyncio.run(probe(tmp_path))
        server.mode = "healthy"  # the trainee's fix landed
        second = asyncio.run(probe(tmp_path))
    assert (first.health.state, second.health.state) == ("Failure", "Ok")
    assert not (tmp_path / "cilium.sock").exists()


def test_hang_server_stops_promptly(tmp_path):
    with AgentApiServer("hang", tmp_path / "cilium.sock"):
        agent = asyncio.run(probe(tmp_path, timeout=0.2))
    assert "did not answer" in agent.error


def test_unknown_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="expected one of"):
        AgentApiServer("sleepy", tmp_path / "s")
