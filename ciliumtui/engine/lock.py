"""One run per node at a time: a POSIX-locked file per (node, netns) in the state dir.

The kernel drops the lock when its holder dies, however it dies (SIGKILL
included), so a dead run never blocks the next one: its lock file still names
it, and the next run says it took that stale lock over. A POSIX record lock
(fcntl F_SETLK) rather than flock(2): it belongs to the process, not to the open
file, so nothing a run forks (pyroute2 forks a helper to open a socket in a netns;
iptables-restore; a shell step) can keep it alive after the run is gone. Keyed by
node AND netns: parallel tests, each on its own namespace, do not wait for each other.

    with node_lock(node, netns, run_id, playbook) as note:   # CiliumtuiError if held
        ...   # note: "took over the stale lock of run …" or None
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import CiliumtuiError
from .journal import state_dir


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", lambda m: f"%{ord(m.group()):02x}", text)[:100]


def lock_path(node: str, netns: str | None) -> Path:
    return state_dir() / "locks" / f"{_safe(node)}@{_safe(netns or '-')}.lock"


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(fd: int) -> dict[str, Any] | None:
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, 64 * 1024)
    try:
        info = json.loads(data) if data.strip() else None
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def _where(node: str, netns: str | None) -> str:
    return f"node {node}" + (f" (netns {netns})" if netns else "")


def _holder(info: dict[str, Any] | None) -> str:
    if not info:
        return "another run that is just starting"
    return (
        f"run {info.get('run_id')} (playbook {info.get('playbook')}, pid {info.get('pid')}, "
        f"since {info.get('since')})"
    )


class FileLock:
    """An exclusive POSIX lock on `path` whose file names its holder (JSON). The process
    must not open and close `path` elsewhere while holding it (POSIX drops the lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def try_acquire(self, info: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        """(True, what the file named before: a dead holder) or (False, the live holder)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                os.close(fd)
                raise CiliumtuiError(f"cannot lock {self.path}: {exc.strerror}") from None
            holder = None
            for _ in range(25):  # the holder writes its name right after it locks
                holder = _read(fd)
                if holder:
                    break
                time.sleep(0.02)
            os.close(fd)
            return False, holder
        previous = _read(fd)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info).encode())
        os.fsync(fd)
        self.fd = fd
        return True, previous

    def acquire_wait(self, info: dict[str, Any], timeout: float) -> None:
        """Block (polling) until acquired; CiliumtuiError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            ok, holder = self.try_acquire(info)
            if ok:
                return
            if time.monotonic() >= deadline:
                raise CiliumtuiError(f"{self.path} is locked by {_holder(holder)}")
            time.sleep(0.01)

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)  # an empty file: released cleanly, nothing stale
        with contextlib.suppress(OSError):
            fcntl.lockf(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


@contextlib.contextmanager
def node_lock(node: str, netns: str | None, run_id: str, playbook: str) -> Iterator[str | None]:
    """Hold the node's lock for a run; CiliumtuiError (exit 3) naming the holder if held."""
    lock = FileLock(lock_path(node, netns))
    info = {
        "run_id": run_id,
        "playbook": playbook,
        "pid": os.getpid(),
        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "node": node,
        "netns": netns,
    }
    ok, other = lock.try_acquire(info)
    if not ok:
        raise CiliumtuiError(
            f"{_where(node, netns)} is being changed by {_holder(other)}: one run per node "
            "at a time; wait for it to finish"
        )
    note = None
    if other and other.get("run_id"):
        state = "gone" if not _alive(other.get("pid")) else "no longer holding it"
        note = (
            f"took over the stale lock of run {other.get('run_id')} "
            f"(playbook {other.get('playbook')}, pid {other.get('pid')}, {state})"
        )
    try:
        yield note
    finally:
        lock.release()
