"""The BPF footprint of a node, read without bpftool (nodes rarely have it).

What is attached, per device and on Cilium's cgroup root, and what is pinned:

- tc: cls_bpf filters on clsact ingress/egress of every device — tc's netlink
  dump (ciliumtui.node.bpfnl, in `--netns`); the program id comes from TCA_BPF_ID.
- tcx (kernel >= 6.6): BPF_PROG_QUERY with BPF_TCX_INGRESS/EGRESS per ifindex.
  An ifindex means something only inside its namespace, so the queries run in a
  short-lived thread that setns()'d into `--netns` (the calling thread never moves).
- XDP: the link dump's IFLA_XDP (one program per mode: generic/native/offload);
  whether a bpf_link holds it comes from the system's link list.
- socket-LB: BPF_PROG_QUERY per cgroup attach type on `<host-root>/run/cilium/cgroupv2`.
- pins: everything in `<host-root>/sys/fs/bpf/tc/globals` (Cilium's are `cilium_*`)
  and everything under `<host-root>/sys/fs/bpf/cilium`, where Cilium >= 1.15 pins
  the bpf_links that hold its XDP/tcx/cgroup programs (removing the pin detaches).

Program names, types and tags come from BPF_PROG_GET_FD_BY_ID + BPF_OBJ_GET_INFO_BY_FD.
A kernel or permission limit is one line in `BpfState.errors`, never an exception.
Non-Cilium programs and pins are listed too (cilium=False): cleanup leaves them be.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from ..model import BpfAttachment, BpfPin, BpfProgram, BpfState
from ..netns import in_netns
from ..ownership import is_cilium_bpf_pin, is_cilium_bpf_program
from ..record import record
from . import bpfnl, bpfsys
from .bpfnl import NlLink
from .bpfsys import BpfError

T = TypeVar("T")

TC_PARENTS = {"tc-ingress": 0xFFFFFFF2, "tc-egress": 0xFFFFFFF3}  # clsact ffff:fff2/fff3
TCX_HOOKS = {"tcx-ingress": bpfsys.ATTACH_TCX_INGRESS, "tcx-egress": bpfsys.ATTACH_TCX_EGRESS}
# IFLA_XDP per-mode program ids, and the mode words of `ip link set ... xdpMODE off`
XDP_MODES = {
    "IFLA_XDP_SKB_PROG_ID": "generic",
    "IFLA_XDP_DRV_PROG_ID": "native",
    "IFLA_XDP_HW_PROG_ID": "offload",
}
_XDP_ATTACHED = {
    "xdpgeneric": "generic",
    "xdp": "native",
    "xdpdrv": "native",
    "xdpoffload": "offload",
}
CGROUP_ROOT = "/run/cilium/cgroupv2"
TC_GLOBALS = "/sys/fs/bpf/tc/globals"
CILIUM_BPFFS = "/sys/fs/bpf/cilium"


# ------------------------------------------------------------- detail strings
# BpfAttachment.detail carries what a cleanup needs to address the object again;
# formatted and parsed here only.

_TC_DETAIL = re.compile(r"^pref (\d+) handle (0x[0-9a-f]+)(?: chain (\d+))?")
_LINK_DETAIL = re.compile(r"(?:^| )link (\d+)$")


def tc_detail(pref: int, handle: int, chain: int, name: str | None) -> str:
    text = f"pref {pref} handle {handle:#x}" + (f" chain {chain}" if chain else "")
    return f"{text} {name}" if name else text


def parse_tc_detail(detail: str | None) -> tuple[int, int, int] | None:
    """(pref, handle, chain) of a tc attachment's detail."""
    m = _TC_DETAIL.match(detail or "")
    if not m:
        return None
    return int(m.group(1)), int(m.group(2), 16), int(m.group(3) or 0)


def link_id_of(detail: str | None) -> int | None:
    """The bpf_link id of a link-held attachment ("generic link 7", "link 7")."""
    m = _LINK_DETAIL.search(detail or "")
    return int(m.group(1)) if m else None


def xdp_mode_of(detail: str | None) -> str:
    return (detail or "generic").split(" ", 1)[0]


# ----------------------------------------------------------------------- netlink


