"""bpf.cleanup: detach Cilium's BPF programs and remove its bpffs pins, nothing else.

What is Cilium's is decided by the probe (ciliumtui.node.bpf, through ownership.py):
tc filters, tcx/XDP programs and socket-LB cgroup programs whose names are
Cilium's, the bpf_links pinned under /sys/fs/bpf/cilium, the `cilium_*` pins in
tc/globals and anything under cilium/. A filter, program or pin of anyone else —
even on the same device, at the same tc priority — is never touched: tc filters
are deleted by chain, pref AND handle; XDP only in the mode Cilium's program holds.

Order: tc filters (one `tc -batch`), netlink XDP (one `ip -batch`), programs
attached without a link (BPF_PROG_DETACH of exactly that program), links no
Cilium pin holds (BPF_LINK_DETACH), then the pins — removing a link's last pin
detaches its program. Afterwards the footprint is read again: a link another
process still holds is detached with BPF_LINK_DETACH, and the step fails if any
Cilium object remains.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import os
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path

from ... import netns
from ...errors import CiliumtuiError
from ...model import BpfAttachment, BpfState
from ...node import bpfsys
from ...node.bpf import (
    CGROUP_ROOT,
    call_in_netns,
    link_id_of,
    parse_tc_detail,
    read_bpf,
    xdp_mode_of,
)
from ...ownership import is_cilium_bpf_pin
from .base import Action, ActionContext, ActionResult, register

_XDP_WORD = {"generic": "xdpgeneric", "native": "xdpdrv", "offload": "xdpoffload"}
_TC_DIR = {"tc-ingress": "ingress", "tc-egress": "egress"}
_ORDER = ("tc", "ip", "tcx-detach", "cgroup-detach", "link-detach", "rm", "rmdir")
_TCX_ATTACH = {"tcx-ingress": bpfsys.ATTACH_TCX_INGRESS, "tcx-egress": bpfsys.ATTACH_TCX_EGRESS}


@dataclass
class Op:
    """One planned change: its plan line and what run() does for it."""

    kind: str  # tc | ip | tcx-detach | cgroup-detach | link-detach | rm | rmdir
    line: str  # the plan line (a pasteable command; a trailing "# ..." names the program)
    batch: str = ""  # tc/ip: the `-batch` line
    dev: str = ""
    attach: int = 0
    prog_id: int = 0
    link_id: int = 0
    path: str = ""  # rm/rmdir/cgroup: the path on this machine (host root applied)


def _who(a: BpfAttachment) -> str:
    return f"{a.program.name or '?'} (id {a.program.id})"


def _real(host_root: Path, node_path: str) -> str:
    return str(host_root / node_path.lstrip("/"))


def plan_ops(state: BpfState, ns: str | None, host_root: Path) -> list[Op]:
    """The changes that remove Cilium's objects in `state`: pure, in execution order."""
    tc = ["tc", "-n", ns] if ns else ["tc"]
    ip = ["ip", "-n", ns] if ns else ["ip"]
    cilium_pins = {p.path for p in state.pins if p.cilium and is_cilium_bpf_pin(p.path)}
    ops: list[Op] = []
    detaches: dict[str, BpfAttachment] = {}  # link pin -> what removing it detaches
    for a in (a for a in state.attachments if a.cilium):
        if a.via == "tc":
            addr = parse_tc_detail(a.detail)
            if addr is None:
                continue
            pref, handle, chain = addr
            words = ["filter", "del", "dev", a.target, _TC_DIR[a.hook]]
            words += ["chain", str(chain)] if chain else []
            words += ["pref", str(pref), "handle", f"{handle:#x}", "bpf"]
            batch = shlex.join(words)
            ops.append(Op("tc", f"{shlex.join(tc)} {batch}  # {_who(a)}", batch, dev=a.target))
        elif a.via == "xdp":
            words = ["link", "set", "dev", a.target, _XDP_WORD[xdp_mode_of(a.detail)], "off"]
            batch = shlex.join(words)
            ops.append(Op("ip", f"{shlex.join(ip)} {batch}  # {_who(a)}", batch, dev=a.target))
        elif a.via == "tcx":
            # No shell command detaches exactly one of several tcx programs (bpftool's
            # `net detach` takes whichever is last): this one is a note, done by bpf(2).
            ops.append(
                Op(
                    "tcx-detach",
                    f"# bpf(2) BPF_PROG_DETACH {_who(a)} from {a.hook} {a.target}"
                    f"{' in netns ' + ns if ns else ''} (that program only)",
                    dev=a.target,
                    attach=_TCX_ATTACH[a.hook],
                    prog_id=a.program.id,
                )
            )
        elif a.via == "cgroup":
            kind = a.hook.split(":", 1)[1]
            path = _real(host_root, a.target)
            cmd = shlex.join(["bpftool", "cgroup", "detach", path, kind, "id", str(a.program.id)])
            ops.append(
                Op(
                    "cgroup-detach",
                    f"{cmd}  # via bpf(2) BPF_PROG_DETACH: {_who(a)}",
                    attach=bpfsys.CGROUP_ATTACH_BY_NAME[kind],
                    prog_id=a.program.id,
                    path=path,
                )
            )
        elif a.via == "bpf_link":
            if a.link_pin is not None and a.link_pin in cilium_pins:
                detaches[a.link_pin] = a  # its pin goes below, and with it the attachment
                continue
            link_id = link_id_of(a.detail)
            if link_id is None:
                continue
            ops.append(
                Op(
                    "link-detach",
                    f"bpftool link detach id {link_id}  # via bpf(2) BPF_LINK_DETACH:"
                    f" {a.hook} {a.target}: {_who(a)}",
                    link_id=link_id,
                )
            )
    files = [p for p in state.pins if p.path in cilium_pins and p.kind != "dir"]
    files.sort(key=lambda p: (p.path not in detaches, p.path))  # the detaching ones first
    for p in files:
        path = _real(host_root, p.path)
        held = detaches.get(p.path)
        note = f"  # detaches {held.hook} {held.target}: {_who(held)}" if held else ""
        ops.append(Op("rm", f"rm {shlex.quote(path)}{note}", path=path))
    dirs = [p for p in state.pins if p.path in cilium_pins and p.kind == "dir"]
    for p in sorted(dirs, key=lambda p: p.path.count("/"), reverse=True):  # deepest first
        path = _real(host_root, p.path)
        ops.append(Op("rmdir", f"rmdir {shlex.quote(path)}", path=path))
    ops.sort(key=lambda op: _ORDER.index(op.kind))  # stable: the plan reads as it runs
    return ops


