"""TrainingEnv: bring a scenario up (node, host files, cluster, DNS, agent API), tear it ALL down.

The node is chosen once, at start-up (`choose_node`):
- "netns": as root, with iproute2 and iptables present, a fresh network namespace
  `tr-<id>-<rand>` built by build_node (plus its `.upstream` namespace holding
  what the node talks to), a host root in a temp dir (its k3s.yaml is the
  simulated cluster's kubeconfig), SimCluster(scenario, netns=...) for the
  apiserver and DNS, and an AgentApiServer at <host root>/var/run/cilium/cilium.sock
  per the scenario's `agent_api` (none: no socket).
- "recorded": without root, or without the tools a namespace needs (then
  `env.notice` says what it would take, e.g. `apt-get install iptables`): the same
  host root and simulated cluster (on loopback), and the node is a recorded
  NodeState JSON file (ciliumtui.training.recorded) that the probes read and the
  node actions edit; the file also records what the node's resolvers answer, so
  the node's own DNS checks ask the recorded world, never this machine's network.

The world reacts to the fix. When the simulator applies the scenario's `on_fix`
(e.g. the agent pod on this node was recreated), the env makes the node look the
way a restarted agent leaves it: agent API healthy (socket created if absent),
pidfile written, and Cilium's datapath laid again with the fixed scenario's
addresses. An agent restarted over the debris of a dead one (a scenario whose
expert path cleans up first) crash-loops again instead: the fix does not count.

The env points CILIUMTUI_STATE_DIR at its own directory while it is up, so the
session's journals (what the debrief scores) and rate limits are its own. On
close the journals are kept: copied into the operator's own state dir, where
`ciliumtui report <run id>` finds them (`env.kept_runs`).

A scenario with `network.bpf` gets real BPF leftovers (netns mode): a BpfSandbox
(ciliumtui.sim.bpf_loader) mounts a private bpffs at <host root>/sys/fs/bpf and binds
a dedicated child cgroup at <host root>/run/cilium/cgroupv2; the programs on the
node's devices die with its namespace. An agent restart does not count while
Cilium's programs or pins stay (the restarted agent cannot reach the apiserver
through them), and the fixed scenario's `network.bpf` (a live agent's own
programs) is laid with the datapath. A recorded node keeps the same BPF state in
its file, where bpf.cleanup's commands remove it. A scenario fixed by a k3s restart
(`k3s-restart` trigger) registers a look at the node with the simulator: the
k3s config disables flannel and flannel.1 (which holds UDP 8472) is gone.

Nothing outlives the session: close() removes the namespaces, the BPF sandbox
(its mounts and cgroup) and the temp dir (`ciliumtui-train-<id>-…`). A session
killed with SIGKILL leaves them, with an owner file naming its pid (and the
sandbox's cgroup); the next session reaps them (and keeps their journals).
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CiliumtuiError
from ..options import Options
from ..ownership import is_cilium_link
from ..sim.scenario import load_scenario
from ..sim.server import SimCluster
from . import recorded

if TYPE_CHECKING:
    from ..sim.bpf_loader import BpfSandbox

STATE_ENV = "CILIUMTUI_STATE_DIR"
CLEANUP_PLAYBOOKS = ("cleanup", "cleanup-node")
TMP_PREFIX = "ciliumtui-train-"
BPF_CGROUP_PREFIX = "ciliumtui-sim-"  # the sandbox's child cgroup (bpf_loader's prefix)
OWNER_FILE = "owner.json"  # in the temp dir: who owns it and which namespace is its
ENV_FILE = "env.sh"  # in the temp dir: what a second terminal sources (env_script)
# What a network-namespace node needs besides root: building it, and the tool's own
# probes and cleanup reading and writing both iptables backends.
NETNS_TOOLS: dict[str, str] = {
    "ip": "apt-get install iproute2",
    "iptables-nft-restore": "apt-get install iptables",
    "iptables-nft-save": "apt-get install iptables",
    "iptables-legacy-restore": "apt-get install iptables",
    "iptables-legacy-save": "apt-get install iptables",
}


def netns_name(scenario_id: str) -> str:
    """`tr-<id>-<rand>`; the id is shortened so names stay readable in `ip netns list`."""
    return f"tr-{scenario_id[:24]}-{secrets.token_hex(3)}"


OWNERS = Path("/run/ciliumtui/train")  # <netns>.pid: which process owns a training namespace


def choose_node(root: bool | None = None) -> tuple[str, str | None]:
    """("netns" | "recorded", notice): the node training runs on, and one line saying
    why it is not a real namespace when it could have been.

    root=None: decide from the euid and the tools present; True: a namespace or a
    CiliumtuiError saying what is missing; False: the recorded node."""
    is_root = os.geteuid() == 0
    if root is False or (root is None and not is_root):
        return "recorded", None
    if not is_root:
        raise CiliumtuiError("training in a network namespace needs root")
    missing = [tool for tool in NETNS_TOOLS if shutil.which(tool) is None]
    if not missing:
        return "netns", None
    fixes = " && ".join(dict.fromkeys(NETNS_TOOLS[t] for t in missing))
    if root:
        raise CiliumtuiError(
            f"training in a network namespace needs {missing[0]} (install it: {fixes})"
        )
    return (
        "recorded",
        f"{missing[0]} not found: training on a recorded node; a real network namespace needs `{fixes}`",
    )


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot): tells a live owner from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _owner_alive(pid: int, start: str | None) -> bool:
    now = _start_time(pid)
    return now is not None and (start is None or now == start)


def reap_orphans() -> list[str]:
    """Remove what sessions that died without tearing down left (SIGKILL, power loss):
    their namespaces and temp dirs, keeping their journals. Returns what was reaped."""
    reaped: list[str] = []
    tmp = Path(tempfile.gettempdir())
    for d in sorted(tmp.glob(f"{TMP_PREFIX}*")):
        try:
            if not d.is_dir() or d.stat().st_uid != os.geteuid():
                continue
            owner = json.loads((d / OWNER_FILE).read_text())
            pid, start = int(owner["pid"]), owner.get("start")
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not ours, or being set up right now
        if _owner_alive(pid, start):
            continue
        ns = owner.get("netns")
        if ns and os.geteuid() == 0:
            _remove_netns(str(ns))
            reaped.append(str(ns))
        reaped += _reap_bpf(d, owner.get("bpf_cgroup"))
        keep_runs(d / "state")
        shutil.rmtree(d, ignore_errors=True)
        reaped.append(str(d))
    # Sessions from before owner files: a pidfile per namespace.
    for pidfile in OWNERS.glob("tr-*.pid") if OWNERS.is_dir() else []:
        try:
            pid = int(pidfile.read_text().split()[0])
        except (ValueError, OSError, IndexError):
            continue
        if _owner_alive(pid, None):
            continue
        ns = pidfile.name[: -len(".pid")]
        if Path("/run/netns", ns).exists():
            _remove_netns(ns)
            reaped.append(ns)
        pidfile.unlink(missing_ok=True)
    return reaped


def _reap_bpf(tmpdir: Path, cgroup: object) -> list[str]:
    """A dead session's BPF sandbox: its mounts under the temp dir (bpffs, the bound
    cgroup), then its child cgroup. Returns what was removed."""
    from ..sim.bpf_loader import mounts_under, remove_cgroup, unmount_all

    if os.geteuid() != 0:
        return []
    points = mounts_under(tmpdir)
    unmount_all(points)
    out = [str(p) for p in points]
    ours = isinstance(cgroup, str) and Path(cgroup).name.startswith(BPF_CGROUP_PREFIX)
    if ours and Path(str(cgroup)).is_dir() and remove_cgroup(Path(str(cgroup))):
        out.append(str(cgroup))
    return out


def _remove_netns(ns: str) -> None:
    from ..sim.node_builder import remove_node

    remove_node(ns)


def keep_runs(state: Path, dest: Path | None = None) -> list[str]:
    """Copy the run journals under `state`/runs into the operator's state dir (`dest`:
    default ciliumtui.engine.journal.runs_dir() as the environment says now), so
    `ciliumtui report <run id>` finds them after the session. Returns the run ids."""
    from ..engine.journal import runs_dir

    src = state / "runs"
    if not src.is_dir():
        return []
    dest = dest if dest is not None else runs_dir()
    kept: list[str] = []
    for run in sorted(p for p in src.iterdir() if (p / "journal.jsonl").is_file()):
        try:
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copytree(run, dest / run.name, dirs_exist_ok=True)
        except OSError:
            continue  # a state dir we cannot write: the debrief was still shown
        kept.append(run.name)
    return kept


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
    """`with TrainingEnv("post-reboot") as env: env.opts, env.scenario, env.mode`

    What the TUI and the CLI show from it (stable): `mode` ("netns" | "recorded"),
    `notice` (one line or None: why the node is recorded although root), `kubeconfig`,
    `node_name`, `cli_flags()` / `env_vars()` (a second terminal's `ciliumtui …`),
    `fixed`, `scenario`, and after close `kept_runs` (run ids `ciliumtui report` finds).
    """

    def __init__(self, scenario_id: str, *, root: bool | None = None) -> None:
        self.scenario_id = scenario_id
        self.scenario: dict[str, Any] = load_scenario(scenario_id)  # unknown: CiliumtuiError
        self._root_arg = root
        self.mode = "netns" if (os.geteuid() == 0 if root is None else root) else "recorded"
        self.notice: str | None = None
        self.netns: str | None = None
        self.tmpdir: Path | None = None
        self.host_root: Path | None = None
        self.state_dir: Path | None = None
        self.env_file: Path | None = None  # `. env.sh` in a second terminal (env_script)
        self.recorded_node: Path | None = None
        self.sim: _TrainingSim | None = None
        self.agent: Any = None  # AgentApiServer (netns mode)
        self.bpf: BpfSandbox | None = None  # netns mode, a scenario with network.bpf
        self.opts: Options = Options()
        self.fixed_events: list[str] = []  # what the env did when the fix landed
        self.kept_runs: list[str] = []  # after close: the session's runs, kept for `report`
        self._lock = threading.Lock()
        self._old_state_env: str | None = None

    @property
    def root(self) -> bool:
        return self.mode == "netns"

    @property
    def kubeconfig(self) -> str:
        return str(self.opts.kubeconfig or "")

    @property
    def node_name(self) -> str:
        return str(self.scenario.get("node_name") or "")

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

        self.mode, self.notice = choose_node(self._root_arg)
        reap_orphans()
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{self.scenario_id}-"))
        self.host_root = self.tmpdir / "host"
        self.state_dir = self.tmpdir / "state"
        self.state_dir.mkdir()
        self._old_state_env = os.environ.get(STATE_ENV)
        os.environ[STATE_ENV] = str(self.state_dir)
        scenario = self.scenario
        if self.mode == "netns":
            from ..sim.node_builder import build_node

            self.netns = netns_name(self.scenario_id)
            self._write_owner()  # before the namespace exists: a kill from here on is reaped
            _run(["ip", "netns", "add", self.netns], "creating the network namespace")
            build_node(scenario, self.netns)
        else:
            self._write_owner()
            self.recorded_node = self.tmpdir / "recorded-node.json"
            recorded.record_node(self.recorded_node, scenario)  # and what its resolvers answer
        sim = _TrainingSim(scenario, netns=self.netns, tmpdir=self.tmpdir / "sim")
        sim.env = self
        sim.on_fix_hooks.append(self._on_fix)
        if "k3s-restart" in fix_triggers(scenario):
            sim.fix_checks["k3s-restart"] = self.k3s_restarted_without_flannel
        sim.start()
        self.sim = sim
        build_host_root(scenario, self.host_root, kubeconfig=sim.kubeconfig, agent_pid=os.getpid())
        if self.mode == "netns":
            self._lay_bpf(scenario)
        sock = self.host_root / "var/run/cilium/cilium.sock"
        mode = str(scenario.get("agent_api", "none"))
        if self.mode == "netns" and mode != "none":
            self._start_agent(mode)
        self.opts = Options(
            kubeconfig=sim.kubeconfig,
            node=self.node_name or None,
            netns=self.netns,
            host_root=str(self.host_root),
            agent_socket=str(sock),
            backend=(
                recorded.RecordedBackend(str(self.recorded_node), host_root=str(self.host_root))
                if self.recorded_node
                else None
            ),
        )
        self.env_file = self.tmpdir / ENV_FILE
        self.env_file.write_text(self.env_script())

    def env_script(self) -> str:
        """What a second terminal sources (`. env.sh`) to act on this session's node:
        kubectl and ciliumtui reach its cluster, ciliumtui its node and its state dir.
        One short line to paste, where the flags themselves fold over several at 80
        columns (and a folded `export` pastes as two commands)."""
        q = shlex.quote
        lines = [
            f"# ciliumtui training ({self.scenario_id}): `. {self.env_file}`, then",
            "# `ciliumtui diagnose`, `ciliumtui run PLAYBOOK`, `kubectl get pods -A`.",
            f"export KUBECONFIG={q(str(self.opts.kubeconfig))}",
            *(f"export {k}={q(v)}" for k, v in self.env_vars().items()),
            f'ciliumtui() {{ {shlex.join(self.cli_argv())} "$@"; }}',
        ]
        return "\n".join(lines) + "\n"

    # What a second terminal runs for `ciliumtui`: this very installation (README line 1
    # runs `.venv/bin/ciliumtui`, whose venv is on nobody's PATH).
    program: tuple[str, ...] = (sys.executable, "-m", "ciliumtui")

    def cli_argv(self) -> list[str]:
        """env.sh's `ciliumtui`: the program with this session's flags."""
        return [*self.program, *self.cli_flags()]

    def command_line(self, *words: str, flags: bool = True) -> str:
        """`ciliumtui WORDS FLAGS` spelled out for a second terminal (:env, --headless)."""
        return shlex.join([*self.program, *words, *(self.cli_flags() if flags else [])])

    def _write_owner(self, bpf_cgroup: str | None = None) -> None:
        assert self.tmpdir is not None
        owner = {"pid": os.getpid(), "start": _start_time(os.getpid()), "netns": self.netns}
        if bpf_cgroup:
            owner["bpf_cgroup"] = bpf_cgroup
        (self.tmpdir / OWNER_FILE).write_text(json.dumps(owner))

    def _lay_bpf(self, scenario: dict[str, Any]) -> None:
        """The scenario's `network.bpf` as real programs, maps and pins (netns mode)."""
        spec = (scenario.get("network") or {}).get("bpf") or {}
        if not any(spec.get(k) for k in ("tc", "tcx", "xdp", "socket_lb", "maps")):
            return
        from ..sim.bpf_loader import BpfSandbox, cgroup2_mount, lay_bpf

        if self.bpf is None:
            assert self.host_root is not None and self.tmpdir is not None
            name = f"{BPF_CGROUP_PREFIX}{self.tmpdir.name[-12:]}"
            # recorded before the cgroup exists: a kill from here on is reaped
            self._write_owner(str(cgroup2_mount() / name))
            self.bpf = BpfSandbox(self.host_root, self.netns, cgroup_name=name)
        lay_bpf(self.bpf, spec)

    def _start_agent(self, mode: str) -> None:
        from ..sim.agent_api import AgentApiServer

        assert self.host_root is not None
        self.agent = AgentApiServer(mode, self.host_root / "var/run/cilium/cilium.sock")
        self.agent.__enter__()

    def close(self) -> None:
        """Tear everything down; safe to call twice and after a failed start.
        The session's run journals are kept first (`kept_runs`)."""
        errors: list[str] = []
        for what, fn in (
            ("agent API", self._stop_agent),
            ("simulated cluster", self._stop_sim),
            ("network namespace", self._del_netns),
            ("BPF sandbox", self._close_bpf),
        ):
            try:
                fn()
            except Exception as exc:  # keep tearing down the rest
                errors.append(f"{what}: {exc}")
        if self._old_state_env is None:
            os.environ.pop(STATE_ENV, None)
        else:
            os.environ[STATE_ENV] = self._old_state_env
        self._old_state_env = None
        if self.tmpdir is not None:
            if self.state_dir is not None:
                self.kept_runs = keep_runs(self.state_dir)  # into the operator's state dir
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
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

    def _close_bpf(self) -> None:
        if self.bpf is not None:
            sb, self.bpf = self.bpf, None
            sb.close()

    def _del_netns(self) -> None:
        if self.netns is not None:
            ns, self.netns = self.netns, None
            _remove_netns(ns)
            if Path("/run/netns", ns).exists():
                raise CiliumtuiError(f"could not delete the network namespace {ns}")

    # ------------------------------------------------------------ what to show

    def cli_flags(self) -> list[str]:
        """The flags a second terminal passes to `ciliumtui diagnose/run/...` for this node."""
        o = self.opts
        flags = ["--kubeconfig", str(o.kubeconfig), "--node", str(o.node)]
        if o.host_root:
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
        """Cilium links, CILIUM_* chains or Cilium BPF programs or pins on the node
        (while no agent owns them), on a recorded node as in a namespace."""
        if self.recorded_node is not None:
            return recorded.has_debris(self.recorded_node)
        if self.netns is None:
            return False
        links = json.loads(_run(["ip", "-n", self.netns, "-j", "link", "show"], "reading links"))
        if any(is_cilium_link(str(link.get("ifname", ""))) for link in links):
            return True
        if self.bpf_debris():
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

    def bpf_debris(self) -> list[str]:
        """Cilium's BPF programs and pins on the node, one line each."""
        from ..engine.actions.bpf import remaining
        from ..node.bpf import read_bpf

        if self.recorded_node is not None:
            return remaining(recorded.load_node(self.recorded_node).bpf)
        if self.netns is None or self.host_root is None:
            return []

        return remaining(read_bpf(self.netns, self.host_root))

    def k3s_restarted_without_flannel(self) -> bool:
        """What the `k3s-restart` trigger needs from the node (there is no k3s to restart
        here): its k3s config says `flannel-backend: none` (config.yaml, config.yaml.d,
        ExecStart) and flannel.1, which holds UDP 8472, is gone (netns mode; a recorded
        node's links are edited by Cilium's cleanup only, so its config decides)."""
        if self.host_root is None:
            return False
        from ..node.host import read_k3s

        k3s = read_k3s(Options(host_root=str(self.host_root)))
        if k3s is None or k3s.flannel_backend != "none":
            return False
        if self.netns is None:
            return True
        shown = subprocess.run(
            ["ip", "-n", self.netns, "link", "show", "flannel.1"], capture_output=True, timeout=10
        )
        return shown.returncode != 0

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
                self._lay_bpf(fixed)  # the restarted agent's own programs
            if self.agent is not None:
                self.agent.mode = "healthy"
            else:
                self._start_agent("healthy")
            self.fixed_events.append("datapath relaid, agent healthy")


def _trainee_files(root: Path) -> dict[Path, str]:
    """Files the trainee may have written: systemd drop-ins, k3s's config.yaml and
    config.yaml.d/* (build_host_root must not lose them)."""
    out = {}
    k3s = root / "etc/rancher/k3s"
    for p in [
        *(root / "etc/systemd/system").glob("*.service.d/*.conf"),
        *k3s.glob("config.yaml"),
        *k3s.glob("config.yaml.d/*"),
    ]:
        if p.is_file():
            out[p] = p.read_text()
    return out


def _restore_files(root: Path, files: dict[Path, str]) -> None:
    for p, text in files.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def relay_datapath(scenario: dict[str, Any], netns: str) -> None:
    """What a restarted agent does to the node: Cilium's links, routes, ip rule and chains,
    replaced by the (fixed) scenario's. Nothing that is not Cilium's is touched."""
    from ..sim.node_builder import (
        ip_batch,
        iptables_texts,
        run_ip_batch,
        upstream_batch,
        upstream_netns,
    )

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

    upstream = upstream_netns(netns)
    has_upstream = Path("/run/netns", upstream).exists()
    cilium_only = copy.deepcopy(scenario)
    net = cilium_only.setdefault("network", {})
    net["uplink"] = None
    net["decoys"] = False
    net["extra_routes"] = []
    net.setdefault("cilium", {})["present"] = True
    has_local_100 = any(r.get("priority") == 100 for r in rules)
    batch = [
        # the agent replaces its routes (a route of another CNI to the same CIDR, e.g.
        # a leftover cni0's, would make `route add` fail)
        "route replace " + line[len("route add ") :] if line.startswith("route add ") else line
        for line in ip_batch(cilium_only, upstream if has_upstream else None)
        if not (has_local_100 and line in ("rule add lookup local pref 100", "rule del pref 0"))
    ]
    _run(
        ["ip", "-n", netns, "-batch", "-"],
        "laying Cilium's datapath",
        stdin="\n".join(batch) + "\n",
    )
    if has_upstream:
        # The new pod ends come up; CoreDNS answers through its (new) veth and address.
        run_ip_batch(upstream, upstream_batch(scenario), force=True)
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