@record
class TcFilter:
    dev: str
    hook: str  # tc-ingress | tc-egress
    pref: int
    handle: int
    chain: int = 0
    name: str | None = None  # TCA_BPF_NAME: "cil_from_netdev-eth0", "p1:[*fsobj]"
    prog_id: int | None = None
    tag: str | None = None


def read_netlink() -> tuple[list[NlLink], list[TcFilter]]:
    """Devices with their XDP programs, and every cls_bpf filter on a clsact qdisc,
    in the calling thread's namespace (see read_in_netns)."""
    filters: list[TcFilter] = []
    with bpfnl.Dumper() as d:
        devices = bpfnl.links(d)
        # Only devices with a clsact qdisc can hold ingress/egress filters: one qdisc dump
        # saves two filter dumps per device without one.
        clsact = bpfnl.clsact_devices(d)
        for dev in devices:
            if dev.index not in clsact:
                continue
            for hook, parent in TC_PARENTS.items():
                for f in bpfnl.bpf_filters(d, dev.index, parent):
                    filters.append(
                        TcFilter(
                            dev.name, hook, f.pref, f.handle, f.chain, f.name, f.prog_id, f.tag
                        )
                    )
    filters.sort(key=lambda f: (f.dev, f.hook, f.chain, f.pref, f.handle))
    return devices, filters


# ---------------------------------------------------------------------- bpf(2)


def _limit(exc: BpfError, what: str) -> str:
    """One line for BpfState.errors: what could not be read, and why."""
    if exc.errno in (errno.EPERM, errno.EACCES):
        return f"{what}: {exc.cmd_name} not permitted (needs root: CAP_BPF + CAP_NET_ADMIN)"
    return f"{what}: {exc}"


@record
class TcxEntry:
    dev: str
    hook: str
    prog_id: int
    link_id: int  # 0: attached with BPF_PROG_ATTACH


def read_tcx(devices: list[NlLink], errors: list[str]) -> list[TcxEntry]:
    """tcx attachments per device, in the calling thread's namespace (ifindexes are local)."""
    found: list[TcxEntry] = []
    for dev in devices:
        for hook, attach in TCX_HOOKS.items():
            try:
                q = bpfsys.prog_query(dev.index, attach, with_links=True)
            except BpfError as exc:
                if exc.errno == errno.ENODEV:
                    continue  # gone meanwhile
                if exc.errno == errno.EINVAL:
                    errors.append(
                        "tcx: BPF_PROG_QUERY does not know BPF_TCX_INGRESS"
                        f" (tcx needs kernel >= 6.6; this one is {os.uname().release})"
                    )
                else:
                    errors.append(_limit(exc, "tcx"))
                return found
            links = q.link_ids or [0] * len(q.prog_ids)
            found += [
                TcxEntry(dev.name, hook, p, lk) for p, lk in zip(q.prog_ids, links, strict=True)
            ]
    return found


def read_in_netns(
    netns: str | None, errors: list[str]
) -> tuple[list[NlLink], list[TcFilter], list[TcxEntry]]:
    """Everything that is per namespace, read in ONE thread that entered it (the
    netlink socket and the tcx queries both resolve ifindexes in the caller's netns)."""

    def body() -> tuple[list[NlLink], list[TcFilter], list[TcxEntry]]:
        devices, filters = read_netlink()
        return devices, filters, read_tcx(devices, errors)

    return in_netns(netns, body)


@record
class CgroupEntry:
    attach: str  # bpftool's name: connect4, sendmsg6, sock_release, ...
    prog_id: int


def read_cgroup(host_root: Path, errors: list[str]) -> tuple[list[CgroupEntry], int]:
    """Programs attached directly to Cilium's cgroup root, and the cgroup's id (inode)."""
    path = host_root / CGROUP_ROOT.lstrip("/")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except PermissionError:
        errors.append(f"cgroup {CGROUP_ROOT}: not readable (needs root)")
        return [], 0
    except OSError:
        return [], 0  # not there (a node without Cilium, or after a reboot)
    found: list[CgroupEntry] = []
    try:
        cgroup_id = os.fstat(fd).st_ino  # a cgroup2 directory's inode is its cgroup id
        for attach, name in bpfsys.CGROUP_ATTACH_TYPES.items():
            try:
                q = bpfsys.prog_query(fd, attach)
            except BpfError as exc:
                if exc.errno == errno.EINVAL:
                    continue  # an attach type this kernel does not have
                if exc.errno in (errno.EBADF, errno.ENOTDIR):
                    return [], 0  # a plain directory, not a cgroup2 mount: nothing attached
                errors.append(_limit(exc, f"cgroup {CGROUP_ROOT}"))
                break
            found += [CgroupEntry(name, p) for p in q.prog_ids]
    finally:
        os.close(fd)
    return found, cgroup_id


