"""Which ciliumtui the k3s stop hook runs (issue 13.5): one that exists on the node.

The README's install puts ciliumtui in a venv (or a pex), not in /usr/local/bin, so
a hook naming /usr/local/bin/ciliumtui never ran. The hook runs, in this order:
the path the operator gives (`binary`), the ciliumtui running now (its console
script `sys.argv[0]`, the pex in `$PEX`, or `sys.executable -m ciliumtui` when
this Python has it), `ciliumtui` on PATH, /usr/local/bin/ciliumtui — the first
whose executable exists on the node (under --host-root) and is executable. None:
the hook is refused with the line that says what to do, instead of a hook that
fails at every stop.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ...errors import CiliumtuiError
from ...options import Options

CLEANUP = ["run", "cleanup-node", "--yes"]
FALLBACK = "/usr/local/bin/ciliumtui"
# Where systemd (>= 239) looks for an Exec*= command given without a path.
SYSTEMD_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


@dataclass(frozen=True)
class Candidate:
    argv: tuple[str, ...]  # the command before `run cleanup-node --yes`
    why: str  # "the running ciliumtui", "given", …


def candidates() -> list[Candidate]:
    """Every way to run the ciliumtui running now, then the usual places, in order."""
    out: list[Candidate] = []
    arg0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if arg0 is not None and arg0.name == "ciliumtui":
        out.append(Candidate((str(arg0.resolve()),), "the running ciliumtui"))
    pex = os.environ.get("PEX")
    if pex:
        out.append(Candidate((str(Path(pex).resolve()),), "the running pex"))
    if sys.executable:
        out.append(Candidate((sys.executable, "-m", "ciliumtui"), "this Python's ciliumtui"))
    on_path = shutil.which("ciliumtui")
    if on_path:
        out.append(Candidate((on_path,), "ciliumtui on PATH"))
    out.append(Candidate((FALLBACK,), FALLBACK))
    return out


def why_not(opts: Options, exe: str) -> str | None:
    """Why `exe` cannot run on the node (under its host root); None: it can. A bare
    name is looked for where systemd looks for it."""
    if "/" not in exe:
        found = [d for d in SYSTEMD_PATH if why_not(opts, f"{d}/{exe}") is None]
        return None if found else f"is in none of {', '.join(SYSTEMD_PATH)} on the node"
    if not exe.startswith("/"):
        return "is not an absolute path (systemd needs one)"
    path = opts.host_path(exe)
    if not path.is_file():
        return "does not exist on the node"
    if not os.access(path, os.X_OK):
        return "is not executable"
    return None


def hook_command(
    opts: Options, binary: str | None = None, command: list[str] | None = None
) -> list[str]:
    """The ExecStopPost argv: `command` as given, else the first candidate that runs
    on the node + `run cleanup-node --yes`. CiliumtuiError (one line) when its
    executable does not exist there."""
    exe = str(command[0]) if command else binary
    if exe:
        why = why_not(opts, exe)
        if why:
            raise CiliumtuiError(f"{exe} {why}: a stop hook running it would fail at every stop")
        return [str(c) for c in command] if command else [exe, *CLEANUP]
    tried = []
    for c in candidates():
        if why_not(opts, c.argv[0]) is None:
            return [*c.argv, *CLEANUP]
        tried.append(f"{c.argv[0]} ({c.why})")
    where = "" if Path(opts.host_root).resolve() == Path("/") else f" under {opts.host_root}"
    raise CiliumtuiError(
        f"no ciliumtui executable on the node{where} (tried {', '.join(tried)}): install it "
        "there, or give its path with --input binary=PATH"
    )
