"""Start the slowest node read before the imports it would otherwise wait behind.

`iptables-nft-save` of a big rule set is the long pole of a snapshot (20,000
rules: ~0.25 s, most of it building its cache before it prints a line), and a
one-shot command spends ~0.1-0.15 s importing before its probes start. The CLI
starts the nft saves right after parsing its arguments (this module imports
nothing heavy); the netfilter probe takes the running process and reads it as
if it had started it. A process nobody takes finishes on its own (or dies of
SIGPIPE when this process exits).
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
from collections.abc import Sequence

SLOW_SAVES = ("iptables-nft-save", "ip6tables-nft-save")
PIPE_SIZE = 1 << 20
_started: dict[tuple[str, ...], subprocess.Popen[bytes]] = {}


def save_argv(netns: str | None, tool: str) -> tuple[str, ...]:
    return (tool,) if netns is None else ("ip", "netns", "exec", netns, tool)


def start_saves(netns: str | None) -> None:
    for tool in SLOW_SAVES:
        if shutil.which(tool) is None:
            continue  # the probe reports it
        argv = save_argv(netns, tool)
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError:
            continue  # the probe runs it again and says why
        _started[argv] = proc
        assert proc.stdout is not None
        with contextlib.suppress(OSError):  # only a hint: a non-root user may be over its quota
            # A 1 MiB pipe, not 64 KiB: the save (2 MB for 20,000 rules) keeps printing
            # while this process is busy elsewhere, instead of stalling on a full pipe.
            fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def take(argv: Sequence[str]) -> subprocess.Popen[bytes] | None:
    """The prefetched process for argv (once), or None."""
    return _started.pop(tuple(argv), None)
