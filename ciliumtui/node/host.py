"""Host facts read from files under --host-root: kernel, mounts, resolv.conf, CNI, k3s.

Everything here reads files only (no commands), so pointing --host-root at a
prepared directory shows exactly what a node with those files would show.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import socket
from pathlib import Path
from typing import Any

from ..model import HostInfo, K3sInfo
from ..options import Options
from . import hostfs
from .cni import read_cni
from .sysctl import read_sysctl_files

K3S_UNITS = ("k3s.service", "k3s-agent.service")
ROLES = {"k3s.service": "server", "k3s-agent.service": "agent"}
# systemd's unit search path, highest priority first (drop-ins are read from all of them)
UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
)
# Where systemd looks up an ExecStopPost= command given without a path (systemd >= 239)
EXEC_SEARCH_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
FLANNEL_SUBNET_ENV = "/run/flannel/subnet.env"
RESOLVED_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"


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


def effective_exec(unit_texts: list[str], key: str) -> list[str]:
    """The command list systemd runs for `key` (ExecStopPost ...) over a unit and its
    drop-ins, in order: each `key=` line adds one; an empty `key=` resets the list."""
    values: list[str] = []
    for text in unit_texts:
        for value in exec_lines(text, key):
            if value:
                values.append(value)
            else:
                values = []
    return values


def exec_binary(command: str) -> str | None:
    """The executable of an Exec*= value: `-/usr/bin/x a b` -> /usr/bin/x (systemd's
    prefixes -@:+! stripped; with `@` the path is still the first word)."""
    try:
        argv = shlex.split(command.lstrip("-@:+!"))
    except ValueError:
        argv = command.lstrip("-@:+!").split()
    return argv[0] if argv else None


def exec_role(exec_start: str) -> str | None:
    """ "server"/"agent" from `k3s server ...` / `k3s agent ...`."""
    try:
        argv = shlex.split(exec_start.lstrip("-@:+!"))
    except ValueError:
        argv = exec_start.split()
    for arg in argv[1:]:
        if not arg.startswith("-"):
            return arg if arg in ("server", "agent") else None
    return None


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


def kubelet_args(config: dict[str, Any]) -> dict[str, str]:
    """`kubelet-arg: [max-pods=250, --resolv-conf=/x]` -> {"max-pods": "250", ...} (last wins)."""
    args: dict[str, str] = {}
    for arg in _as_list(config.get("kubelet-arg")):
        name, _, value = arg.lstrip("-").partition("=")
        args[name] = value
    return args


def k3s_info_from(
    config: dict[str, Any],
    unit_file: str | None,
    kubeconfig: str | None,
    stop_hook: bool,
    *,
    role: str | None = None,
    flannel_backend_source: str | None = None,
    stop_hook_binary: str | None = None,
    stop_hook_binary_exists: bool = False,
) -> K3sInfo:
    kubelet = kubelet_args(config)
    max_pods = int(kubelet["max-pods"]) if kubelet.get("max-pods", "").isdigit() else None
    # kubelet-arg is passed to the kubelet after k3s's own --resolv-conf, so it wins
    resolv_conf = kubelet.get("resolv-conf") or (
        str(config["resolv-conf"]) if config.get("resolv-conf") else None
    )
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
        stop_hook_binary=stop_hook_binary,
        stop_hook_binary_exists=stop_hook_binary_exists,
        role=role,
        flannel_backend_source=flannel_backend_source if "flannel-backend" in config else None,
        resolv_conf=resolv_conf,
    )


def stop_hooks(unit_texts: list[str]) -> list[str]:
    """The ExecStopPost/ExecStop commands (unit + drop-ins, in order) that clean Cilium up.

    Any command that mentions cilium (a ciliumtui cleanup, `ip link delete
    cilium_host`, `iptables-save | grep -iv cilium | ...`) counts.
    """
    return [
        value
        for key in ("ExecStopPost", "ExecStop")
        for value in effective_exec(unit_texts, key)
        if "cilium" in value.lower()
    ]


def has_stop_hook(unit_texts: list[str]) -> bool:
    """Does the unit (or a drop-in) clean Cilium up when k3s stops?"""
    return bool(stop_hooks(unit_texts))


def find_executable(host_root: str, command: str) -> tuple[str | None, bool]:
    """(the executable an Exec*= command runs, whether it exists and is executable
    under the host root). A bare name is looked up the way systemd does."""
    binary = exec_binary(command)
    if binary is None:
        return None, False
    if binary.startswith("/"):
        return binary, hostfs.is_executable(host_root, binary)
    for d in EXEC_SEARCH_PATH:
        if hostfs.is_executable(host_root, f"{d}/{binary}"):
            return f"{d}/{binary}", True
    return binary, False


# ---------------------------------------------------------------- file readers


def _unit_files(host_root: str) -> tuple[str | None, list[str]]:
    """(node path of the k3s unit, node paths of its drop-ins in the order systemd reads them).

    Drop-ins `<unit>.d/*.conf` come from every unit dir, sorted by file name; a name
    in a higher-priority dir (/etc first) masks the same name in lower ones.
    """
    unit: str | None = None
    for d in UNIT_DIRS:
        for name in K3S_UNITS:
            if hostfs.is_file(host_root, f"{d}/{name}"):
                unit = f"{d}/{name}"
                break
        if unit:
            break
    if unit is None:
        return None, []
    name = unit.rsplit("/", 1)[1]
    dropins: dict[str, str] = {}
    for d in UNIT_DIRS:
        try:
            entries = os.scandir(hostfs.resolve(host_root, f"{d}/{name}.d"))
            names = sorted(e.name for e in entries if e.name.endswith(".conf"))
        except OSError:
            continue
        for n in names:
            dropins.setdefault(n, f"{d}/{name}.d/{n}")
    return unit, [dropins[n] for n in sorted(dropins)]


def _k3s_config_docs(host_root: str) -> list[tuple[str, dict[str, Any]]]:
    """(source, mapping) of config.yaml then config.yaml.d/* in k3s's order (by name)."""
    import yaml  # here, not at the top: the TUI's prefetch thread imports this module

    conf_dir = "/etc/rancher/k3s"
    sources = ["config.yaml"]
    try:
        entries = os.scandir(hostfs.resolve(host_root, f"{conf_dir}/config.yaml.d"))
        sources += [
            f"config.yaml.d/{n}"
            for n in sorted(e.name for e in entries if e.name.endswith((".yaml", ".yml")))
        ]
    except OSError:
        pass
    docs: list[tuple[str, dict[str, Any]]] = []
    for source in sources:
        text = hostfs.read_text(host_root, f"{conf_dir}/{source}")
        if text is None:
            continue
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            continue  # a broken config is k3s's problem to report; we show what we can read
        if isinstance(doc, dict):
            docs.append((source, doc))
    return docs


def read_k3s(opts: Options) -> K3sInfo | None:
    root = opts.host_root
    unit, dropins = _unit_files(root)
    conf_dir = opts.host_path("/etc/rancher/k3s")
    if unit is None and not conf_dir.is_dir():
        return None

    docs = _k3s_config_docs(root)
    unit_texts = [hostfs.read_text(root, p) or "" for p in ([unit] if unit else []) + dropins]
    role = ROLES.get(unit.rsplit("/", 1)[1]) if unit else None
    # Flags on the command line override the config files.
    for value in effective_exec(unit_texts, "ExecStart"):
        if "k3s" in value:
            docs.append(("ExecStart", parse_exec_flags(value)))
            role = exec_role(value) or role
    flannel_source = None
    for source, doc in docs:
        if "flannel-backend" in doc:
            flannel_source = source  # later wins, as in merge_k3s_config
    hooks = stop_hooks(unit_texts)
    binary, binary_exists = find_executable(root, hooks[-1]) if hooks else (None, False)

    kubeconfig = conf_dir / "k3s.yaml"
    return k3s_info_from(
        merge_k3s_config([doc for _, doc in docs]),
        unit_file=str(opts.host_path(unit)) if unit else None,
        kubeconfig=str(kubeconfig) if kubeconfig.is_file() else None,
        stop_hook=bool(hooks),
        role=role,
        flannel_backend_source=flannel_source,
        stop_hook_binary=binary,
        stop_hook_binary_exists=binary_exists,
    )


def read_nameservers(opts: Options, k3s: K3sInfo | None = None) -> list[str]:
    """The nameservers the kubelet hands pods with dnsPolicy Default — what CoreDNS's
    `forward . /etc/resolv.conf` reaches: k3s's `resolv-conf` file when one is set
    (loopback stubs and all: that is how CoreDNS ends up forwarding to itself), else
    /etc/resolv.conf, with systemd-resolved's upstreams behind a 127.0.0.53 stub."""
    if k3s is not None and k3s.resolv_conf:
        chosen = _read(opts.host_path(k3s.resolv_conf))
        if chosen is not None:
            return parse_resolv(chosen)
    servers = parse_resolv(_read(opts.host_path("/etc/resolv.conf")) or "")
    if servers and all(_is_loopback(s) for s in servers):
        # systemd-resolved's stub (127.0.0.53): kubelet/k3s use the real upstreams instead.
        real = _read(opts.host_path("/run/systemd/resolve/resolv.conf"))
        if real is not None and parse_resolv(real):
            return parse_resolv(real)
    return servers


def read_host(opts: Options) -> HostInfo:
    """Every host fact under opts.host_root (blocking; run it in a thread)."""
    root = opts.host_root
    hostname = (_read(opts.host_path("/etc/hostname")) or "").strip() or None
    if hostname is None and Path(root).resolve() == Path("/"):
        hostname = socket.gethostname()  # the real host may have no /etc/hostname
    kernel = (_read(opts.host_path("/proc/sys/kernel/osrelease")) or "").strip() or None
    bpffs, cgroup2 = parse_mounts(_read(opts.host_path("/proc/mounts")) or "")
    k3s = read_k3s(opts)
    cni_dirs, cni_files = read_cni(root, k3s is not None)
    return HostInfo(
        hostname=hostname,
        kernel=kernel,
        bpffs_mounted=bpffs,
        cgroup2_mounts=cgroup2,
        nameservers=read_nameservers(opts, k3s),
        cni_files=cni_files,
        cni_dirs=cni_dirs,
        k3s=k3s,
        resolved_nameservers=parse_resolv(hostfs.read_text(root, RESOLVED_RESOLV_CONF) or ""),
        flannel_subnet_env=hostfs.exists(root, FLANNEL_SUBNET_ENV),
        sysctl_files=read_sysctl_files(root),
    )
