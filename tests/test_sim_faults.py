"""Apiserver faults, observed from a plain HTTP client with a short timeout."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from ciliumtui.errors import CiliumtuiError
from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster

PODS = "/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3Dcilium"


@pytest.fixture
def sim(tmp_path):
    with SimCluster("healthy", tmpdir=tmp_path) as s:
        yield s


def get(sim: SimCluster, path: str, timeout: float = 0.5) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_hang_accepts_but_never_answers(sim):
    sim.set_fault("hang")
    with pytest.raises(TimeoutError):
        get(sim, "/version", timeout=0.3)
    sim.set_fault(None)
    assert get(sim, "/version")[0] == 200


def test_500_is_a_status_body(sim):
    sim.set_fault("500")
    status, body = get(sim, PODS)
    assert status == 500
    doc = json.loads(body)
    assert (doc["kind"], doc["reason"], doc["code"]) == ("Status", "InternalError", 500)


def test_403_names_verb_and_resource_like_rbac(sim):
    sim.set_fault("403")
    status, body = get(sim, PODS)
    assert status == 403
    doc = json.loads(body)
    assert doc["reason"] == "Forbidden"
    assert doc["message"] == (
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" '
        'in API group "" in the namespace "kube-system"'
    )
    status, body = get(sim, "/apis/cilium.io/v2/ciliumnodes/k3s-node1")
    assert status == 403
    assert (
        'cannot get resource "ciliumnodes" in API group "cilium.io" at the cluster scope'
        in json.loads(body)["message"]
    )
    status, body = get(sim, "/api/v1/pods?watch=true")
    assert status == 403 and "cannot watch resource" in json.loads(body)["message"]
    # discovery stays open, as system:discovery allows it
    assert get(sim, "/version")[0] == 200 and get(sim, "/api/v1")[0] == 200


def test_garbage_is_200_but_not_json(sim):
    sim.set_fault("garbage")
    status, body = get(sim, PODS)
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)


def test_reset_resets_the_connection(sim):
    sim.set_fault("reset")
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        get(sim, PODS)


def test_slow_watch_opens_the_stream_but_sends_nothing(sim):
    sim.set_fault("slow-watch")
    assert get(sim, PODS)[0] == 200  # ordinary reads still work
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=0.5)
    conn.request("GET", "/api/v1/namespaces/kube-system/pods?watch=true&timeoutSeconds=30")
    resp = conn.getresponse()
    assert resp.status == 200
    with pytest.raises((TimeoutError, socket.timeout)):
        resp.readline()
    conn.close()
    sim.set_fault(None)
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=2)
    conn.request("GET", "/api/v1/namespaces/kube-system/pods?watch=true&timeoutSeconds=1")
    first = json.loads(conn.getresponse().readline())
    assert first["type"] == "ADDED"
    conn.close()


def test_scenario_fault_is_active_from_the_start(tmp_path):
    with SimCluster(load_scenario({"faults": {"apiserver": "500"}}), tmpdir=tmp_path) as sim:
        assert get(sim, "/version")[0] == 500


def test_unknown_fault_is_refused(sim):
    with pytest.raises(CiliumtuiError, match="unknown apiserver fault 'teapot'"):
        sim.set_fault("teapot")
