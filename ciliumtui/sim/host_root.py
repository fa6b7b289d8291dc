"""Write a scenario's `host` section as files: a fake host root for --host-root.

Layout (assets/scenarios/README.md): etc/hostname, etc/resolv.conf,
proc/sys/kernel/osrelease, proc/mounts, etc/cni/net.d/*,
etc/rancher/k3s/{config.yaml,k3s.yaml}, etc/systemd/system/k3s.service
(+ k3s.service.d/20-cilium-cleanup.conf when stop_hook), var/run/cilium/cilium.pid.

Optional keys beyond healthy.yaml: host.k3s.exec_flags (extra ExecStart flags),
host.k3s.unit ("k3s" or "k3s-agent"), host.agent_running: "stale" (a pidfile
whose pid is not running).
"""

from __future__ import annotations

import json
import os
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

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

STOP_HOOK_DROPIN = """[Service]
# Remove Cilium's links and rules when k3s stops, or the host loses connectivity.
ExecStopPost=-/usr/local/bin/ciliumtui run cleanup --yes
"""

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
    for name in host.get("cni_files") or []:
        (net_d / name).write_text(_cni_text(name))

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
        _write(
            root,
            "/etc/rancher/k3s/config.yaml",
            yaml.safe_dump(k3s.get("config") or {}, sort_keys=False),
        )
        kube_text = Path(kubeconfig).read_text() if kubeconfig else DEFAULT_KUBECONFIG
        _write(root, "/etc/rancher/k3s/k3s.yaml", kube_text)

    if running:
        pid = dead_pid() if running == "stale" else (agent_pid or os.getpid())
        _write(root, "/var/run/cilium/cilium.pid", f"{pid}\n")
