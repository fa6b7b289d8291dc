"""Host facts read from files under --host-root: kernel, mounts, resolv.conf, CNI, k3s.

Everything here reads files only (no commands), so pointing --host-root at a
prepared directory shows exactly what a node with those files would show.
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
from pathlib import Path
from typing import Any

from ..model import CniFile, HostInfo, K3sInfo
from ..options import Options
from ..ownership import is_cilium_cni_file

K3S_UNITS = ("k3s.service", "k3s-agent.service")
UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


# ------------------------------------------------------------------ pure parsers


def parse_mounts(text: str) -> tuple[bool, list[str]]:
    """/proc/mounts -> (bpffs mounted at /sys/fs/bpf, cgroup2 mount points)."""
    bpffs = False
    cgroup2: list[str] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        where, fstype = parts[1], parts[2]
        if fstype == "bpf" and where == "/sys/fs/bpf":
            bpffs = True
        elif fstype == "cgroup2":
            cgroup2.append(where)
    return bpffs, cgroup2


def parse_resolv(text: str) -> list[str]:
    servers = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            servers.append(parts[1])
    return servers


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def exec_lines(unit_text: str, key: str) -> list[str]:
    """Values of `key=` lines in a systemd unit, with `\\` continuations joined."""
    joined = unit_text.replace("\\\n", " ")
    values = []
    for line in joined.splitlines():
        line = line.strip()
        if line.startswith(f"{key}="):
            values.append(line[len(key) + 1 :].strip())
    return values


def parse_exec_flags(exec_start: str) -> dict[str, Any]:
    """k3s flags from an ExecStart value: {"flannel-backend": "none", "kubelet-arg": [...]}."""
    try:
        argv = shlex.split(exec_start.lstrip("-@+!:"))
    except ValueError:
        argv = exec_start.split()
    flags: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("--"):
            continue
        name, eq, value = arg[2:].partition("=")
        if not eq:
            # "--flag value" unless the next token is another flag (then it is a boolean).
            if i < len(argv) and not argv[i].startswith("-"):
                value = argv[i]
                i += 1
            else:
                value = "true"
        if name in ("kubelet-arg", "disable", "kube-proxy-arg", "node-label", "node-taint"):
            flags.setdefault(name, []).append(value)
        else:
            flags[name] = value
    return flags


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        out.extend(p.strip() for p in str(item).split(",") if p.strip())
    return out


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def merge_k3s_config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Config files in k3s order: later files win; a key ending in "+" appends (k3s semantics)."""
    merged: dict[str, Any] = {}
    for doc in docs:
        for key, value in doc.items():
            key = str(key)
            if key.endswith("+"):
                base = key[:-1]
                merged[base] = _as_list(merged.get(base)) + _as_list(value)
            else:
                merged[key] = value
    return merged


def k3s_info_from(
    config: dict[str, Any], unit_file: str | None, kubeconfig: str | None, stop_hook: bool
) -> K3sInfo:
    max_pods = None
    for arg in _as_list(config.get("kubelet-arg")):
        name, _, value = arg.lstrip("-").partition("=")
        if name == "max-pods" and value.isdigit():
            max_pods = int(value)
    dns = _as_list(config.get("cluster-dns"))
    return K3sInfo(
        present=True,
        unit_file=unit_file,
        kubeconfig=kubeconfig,
        flannel_backend=str(config["flannel-backend"]) if "flannel-backend" in config else None,
        cluster_cidr=_as_list(config.get("cluster-cidr")),
        service_cidr=_as_list(config.get("service-cidr")),
        cluster_dns=dns[0] if dns else None,
        cluster_domain=str(config["cluster-domain"]) if config.get("cluster-domain") else None,
        disable_kube_proxy=_truthy(config.get("disable-kube-proxy", False)),
        disable_network_policy=_truthy(config.get("disable-network-policy", False)),
        max_pods=max_pods,
        stop_hook=stop_hook,
    )


