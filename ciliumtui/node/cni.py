"""The CNI config dirs: every file, the plugins each config chains, Cilium's renames.

Which config a runtime uses is the lexicographically first *.conf/*.conflist/
*.json of its dir (ownership.runtime_cni_config); this probe lists every file so
the checks can say which one wins and which one should. A file that cannot be
read or is not JSON is data (`CniFile.error`), never a failed probe.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..model import CniFile
from ..ownership import CILIUM_CNI_BACKUP_SUFFIX, is_cilium_cni_file, is_cni_config_name
from .hostfs import resolve

CNI_DIR = "/etc/cni/net.d"
# k3s with flannel points containerd here (k3s agent config: CNIConfDir under the data dir)
K3S_CNI_DIR = "/var/lib/rancher/k3s/agent/etc/cni/net.d"
MAX_CONFIG_BYTES = 1 << 20  # a CNI config is a few hundred bytes; anything near 1 MiB is not one


def cni_dirs(k3s: bool) -> list[str]:
    return [CNI_DIR, K3S_CNI_DIR] if k3s else [CNI_DIR]


def _types(items: list[Any]) -> list[str]:
    return [str(p.get("type")) for p in items if isinstance(p, dict) and p.get("type")]


def parse_cni_config(name: str, text: str) -> tuple[list[str], str | None]:
    """(plugin types in order, error) of one config file's text.

    A .conflist chains `plugins[]`; a .conf/.json is one plugin with a top-level
    "type" (libcni's ConfFromBytes). A backup (`X.cilium_bak`) parses as X would.
    """
    base = (
        name[: -len(CILIUM_CNI_BACKUP_SUFFIX)] if name.endswith(CILIUM_CNI_BACKUP_SUFFIX) else name
    )
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return [], f"not JSON: {exc}"
    if not isinstance(doc, dict):
        return [], "not a JSON object"
    plugins = doc.get("plugins")
    if base.endswith(".conflist"):
        if not isinstance(plugins, list) or not plugins:
            return [], 'no "plugins" list'
        types = _types(plugins)
        return types, None if types else 'no plugin has a "type"'
    if isinstance(doc.get("type"), str) and doc["type"]:
        return [doc["type"]], None
    if isinstance(plugins, list) and _types(plugins):
        return _types(plugins), None  # a list in a .conf: CRI-O/ocicni read it as one
    return [], 'no "type"'


def read_cni_file(host_root: str, directory: str, name: str) -> CniFile:
    f = CniFile(
        name=name,
        cilium=is_cilium_cni_file(name),
        backup=name.endswith(CILIUM_CNI_BACKUP_SUFFIX),
        dir=directory,
    )
    base = name[: -len(CILIUM_CNI_BACKUP_SUFFIX)] if f.backup else name
    if not is_cni_config_name(base):
        return f  # not a config (README, *.disabled): listed, not parsed
    try:
        with resolve(host_root, f"{directory}/{name}").open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        f.error = f"unreadable: {exc.strerror or exc}"
        return f
    if len(data) > MAX_CONFIG_BYTES:
        f.error = f"larger than {MAX_CONFIG_BYTES} bytes: not a CNI config"
        return f
    f.plugins, f.error = parse_cni_config(name, data.decode(errors="replace"))
    return f


def read_cni(host_root: str, k3s: bool) -> tuple[list[str], list[CniFile]]:
    """(dirs read, every file in them sorted by name per dir); missing dirs list nothing."""
    dirs = cni_dirs(k3s)
    found: list[CniFile] = []
    for directory in dirs:
        try:
            path = resolve(host_root, directory)
            names = sorted(e.name for e in os.scandir(path) if not e.is_dir())
        except OSError:
            continue
        found += [read_cni_file(host_root, directory, n) for n in names]
    return dirs, found
