"""TrainingEnv: bring a scenario up (node, host files, cluster, DNS, agent API), tear it ALL down.

As root ("netns" mode): a fresh network namespace `tr-<id>-<rand>` built by
build_node, a host root in a temp dir (its k3s.yaml is the simulated cluster's
kubeconfig), SimCluster(scenario, netns=...) for the apiserver and DNS inside
that namespace, and an AgentApiServer at <host root>/var/run/cilium/cilium.sock
per the scenario's `agent_api` (none: no socket).

Without root ("recorded" mode): the same host root and simulated cluster (on
loopback), and the node is a recorded NodeState JSON file (ciliumtui.training.recorded)
that the probes read and the node actions edit.

The world reacts to the fix. When the simulator applies the scenario's `on_fix`
(e.g. the agent pod on this node was recreated), the env makes the node look the
way a restarted agent leaves it: agent API healthy (socket created if absent),
pidfile written, and Cilium's datapath laid again with the fixed scenario's
addresses. An agent restarted over the debris of a dead one (a scenario whose
expert path cleans up first) crash-loops again instead: the fix does not count.

The env points CILIUMTUI_STATE_DIR at its own directory while it is up, so the
session's journals (what the debrief scores) and rate limits are its own.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..errors import CiliumtuiError
from ..options import Options
from ..ownership import is_cilium_link
from ..sim.scenario import load_scenario
from ..sim.server import SimCluster
from . import recorded

STATE_ENV = "CILIUMTUI_STATE_DIR"
CLEANUP_PLAYBOOKS = ("cleanup", "cleanup-node")


def netns_name(scenario_id: str) -> str:
    """`tr-<id>-<rand>`; the id is shortened so names stay readable in `ip netns list`."""
    return f"tr-{scenario_id[:24]}-{secrets.token_hex(3)}"


OWNERS = Path("/run/ciliumtui/train")  # <netns>.pid: which process owns a training namespace


def reap_orphans() -> list[str]:
    """Delete training namespaces whose owner died without tearing down (SIGKILL, power loss)."""
    reaped = []
    for pidfile in OWNERS.glob("tr-*.pid") if OWNERS.is_dir() else []:
        try:
            pid = int(pidfile.read_text().strip())
            os.kill(pid, 0)
            continue  # still running: not ours to touch
        except ProcessLookupError:
            pass
        except (ValueError, OSError):
            continue
        ns = pidfile.name[: -len(".pid")]
        if Path("/run/netns", ns).exists():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
            reaped.append(ns)
        pidfile.unlink(missing_ok=True)
    return reaped


def fix_triggers(scenario: dict[str, Any]) -> list[str]:
    trig = (scenario.get("on_fix") or {}).get("trigger", "agent-restart")
    return [str(t) for t in trig] if isinstance(trig, list) else [str(trig)]


class _TrainingSim(SimCluster):
    """SimCluster whose agent restart counts only once the node's debris is gone."""

    env: TrainingEnv | None = None
    rejected_restarts = 0

    def _note_fix_event(self, event: str) -> None:
        env = self.env
        if (
            event == "agent-restart"
            and not self.fixed
            and env is not None
            and env.restart_blocked()
        ):
            # A real agent started over stale links/rules crash-loops again.
            self.rejected_restarts += 1
            return
        super()._note_fix_event(event)


