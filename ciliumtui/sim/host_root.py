"""Write a scenario's `host` section as files: a fake host root for --host-root.

Layout (assets/scenarios/README.md): etc/hostname, etc/resolv.conf,
proc/sys/kernel/osrelease, proc/mounts, etc/cni/net.d/*,
etc/rancher/k3s/{config.yaml,k3s.yaml}, etc/systemd/system/k3s.service
(+ k3s.service.d/20-cilium-cleanup.conf when stop_hook), var/run/cilium/cilium.pid.

Optional keys beyond healthy.yaml: host.k3s.exec_flags (extra ExecStart flags),
host.k3s.unit ("k3s" or "k3s-agent"), host.agent_running: "stale" (a pidfile
whose pid is not running), and for the wave-2 failure modes:
- host.cni_files entries may be mappings `{name, dir, content}` (dir: a node path
  or "k3s" for /var/lib/rancher/k3s/agent/etc/cni/net.d; content: raw text);
- host.k3s.config_d: {file name: mapping} written to config.yaml.d/ (in both, a null
  value leaves the key out: `flannel-backend: null` removes healthy.yaml's);
- host.k3s.stop_hook_binary: false leaves the hook's /usr/local/bin/ciliumtui out
  (by default an executable stub is written, as an installed ciliumtui would be);
- host.resolved_nameservers: /run/systemd/resolve/resolv.conf's nameservers;
- host.flannel_subnet_env: true writes /run/flannel/subnet.env;
- host.agent_log: {pod, uid, lines: [...] or restarts: [[...], [...]]} writes the
  cilium-agent container's CRI logs (and its init containers') under /var/log/pods;
- host.files: {node path: text} for anything else (a sysctl hardening file ...).
"""

from __future__ import annotations

import json
import os
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from ..model import HostInfo

K3S_UNIT = """[Unit]
Description=Lightweight Kubernetes
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-/etc/systemd/system/{unit}.service.env
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/k3s \\
    {role} \\
{flags}
"""

STOP_HOOK_BINARY = "/usr/local/bin/ciliumtui"
STOP_HOOK_DROPIN = f"""[Service]
# Remove Cilium's links and rules when k3s stops, or the host loses connectivity.
ExecStopPost=-{STOP_HOOK_BINARY} run cleanup --yes
"""
FLANNEL_SUBNET_ENV = (
    "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.0.1/24\nFLANNEL_MTU=1450\n"
    "FLANNEL_IPMASQ=true\n"
)
K3S_CNI_DIR = "/var/lib/rancher/k3s/agent/etc/cni/net.d"
# The init containers of Cilium's DaemonSet: their logs lie beside the agent's.
AGENT_INIT_CONTAINERS = (
    "config",
    "mount-cgroup",
    "apply-sysctl-overwrites",
    "mount-bpf-fs",
    "clean-cilium-state",
    "install-cni-binaries",
)