def machine_wide(ns: str | None, host_root: Path) -> bool:
    """Whether the bpffs pins and the cgroup root are the node's to clean.

    With --netns and the host root left at "/", the namespace is a node laid on this
    machine (tests, training): its devices are the node's, but /sys/fs/bpf and
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


def _detach_in_thread(ns: str | None, ops: list[Op], out: list[str]) -> None:
    """The bpf(2) detaches: tcx in the namespace (an ifindex is per namespace)."""

    def tcx() -> None:
        for op in (o for o in ops if o.kind == "tcx-detach"):
            ifindex = socket.if_nametoindex(op.dev)
            fd = bpfsys.prog_fd_by_id(op.prog_id)
            try:
                bpfsys.prog_detach(ifindex, fd, op.attach)
            finally:
                os.close(fd)
            out.append(op.line)

    if any(o.kind == "tcx-detach" for o in ops):
        call_in_netns(ns, tcx)
    for op in ops:
        if op.kind == "cgroup-detach":
            cg = os.open(op.path, os.O_RDONLY | os.O_DIRECTORY)
            fd = bpfsys.prog_fd_by_id(op.prog_id)
            try:
                bpfsys.prog_detach(cg, fd, op.attach)
            finally:
                os.close(fd)
                os.close(cg)
            out.append(op.line)
        elif op.kind == "link-detach":
            _link_detach(op.link_id)
            out.append(op.line)


def _link_detach(link_id: int) -> None:
    try:
        fd = bpfsys.link_fd_by_id(link_id)
    except bpfsys.BpfError as exc:
        if exc.errno == errno.ENOENT:
            return  # already gone
        raise
    try:
        bpfsys.link_detach(fd)
    finally:
        os.close(fd)


def _remove_pins(ops: list[Op], out: list[str]) -> None:
    for op in ops:
        try:
            if op.kind == "rm":
                os.unlink(op.path)
            elif op.kind == "rmdir":
                os.rmdir(op.path)
            else:
                continue
        except FileNotFoundError:
            continue
        except OSError as exc:
            # e.g. a mount point (EBUSY): go on with the rest; the re-read reports what stays
            out.append(f"# could not {op.kind} {op.path}: {exc.strerror or exc}")
            continue
        out.append(op.line)


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

    def _host_root(self, ctx: ActionContext) -> Path:
        return Path(ctx.opts.host_root)

    async def _read(self, ctx: ActionContext) -> tuple[BpfState, int]:
        root = self._host_root(ctx)
        state = await asyncio.to_thread(read_bpf, ctx.netns, root)
        return scoped(state, machine_wide(ctx.netns, root))

    async def plan(self, ctx: ActionContext) -> list[str]:
        if ctx.opts.recorded_node:  # training without root: BPF state is not simulated there
            return []
        state, set_aside = await self._read(ctx)
        ops = plan_ops(state, ctx.netns, self._host_root(ctx))
        lines = [op.line for op in ops]
        if set_aside and lines:
            lines.append(
                f"# --netns {ctx.netns} with host root /: this machine's {set_aside} Cilium"
                " pins/cgroup programs are left alone (give the node's --host-root)"
            )
        if any(op.kind == "rm" and "# detaches" in op.line for op in ops):
            lines.append(
                "# a link another process still holds after its pin is gone"
                " is detached with bpf(2) BPF_LINK_DETACH"
            )
        return lines

    async def backup(self, ctx: ActionContext) -> list[Path]:
        """What was attached and pinned, before anything is detached (the journal keeps it)."""
        if ctx.opts.recorded_node:
            state = BpfState()
        else:  # everything, also what this step leaves alone
            state = await asyncio.to_thread(read_bpf, ctx.netns, self._host_root(ctx))
        ctx.backup_dir.mkdir(parents=True, exist_ok=True)
        path = ctx.backup_dir / "bpf-state.json"
        path.write_text(json.dumps(dataclasses.asdict(state), indent=1))
        return [path]

    async def run(self, ctx: ActionContext) -> ActionResult:
        if ctx.opts.recorded_node:
            ctx.out("recorded node: no BPF state to clean")
            return ActionResult(ok=True, rc=0, data={"detached": 0, "removed": 0})
        root = self._host_root(ctx)
        state, _ = await self._read(ctx)
        ops = plan_ops(state, ctx.netns, root)
        done: list[str] = []
        for kind, tool in (("tc", "tc"), ("ip", "ip")):
            batch = [op for op in ops if op.kind == kind]
            if not batch:
                continue
            argv = [tool, "-n", ctx.netns] if ctx.netns else [tool]
            # -force: keep going when an object vanished meanwhile; the re-read below decides.
            res = await netns.run(
                [*argv, "-force", "-batch", "-"],
                stdin=("\n".join(op.batch for op in batch) + "\n").encode(),
                timeout=60,
            )
            if res.rc != 0:
                ctx.out(f"# {tool} -batch: {res.stderr.strip().splitlines()[-1:] or res.rc}")
            done += [op.line for op in batch]
        await asyncio.to_thread(_detach_in_thread, ctx.netns, ops, done)
        await asyncio.to_thread(_remove_pins, ops, done)
        for line in done:
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
                await asyncio.to_thread(_link_detach, lid)
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
