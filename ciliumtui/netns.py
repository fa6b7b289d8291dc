"""Running things inside `--netns`: subprocesses and sockets.

Subprocesses go through `ip netns exec NAME ...`. A socket is created in a
short-lived thread that has entered the namespace with setns(2): the socket
stays in that namespace and can then be used from any thread or the event loop
(DESIGN §3). Nothing here changes the calling thread's namespace.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from .errors import CiliumtuiError
from .record import record

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def ns_argv(netns: str | None, argv: Sequence[str]) -> list[str]:
    """The argv that runs `argv` inside `netns` (unchanged when netns is None)."""
    if netns is None:
        return list(argv)
    return ["ip", "netns", "exec", netns, *argv]


@record
class Completed:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    ms: float


async def run(
    argv: Sequence[str],
    *,
    netns: str | None = None,
    timeout: float = 10.0,
    stdin: bytes | None = None,
) -> Completed:
    """Run argv (in netns), capture output; a missing binary or timeout is a CiliumtuiError.

    stdout goes to an anonymous file, read once the command has exited: through a
    pipe, a big dump (`ip -j route` of 10,000 routes: 0.9 MB) is read 64 KiB per
    event-loop turn, between the other probes' work, and the command stalls on the
    full pipe in between (measured: the routes probe ended 50-190 ms after the
    netfilter one, instead of before it).
    """
    full = ns_argv(netns, argv)
    start = time.perf_counter()
    out_fd = _anonymous_file()
    try:
        try:
            proc = await asyncio.create_subprocess_exec(
                *full,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=out_fd,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            raise CiliumtuiError(f"{full[0]}: command not found") from None
        except PermissionError:
            raise CiliumtuiError(f"{full[0]}: permission denied") from None
        try:
            _, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise CiliumtuiError(f"{' '.join(full)}: timed out after {timeout:g}s") from None
        except asyncio.CancelledError:
            # The caller gave up (a playbook step timed out): never leave the command running.
            if proc.returncode is None:
                proc.kill()
                await asyncio.shield(proc.wait())
            raise
        out = os.pread(out_fd, os.fstat(out_fd).st_size, 0)
    finally:
        os.close(out_fd)
    return Completed(
        full,
        proc.returncode if proc.returncode is not None else -1,
        out.decode(errors="replace"),
        err.decode(errors="replace"),
        (time.perf_counter() - start) * 1000,
    )


def _anonymous_file() -> int:
    """A file descriptor of a file with no name (memfd; an unlinked temp file without it)."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("ciliumtui-out", os.MFD_CLOEXEC)
    import tempfile

    return os.dup(tempfile.TemporaryFile().fileno())


def _setns(fd: int, nstype: int) -> None:
    """os.setns exists only from Python 3.12; libc's setns(2) on 3.10/3.11."""
    if hasattr(os, "setns"):
        os.setns(fd, nstype)
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def in_netns(netns: str | None, work: Callable[[], T]) -> T:
    """Run `work()` in a short-lived thread that entered `netns` (here when None).

    Blocking; for what must be opened inside the namespace: a socket (it stays in
    that namespace afterwards), a netlink handle, /proc/thread-self/net/* files.
    """
    if netns is None:
        return work()
    result: list[T] = []
    errors: list[BaseException] = []

    def enter_and_work() -> None:
        try:
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                _setns(fd, CLONE_NEWNET)
            finally:
                os.close(fd)
        except BaseException as exc:  # reported to the caller below
            errors.append(CiliumtuiError(f"cannot enter network namespace {netns}: {exc}"))
            return
        try:
            result.append(work())
        except BaseException as exc:  # raised in the caller's thread below
            errors.append(exc)

    # The thread dies right after; its namespace change dies with it.
    t = threading.Thread(target=enter_and_work, name=f"netns-{netns}", daemon=True)
    t.start()
    t.join()
    if errors:
        raise errors[0]
    return result[0]


def socket_in_netns(
    netns: str | None, family: int = socket.AF_INET, type: int = socket.SOCK_DGRAM
) -> socket.socket:
    """A socket that lives in `netns` (the current namespace when None)."""
    return in_netns(netns, lambda: socket.socket(family, type))