FOREIGN_CNI = {
    "cniVersion": "1.0.0",
    "name": "cbr0",
    "plugins": [
        {"type": "flannel", "delegate": {"hairpinMode": True, "forceAddress": True}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}

DEFAULT_KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    token: not-a-real-token
"""


def dead_pid() -> int:
    """A pid that no process has right now (for a stale pidfile)."""
    pid = 4_194_000
    while pid > 1000:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1
    raise RuntimeError("no free pid found")


def _write(root: Path, path: str, text: str) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def cri_log_text(messages: list[str], *, stream: str = "stderr", split_at: int = 0) -> str:
    """CRI log lines (`<RFC3339Nano> <stream> <P|F> <message>`) for `messages`, one
    second apart; split_at > 0 writes longer messages as P parts of that size."""
    out = []
    for i, msg in enumerate(messages):
        ts = f"2024-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}.{i:09d}Z"
        parts = [msg[j : j + split_at] for j in range(0, len(msg), split_at)] if split_at else []
        for part in parts[:-1]:
            out.append(f"{ts} {stream} P {part}")
        out.append(f"{ts} {stream} F {parts[-1] if parts else msg}")
    return "".join(line + "\n" for line in out)


def write_agent_logs(
    root: Path,
    restarts: list[list[str]],
    *,
    pod: str = "cilium-x7k2p",
    uid: str = "5b1c2f0e-8a7d-4c3b-9e21-6f0a1b2c3d4e",
    namespace: str = "kube-system",
    init_containers: bool = True,
) -> Path:
    """The kubelet's pod log dir of a cilium agent pod: cilium-agent/<n>.log per restart
    (messages in CRI format) and the init containers' 0.log beside it. Returns the pod dir."""
    pod_dir = Path(root) / f"var/log/pods/{namespace}_{pod}_{uid}"
    for n, messages in enumerate(restarts):
        _write(pod_dir, f"cilium-agent/{n}.log", cri_log_text(messages))
    if init_containers:
        for name in AGENT_INIT_CONTAINERS:
            _write(
                pod_dir,
                f"{name}/0.log",
                cri_log_text([f'level=error msg="{name} failed: not the agent\'s words"']),
            )
    return pod_dir


def _set_keys(doc: Any) -> dict[str, Any]:
    """A k3s config mapping without its null values: a scenario removes a key of
    healthy.yaml's config (`flannel-backend: null`) that way, since maps merge."""
    return {str(k): v for k, v in (doc or {}).items() if v is not None}


def _cni_text(name: str) -> str:
    if name.endswith((".conflist", ".conf")) and "cilium" in name:
        return files("ciliumtui.assets").joinpath("samples/cni-05-cilium.conflist").read_text()
    return json.dumps(FOREIGN_CNI, indent=2) + "\n"


def build_host_root(
    scenario: dict[str, Any],
    root: Path,
    *,
    kubeconfig: str | Path | None = None,
    agent_pid: int | None = None,
) -> None:
    """Write the scenario's host files under `root` (created if missing).

    kubeconfig: a file whose content becomes etc/rancher/k3s/k3s.yaml (e.g. the
    simulated cluster's); agent_pid: the pid written when the agent runs
    (default: this process, which is alive as long as the caller is).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    host = scenario.get("host") or {}

    _write(root, "/etc/hostname", f"{host.get('hostname') or scenario.get('node_name', 'node')}\n")
    if host.get("kernel"):
        _write(root, "/proc/sys/kernel/osrelease", f"{host['kernel']}\n")
    resolv = "".join(f"nameserver {ns}\n" for ns in host.get("nameservers") or [])
    _write(root, "/etc/resolv.conf", resolv)

    running = host.get("agent_running", False)
    mounts = [
        "/dev/vda1 / ext4 rw,relatime 0 0",
        "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0",
    ]
    if host.get("cgroup2", True):
        mounts.append(
            "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0"
        )
    if host.get("bpffs", True):
        mounts.append("bpf /sys/fs/bpf bpf rw,nosuid,nodev,noexec,relatime,mode=700 0 0")
    if running is True and host.get("cgroup2", True):
        mounts.append("none /run/cilium/cgroupv2 cgroup2 rw,relatime 0 0")
    _write(root, "/proc/mounts", "\n".join(mounts) + "\n")

    net_d = root / "etc/cni/net.d"
    net_d.mkdir(parents=True, exist_ok=True)
    for item in host.get("cni_files") or []:
        if isinstance(item, dict):
            name = str(item["name"])
            d = str(item.get("dir") or "/etc/cni/net.d")
            d = K3S_CNI_DIR if d == "k3s" else d
            content = item.get("content")
            _write(root, f"{d}/{name}", _cni_text(name) if content is None else str(content))
        else:
            (net_d / item).write_text(_cni_text(item))

    k3s = host.get("k3s")
    if k3s:
        unit = k3s.get("unit", "k3s")
        role = "agent" if unit == "k3s-agent" else "server"
        flags = " \\\n".join(f"\t'{f}'" for f in k3s.get("exec_flags") or [])
        _write(
            root,
            f"/etc/systemd/system/{unit}.service",
            K3S_UNIT.format(unit=unit, role=role, flags=flags),
        )
        if k3s.get("stop_hook"):
            _write(
                root,
                f"/etc/systemd/system/{unit}.service.d/20-cilium-cleanup.conf",
                STOP_HOOK_DROPIN,
            )
        if k3s.get("stop_hook_binary", True):  # ciliumtui is installed, with the hook or without
            stub = _write(root, STOP_HOOK_BINARY, "#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
        for name, doc in (k3s.get("config_d") or {}).items():
            _write(
                root,
                f"/etc/rancher/k3s/config.yaml.d/{name}",
                yaml.safe_dump(_set_keys(doc), sort_keys=False),
            )
        _write(
            root,
            "/etc/rancher/k3s/config.yaml",
            yaml.safe_dump(_set_keys(k3s.get("config")), sort_keys=False),
        )
        kube_text = Path(kubeconfig).read_text() if kubeconfig else DEFAULT_KUBECONFIG
        _write(root, "/etc/rancher/k3s/k3s.yaml", kube_text)

    if running:
        pid = dead_pid() if running == "stale" else (agent_pid or os.getpid())
        _write(root, "/var/run/cilium/cilium.pid", f"{pid}\n")

    if host.get("resolved_nameservers"):
        text = "".join(f"nameserver {ns}\n" for ns in host["resolved_nameservers"])
        _write(root, "/run/systemd/resolve/resolv.conf", text)
    if host.get("flannel_subnet_env"):
        _write(root, "/run/flannel/subnet.env", FLANNEL_SUBNET_ENV)
    log = host.get("agent_log")
    if log:
        restarts = log.get("restarts") or [log.get("lines") or []]
        write_agent_logs(
            root,
            [[str(m) for m in r] for r in restarts],
            pod=str(log.get("pod") or "cilium-x7k2p"),
            uid=str(log.get("uid") or "5b1c2f0e-8a7d-4c3b-9e21-6f0a1b2c3d4e"),
        )
    for path, text in (host.get("files") or {}).items():
        _write(root, str(path), str(text))


def host_facts(scenario: dict[str, Any]) -> HostInfo:
    """The HostInfo a node with this scenario's host files shows: the files are written
    to a temporary root and read by the real probe (node.host.read_host), so a recorded
    node and a built one can never disagree. Paths are node paths, not the temp dir's."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ciliumtui-host-") as tmp:
        build_host_root(scenario, Path(tmp))
        return read_host_facts(Path(tmp))


def read_host_facts(root: Path) -> HostInfo:
    """The real host probe's HostInfo of the files under `root`, with node paths (a
    recorded node's host facts, read again after a change to its files)."""
    from ..node.host import read_host
    from ..options import Options

    info = read_host(Options(host_root=str(root)))
    if info.k3s is not None:
        for attr in ("unit_file", "kubeconfig"):
            value = getattr(info.k3s, attr)
            if value:
                setattr(info.k3s, attr, "/" + str(Path(value).relative_to(root)))
    return info
