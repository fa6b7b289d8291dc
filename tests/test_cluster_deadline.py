"""One deadline for the whole cluster side (issue 11 item 7, DESIGN §9).

A slow-dripping apiserver (the sim's `slow-drip` fault: 200 and headers, then one
byte every 0.5 s), an exec credential plugin that blocks (a real script in the
kubeconfig's `users[].user.exec`) and a black-holed apiserver: `ciliumtui diagnose`
as a whole process, spawn to exit, ends within --timeout + 1 s. Before the
deadline, the slow drip kept `diagnose --timeout 2` running past 100 s and the
plugin held it for its own 60 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from kube_fake import FakeApiServer, black_hole, kubeconfig_dict
from kube_objects import healthy_cluster

from ciliumtui.cluster import collect_cluster
from ciliumtui.errors import CiliumtuiError
from ciliumtui.options import Options
from ciliumtui.sim.faults import black_hole_kubeconfig
from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster

NODE = "k3s-node1"
# Spawn to exit of BASELINE (the interpreter, our imports and the kubernetes client,
# nothing else) on a quiet machine here: 0.55 s for the client, 0.1 s for ours.
QUIET_BASELINE = 0.65
BASELINE = (
    "import ciliumtui.cli, ciliumtui.collect, kubernetes.client, kubernetes.config.kube_config"
)


def budget(timeout: float) -> float:
    """--timeout + 1 s (DESIGN §9), plus what this machine's load adds right now to the
    fixed cost of any such process (measured in the same run, as the benchmarks do):
    on a quiet machine exactly the contract; on 2 cores shared by 8 busy helpers it
    does not fail for a start-up that took 2 s."""
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", BASELINE], check=True, timeout=60)
        runs.append(time.perf_counter() - start)
    return timeout + 1 + max(0.0, min(runs) - QUIET_BASELINE)


def diagnose(kubeconfig: str, root: Path, netns: str, timeout: float) -> tuple[float, dict]:
    """`ciliumtui diagnose --json` as an operator runs it: spawn to exit, timed."""
    argv = [sys.executable, "-m", "ciliumtui", "diagnose", "--json", "--timeout", f"{timeout:g}"]
    argv += ["--kubeconfig", kubeconfig, "--host-root", str(root), "--netns", netns]
    argv += ["--node", NODE]
    start = time.perf_counter()
    res = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    elapsed = time.perf_counter() - start
    assert res.returncode == 2, res.stdout[-1500:] + res.stderr[-1500:]  # apiserver-unreachable
    return elapsed, json.loads(res.stdout)


def plugin_kubeconfig(src: str, dst: Path, script: str) -> tuple[str, Path]:
    """`src` with its user's credentials replaced by an exec plugin running `script`."""
    plugin = dst.parent / "credential-plugin.sh"
    plugin.write_text("#!/bin/sh\n" + script)
    plugin.chmod(0o755)
    cfg = yaml.safe_load(Path(src).read_text())
    for user in cfg["users"]:
        user["user"] = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": str(plugin),
                "args": ["get-token"],
                "env": [{"name": "PLUGIN_MODE", "value": "test"}],
                "interactiveMode": "Never",
            }
        }
    dst.write_text(yaml.safe_dump(cfg))
    return str(dst), plugin


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


# ------------------------------------------------------------ whole process


@pytest.mark.root
def test_slow_drip_apiserver_ends_diagnose_within_timeout_plus_one(make_netns, tmp_path, root):
    ns = make_netns("dl")
    with SimCluster(load_scenario("healthy"), tmpdir=tmp_path) as sim:
        sim.set_fault("slow-drip")
        elapsed, out = diagnose(sim.kubeconfig, root, ns, timeout=2)
    limit = budget(2)
    assert elapsed <= limit, f"diagnose took {elapsed:.2f}s > {limit:.2f}s against a slow drip"
    api = out["probes"]["apiserver"]
    assert not api["ok"] and "no complete answer to get /version" in api["error"]
    assert "apiserver-unreachable" in {f["id"] for f in out["findings"]}


@pytest.mark.root
def test_blocking_exec_plugin_ends_diagnose_within_timeout_plus_one(make_netns, tmp_path, root):
    ns = make_netns("dl")
    pids = tmp_path / "plugin.pids"
    with SimCluster(load_scenario("healthy"), tmpdir=tmp_path) as sim:
        kc, _ = plugin_kubeconfig(
            sim.kubeconfig,
            tmp_path / "kc.yaml",
            f"echo $$ >> {pids}\nsleep 60 & echo $! >> {pids}\nwait\n",
        )
        elapsed, out = diagnose(kc, root, ns, timeout=2)
    limit = budget(2)
    assert elapsed <= limit, f"diagnose took {elapsed:.2f}s > {limit:.2f}s, a blocking plugin"
    error = out["probes"]["apiserver"]["error"]
    assert "exec credential plugin credential-plugin.sh did not finish within" in error
    # The plugin and what it started are gone, not left behind sleeping.
    time.sleep(0.2)
    for pid in pids.read_text().split():
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split(")")[1].split()[0] == "Z", pid


