"""`ciliumtui sim list|serve` as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ciliumtui.cli import main

PY = sys.executable


def test_sim_list(capsys):
    assert main(["sim", "list"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.split()[0] == "healthy" and "A healthy node" in first


def test_serve_unknown_scenario_is_one_line_exit_3():
    r = subprocess.run(
        [PY, "-m", "ciliumtui", "sim", "serve", "nope"], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 3
    assert r.stderr.strip().startswith("ciliumtui: error: unknown scenario 'nope'")
    assert len(r.stderr.strip().splitlines()) == 1


def test_serve_malformed_file_names_the_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("cluster:\n  nodes: [\n")
    r = subprocess.run(
        [PY, "-m", "ciliumtui", "sim", "serve", str(f)], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 3 and f"{f}:" in r.stderr and "Traceback" not in r.stderr


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _serve(
    *extra: str, sigint_ignored: bool = False
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start `sim serve`, read the lines it prints until 'Ctrl-C to stop.'"""
    proc = subprocess.Popen(
        [PY, "-m", "ciliumtui", "sim", "serve", "healthy", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if sigint_ignored else None,
    )
    info: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Ctrl-C"):
            break
        key, _, value = line.partition(" ")
        info[key] = value.strip()
    return proc, info


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()  # never leave a server running behind the test
        proc.communicate()
        raise
    assert proc.returncode == 0, err
    return err


def test_ctrl_c_stops_a_server_started_in_the_background(tmp_path):
    """`sim serve &` from a script starts with SIGINT ignored; Ctrl-C (kill -INT) still
    stops it and it cleans up."""
    kc = tmp_path / "sim.kubeconfig"
    proc, info = _serve("--kubeconfig-out", str(kc), sigint_ignored=True)
    err = _stop(proc)
    assert "stopped." in err and "Traceback" not in err


def test_serve_until_ctrl_c_and_kubectl_works(tmp_path):
    kc = tmp_path / "out" / "sim.kubeconfig"
    proc, info = _serve("--kubeconfig-out", str(kc))
    try:
        assert info["kubeconfig"] == str(kc) and kc.is_file()
        assert info["apiserver"].startswith("http://127.0.0.1:")
        r = subprocess.run(
            ["kubectl", "--kubeconfig", str(kc), "get", "nodes", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.stdout.split() == ["node/k3s-node1", "node/k3s-node2"], r.stderr
    finally:
        err = _stop(proc)
    assert "stopped." in err and "Traceback" not in err


def test_serve_with_host_root_serves_the_agent_socket(tmp_path):
    root = tmp_path / "root"
    proc, info = _serve("--host-root-out", str(root))
    try:
        assert (root / "etc/hostname").read_text().strip() == "k3s-node1"
        sock = root / "var/run/cilium/cilium.sock"
        assert sock.is_socket()
        r = subprocess.run(
            ["curl", "-s", "--unix-socket", str(sock), "http://localhost/v1/healthz"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert '"state"' in r.stdout
    finally:
        _stop(proc)
    assert not sock.exists()


@pytest.mark.root
def test_serve_builds_the_node_in_a_netns_and_removes_it(tmp_path):
    ns = f"sm-{uuid.uuid4().hex[:8]}"
    proc, info = _serve("--node-netns", ns)
    try:
        assert info["kube-dns"] == "10.43.0.10:53"
        assert Path("/run/netns", ns).exists()
        links = subprocess.run(
            ["ip", "-n", ns, "-o", "link"], capture_output=True, text=True
        ).stdout
        assert "cilium_host" in links and "eth0" in links
    finally:
        try:
            _stop(proc)
        finally:
            if Path("/run/netns", ns).exists():
                subprocess.run(["ip", "netns", "del", ns], check=False)
                pytest.fail("sim serve left its namespace behind")


def test_serve_node_netns_needs_root():
    # run as "nobody" (setpriv) when we are root, so the check really runs
    drop = (
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    )
    r = subprocess.run(
        [*drop, PY, "-m", "ciliumtui", "sim", "serve", "healthy", "--node-netns", "x"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 3
    assert r.stderr.strip() == "ciliumtui: error: --node-netns x: building a node needs root"
