"""bpf.cleanup: detach Cilium's BPF programs and remove its bpffs pins, nothing else.

What is Cilium's is decided by the probe (ciliumtui.node.bpf, through ownership.py):
tc filters, tcx/XDP programs and socket-LB cgroup programs whose names are
Cilium's, the bpf_links pinned under /sys/fs/bpf/cilium, the `cilium_*` pins in
tc/globals and anything under cilium/. A filter, program or pin of anyone else —
even on the same device, at the same tc priority — is never touched: tc filters
are deleted by chain, pref AND handle; XDP only in the mode Cilium's program holds.

Order: tc filters (`tc filter del`, one per filter), netlink XDP (`ip link set
dev X xdp… off`), programs attached without a link (BPF_PROG_DETACH of exactly
that program), links no Cilium pin holds (BPF_LINK_DETACH), then the pins —
removing a link's last pin detaches its program. Afterwards the footprint is read
again: a link another process still holds is detached with BPF_LINK_DETACH, and
the step fails if any Cilium object remains.

Everything goes through the node's backend (DESIGN §3): the footprint it reads,
its commands (each plan line is the command as it runs, the program it removes
named after `#`), its bpf(2) detaches (no shell command detaches exactly one
program: the plan shows bpftool's equivalent) and its host files for the pins.
One command per filter, not a `tc -batch`: a stale node has a few per device
(the links go in the next step), and the plan is then exactly what runs.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from ...errors import CiliumtuiError
from ...model import BpfAttachment, BpfState
from ...node.backend import Command, CommandFailed, NodeBackend, shell_text
from ...node.bpf import CGROUP_ROOT, link_id_of, parse_tc_detail, xdp_mode_of
from ...ownership import is_cilium_bpf_pin
from .base import Action, ActionContext, ActionResult, register

_XDP_WORD = {"generic": "xdpgeneric", "native": "xdpdrv", "offload": "xdpoffload"}
_TC_DIR = {"tc-ingress": "ingress", "tc-egress": "egress"}
_ORDER = ("tc", "ip", "tcx-detach", "cgroup-detach", "link-detach", "rm", "rmdir")


@dataclass
class Op:
    """One planned change: its plan line and what run() does for it."""

    kind: str  # tc | ip | tcx-detach | cgroup-detach | link-detach | rm | rmdir
    line: str  # the plan line (a pasteable command; a trailing "# ..." names the program)
    command: Command | None = None  # tc/ip: what the backend runs
    hook: str = ""  # tcx-/cgroup-detach: the hook and target the program leaves
    target: str = ""
    prog_id: int = 0
    link_id: int = 0
    path: str = ""  # rm/rmdir: the node path (the line shows it under the host root)


def _who(a: BpfAttachment) -> str:
    return f"{a.program.name or '?'} (id {a.program.id})"


def _command_line(backend: NodeBackend, command: Command, note: str) -> str:
    return f"{shell_text(backend.argv(command))}  # {note}"


def plan_ops(state: BpfState, backend: NodeBackend) -> list[Op]:
    """The changes that remove Cilium's objects in `state`, in execution order; each
    line as `backend` runs it (pure: a backend's argv/host_path do no I/O)."""
    ns = backend.netns
    cilium_pins = {p.path for p in state.pins if p.cilium and is_cilium_bpf_pin(p.path)}
    ops: list[Op] = []
    detaches: dict[str, BpfAttachment] = {}  # link pin -> what removing it detaches
    for a in (a for a in state.attachments if a.cilium):
        if a.via == "tc":
            addr = parse_tc_detail(a.detail)
            if addr is None:
                continue
            pref, handle, chain = addr
            words = ["tc", "filter", "del", "dev", a.target, _TC_DIR[a.hook]]
            words += ["chain", str(chain)] if chain else []
            words += ["pref", str(pref), "handle", f"{handle:#x}", "bpf"]
            cmd = Command(tuple(words))
            ops.append(Op("tc", _command_line(backend, cmd, _who(a)), cmd))
        elif a.via == "xdp":
            words = ["ip", "link", "set", "dev", a.target, _XDP_WORD[xdp_mode_of(a.detail)], "off"]
            cmd = Command(tuple(words))
            ops.append(Op("ip", _command_line(backend, cmd, _who(a)), cmd))
        elif a.via == "tcx":
            # No shell command detaches exactly one of several tcx programs (bpftool's
            # `net detach` takes whichever is last): this one is a note, done by bpf(2).
            where = f" in netns {ns}" if ns else ""
            line = f"# bpf(2) BPF_PROG_DETACH {_who(a)} from {a.hook} {a.target}{where}"
            line += " (that program only)"
            ops.append(Op("tcx-detach", line, hook=a.hook, target=a.target, prog_id=a.program.id))
        elif a.via == "cgroup":
            kind = a.hook.split(":", 1)[1]
            path = str(backend.host_path(a.target))
            cmd_text = shlex.join(
                ["bpftool", "cgroup", "detach", path, kind, "id", str(a.program.id)]
            )
            line = f"{cmd_text}  # via bpf(2) BPF_PROG_DETACH: {_who(a)}"
            ops.append(
                Op("cgroup-detach", line, hook=a.hook, target=a.target, prog_id=a.program.id)
            )
        elif a.via == "bpf_link":
            if a.link_pin is not None and a.link_pin in cilium_pins:
                detaches[a.link_pin] = a  # its pin goes below, and with it the attachment
                continue
            link_id = link_id_of(a.detail)
            if link_id is None:
                continue
            line = f"bpftool link detach id {link_id}  # via bpf(2) BPF_LINK_DETACH:"
            line += f" {a.hook} {a.target}: {_who(a)}"
            ops.append(Op("link-detach", line, link_id=link_id))
    files = [p for p in state.pins if p.path in cilium_pins and p.kind != "dir"]
    files.sort(key=lambda p: (p.path not in detaches, p.path))  # the detaching ones first
    for p in files:
        held = detaches.get(p.path)
        note = f"  # detaches {held.hook} {held.target}: {_who(held)}" if held else ""
        shown = shlex.quote(str(backend.host_path(p.path)))
        ops.append(Op("rm", f"rm {shown}{note}", path=p.path))
    dirs = [p for p in state.pins if p.path in cilium_pins and p.kind == "dir"]
    for p in sorted(dirs, key=lambda p: p.path.count("/"), reverse=True):  # deepest first
        shown = shlex.quote(str(backend.host_path(p.path)))
        ops.append(Op("rmdir", f"rmdir {shown}", path=p.path))
    ops.sort(key=lambda op: _ORDER.index(op.kind))  # stable: the plan reads as it runs
    return ops


def machine_wide(ns: str | None, host_root: Path) -> bool:
    """Whether the bpffs pins and the cgroup root are the node's to clean.

    With --netns and the host root left at "/", the namespace is a node laid on this
    machine (tests, a simulated node): its devices are the node's, but /sys/fs/bpf and
    /run/cilium/cgroupv2 are this machine's own, and are left alone.
    """
    return ns is None or host_root.resolve() != Path("/")


def scoped(state: BpfState, wide: bool) -> tuple[BpfState, int]:
    """`state` without the machine-wide objects when they are not ours to clean, and how
    many Cilium objects were set aside that way."""
    if wide:
        return state, 0
    keep = [a for a in state.attachments if not a.hook.startswith("cgroup:")]
    dropped = sum(a.cilium for a in state.attachments if a.hook.startswith("cgroup:"))
    dropped += sum(p.cilium for p in state.pins)
    return BpfState(attachments=keep, pins=[], errors=state.errors), dropped


def remaining(state: BpfState) -> list[str]:
    """Cilium's objects in `state`, one line each."""
    out = [f"{a.hook} {a.target}: {_who(a)}" for a in state.attachments if a.cilium]
    return out + [f"pin {p.path}" for p in state.pins if p.cilium]


async def _apply(backend: NodeBackend, op: Op) -> str | None:
    """Do one op; the line to show (None: its object was gone already)."""
    try:
        if op.command is not None:
            await backend.run(op.command)
        elif op.kind in ("tcx-detach", "cgroup-detach"):
            await backend.detach_bpf_program(op.hook, op.target, op.prog_id)
        elif op.kind == "link-detach":
            await backend.detach_bpf_link(op.link_id)
        else:
            backend.remove_host_file(op.path, directory=op.kind == "rmdir")
    except FileNotFoundError:
        return None
    except CommandFailed as exc:  # e.g. the filter vanished meanwhile: the re-read decides
        return f"# {exc}"
    except OSError as exc:
        # e.g. a mount point (EBUSY): go on with the rest; the re-read reports what stays
        if op.path:
            return f"# could not {op.kind} {backend.host_path(op.path)}: {exc.strerror or exc}"
        what = f"link {op.link_id}" if op.link_id else f"{op.hook} {op.target} (id {op.prog_id})"
        return f"# could not detach {what}: {exc.strerror or exc}"
    return op.line


@register
class BpfCleanup(Action):
    name = "bpf.cleanup"
    summary = (
        "detach Cilium's tc/tcx/XDP/socket-LB programs and remove its bpffs pins;"
        " nothing that is not Cilium's"
    )
    mutates = True
    needs_root = True
    default_risk = "destructive"
    params = {}

    async def _read(self, ctx: ActionContext) -> tuple[BpfState, int]:
        backend = ctx.backend
        state = await backend.bpf()
        return scoped(state, machine_wide(backend.netns, Path(backend.host_root)))

    async def plan(self, ctx: ActionContext) -> list[str]:
        state, set_aside = await self._read(ctx)
        ops = plan_ops(state, ctx.backend)
        if not ops:
            return []
        lines = [op.line for op in ops]
        if set_aside:
            lines.append(
                f"# --netns {ctx.backend.netns} with host root /: this machine's {set_aside}"
                " Cilium pins/cgroup programs are left alone (give the node's --host-root)"
            )
        if any(op.kind == "rm" and "# detaches" in op.line for op in ops):
            lines.append(
                "# a link another process still holds after its pin is gone"
                " is detached with bpf(2) BPF_LINK_DETACH"
            )
        return lines + ctx.backend.plan_notes()

    async def backup(self, ctx: ActionContext) -> list[Path]:
        """What was attached and pinned, before anything is detached (the journal keeps it)."""
        state = await ctx.backend.bpf()  # everything, also what this step leaves alone
        ctx.backup_dir.mkdir(parents=True, exist_ok=True)
        path = ctx.backup_dir / "bpf-state.json"
        path.write_text(json.dumps(dataclasses.asdict(state), indent=1))
        return [path]

    async def run(self, ctx: ActionContext) -> ActionResult:
        backend = ctx.backend
        state, _ = await self._read(ctx)
        ops = plan_ops(state, backend)
        for op in ops:
            line = await _apply(backend, op)
            if line is not None:
                ctx.out(line)
        after, _ = await self._read(ctx)
        # A link whose pin is gone but that another process still holds stays attached.
        held = [
            lid
            for a in after.attachments
            if a.cilium and a.via == "bpf_link" and (lid := link_id_of(a.detail)) is not None
        ]
        if held:
            for lid in held:
                await backend.detach_bpf_link(lid)
                ctx.out(f"bpftool link detach id {lid}  # via bpf(2) BPF_LINK_DETACH (still held)")
            after, _ = await self._read(ctx)
        left = remaining(after)
        if left:
            more = f" (+{len(left) - 8} more)" if len(left) > 8 else ""
            raise CiliumtuiError(f"Cilium BPF objects still present: {'; '.join(left[:8])}{more}")
        detached = sum(1 for a in state.attachments if a.cilium)
        pins = sum(1 for p in state.pins if p.cilium)
        if not ops:
            ctx.out(f"no Cilium BPF programs or pins (cgroup {CGROUP_ROOT}, /sys/fs/bpf)")
        return ActionResult(
            ok=True,
            rc=0,
            changed=bool(ops),
            data={"detached": detached, "removed": pins},
            message=f"detached {detached} Cilium programs, removed {pins} pins",
        )
