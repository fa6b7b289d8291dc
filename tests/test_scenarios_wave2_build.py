"""The wave-2 training scenarios (issue 14 item 9) as a trainee's node shows them.

bpf-leftovers, flannel-still-on and coredns-loop, each built in a network namespace
(root: real BPF programs in a private bpffs and child cgroup, a real flannel.1 holding
UDP 8472, a real systemd-resolved stub on 127.0.0.53) and as a recorded node (no root):
the raw facts the probes read are in `ciliumtui snapshot --json`, the two modes agree,
the simulated cluster reacts to the fix a trainee makes by hand, and teardown leaves
nothing behind — also after SIGKILL (reaped by the next session).

Solving them with the tool's own playbooks (the checks and remedy branches) is
tests/test_scenarios_wave2.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest

from ciliumtui.model import NodeState
from ciliumtui.netns import socket_in_netns
from ciliumtui.sim.bpf_loader import mounts_under
from ciliumtui.sim.objects.coredns import K3S_COREFILE, forward_loops
from ciliumtui.sim.scenario import load_scenario
from ciliumtui.sim.server import SimCluster
from ciliumtui.snapshot_load import snapshot_from_dict
from ciliumtui.training import recorded
from ciliumtui.training.env import OWNER_FILE, TMP_PREFIX, TrainingEnv

WAVE2 = ["bpf-leftovers", "flannel-still-on", "coredns-loop"]
LOOP_FATAL = '[FATAL] plugin/loop: Loop (127.0.0.1:55340 -> :53) detected for zone "."'


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path, monkeypatch):
    """The operator's state dir, where a closed session keeps its journals: the test's own."""
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "operator-state"))


def cli(env: TrainingEnv, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`ciliumtui …` in a second terminal, with the flags and state dir the session prints."""
    return subprocess.run(
        [sys.executable, "-m", "ciliumtui", *args, *env.cli_flags()],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env.env_vars()},
    )