class TrainingEnv:
    """`with TrainingEnv("post-reboot") as env: env.opts, env.scenario, env.mode`"""

    def __init__(self, scenario_id: str, *, root: bool | None = None) -> None:
        self.scenario_id = scenario_id
        self.scenario: dict[str, Any] = load_scenario(scenario_id)  # unknown: CiliumtuiError
        self.root = (os.geteuid() == 0) if root is None else root
        self.mode = "netns" if self.root else "recorded"
        self.netns: str | None = None
        self.tmpdir: Path | None = None
        self.host_root: Path | None = None
        self.state_dir: Path | None = None
        self.recorded_node: Path | None = None
        self.sim: _TrainingSim | None = None
        self.agent: Any = None  # AgentApiServer (netns mode)
        self.opts: Options = Options()
        self.fixed_events: list[str] = []  # what the env did when the fix landed
        self._lock = threading.Lock()
        self._old_state_env: str | None = None

    # -------------------------------------------------------------- lifecycle

    def __enter__(self) -> TrainingEnv:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        from ..sim.host_root import build_host_root

        if self.root and os.geteuid() != 0:
            raise CiliumtuiError("training in a network namespace needs root")
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f"ciliumtui-train-{self.scenario_id}-"))
        self.host_root = self.tmpdir / "host"
        self.state_dir = self.tmpdir / "state"
        self.state_dir.mkdir()
        self._old_state_env = os.environ.get(STATE_ENV)
        os.environ[STATE_ENV] = str(self.state_dir)
        scenario = self.scenario
        if self.root:
            from ..sim.node_builder import build_node

            reap_orphans()
            self.netns = netns_name(self.scenario_id)
            _run(["ip", "netns", "add", self.netns], "creating the network namespace")
            OWNERS.mkdir(parents=True, exist_ok=True)
            (OWNERS / f"{self.netns}.pid").write_text(str(os.getpid()))
            build_node(scenario, self.netns)
        else:
            self.recorded_node = self.tmpdir / "recorded-node.json"
            recorded.save_node(self.recorded_node, recorded.recorded_node_state(scenario))
        sim = _TrainingSim(scenario, netns=self.netns, tmpdir=self.tmpdir / "sim")
        sim.env = self
        sim.on_fix_hooks.append(self._on_fix)
        self.sim = sim.start()
        build_host_root(scenario, self.host_root, kubeconfig=sim.kubeconfig, agent_pid=os.getpid())
        sock = self.host_root / "var/run/cilium/cilium.sock"
        mode = str(scenario.get("agent_api", "none"))
        if self.root and mode != "none":
            self._start_agent(mode)
        self.opts = Options(
            kubeconfig=sim.kubeconfig,
            node=str(scenario.get("node_name") or "") or None,
            netns=self.netns,
            host_root=str(self.host_root),
            agent_socket=str(sock),
            backend=(
                recorded.RecordedBackend(str(self.recorded_node), host_root=str(self.host_root))
                if self.recorded_node
                else None
            ),
        )

    def _start_agent(self, mode: str) -> None:
        from ..sim.agent_api import AgentApiServer

        assert self.host_root is not None
        self.agent = AgentApiServer(mode, self.host_root / "var/run/cilium/cilium.sock")
        self.agent.__enter__()

    def close(self) -> None:
        """Tear everything down; safe to call twice and after a failed start."""
        errors: list[str] = []
        for what, fn in (
            ("agent API", self._stop_agent),
            ("simulated cluster", self._stop_sim),
            ("network namespace", self._del_netns),
        ):
            try:
                fn()
            except Exception as exc:  # keep tearing down the rest
                errors.append(f"{what}: {exc}")
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        if self._old_state_env is None:
            os.environ.pop(STATE_ENV, None)
        else:
            os.environ[STATE_ENV] = self._old_state_env
        self._old_state_env = None
        if errors:
            raise CiliumtuiError("training teardown: " + "; ".join(errors))

    def _stop_agent(self) -> None:
        if self.agent is not None:
            agent, self.agent = self.agent, None
            agent.__exit__(None, None, None)

    def _stop_sim(self) -> None:
        if self.sim is not None:
            sim, self.sim = self.sim, None
            sim.stop()

    def _del_netns(self) -> None:
        if self.netns is not None:
            ns, self.netns = self.netns, None
            _run(["ip", "netns", "del", ns], "deleting the network namespace")
            (OWNERS / f"{ns}.pid").unlink(missing_ok=True)

    # ------------------------------------------------------------ what to show

    def cli_flags(self) -> list[str]:
        """The flags a second terminal passes to `ciliumtui diagnose/run/...` for this node."""
        o = self.opts
        flags = ["--kubeconfig", str(o.kubeconfig), "--node", str(o.node)]
        flags += ["--host-root", o.host_root]
        if o.netns:
            flags += ["--netns", o.netns]
        if o.agent_socket:
            flags += ["--agent-socket", o.agent_socket]
        if self.recorded_node:
            flags += ["--node-file", str(self.recorded_node)]
        return flags

    def env_vars(self) -> dict[str, str]:
        return {STATE_ENV: str(self.state_dir)}

    @property
    def fixed(self) -> bool:
        return bool(self.sim and self.sim.fixed)

    # ------------------------------------------------------------- the fix

    def restart_blocked(self) -> bool:
        """An agent restart does not fix a node whose expert path cleans up first, while debris remains."""
        if not set(CLEANUP_PLAYBOOKS) & set(self.scenario.get("expert_path") or []):
            return False
        return self.has_debris()

    def has_debris(self) -> bool:
        """Cilium links or CILIUM_* chains on the node (while no agent owns them)."""
        if self.recorded_node is not None:
            return recorded.has_debris(self.recorded_node)
        if self.netns is None:
            return False
        links = json.loads(_run(["ip", "-n", self.netns, "-j", "link", "show"], "reading links"))
        if any(is_cilium_link(str(link.get("ifname", ""))) for link in links):
            return True
        for backend in ("nft", "legacy"):
            text = _run(
                ["ip", "netns", "exec", self.netns, f"iptables-{backend}-save"],
                "reading iptables",
                check=False,
            )
            if any(line.startswith((":CILIUM_", ":OLD_CILIUM_")) for line in text.splitlines()):
                return True
        return False

    def apply_manual_fix(self) -> bool:
        """For `trigger: manual` scenarios: the trainer saw the fix (e.g. verify passed)."""
        if self.sim is None or "manual" not in fix_triggers(self.scenario):
            return False
        return self.sim.apply_on_fix()

    def _on_fix(self, scenario: dict[str, Any]) -> None:
        """SimCluster applied on_fix (runs on the simulator's loop, which must not break)."""
        try:
            self._make_node_fixed(scenario)
        except Exception as exc:  # shown in the debrief's context, never a dead simulator
            self.fixed_events.append(f"could not update the node: {exc}")

    def _make_node_fixed(self, scenario: dict[str, Any]) -> None:
        from ..sim.host_root import build_host_root

        with self._lock:
            restarted = "agent-restart" in fix_triggers(self.scenario) or bool(
                {"agent_api", "network"} & set(self.scenario.get("on_fix") or {})
            )
            fixed = copy.deepcopy(scenario)
            if restarted:
                fixed.setdefault("host", {})["agent_running"] = True
                fixed["agent_api"] = "healthy"
            if self.host_root is not None and self.sim is not None:
                keep = _trainee_files(self.host_root)
                build_host_root(
                    fixed, self.host_root, kubeconfig=self.sim.kubeconfig, agent_pid=os.getpid()
                )
                _restore_files(self.host_root, keep)
            if not restarted:
                self.fixed_events.append("host files updated")
                return
            if self.recorded_node is not None:
                recorded.relay_fixed(self.recorded_node, fixed, os.getpid())
                self.fixed_events.append("recorded node relaid, agent healthy")
                return
            if self.netns is not None:
                relay_datapath(fixed, self.netns)
            if self.agent is not None:
                self.agent.mode = "healthy"
            else:
                self._start_agent("healthy")
            self.fixed_events.append("datapath relaid, agent healthy")