@pytest.mark.root
def test_black_holed_apiserver_ends_diagnose_within_timeout_plus_one(make_netns, tmp_path, root):
    """DESIGN §9 with the default --timeout 3: was 4.7 s, the target is ≤ 4 s."""
    ns = make_netns("dl")
    with black_hole() as port:
        kc = black_hole_kubeconfig(port, tmp_path / "bh.yaml")
        elapsed, out = diagnose(str(kc), root, ns, timeout=3)
    limit = budget(3)
    assert elapsed <= limit, f"diagnose took {elapsed:.2f}s > {limit:.2f}s against a black hole"
    assert "did not answer in time" in out["probes"]["apiserver"]["error"]


# ------------------------------------------------------------ in process


async def test_no_thread_is_left_reading_a_drip(tmp_path):
    """The deadline aborts the connections: the reading thread ends at once, it is not
    left behind to read a byte every 0.5 s for as long as the server keeps going."""
    with SimCluster(load_scenario("healthy"), tmpdir=tmp_path) as sim:
        sim.set_fault("slow-drip")
        probes: dict = {}
        start = time.perf_counter()
        state = await collect_cluster(Options(kubeconfig=sim.kubeconfig, timeout=1.0), probes)
        elapsed = time.perf_counter() - start
        time.sleep(0.3)  # the server still drips: only an aborted socket ends the read
        readers = [t.name for t in threading.enumerate() if t.name == "read_version"]
    assert elapsed < 1.5 + 0.3
    assert state.reachable is False and "within the --timeout of 1s (one deadline" in str(
        state.error
    )
    assert readers == []


async def test_reads_after_a_good_version_share_the_same_deadline(tmp_path, monkeypatch):
    """/version answers, then every read drips: the reads end at the deadline, each
    read says so, and the whole collection costs the deadline once, not once per read."""
    from ciliumtui.cluster import reads

    with SimCluster(load_scenario("healthy"), tmpdir=tmp_path) as sim:
        version = reads.read_version

        def version_then_drip(api, opts):
            answer = version(api, opts)
            sim.set_fault("slow-drip")  # every read from now on drips
            return answer

        monkeypatch.setattr(reads, "read_version", version_then_drip)
        probes: dict = {}
        start = time.perf_counter()
        opts = Options(kubeconfig=sim.kubeconfig, node=NODE, timeout=1.0)
        state = await collect_cluster(opts, probes)
        elapsed = time.perf_counter() - start
    assert state.reachable
    assert elapsed < 1.5 + 0.4
    assert not probes["node"].ok and "no complete answer to the node read" in probes["node"].error
    assert not probes["ciliumnodes"].ok and not probes["node-pods"].ok


def test_exec_plugin_credentials_reach_the_apiserver(tmp_path):
    """A working plugin: its token is sent, it ran non-interactively with its env and args."""
    env_dump = tmp_path / "plugin.env"
    script = (
        f'printf "%s\\n%s\\n%s\\n" "$KUBERNETES_EXEC_INFO" "$PLUGIN_MODE" "$1" > {env_dump}\n'
        'echo \'{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",'
        ' "status": {"token": "from-the-plugin"}}\'\n'
    )
    with FakeApiServer(healthy_cluster()) as srv:
        kc, _ = plugin_kubeconfig(srv.kubeconfig(tmp_path), tmp_path / "kc.yaml", script)
        state = asyncio.run(collect_cluster(Options(kubeconfig=kc, node=NODE), {}))
    assert state.reachable and state.node is not None
    assert srv.auth_headers[1:] and all(h == "Bearer from-the-plugin" for h in srv.auth_headers[1:])
    info, mode, arg = env_dump.read_text().splitlines()
    assert json.loads(info)["spec"] == {"interactive": False}
    assert (mode, arg) == ("test", "get-token")


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            "echo 'token expired, run login' >&2\nexit 4\n",
            "failed (exit 4): token expired, run login",
        ),
        ("echo not-json\n", "printed no ExecCredential JSON"),
        (
            'echo \'{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",'
            ' "status": {"token": "x"}}\'\n',
            "answered apiVersion 'client.authentication.k8s.io/v1beta1'",
        ),
        (
            'echo \'{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",'
            ' "status": {}}\'\n',
            "returned neither a token nor a client certificate",
        ),
    ],
)
def test_a_failing_exec_plugin_is_one_line(tmp_path, script, expected):
    from ciliumtui.cluster.client import api_client

    with FakeApiServer(healthy_cluster()) as srv:
        kc, _ = plugin_kubeconfig(srv.kubeconfig(tmp_path), tmp_path / "kc.yaml", script)
        with pytest.raises(CiliumtuiError) as err:
            api_client(Options(kubeconfig=kc))
    msg = str(err.value)
    assert msg.startswith(f"kubeconfig {kc}: ") and expected in msg and "\n" not in msg


def test_a_missing_exec_plugin_names_its_install_hint(tmp_path):
    from ciliumtui.cluster.client import api_client

    src = tmp_path / "src.yaml"
    src.write_text(yaml.safe_dump(kubeconfig_dict("http://127.0.0.1:9")))
    kc, plugin = plugin_kubeconfig(str(src), tmp_path / "kc.yaml", "")
    cfg = yaml.safe_load(Path(kc).read_text())
    cfg["users"][0]["user"]["exec"]["installHint"] = "install it with: apt install cloud-cli"
    Path(kc).write_text(yaml.safe_dump(cfg))
    os.unlink(plugin)
    with pytest.raises(CiliumtuiError) as err:
        api_client(Options(kubeconfig=kc))
    assert "cannot run: No such file or directory (install it with: apt install cloud-cli)" in str(
        err.value
    )