def snapshot(env: TrainingEnv) -> dict[str, Any]:
    res = cli(env, "snapshot", "--json")
    assert res.returncode == 0, res.stderr
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def kubectl(env_or_sim: Any, *args: str) -> str:
    res = subprocess.run(
        ["kubectl", "--kubeconfig", str(env_or_sim.kubeconfig), "-n", "kube-system", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def pod_states(env_or_sim: Any, app: str) -> list[tuple[bool, str]]:
    """(Ready, waiting reason) of the kube-system pods labelled k8s-app=<app> on any node."""
    items = json.loads(kubectl(env_or_sim, "get", "pods", "-l", f"k8s-app={app}", "-o", "json"))
    out = []
    for p in items["items"]:
        cs = (p.get("status") or {}).get("containerStatuses") or [{}]
        reason = ((cs[0].get("state") or {}).get("waiting") or {}).get("reason", "")
        out.append((bool(cs[0].get("ready")), reason))
    return out


def local_agent(env: TrainingEnv) -> tuple[bool, str]:
    items = json.loads(
        kubectl(
            env,
            "get",
            "pods",
            "-l",
            "k8s-app=cilium",
            "--field-selector",
            f"spec.nodeName={env.node_name}",
            "-o",
            "json",
        )  # fmt: skip
    )["items"]
    assert len(items) == 1
    cs = items[0]["status"]["containerStatuses"][0]
    return bool(cs.get("ready")), ((cs.get("state") or {}).get("waiting") or {}).get("reason", "")


def dns_answers(netns: str, server: str, name: str = "example.com") -> bool:
    """A real DNS query from inside the node's namespace (False: no answer in 1.5 s)."""
    sock = socket_in_netns(netns, socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)  # dnspython's timeout needs a non-blocking socket
    try:
        dns.query.udp(dns.message.make_query(name, "A"), server, timeout=1.5, sock=sock)
        return True
    except (dns.exception.Timeout, OSError):
        return False
    finally:
        sock.close()


def ip(netns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "-n", netns, *args], capture_output=True, text=True, check=check)


# ----------------------------------------------------------------- the scenarios


@pytest.mark.parametrize("scenario_id", WAVE2)
def test_the_scenario_teaches_without_giving_the_answer_away(scenario_id: str) -> None:
    s = load_scenario(scenario_id)
    title = s["title"].lower()
    for word in ("bpf", "tc ", "xdp", "flannel", "loop", "corefile", "127.0.0.53"):
        assert word not in title, title
    assert len(s["hints"]) >= 3 and s["summary"] and s["briefing"]
    assert s["root_cause"] and s["expert_path"]
    assert s["on_fix"]["trigger"]
    # the hints lead: the first names no playbook, the last is the solution
    assert not any(pb in s["hints"][0] for pb in s["expert_path"])
    assert s["expert_path"][0] in s["hints"][-1]


def test_coredns_forward_loops_only_through_a_loopback_resolver() -> None:
    s = load_scenario("coredns-loop")
    corefile = K3S_COREFILE.format(domain="cluster.local")
    assert forward_loops(corefile, s)  # /etc/resolv.conf -> 127.0.0.53 (k3s resolv-conf)
    for target, loops in [
        ("192.168.1.1", False),
        ("/run/systemd/resolve/resolv.conf", False),
        ("8.8.8.8 1.1.1.1", False),
        ("127.0.0.1:5353", True),
        ("[::1]:53", True),
        ("dns://127.0.0.53", True),
    ]:
        assert forward_loops(corefile.replace("/etc/resolv.conf", target), s) is loops, target
    healthy = load_scenario("healthy")  # its nameserver is the LAN's: no loop
    assert not forward_loops(corefile, healthy)
    # without `resolv-conf`, k3s itself picks systemd-resolved's upstream file
    del s["host"]["k3s"]["config"]["resolv-conf"]
    assert not forward_loops(corefile, s)


def test_recorded_nodes_carry_the_raw_facts() -> None:
    bpf = recorded.recorded_node_state(load_scenario("bpf-leftovers"))
    assert not [lk.name for lk in bpf.links if lk.cilium]
    hooks = {(a.hook, a.target, a.program.name, a.via) for a in bpf.bpf.attachments}
    assert {
        ("tc-ingress", "eth0", "cil_from_netdev", "tc"),
        ("tc-egress", "eth0", "cil_to_netdev", "tc"),
        ("xdp", "eth0", "cil_xdp_entry", "bpf_link"),
        ("cgroup:connect4", "/run/cilium/cgroupv2", "cil_sock4_conne", "bpf_link"),
    } <= hooks
    pins = {p.path for p in bpf.bpf.pins}
    assert "/sys/fs/bpf/cilium/devices/eth0/links/cil_xdp_entry" in pins
    assert "/sys/fs/bpf/tc/globals/cilium_lb4_services_v2" in pins
    assert any(r.table == "2004" for r in bpf.rules)  # the one-liner left the ip rule
    assert "i/o timeout" in bpf.agent.last_log[-1]

    fl = recorded.recorded_node_state(load_scenario("flannel-still-on"))
    assert {"flannel.1", "cni0"} <= {lk.name for lk in fl.links}
    assert fl.host.k3s is not None and fl.host.k3s.flannel_backend is None
    assert fl.host.flannel_subnet_env
    k3s_dir = [f for f in fl.host.cni_files if f.dir.startswith("/var/lib/rancher/k3s")]
    assert [(f.name, f.plugins[0]) for f in k3s_dir] == [("10-flannel.conflist", "flannel")]
    assert "8472: bind: address already in use" in fl.agent.last_log[-1]

    cd = recorded.recorded_node_state(load_scenario("coredns-loop"))
    assert cd.host.resolved_nameservers == ["192.168.1.1"]
    assert cd.host.k3s is not None and cd.host.k3s.resolv_conf == "/etc/resolv.conf"


# ----------------------------------------------------------------- the cluster


def test_coredns_crash_loops_on_its_loop_until_the_corefile_forwards_upstream() -> None:
    with SimCluster(load_scenario("coredns-loop")) as sim:
        assert pod_states(sim, "kube-dns") == [(False, "CrashLoopBackOff")]
        name = kubectl(sim, "get", "pods", "-l", "k8s-app=kube-dns", "-o", "name").strip()
        assert LOOP_FATAL in kubectl(sim, "logs", name, "--previous", "--tail=1")
        corefile = kubectl(sim, "get", "cm", "coredns", "-o", "jsonpath={.data.Corefile}")
        assert "forward . /etc/resolv.conf" in corefile and "loop" in corefile
        time.sleep(2.5)  # a crash-loop retry with the same Corefile: still looping
        assert pod_states(sim, "kube-dns") == [(False, "CrashLoopBackOff")] and not sim.fixed
        fixed = corefile.replace("forward . /etc/resolv.conf", "forward . 192.168.1.1")
        patch = json.dumps({"data": {"Corefile": fixed}})
        kubectl(sim, "patch", "cm", "coredns", "--type", "merge", "-p", patch)
        kubectl(sim, "rollout", "restart", "deploy/coredns")
        wait_for("CoreDNS Ready", lambda: pod_states(sim, "kube-dns") == [(True, "")])
        assert sim.fixed and "coredns-ready" in sim.fix_events
        assert sim.scenario["dns"] == {"cluster_names": "ok", "external_names": "ok"}
        name = kubectl(sim, "get", "pods", "-l", "k8s-app=kube-dns", "-o", "name").strip()
        assert "FATAL" not in kubectl(sim, "logs", name)


def test_a_patched_corefile_alone_brings_coredns_up_at_its_next_restart() -> None:
    with SimCluster(load_scenario("coredns-loop")) as sim:
        corefile = kubectl(sim, "get", "cm", "coredns", "-o", "jsonpath={.data.Corefile}")
        fixed = corefile.replace("forward . /etc/resolv.conf", "forward . 192.168.1.1")
        kubectl(
            sim, "patch", "cm", "coredns", "--type", "merge",
            "-p", json.dumps({"data": {"Corefile": fixed}}),
        )  # fmt: skip
        wait_for("CoreDNS Ready", lambda: pod_states(sim, "kube-dns") == [(True, "")])
        assert sim.fixed


def test_healthy_coredns_survives_a_rollout_restart() -> None:
    with SimCluster(load_scenario("healthy")) as sim:
        kubectl(sim, "rollout", "restart", "deploy/coredns")
        time.sleep(1.5)
        assert pod_states(sim, "kube-dns") == [(True, "")]


def test_the_agent_comes_up_at_its_next_retry_once_k3s_restarted_without_flannel() -> None:
    restarted = {"yes": False}
    with SimCluster(load_scenario("flannel-still-on")) as sim:
        sim.fix_checks["k3s-restart"] = lambda: restarted["yes"]

        def agent() -> tuple[bool, str]:
            items = json.loads(kubectl(sim, "get", "pods", "-l", "k8s-app=cilium", "-o", "json"))[
                "items"
            ]
            mine = [p for p in items if p["spec"]["nodeName"] == "k3s-node1"]
            cs = mine[0]["status"]["containerStatuses"][0]
            return bool(cs.get("ready")), cs["state"].get("waiting", {}).get("reason", "")

        assert agent() == (False, "CrashLoopBackOff")
        time.sleep(2.5)  # retries while flannel still runs fail
        assert agent() == (False, "CrashLoopBackOff") and not sim.fixed
        restarted["yes"] = True
        wait_for("the agent Ready", lambda: agent() == (True, ""))
        assert sim.fixed and "k3s-restart" in sim.fix_events
        node = json.loads(kubectl(sim, "get", "node", "k3s-node1", "-o", "json"))
        assert not node["spec"].get("taints")


# ----------------------------------------------------------------- netns nodes


def _facts_bpf(node: dict[str, Any]) -> None:
    assert not [lk["name"] for lk in node["links"] if lk["cilium"]]
    chains = [c["name"] for d in node["netfilter"] for t in d["tables"] for c in t["chains"]]
    assert chains and not [c for c in chains if "CILIUM" in c]  # KUBE-* stay, CILIUM_* went
    hooks = {
        (a["hook"], a["target"], a["program"]["name"], a["via"], a["link_pin"])
        for a in node["bpf"]["attachments"]
        if a["cilium"]
    }
    assert ("tc-ingress", "eth0", "cil_from_netdev", "tc", None) in hooks
    assert ("tc-egress", "eth0", "cil_to_netdev", "tc", None) in hooks
    link = "/sys/fs/bpf/cilium/devices/eth0/links/cil_xdp_entry"
    assert ("xdp", "eth0", "cil_xdp_entry", "bpf_link", link) in hooks
    sock = "/sys/fs/bpf/cilium/socketlb/links/cgroup/cil_sock4_connect"
    assert ("cgroup:connect4", "/run/cilium/cgroupv2", "cil_sock4_conne", "bpf_link", sock) in hooks
    pins = {p["path"]: p["kind"] for p in node["bpf"]["pins"] if p["cilium"]}
    assert pins[link] == "link" and pins["/sys/fs/bpf/tc/globals/cilium_ct4_global"] == "map"
    assert not node["bpf"]["errors"]
    assert any(r["table"] == "2004" for r in node["rules"])
    assert "i/o timeout" in node["agent"]["last_log"][-1]


def _facts_flannel(node: dict[str, Any]) -> None:
    links = {lk["name"]: lk for lk in node["links"]}
    assert links["flannel.1"]["kind"] == "vxlan" and links["cni0"]["kind"] == "bridge"
    assert "10.42.0.1/24" in links["cni0"]["addresses"]
    assert not [n for n in links if n.startswith("cilium_")]
    host = node["host"]
    assert host["k3s"]["role"] == "server" and host["k3s"]["flannel_backend"] is None
    assert host["flannel_subnet_env"]
    assert {(f["dir"], f["name"]) for f in host["cni_files"]} == {
        ("/etc/cni/net.d", "05-cilium.conflist"),
        ("/var/lib/rancher/k3s/agent/etc/cni/net.d", "10-flannel.conflist"),
    }
    assert "listen udp 0.0.0.0:8472: bind: address already in use" in node["agent"]["last_log"][-1]


def _facts_coredns(node: dict[str, Any]) -> None:
    host = node["host"]
    assert host["resolved_nameservers"] == ["192.168.1.1"]
    assert host["k3s"]["resolv_conf"] == "/etc/resolv.conf"


FACTS = {
    "bpf-leftovers": _facts_bpf,
    "flannel-still-on": _facts_flannel,
    "coredns-loop": _facts_coredns,
}


def _shapes(node: NodeState) -> dict[str, Any]:
    """What must agree between a built node and its recorded twin (ids and kernel
    details such as program ids and link states differ by nature)."""
    return {
        "links": {
            (lk.name, lk.kind, lk.cilium, tuple(sorted(a for a in lk.addresses if ":" not in a)))
            for lk in node.links
            if lk.name != "lo"
        },  # fmt: skip
        "routes": {
            (r.dst, r.table, r.dev, r.gateway, r.cilium)
            for r in node.routes
            if r.family == 4 and r.table in ("main", "2004")
        },  # fmt: skip
        "rules": {(r.priority, r.family, r.fwmark, r.table) for r in node.rules},
        "netfilter": {
            (d.backend, d.family): (sorted(d.cilium_chains), d.cilium_rule_count)
            for d in node.netfilter
        },  # fmt: skip
        "bpf": {
            (a.hook, a.target, a.program.name, a.program.type, a.via, a.link_pin, a.cilium)
            for a in node.bpf.attachments
        },  # fmt: skip
        "pins": {(p.path, p.kind, p.cilium) for p in node.bpf.pins},
        "last_log": (node.agent.last_log, node.agent.last_log_path),
    }


@pytest.mark.root
@pytest.mark.parametrize("scenario_id", WAVE2)
def test_built_in_a_namespace_the_snapshot_shows_it_and_the_recorded_twin_agrees(
    scenario_id: str,
) -> None:
    with TrainingEnv(scenario_id, root=True) as env:
        assert env.mode == "netns" and env.netns
        data = snapshot(env)
        FACTS[scenario_id](data["node"])
        live = snapshot_from_dict(data).node
        assert live is not None
        twin = recorded.recorded_node_state(env.scenario)
        # the filters' tc names and addresses shown the same way in both
        got, want = _shapes(live), _shapes(twin)
        for key in want:
            assert got[key] == want[key], key
        host = live.host
        assert host.k3s is not None and twin.host.k3s is not None
        host.k3s.unit_file = twin.host.k3s.unit_file
        host.k3s.kubeconfig = twin.host.k3s.kubeconfig
        assert host == twin.host


@pytest.mark.root
def test_the_dark_node_is_really_dark_until_ciliums_programs_go() -> None:
    """cil_from_netdev on eth0 drops what comes in: the node's resolver, kube-dns and the
    agent's apiserver are out of reach; the node-only cleanup gives the network back."""
    from ciliumtui.engine.loader import load_playbook, resolve_inputs
    from ciliumtui.engine.runner import Runner

    with TrainingEnv("bpf-leftovers", root=True) as env:
        ns = env.netns
        assert ns is not None
        assert not dns_answers(ns, "192.168.1.1")
        # an agent restart over the programs does not count (it could not reach the apiserver)
        kubectl(env, "delete", "pod", "-l", "k8s-app=cilium", "--field-selector",
                f"spec.nodeName={env.node_name}", "--wait=false")  # fmt: skip
        wait_for(
            "the rejected restart", lambda: env.sim is not None and env.sim.rejected_restarts > 0
        )
        assert not env.fixed
        pb = load_playbook("cleanup-node")
        inputs = resolve_inputs(pb, {}, env.opts.node_name)
        result = asyncio.run(Runner(pb, env.opts, inputs, assume_yes=True).run())
        assert result.status == "ok", result.message
        assert env.bpf_debris() == []
        # the node's own resolver answers again (once the gateway's neighbour entry,
        # failed while the node was dark, is resolved again)
        wait_for("the node's resolver", lambda: dns_answers(ns, "192.168.1.1"), timeout=10)
        assert not ip(ns, "rule", "show", "table", "2004").stdout.strip()  # the ip rule went too
        kubectl(env, "delete", "pod", "-l", "k8s-app=cilium", "--field-selector",
                f"spec.nodeName={env.node_name}", "--wait=false")  # fmt: skip
        wait_for("the fix", lambda: env.fixed and local_agent(env) == (True, ""))
        wait_for("the datapath", lambda: "datapath relaid, agent healthy" in env.fixed_events)
        node = snapshot(env)["node"]
        # the restarted agent's own programs, and nothing stale: the agent runs
        assert node["agent"]["reachable"]
        names = {(a["target"], a["program"]["name"]) for a in node["bpf"]["attachments"]}
        assert ("cilium_host", "cil_to_host") in names and ("eth0", "cil_from_netdev") in names
        assert dns_answers(ns, "10.43.0.10", "kubernetes.default.svc.cluster.local")
        assert cli(env, "run", "verify", "--yes", timeout=300).returncode == 0


@pytest.mark.root
def test_flannel_holds_8472_and_the_agent_comes_up_once_k3s_runs_without_it() -> None:
    with TrainingEnv("flannel-still-on", root=True) as env:
        ns, root = env.netns, env.host_root
        assert ns is not None and root is not None
        # what kills the agent is real: a second VXLAN device cannot take UDP 8472
        ip(ns, "link", "add", "vx-probe", "type", "vxlan", "external", "dstport", "8472")
        up = ip(ns, "link", "set", "vx-probe", "up", check=False)
        assert up.returncode != 0 and "Address already in use" in up.stderr
        ip(ns, "link", "del", "vx-probe")
        assert dns_answers(ns, "10.42.0.50", "kubernetes.default.svc.cluster.local")  # via cni0
        # flannel.1 alone gone: k3s would lay it again on its next start, no fix yet
        ip(ns, "link", "del", "flannel.1")
        time.sleep(3)
        assert local_agent(env) == (False, "CrashLoopBackOff") and not env.fixed
        # what k3s-disable-flannel writes, and the rest of flannel's traces
        conf = root / "etc/rancher/k3s/config.yaml.d/90-cilium.yaml"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("flannel-backend: none\ndisable-network-policy: true\n")
        ip(ns, "link", "del", "cni0")
        (root / "var/lib/rancher/k3s/agent/etc/cni/net.d/10-flannel.conflist").unlink()
        (root / "run/flannel/subnet.env").unlink()
        wait_for("the agent Ready", lambda: local_agent(env) == (True, ""))
        wait_for("the datapath", lambda: "datapath relaid, agent healthy" in env.fixed_events)
        node = snapshot(env)["node"]
        links = {lk["name"] for lk in node["links"]}
        assert {"cilium_host", "cilium_vxlan"} <= links and not links & {"flannel.1", "cni0"}
        assert node["host"]["k3s"]["flannel_backend"] == "none"  # the trainee's file is kept
        assert not node["host"]["flannel_subnet_env"]
        assert conf.read_text().startswith("flannel-backend: none")
        assert cli(env, "run", "verify", "--yes", timeout=300).returncode == 0


@pytest.mark.root
def test_coredns_loop_on_a_netns_node_the_stub_answers_and_the_fix_lands() -> None:
    with TrainingEnv("coredns-loop", root=True) as env:
        ns, root = env.netns, env.host_root
        assert ns is not None and root is not None
        assert (root / "etc/resolv.conf").read_text() == "nameserver 127.0.0.53\n"
        assert dns_answers(ns, "127.0.0.53")  # systemd-resolved's stub, on the node itself
        assert dns_answers(ns, "192.168.1.1")  # its upstream
        assert pod_states(env, "kube-dns") == [(False, "CrashLoopBackOff")]
        assert not dns_answers(ns, "10.43.0.10", "kubernetes.default.svc.cluster.local")
        corefile = kubectl(env, "get", "cm", "coredns", "-o", "jsonpath={.data.Corefile}")
        fixed = corefile.replace("forward . /etc/resolv.conf", "forward . 192.168.1.1")
        kubectl(env, "patch", "cm", "coredns", "--type", "merge",
                "-p", json.dumps({"data": {"Corefile": fixed}}))  # fmt: skip
        kubectl(env, "rollout", "restart", "deploy/coredns")
        wait_for("CoreDNS Ready", lambda: pod_states(env, "kube-dns") == [(True, "")])
        assert env.fixed
        assert dns_answers(ns, "10.43.0.10", "kubernetes.default.svc.cluster.local")
        assert cli(env, "run", "verify", "--yes", timeout=300).returncode == 0


# ----------------------------------------------------------------- recorded nodes


@pytest.mark.parametrize("scenario_id", WAVE2)
def test_recorded_mode_snapshot_shows_the_same_facts(scenario_id: str) -> None:
    with TrainingEnv(scenario_id, root=False) as env:
        assert env.mode == "recorded"
        FACTS[scenario_id](snapshot(env)["node"])


# ----------------------------------------------------------------- teardown


@pytest.mark.root
def test_teardown_leaves_no_namespace_mount_cgroup_or_temp_dir() -> None:
    with TrainingEnv("bpf-leftovers", root=True) as env:
        assert env.tmpdir is not None and env.bpf is not None and env.bpf.cgroup is not None
        tmpdir, cgroup, ns = env.tmpdir, env.bpf.cgroup, env.netns
        assert len(mounts_under(tmpdir)) == 2  # the private bpffs and the bound cgroup
        assert cgroup.is_dir() and ns is not None
    assert not tmpdir.exists() and not mounts_under(tmpdir)
    assert not cgroup.exists()
    assert not Path("/run/netns", ns).exists() and not Path("/run/netns", f"{ns}.upstream").exists()


@pytest.mark.root
def test_a_killed_bpf_session_is_reaped_by_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ciliumtui", "train", "bpf-leftovers", "--headless"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HOME": str(tmp_path), "CILIUMTUI_STATE_DIR": str(tmp_path / "st")},
    )
    ns = None
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and ns is None:
            m = re.search(r"network namespace \((tr-[\w-]+)\)", proc.stdout.readline())
            ns = m.group(1) if m else None
        assert ns, "training did not come up"
        tmpdir = next(
            d
            for d in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}bpf-leftovers-*")
            if json.loads((d / OWNER_FILE).read_text()).get("netns") == ns
        )
        cgroup = Path(json.loads((tmpdir / OWNER_FILE).read_text())["bpf_cgroup"])
        wait_for("the sandbox", lambda: len(mounts_under(tmpdir)) == 2 and cgroup.is_dir())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    try:
        assert mounts_under(tmpdir) and cgroup.is_dir()  # SIGKILL: nothing cleaned up...
        monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "operator"))
        with TrainingEnv("healthy", root=True):
            pass  # ...the next session reaps it
        assert not mounts_under(tmpdir) and not tmpdir.exists() and not cgroup.exists()
        assert not Path("/run/netns", ns).exists()
        assert not Path("/run/netns", f"{ns}.upstream").exists()
    finally:
        for name in (f"{ns}.upstream", ns):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