def has_stop_hook(unit_texts: list[str]) -> bool:
    """Does the unit (or a drop-in) clean Cilium up when k3s stops?

    Any ExecStop/ExecStopPost command that mentions cilium (a ciliumtui cleanup,
    `ip link delete cilium_host`, `iptables-save | grep -iv cilium | ...`) counts.
    """
    for text in unit_texts:
        for key in ("ExecStopPost", "ExecStop"):
            if any("cilium" in value.lower() for value in exec_lines(text, key)):
                return True
    return False


# ---------------------------------------------------------------- file readers


def read_k3s(opts: Options) -> K3sInfo | None:
    unit_path: Path | None = None
    for d in UNIT_DIRS:
        for name in K3S_UNITS:
            candidate = opts.host_path(f"{d}/{name}")
            if candidate.is_file():
                unit_path = candidate
                break
        if unit_path:
            break
    conf_dir = opts.host_path("/etc/rancher/k3s")
    if unit_path is None and not conf_dir.is_dir():
        return None

    import yaml  # here, not at the top: the TUI's prefetch thread imports this module

    docs: list[dict[str, Any]] = []
    config_files = [conf_dir / "config.yaml"]
    dropin_dir = conf_dir / "config.yaml.d"
    if dropin_dir.is_dir():
        config_files += sorted(dropin_dir.glob("*.yaml")) + sorted(dropin_dir.glob("*.yml"))
    for path in config_files:
        text = _read(path)
        if text is None:
            continue
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            continue  # a broken config is k3s's problem to report; we show what we can read
        if isinstance(doc, dict):
            docs.append(doc)

    unit_texts: list[str] = []
    if unit_path is not None:
        unit_texts.append(_read(unit_path) or "")
        dropins = unit_path.parent / f"{unit_path.name}.d"
        if dropins.is_dir():
            unit_texts += [_read(p) or "" for p in sorted(dropins.glob("*.conf"))]
        # Flags on the command line override the config files.
        for value in exec_lines("\n".join(unit_texts), "ExecStart"):
            if "k3s" in value:
                docs.append(parse_exec_flags(value))

    kubeconfig = conf_dir / "k3s.yaml"
    return k3s_info_from(
        merge_k3s_config(docs),
        unit_file=str(unit_path) if unit_path else None,
        kubeconfig=str(kubeconfig) if kubeconfig.is_file() else None,
        stop_hook=has_stop_hook(unit_texts),
    )


def read_cni_files(opts: Options) -> list[CniFile]:
    net_d = opts.host_path("/etc/cni/net.d")
    try:
        names = sorted(p.name for p in net_d.iterdir() if p.is_file())
    except OSError:
        return []
    return [
        CniFile(name=n, cilium=is_cilium_cni_file(n), backup=n.endswith(".cilium_bak"))
        for n in names
    ]


def read_nameservers(opts: Options) -> list[str]:
    servers = parse_resolv(_read(opts.host_path("/etc/resolv.conf")) or "")
    if servers and all(_is_loopback(s) for s in servers):
        # systemd-resolved's stub (127.0.0.53): kubelet/k3s use the real upstreams instead.
        real = _read(opts.host_path("/run/systemd/resolve/resolv.conf"))
        if real is not None and parse_resolv(real):
            return parse_resolv(real)
    return servers


def read_host(opts: Options) -> HostInfo:
    """Every host fact under opts.host_root (blocking; run it in a thread)."""
    hostname = (_read(opts.host_path("/etc/hostname")) or "").strip() or None
    if hostname is None and Path(opts.host_root).resolve() == Path("/"):
        hostname = socket.gethostname()  # the real host may have no /etc/hostname
    kernel = (_read(opts.host_path("/proc/sys/kernel/osrelease")) or "").strip() or None
    bpffs, cgroup2 = parse_mounts(_read(opts.host_path("/proc/mounts")) or "")
    return HostInfo(
        hostname=hostname,
        kernel=kernel,
        bpffs_mounted=bpffs,
        cgroup2_mounts=cgroup2,
        nameservers=read_nameservers(opts),
        cni_files=read_cni_files(opts),
        k3s=read_k3s(opts),
    )