def _trainee_files(root: Path) -> dict[Path, str]:
    """systemd drop-ins the trainee wrote (build_host_root must not lose them)."""
    out = {}
    for p in (root / "etc/systemd/system").glob("*.service.d/*.conf"):
        out[p] = p.read_text()
    return out


def _restore_files(root: Path, files: dict[Path, str]) -> None:
    for p, text in files.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def relay_datapath(scenario: dict[str, Any], netns: str) -> None:
    """What a restarted agent does to the node: Cilium's links, routes, ip rule and chains,
    replaced by the (fixed) scenario's. Nothing that is not Cilium's is touched."""
    from ..sim.node_builder import ip_batch, iptables_texts

    links = json.loads(_run(["ip", "-n", netns, "-j", "link", "show"], "reading links"))
    # Deleting one end of a veth removes its peer: -force goes on past "no such device".
    lines = [
        f"link del {link['ifname']}"
        for link in links
        if is_cilium_link(str(link.get("ifname", "")))
    ]
    rules = json.loads(_run(["ip", "-n", netns, "-4", "-j", "rule", "show"], "reading rules"))
    if any(r.get("table") == "2004" for r in rules):
        lines.append("rule del fwmark 0x200/0xf00 lookup 2004")
    lines.append("route flush table 2004")
    _run(
        ["ip", "-n", netns, "-force", "-batch", "-"],
        "removing Cilium's state",
        stdin="\n".join(lines) + "\n",
        check=False,
    )

    cilium_only = copy.deepcopy(scenario)
    net = cilium_only.setdefault("network", {})
    net["uplink"] = None
    net["decoys"] = False
    net["extra_routes"] = []
    cil = net.setdefault("cilium", {})
    cil["present"] = True
    cluster = cilium_only.setdefault("cluster", {})
    cluster["kube_dns_ip"] = None
    cluster["coredns"] = {**(cluster.get("coredns") or {}), "ips": []}
    has_local_100 = any(r.get("priority") == 100 for r in rules)
    batch = [
        line
        for line in ip_batch(cilium_only)
        if not (has_local_100 and line in ("rule add lookup local pref 100", "rule del pref 0"))
    ]
    _run(
        ["ip", "-n", netns, "-batch", "-"],
        "laying Cilium's datapath",
        stdin="\n".join(batch) + "\n",
    )
    # New lo addresses (CoreDNS moved with the pool): added when missing.
    lo_ips = [
        str(ip) for ip in ((scenario.get("cluster") or {}).get("coredns") or {}).get("ips") or []
    ]
    if lo_ips:
        _run(
            ["ip", "-n", netns, "-force", "-batch", "-"],
            "adding addresses",
            stdin="".join(f"addr replace {ip}/32 dev lo\n" for ip in lo_ips),
            check=False,
        )
    # iptables: Cilium's old chains out (incrementally, --noflush), its fresh ones in
    # (--noflush): the kube-proxy rules stay as they were, like on a real node.
    from ..engine.actions.netfilter import purge_input

    own = copy.deepcopy(scenario)
    own["network"] = {**(own.get("network") or {}), "kube_iptables": "none", "decoys": False}
    for backend, text in iptables_texts(own).items():
        saved = _run(["ip", "netns", "exec", netns, f"iptables-{backend}-save"], "reading iptables")
        purge = purge_input(saved.encode())
        if purge:
            _run(
                ["ip", "netns", "exec", netns, f"iptables-{backend}-restore", "--noflush", "-w"],
                "removing Cilium's old iptables rules",
                stdin=purge.decode(),
            )
        _run(
            ["ip", "netns", "exec", netns, f"iptables-{backend}-restore", "--noflush"],
            "laying Cilium's iptables rules",
            stdin=text,
        )


def _run(argv: list[str], what: str, *, stdin: str | None = None, check: bool = True) -> str:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise CiliumtuiError(f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise CiliumtuiError(f"{what}: {argv[0]} timed out") from None
    if check and done.returncode != 0:
        why = (done.stderr.strip() or f"exit {done.returncode}").splitlines()[0]
        raise CiliumtuiError(f"{what}: {why}")
    return done.stdout
