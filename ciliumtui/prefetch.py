"""Start the slow node reads before the imports they would otherwise wait behind.

`iptables-nft-save` of a big rule set is the long pole of a snapshot (20,000
rules: ~0.25 s, most of it building its cache before it prints a line), and a
one-shot command spends ~0.15-0.2 s importing before its probes start. The CLI
starts the nft saves and the `ip -j` dumps right after parsing its arguments
(this module imports nothing heavy); the probes take the running processes and
read them as if they had started them. A process nobody takes finishes on its
own (or dies of SIGPIPE when this process exits).

The saves write to pipes: the netfilter probe parses them as they print. The
`ip` dumps write to memory files (memfd) instead, so they run to the end
during the imports without a reader (a pipe would stall 10,000 routes after
64 KiB), and their JSON is there when the probes start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import IO

SLOW_SAVES = ("iptables-nft-save", "ip6tables-nft-save")
# What the link, route and rule probes ask `ip -j` (ciliumtui.node.links/routes/rules).
IP_DUMPS = (
    ("-d", "addr", "show"),
    ("route", "show", "table", "all"),
    ("-4", "rule", "show"),
    ("-6", "rule", "show"),
)
_started: dict[tuple[str, ...], subprocess.Popen[bytes]] = {}
_dumps: dict[tuple[str, ...], tuple[subprocess.Popen[bytes], IO[bytes], IO[bytes]]] = {}


def save_argv(netns: str | None, tool: str) -> tuple[str, ...]:
    return (tool,) if netns is None else ("ip", "netns", "exec", netns, tool)


def ip_argv(netns: str | None, args: Sequence[str]) -> tuple[str, ...]:
    """`ip [-n NS] -N -j ARGS`: numbers, never the node's local names (ciliumtui.node.ipjson)."""
    return ("ip", *(("-n", netns) if netns else ()), "-N", "-j", *args)


def start_saves(netns: str | None) -> None:
    """The nft saves (to pipes) and the ip dumps (to memory files), all at once."""
    for tool in SLOW_SAVES:
        if shutil.which(tool) is None:
            continue  # the probe reports it
        argv = save_argv(netns, tool)
        try:
            _started[argv] = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError:
            continue  # the probe runs it again and says why
    if shutil.which("ip") is None:
        return
    for args in IP_DUMPS:
        argv = ip_argv(netns, args)
        out = _memory_file("out")
        err = _memory_file("err")
        try:
            _dumps[argv] = (
                subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err),
                out,
                err,
            )
        except OSError:
            out.close()
            err.close()


def _memory_file(name: str) -> IO[bytes]:
    return os.fdopen(os.memfd_create(f"ciliumtui-ip-{name}", os.MFD_CLOEXEC), "w+b")


def take(argv: Sequence[str]) -> subprocess.Popen[bytes] | None:
    """The prefetched save for argv (once), or None."""
    return _started.pop(tuple(argv), None)


async def take_output(argv: Sequence[str], timeout: float) -> tuple[int, bytes, bytes] | None:
    """(exit code, stdout, stderr) of the prefetched dump for argv (once), or None.
    A dump still running after `timeout` (from now) is killed: exit code None -> -9."""
    entry = _dumps.pop(tuple(argv), None)
    if entry is None:
        return None
    import asyncio

    proc, out, err = entry
    try:
        if proc.poll() is None:
            try:
                await asyncio.wait_for(asyncio.to_thread(proc.wait), timeout)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                proc.kill()
                await asyncio.shield(asyncio.to_thread(proc.wait))
                raise
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read()
    finally:
        out.close()
        err.close()
