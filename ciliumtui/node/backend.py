"""One way in to the node (DESIGN §3): the NodeBackend, and the kernel one.

Probes read the node through a backend and node actions change it through the
same backend, chosen once at start-up (`Options.backend`). The kernel backend
is this network namespace (or `--netns`) with host files under `--host-root`.
Other backends plug in from outside (e.g. a node kept in a file, whose changes
are simulated); nothing here knows which exist.

Writes are `Command`s: an argv (and its stdin) as it would run on the node
itself. The backend places it (`ip -n NS …`, `ip netns exec NS …`), and an
action's plan prints exactly that placed argv — so what the operator approves is
what runs. The kernel backend runs node commands with `sh` (its argv handling,
and ErrorReturnCode keeps the command's stderr for the message); the probes'
hot read paths keep plain asyncio subprocesses (`sh` costs ~5 ms more per
command, measured in benchmarks/bench_purge.py's notes).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from ..errors import CiliumtuiError
from ..record import record

if TYPE_CHECKING:
    from ..dns import DnsTarget, Kind
    from ..model import (
        AgentState,
        BpfState,
        DnsCheck,
        HostInfo,
        IpRule,
        Link,
        NetfilterDump,
        Route,
    )
    from ..options import Options

COMMAND_TIMEOUT = 60.0  # seconds; a restore of 20,000 rules takes ~0.3 s


@record(frozen=True)
class Command:
    """One node command: argv as on the node itself, and what it reads on stdin.

    `where="netns"`: a network command, run inside the node's namespace;
    `"host"`: a host command (systemctl), never moved into a namespace.
    """

    argv: tuple[str, ...]
    stdin: bytes | None = None
    where: Literal["netns", "host"] = "netns"


class CommandFailed(CiliumtuiError):
    """A node command exited non-zero: the argv, the exit code and its stderr, one line."""

    def __init__(
        self, argv: Sequence[str], rc: int, stderr: bytes | str, stdout: bytes | str = b""
    ) -> None:
        err = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
        self.argv = list(argv)
        self.rc = rc
        self.stderr = err
        self.stdout = stdout.decode(errors="replace") if isinstance(stdout, bytes) else stdout
        why = " / ".join(x.strip() for x in err.strip().splitlines()[-3:] if x.strip())
        super().__init__(f"{shlex.join(self.argv)}: exit {rc}" + (f": {why}" if why else ""))


def shell_text(argv: Sequence[str], stdin: bytes | None = None) -> str:
    """The command as one pasteable shell text (stdin as a quoted here-doc).

    Bytes that are not UTF-8 show as \\xNN escapes: a terminal cannot show them
    (the bytes that run are the command's stdin, exactly).
    """
    line = shlex.join(argv)
    if stdin is None:
        return line
    body = stdin.decode("utf-8", "backslashreplace").rstrip("\n")
    return f"{line} <<'EOF'\n{body}\nEOF"


def render(
    backend: NodeBackend, commands: Sequence[Command], notes: Sequence[str] = ()
) -> list[str]:
    """Plan lines: each command exactly as the backend runs it, the action's notes
    ("# …"), then the backend's. Nothing to run and nothing to say: [] (nothing to do)."""
    if not commands and not notes:
        return []
    lines = [shell_text(backend.argv(c), c.stdin) for c in commands]
    return lines + list(notes) + backend.plan_notes()


class NodeBackend(Protocol):
    """Reads (for probes and actions) and writes (for actions) of one node."""

    @property
    def host_root(self) -> str:
        """Node paths are read and written under this root."""
        ...

    @property
    def netns(self) -> str | None:
        """The network namespace its network commands run in (None: this one, or none)."""
        ...

    @property
    def live(self) -> bool:
        """The kernel is behind it: netlink events can be watched."""
        ...

    @property
    def needs_root(self) -> bool:
        """Changing this node needs root."""
        ...

    # ----------------------------------------------------------------- reads
    async def links(self) -> list[Link]: ...

    async def routes(self) -> list[Route]: ...

    async def rules(self) -> list[IpRule]: ...

    async def netfilter(self) -> tuple[list[NetfilterDump], str | None]: ...

    async def host(self) -> HostInfo: ...

    async def agent(self) -> AgentState: ...

    async def rp_filter(self) -> dict[str, int]:
        """IPv4 rp_filter of all, default and every device, as read in the node's netns."""
        ...

    async def agent_log(self) -> tuple[list[str], str | None]:
        """The agent's last fatal/error log lines from disk, and the node path read."""
        ...

    async def bpf(self) -> BpfState:
        """The BPF programs attached to devices and cgroups, and the bpffs pins."""
        ...

    async def iptables_save(self, backend: str, family: int) -> bytes | None:
        """`iptables-save` bytes exactly as printed; None when this backend has no
        tables here. CiliumtuiError when it may have tables that cannot be read
        (its save tool is missing): never a silent "nothing there"."""
        ...

    async def link_group(self, group: int) -> set[str]:
        """Names of the links in link group `group`."""
        ...

    def has_tool(self, name: str) -> bool: ...

    # ---------------------------------------------------------------- writes
    def argv(self, command: Command) -> list[str]:
        """The exact argv that runs `command` on this node (what a plan prints)."""
        ...

    def plan_notes(self) -> list[str]:
        """Notes ("# …") a plan of this backend's commands ends with."""
        ...

    async def run(self, command: Command, timeout: float = COMMAND_TIMEOUT) -> bytes:
        """Run it; its stdout. CommandFailed on a non-zero exit, CiliumtuiError when it
        cannot run (missing binary, timeout)."""
        ...

    def host_path(self, path: str) -> Path:
        """A node path (absolute, as on the node) under the host root."""
        ...

    async def write_host_file(self, path: str, data: bytes) -> Path:
        """Replace the host file at node path `path` atomically; the real path written."""
        ...

    # Host files are small local files: the calls below are plain (not awaited), so the
    # synchronous helpers of engine/actions/hostfiles.py can make them too.
    def put_host_file(self, path: str, data: bytes) -> Path:
        """write_host_file, as a plain call."""
        ...

    def remove_host_file(self, path: str, *, directory: bool = False) -> None:
        """`rm` (`rmdir` with directory=True) of node path `path` under the host root.
        FileNotFoundError when it is gone already; OSError as the kernel says (EBUSY:
        a mount point, ENOTEMPTY: a directory with something left in it)."""
        ...

    def rename_host_file(self, src: str, dst: str) -> None:
        """`mv -n src dst` (node paths): CiliumtuiError when dst exists, nothing overwritten."""
        ...

    # ------------------------------------------- bpf(2): no shell command does these
    async def detach_bpf_program(self, hook: str, target: str, prog_id: int) -> None:
        """BPF_PROG_DETACH of exactly program `prog_id`: from a tcx hook (`tcx-ingress`,
        `tcx-egress`) of device `target`, or a cgroup hook (`cgroup:connect4` ...) of the
        cgroup at node path `target`. OSError as the kernel says."""
        ...

    async def detach_bpf_link(self, link_id: int) -> bool:
        """BPF_LINK_DETACH of link `link_id`; False when there is no such link."""
        ...

    # ---------------------------------------------------- the node's own resolvers
    async def nameservers(self) -> list[str]:
        """The node's resolvers, as the host probe reports them (HostInfo.nameservers)."""
        ...

    async def dns_query(
        self, qname: str, target: DnsTarget, kind: Kind, timeout: float
    ) -> DnsCheck:
        """One DNS query sent from the node (as ciliumtui.dns.query does it from the
        node's netns): the outcome, never an exception."""
        ...


def _kernel_argv(netns: str | None, command: Command) -> list[str]:
    argv = list(command.argv)
    if netns is None or command.where == "host":
        return argv
    if argv and argv[0] in ("ip", "tc"):
        # `ip -n NS` / `tc -n NS` enter the namespace themselves: cheaper than `ip netns
        # exec` (no mount namespace) and the same command an operator would type.
        return [argv[0], "-n", netns, *argv[1:]]
    return ["ip", "netns", "exec", netns, *argv]


async def run_argv(argv: Sequence[str], stdin: bytes | None, timeout: float) -> bytes:
    """Run argv with `sh`; stdout bytes. CommandFailed carries its stderr.

    Started in the background and waited for in a worker thread: sh's own async
    mode and its default line-sized reads made a 2 MB iptables-save 2.5-3x slower
    than a plain subprocess (2.06 s vs 0.69 s, loaded machine); this way with 64 KiB
    reads it is on a par (0.34-0.71 s vs 0.40-0.71 s, same runs).
    """
    import sh

    argv = list(argv)
    try:
        cmd = sh.Command(argv[0])
    except sh.CommandNotFound:
        raise CiliumtuiError(f"{argv[0]}: command not found") from None
    running = cmd(
        *argv[1:],
        _in=stdin,
        _bg=True,
        _bg_exc=False,
        _return_cmd=True,
        _tty_out=False,
        _out_bufsize=1 << 16,
        _err_bufsize=1 << 16,
        _timeout=timeout,
    )
    try:
        await asyncio.to_thread(running.wait)
    except sh.ErrorReturnCode as exc:
        raise CommandFailed(argv, exc.exit_code, exc.stderr, exc.stdout) from None
    except sh.TimeoutException:
        raise CiliumtuiError(f"{shlex.join(argv)}: timed out after {timeout:g}s") from None
    except asyncio.CancelledError:
        # The caller gave up (a step's timeout): never leave the command running.
        if running.process.is_alive()[0]:
            running.process.kill()
        raise
    out = running.stdout
    return out if isinstance(out, bytes) else str(out).encode()


@record(frozen=True)
class KernelBackend:
    """The running kernel: `opts.netns` (None: this namespace), files under opts.host_root."""

    opts: Options
    live: bool = True
    needs_root: bool = True

    @property
    def netns(self) -> str | None:
        return self.opts.netns

    @property
    def host_root(self) -> str:
        return self.opts.host_root

    # ----------------------------------------------------------------- reads
    async def links(self) -> list[Link]:
        from .links import probe_links

        return await probe_links(self.netns)

    async def routes(self) -> list[Route]:
        from .routes import probe_routes

        return await probe_routes(self.netns)

    async def rules(self) -> list[IpRule]:
        from .rules import probe_rules

        return await probe_rules(self.netns)

    async def netfilter(self) -> tuple[list[NetfilterDump], str | None]:
        from .netfilter import probe_netfilter

        return await probe_netfilter(self.netns)

    async def host(self) -> HostInfo:
        from .host import read_host

        return await asyncio.to_thread(read_host, self.opts)

    async def agent(self) -> AgentState:
        from .agent import probe_agent

        return await probe_agent(self.opts)

    async def rp_filter(self) -> dict[str, int]:
        from .sysctl import read_rp_filter

        return await asyncio.to_thread(read_rp_filter, self.netns)

    async def agent_log(self) -> tuple[list[str], str | None]:
        from .agent_log import read_agent_log

        return await asyncio.to_thread(read_agent_log, self.host_root)

    async def bpf(self) -> BpfState:
        from .bpf import probe_bpf

        return await probe_bpf(self.netns, self.opts.host_path("/"))

    async def iptables_save(self, backend: str, family: int) -> bytes | None:
        from .netfilter import cannot_check, save_tool

        tool = save_tool(backend, family)
        if not self.has_tool(tool):
            why = await asyncio.to_thread(cannot_check, backend, family, self.netns)
            if why:
                raise CiliumtuiError(why)
            return None
        return await self.run(Command((tool,)))

    async def link_group(self, group: int) -> set[str]:
        import json

        out = await self.run(Command(("ip", "-N", "-j", "link", "show", "group", str(group))))
        # `ip -j link show group N` prints {} for every link outside the group.
        return {x["ifname"] for x in json.loads(out or b"[]") if x.get("ifname")}

    def has_tool(self, name: str) -> bool:
        # Looked up here, not inferred from `ip netns exec`'s error (which also says
        # "No such file" when the namespace is missing).
        return shutil.which(name) is not None

    # ---------------------------------------------------------------- writes
    def argv(self, command: Command) -> list[str]:
        return _kernel_argv(self.netns, command)

    def plan_notes(self) -> list[str]:
        return []

    async def run(self, command: Command, timeout: float = COMMAND_TIMEOUT) -> bytes:
        return await run_argv(self.argv(command), command.stdin, timeout)

    def host_path(self, path: str) -> Path:
        return self.opts.host_path(path)

    async def write_host_file(self, path: str, data: bytes) -> Path:
        return self.put_host_file(path, data)

    def put_host_file(self, path: str, data: bytes) -> Path:
        return replace_file(self.host_path(path), data)

    def remove_host_file(self, path: str, *, directory: bool = False) -> None:
        (os.rmdir if directory else os.unlink)(self.host_path(path))

    def rename_host_file(self, src: str, dst: str) -> None:
        rename_no_replace(self.host_path(src), self.host_path(dst))

    async def detach_bpf_program(self, hook: str, target: str, prog_id: int) -> None:
        from .bpf_detach import detach_program

        root = self.host_path("/")
        await asyncio.to_thread(detach_program, self.netns, root, hook, target, prog_id)

    async def detach_bpf_link(self, link_id: int) -> bool:
        from .bpf_detach import detach_link

        return await asyncio.to_thread(detach_link, link_id)

    async def nameservers(self) -> list[str]:
        from ..cluster.deadline import in_daemon_thread
        from .host import read_k3s, read_nameservers

        # As the host probe reads them: k3s's resolv-conf, when set, is what pods get.
        return await in_daemon_thread(lambda: read_nameservers(self.opts, read_k3s(self.opts)))

    async def dns_query(
        self, qname: str, target: DnsTarget, kind: Kind, timeout: float
    ) -> DnsCheck:
        # A daemon thread per query (ciliumtui.dns.run_checks says why); the socket is
        # made in the node's netns by the one DNS query function.
        from ..cluster.deadline import in_daemon_thread
        from ..dns import query_job

        return await in_daemon_thread(query_job, qname, target, kind, self.netns, timeout)


def replace_file(target: Path, data: bytes) -> Path:
    """Write `target` atomically: a reader (systemd, the runtime) never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.ciliumtui-tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def rename_no_replace(source: Path, target: Path) -> None:
    """`mv -n`: refuses (CiliumtuiError) when target exists; never overwrites it."""
    if target.exists() or target.is_symlink():
        raise CiliumtuiError(f"{target} exists: not overwritten")
    os.rename(source, target)
