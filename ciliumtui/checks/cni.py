"""CNI configs: the one the container runtime uses is someone else's while Cilium is
installed (`cni-config-conflict`), or Cilium's stays after Cilium is gone
(`cni-config-orphaned`: pods then fail with `dial unix /var/run/cilium/cilium.sock`).

The runtime rule is written once here (`runtime_cni_dir`, `runtime_cni_config`):
containerd/CRI-O (libcni) load the lexicographically first `*.conf`, `*.conflist`
or `*.json` of the config dir — `/etc/cni/net.d`, except that k3s with flannel
points containerd at its own agent dir.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..model import CniFile, Finding, Snapshot
from ..ownership import is_cilium_cni_config
from .catalogue import finding
from .facts import agent_verdict, known
from .k3s import cilium_signs, flannel_on

ETC_CNI_DIR = "/etc/cni/net.d"
K3S_CNI_DIR = "/var/lib/rancher/k3s/agent/etc/cni/net.d"
CONFIG_SUFFIXES = (".conf", ".conflist", ".json")
# Meta plugins that delegate to the cluster's default network (Cilium) when they win.
_META_PLUGINS = frozenset({"multus", "multus-shim"})
CILIUM_SOCKET_ERROR = "dial unix /var/run/cilium/cilium.sock: connect: no such file or directory"


def is_cni_config_name(name: str) -> bool:
    """A file libcni loads (a `*.cilium_bak` or `*.bak` is not one)."""
    return name.endswith(CONFIG_SUFFIXES)


def runtime_cni_dir(k3s_flannel: bool) -> str:
    """The config dir the runtime reads: k3s with flannel uses its agent dir (k3s sets
    containerd's conf_dir there); with flannel disabled it leaves /etc/cni/net.d."""
    return K3S_CNI_DIR if k3s_flannel else ETC_CNI_DIR


def runtime_cni_config(files: Sequence[CniFile], directory: str) -> CniFile | None:
    """The config the runtime uses: the lexicographically first config file of the dir
    (libcni sorts names byte-wise; an unreadable first file still wins — and fails)."""
    mine = sorted(
        (f for f in files if f.dir == directory and is_cni_config_name(f.name)),
        key=lambda f: f.name.encode(),
    )
    return mine[0] if mine else None


def is_cilium(f: CniFile) -> bool:
    return f.cilium or is_cilium_cni_config(f.name, f.plugins)


def used_dir(snap: Snapshot) -> str:
    return runtime_cni_dir(flannel_on(snap))


def _cilium_installed(snap: Snapshot) -> list[str]:
    """Why we believe Cilium is installed (empty: it is not, or we cannot tell)."""
    cl = known(snap, "cilium-workloads")
    if cl is not None:
        ds = cl.cilium_daemonset
        return [f"Cilium is installed: DaemonSet {ds.namespace}/{ds.name}"] if ds else []
    # Apiserver down or that read failed: the node's own signs, except its CNI config
    # (a config alone is what an orphan looks like too).
    signs = cilium_signs(snap, cni=False)
    return [f"Cilium runs here: {'; '.join(signs)}"] if signs else []


def cni_config_conflict(snap: Snapshot) -> list[Finding]:
    if snap.node is None:
        return []
    installed = _cilium_installed(snap)
    if not installed:
        return []
    files = snap.node.host.cni_files
    directory = used_dir(snap)
    first = runtime_cni_config(files, directory)
    if first is None or is_cilium(first) or _META_PLUGINS & set(first.plugins):
        return []
    names = sorted(f.name for f in files if f.dir == directory and is_cni_config_name(f.name))
    ev = [f"the runtime uses {directory}/{first.name} (first of: {', '.join(names)})"]
    if first.error:
        ev.append(f"{first.name}: {first.error}")
    elif first.plugins:
        ev.append(f"{first.name} chains plugins: {', '.join(first.plugins)} (no cilium-cni)")
    ours = [f for f in files if is_cilium(f)]
    here = [f for f in ours if f.dir == directory]
    if here:
        ev.append(f"Cilium's {here[0].name} should win but sorts after {first.name}")
    elif ours:
        ev.append(
            f"Cilium's {ours[0].name} is in {ours[0].dir}, which the runtime does not read here"
            + (" (k3s with flannel reads its agent dir)" if directory == K3S_CNI_DIR else "")
        )
    else:
        ev.append(f"no Cilium CNI config in {directory} (the agent writes 05-cilium.conflist)")
    return [finding("cni-config-conflict", ev + installed)]


def cni_config_orphaned(snap: Snapshot) -> list[Finding]:
    if snap.node is None:
        return []
    cl = known(snap, "cilium-workloads")
    if cl is None or cl.cilium_daemonset is not None or cl.cilium_pod is not None:
        return []
    verdict = agent_verdict(snap)
    if verdict is None or verdict.running:
        return []
    ours = [f for f in snap.node.host.cni_files if is_cilium(f)]
    if not ours:
        return []
    directory = used_dir(snap)
    first = runtime_cni_config(snap.node.host.cni_files, directory)
    ev = []
    for f in ours:
        used = " — the config the runtime uses" if f is first else ""
        ev.append(f"{f.dir}/{f.name} is Cilium's CNI config{used}")
    ev.append("no cilium DaemonSet in kube-system: Cilium is not installed")
    ev.append(f"pods on this node then fail to start: {CILIUM_SOCKET_ERROR}")
    backups = [f for f in snap.node.host.cni_files if f.backup]
    if backups:
        ev.append(
            "Cilium renamed these to *.cilium_bak (cleanup restores them): "
            + ", ".join(f"{f.dir}/{f.name}" for f in backups)
        )
    return [finding("cni-config-orphaned", ev)]


CHECKS = [cni_config_conflict, cni_config_orphaned]
