"""Files of the node under --host-root: symlinks resolved inside the root, bounded reads.

A prepared host root (tests, a simulated node, a node's disk mounted elsewhere) holds
absolute symlinks such as `/etc/sysctl.d/99-sysctl.conf -> /etc/sysctl.conf`;
followed by the kernel they would leave the root and read THIS machine's file.
`resolve` follows them the way the node would see them, inside the root.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

MAX_SYMLINKS = 40  # as the kernel's MAXSYMLINKS


def resolve(host_root: str, node_path: str) -> Path:
    """The host path of `node_path`, every symlink resolved inside `host_root`.

    Raises OSError(ELOOP) on a symlink loop. The result need not exist.
    """
    root = os.path.abspath(host_root)
    if root == "/":
        return Path(os.path.realpath(node_path))
    todo = [p for p in node_path.split("/") if p not in ("", ".")]
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links", node_path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p not in ("", ".")] + todo
        else:
            done.append(part)
    return Path(root, *done)


def read_text(host_root: str, node_path: str, limit: int = 1 << 20) -> str | None:
    """The file's text (at most `limit` bytes), or None when it cannot be read."""
    try:
        with resolve(host_root, node_path).open("rb") as f:
            return f.read(limit).decode(errors="replace")
    except OSError:
        return None


def is_executable(host_root: str, node_path: str) -> bool:
    """A regular file the node could execute (exists, executable bit set)."""
    try:
        path = resolve(host_root, node_path)
        return path.is_file() and os.access(path, os.X_OK)
    except OSError:
        return False


def exists(host_root: str, node_path: str) -> bool:
    try:
        return resolve(host_root, node_path).exists()
    except OSError:
        return False


def is_file(host_root: str, node_path: str) -> bool:
    try:
        return resolve(host_root, node_path).is_file()
    except OSError:
        return False
