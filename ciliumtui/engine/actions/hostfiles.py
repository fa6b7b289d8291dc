"""Writes to the node's files, all in one place: paths are node paths, under the host root.

Every action that changes a host file (CNI configs, sysctl drop-ins, k3s config)
goes through these few functions, and they go through the node's backend
(DESIGN §3): it places the path under its host root and changes the file — and a
backend that keeps its node in a file updates what its host probe reports. Plain
calls: host files are small local files. A destination that exists is never
overwritten by a rename.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from .base import ActionContext


def host_file(ctx: ActionContext, node_path: str) -> Path:
    """Where `node_path` lies on this machine (the same path when the host root is /)."""
    return ctx.backend.host_path(node_path)


def shown(ctx: ActionContext, node_path: str) -> str:
    """The path as a pasteable shell word (the host path: that is what is changed)."""
    return shlex.quote(str(host_file(ctx, node_path)))


def read(ctx: ActionContext, node_path: str) -> str | None:
    try:
        return host_file(ctx, node_path).read_text()
    except OSError:
        return None


def write(ctx: ActionContext, node_path: str, text: str) -> None:
    """Atomic: a reader (systemd-sysctl, the runtime) never sees half a file."""
    ctx.backend.put_host_file(node_path, text.encode())


def rename(ctx: ActionContext, src: str, dst: str) -> None:
    """`mv -n src dst`; refuses (CiliumtuiError) when dst exists."""
    ctx.backend.rename_host_file(src, dst)


def remove(ctx: ActionContext, node_path: str) -> None:
    ctx.backend.remove_host_file(node_path)


def save_copy(ctx: ActionContext, node_path: str, backup_dir: Path) -> Path:
    """A copy of the file in `backup_dir`, named after its node path (so two dirs'
    same-named files never collide): /etc/cni/net.d/x -> etc_cni_net.d_x."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    saved = backup_dir / node_path.strip("/").replace("/", "_")
    shutil.copy2(host_file(ctx, node_path), saved, follow_symlinks=False)
    return saved