@record
class PinEntry:
    pin: BpfPin
    link: bpfsys.LinkInfo | None = None


def _pin_kind(real: Path, errors: list[str]) -> tuple[str, bpfsys.LinkInfo | None]:
    try:
        fd = bpfsys.obj_get(str(real))
    except BpfError as exc:
        # EACCES is also what a plain (non-bpffs) file gives: only a file we may not open
        # is a permission limit.
        denied = exc.errno == errno.EPERM or not os.access(real, os.R_OK | os.W_OK)
        if denied and not any(e.startswith("pins:") for e in errors):
            errors.append(_limit(exc, "pins"))
        return "other", None  # not a bpffs object (a plain file), or unreadable
    try:
        kind = bpfsys.fd_kind(fd)
        link = bpfsys.link_info(fd) if kind == "link" else None
    except BpfError:
        link = None
    finally:
        os.close(fd)
    return kind, link


def _denied(errors: list[str], node_path: str) -> None:
    """bpffs is mode 0700 on nodes: without root its pins cannot even be listed."""
    if not any(e.startswith("pins:") for e in errors):
        errors.append(f"pins: {node_path} not readable (needs root)")


def read_pins(host_root: Path, errors: list[str]) -> list[PinEntry]:
    out: list[PinEntry] = []
    globals_dir = host_root / TC_GLOBALS.lstrip("/")
    try:
        names = sorted(e.name for e in os.scandir(globals_dir) if not e.is_dir())
    except PermissionError:
        _denied(errors, TC_GLOBALS)
        names = []
    except OSError:
        names = []
    for name in names:
        node_path = f"{TC_GLOBALS}/{name}"
        kind, link = _pin_kind(globals_dir / name, errors)
        out.append(PinEntry(BpfPin(node_path, kind, is_cilium_bpf_pin(node_path)), link))
    base = host_root / CILIUM_BPFFS.lstrip("/")

    def walk_error(exc: OSError) -> None:
        if isinstance(exc, PermissionError):
            _denied(errors, CILIUM_BPFFS)

    for dirpath, dirnames, filenames in os.walk(base, onerror=walk_error):
        dirnames.sort()
        rel = os.path.relpath(dirpath, base)
        node_dir = CILIUM_BPFFS if rel == "." else f"{CILIUM_BPFFS}/{rel}"
        for d in dirnames:
            p = f"{node_dir}/{d}"
            out.append(PinEntry(BpfPin(p, "dir", is_cilium_bpf_pin(p))))
        for name in sorted(filenames):
            p = f"{node_dir}/{name}"
            kind, link = _pin_kind(Path(dirpath) / name, errors)
            out.append(PinEntry(BpfPin(p, kind, is_cilium_bpf_pin(p)), link))
    out.sort(key=lambda e: e.pin.path)
    return out


def read_programs(ids: Iterable[int], errors: list[str]) -> dict[int, bpfsys.ProgInfo]:
    infos: dict[int, bpfsys.ProgInfo] = {}
    for prog_id in sorted(set(ids)):
        try:
            infos[prog_id] = bpfsys.prog_info_by_id(prog_id)
        except BpfError as exc:
            if exc.errno == errno.ENOENT:
                continue  # unloaded meanwhile
            errors.append(_limit(exc, "program names"))
            break
    return infos


def read_links(errors: list[str]) -> list[bpfsys.LinkInfo]:
    """Every bpf_link (XDP and cgroup attachments do not say whether a link holds them)."""
    links: list[bpfsys.LinkInfo] = []
    try:
        for link_id in bpfsys.link_ids():
            try:
                links.append(bpfsys.link_info_by_id(link_id))
            except BpfError as exc:
                if exc.errno != errno.ENOENT:
                    raise
    except BpfError as exc:
        errors.append(_limit(exc, "bpf_links"))
    return links


