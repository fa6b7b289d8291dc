"""Writes to the node's files, all in one place: paths are node paths, under --host-root.

Every action that changes a host file (CNI configs, sysctl drop-ins) goes through
these few functions, so moving the writes onto a NodeBackend is one edit here.
A destination that exists is never overwritten by a rename.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from ...errors import CiliumtuiError
from .base import ActionContext


def host_file(ctx: ActionContext, node_path: str) -> Path:
    """Where `node_path` lies on this machine (the same path when --host-root is /)."""
    return ctx.opts.host_path(node_path)


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
    path = host_file(ctx, node_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.ciliumtui-tmp")
    tmp.write_text(text)
    tmp.replace(path)


def rename(ctx: ActionContext, src: str, dst: str) -> None:
    """`mv -n src dst`; refuses (CiliumtuiError) when dst exists."""
    source, target = host_file(ctx, src), host_file(ctx, dst)
    if target.exists() or target.is_symlink():
        raise CiliumtuiError(f"{target} exists: not overwritten")
    os.rename(source, target)


def remove(ctx: ActionContext, node_path: str) -> None:
    host_file(ctx, node_path).unlink()


def save_copy(ctx: ActionContext, node_path: str, backup_dir: Path) -> Path:
    """A copy of the file in `backup_dir`, named after its node path (so two dirs'
    same-named files never collide): /etc/cni/net.d/x -> etc_cni_net.d_x."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    saved = backup_dir / node_path.strip("/").replace("/", "_")
    shutil.copy2(host_file(ctx, node_path), saved, follow_symlinks=False)
    return saved