# --------------------------------------------------------------------- assembly


def read_bpf(netns: str | None, host_root: Path) -> BpfState:
    """The whole footprint (blocking: run it in a thread)."""
    errors: list[str] = []
    devices, filters, tcx = read_in_netns(netns, errors)
    cgroup, cgroup_id = read_cgroup(host_root, errors)
    pins = read_pins(host_root, errors)
    ids = [f.prog_id for f in filters if f.prog_id]
    ids += [e.prog_id for e in tcx] + [e.prog_id for e in cgroup]
    ids += [pid for d in devices for _, pid in d.xdp]
    progs = read_programs(ids, errors)
    need_links = any(d.xdp for d in devices) or bool(cgroup)
    links = read_links(errors) if need_links else []
    link_pin = {e.link.id: e.pin.path for e in pins if e.link is not None}

    def program(
        prog_id: int | None, fallback_name: str | None = None, tag: str | None = None
    ) -> BpfProgram:
        info = progs.get(prog_id or 0)
        if info is None:
            return BpfProgram(id=prog_id or 0, name=fallback_name or "", tag=tag)
        return BpfProgram(id=info.id, name=info.name, type=info.type_name, tag=info.tag)

    def owned(prog: BpfProgram, pin: str | None, *names: str | None) -> bool:
        return (
            is_cilium_bpf_program(prog.name)
            or any(is_cilium_bpf_program(n) for n in names)
            or (pin is not None and is_cilium_bpf_pin(pin))
        )

    out: list[BpfAttachment] = []
    by_dev: dict[str, list[BpfAttachment]] = {}
    for f in filters:
        prog = program(f.prog_id, None, f.tag)
        by_dev.setdefault(f.dev, []).append(
            BpfAttachment(
                f.hook,
                f.dev,
                prog,
                via="tc",
                detail=tc_detail(f.pref, f.handle, f.chain, f.name),
                cilium=owned(prog, None, f.name),
            )
        )
    for e in tcx:
        prog = program(e.prog_id)
        pin = link_pin.get(e.link_id) if e.link_id else None
        by_dev.setdefault(e.dev, []).append(
            BpfAttachment(
                e.hook,
                e.dev,
                prog,
                via="bpf_link" if e.link_id else "tcx",
                detail=f"link {e.link_id}" if e.link_id else None,
                link_pin=pin,
                cilium=owned(prog, pin),
            )
        )
    for d in devices:
        for mode, prog_id in d.xdp:
            prog = program(prog_id)
            link = next(
                (
                    lk
                    for lk in links
                    if lk.type == bpfsys.LINK_TYPE_XDP
                    and lk.prog_id == prog_id
                    and lk.ifindex == d.index
                ),
                None,
            )
            pin = link_pin.get(link.id) if link else None
            by_dev.setdefault(d.name, []).append(
                BpfAttachment(
                    "xdp",
                    d.name,
                    prog,
                    via="bpf_link" if link else "xdp",
                    detail=f"{mode} link {link.id}" if link else mode,
                    link_pin=pin,
                    cilium=owned(prog, pin),
                )
            )
    for d in devices:  # in ifindex order
        out += by_dev.get(d.name, [])
    for c in cgroup:
        prog = program(c.prog_id)
        attach = bpfsys.CGROUP_ATTACH_BY_NAME[c.attach]
        link = next(
            (
                lk
                for lk in links
                if lk.type == bpfsys.LINK_TYPE_CGROUP
                and lk.prog_id == c.prog_id
                and lk.cgroup_id == cgroup_id
                and lk.attach_type == attach
            ),
            None,
        )
        pin = link_pin.get(link.id) if link else None
        out.append(
            BpfAttachment(
                f"cgroup:{c.attach}",
                CGROUP_ROOT,
                prog,
                via="bpf_link" if link else "cgroup",
                detail=f"link {link.id}" if link else None,
                link_pin=pin,
                cilium=owned(prog, pin),
            )
        )
    return BpfState(attachments=out, pins=[e.pin for e in pins], errors=errors)


async def probe_bpf(netns: str | None, host_root: Path) -> BpfState:
    """NodeState.bpf: what is attached per device and on the cgroup root, and what is pinned."""
    return await asyncio.to_thread(read_bpf, netns, Path(host_root))
