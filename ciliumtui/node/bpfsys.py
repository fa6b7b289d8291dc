"""The bpf(2) syscall through ctypes: just the commands ciliumtui needs, no bpftool.

Layouts follow `union bpf_attr` / `struct bpf_prog_info` / `struct bpf_link_info`
of include/uapi/linux/bpf.h (kernel 6.18). Every attribute block is zero-filled
and passed with ATTR_SIZE bytes: the kernel copies what it knows and insists the
rest is zero, so one size serves old and new kernels alike.

Errors are `BpfError` (an OSError carrying errno and the command's name), so a
caller can turn EPERM / EINVAL into one line of `BpfState.errors`.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import os
import struct
from collections.abc import Iterator
from dataclasses import field
from functools import cache

from ..record import record

# __NR_bpf per architecture (arch/*/include/uapi/asm/unistd*.h).
_NR_BPF = {
    "x86_64": 321,
    "aarch64": 280,
    "arm64": 280,
    "riscv64": 280,
    "armv7l": 386,
    "ppc64le": 361,
    "s390x": 351,
    "i686": 357,
}
ATTR_SIZE = 128  # covers every field used here (PROG_LOAD's are the furthest, < 128)

# enum bpf_cmd
MAP_CREATE = 0
PROG_LOAD = 5
OBJ_PIN = 6
OBJ_GET = 7
PROG_ATTACH = 8
PROG_DETACH = 9
PROG_GET_NEXT_ID = 11
PROG_GET_FD_BY_ID = 13
OBJ_GET_INFO_BY_FD = 15
PROG_QUERY = 16
LINK_CREATE = 28
LINK_GET_FD_BY_ID = 30
LINK_GET_NEXT_ID = 31
LINK_DETACH = 34
_CMD_NAMES = {
    MAP_CREATE: "BPF_MAP_CREATE",
    PROG_LOAD: "BPF_PROG_LOAD",
    OBJ_PIN: "BPF_OBJ_PIN",
    OBJ_GET: "BPF_OBJ_GET",
    PROG_ATTACH: "BPF_PROG_ATTACH",
    PROG_DETACH: "BPF_PROG_DETACH",
    PROG_GET_NEXT_ID: "BPF_PROG_GET_NEXT_ID",
    PROG_GET_FD_BY_ID: "BPF_PROG_GET_FD_BY_ID",
    OBJ_GET_INFO_BY_FD: "BPF_OBJ_GET_INFO_BY_FD",
    PROG_QUERY: "BPF_PROG_QUERY",
    LINK_CREATE: "BPF_LINK_CREATE",
    LINK_GET_FD_BY_ID: "BPF_LINK_GET_FD_BY_ID",
    LINK_GET_NEXT_ID: "BPF_LINK_GET_NEXT_ID",
    LINK_DETACH: "BPF_LINK_DETACH",
}

# enum bpf_prog_type (the names bpftool prints)
PROG_TYPE_SCHED_CLS = 3
PROG_TYPE_XDP = 6
PROG_TYPE_CGROUP_SOCK = 9
PROG_TYPE_CGROUP_SOCK_ADDR = 18
PROG_TYPES = {
    1: "socket_filter",
    2: "kprobe",
    3: "sched_cls",
    4: "sched_act",
    5: "tracepoint",
    6: "xdp",
    7: "perf_event",
    8: "cgroup_skb",
    9: "cgroup_sock",
    10: "lwt_in",
    11: "lwt_out",
    12: "lwt_xmit",
    13: "sock_ops",
    14: "sk_skb",
    15: "cgroup_device",
    16: "sk_msg",
    17: "raw_tracepoint",
    18: "cgroup_sock_addr",
    19: "lwt_seg6local",
    20: "lirc_mode2",
    21: "sk_reuseport",
    22: "flow_dissector",
    23: "cgroup_sysctl",
    24: "raw_tracepoint_writable",
    25: "cgroup_sockopt",
    26: "tracing",
    27: "struct_ops",
    28: "ext",
    29: "lsm",
    30: "sk_lookup",
    31: "syscall",
    32: "netfilter",
}

# enum bpf_attach_type: the cgroup hooks, by the short names bpftool uses
# (`bpftool cgroup detach CGROUP connect4 id N`), and the device hooks.
CGROUP_ATTACH_TYPES = {
    0: "ingress",
    1: "egress",
    2: "sock_create",
    3: "sock_ops",
    6: "device",
    8: "bind4",
    9: "bind6",
    10: "connect4",
    11: "connect6",
    12: "post_bind4",
    13: "post_bind6",
    14: "sendmsg4",
    15: "sendmsg6",
    18: "sysctl",
    19: "recvmsg4",
    20: "recvmsg6",
    21: "getsockopt",
    22: "setsockopt",
    29: "getpeername4",
    30: "getpeername6",
    31: "getsockname4",
    32: "getsockname6",
    34: "sock_release",
}
CGROUP_ATTACH_BY_NAME = {v: k for k, v in CGROUP_ATTACH_TYPES.items()}
ATTACH_CGROUP_INET4_CONNECT = 10
ATTACH_CGROUP_INET6_CONNECT = 11
ATTACH_CGROUP_UDP4_SENDMSG = 14
ATTACH_XDP = 37
ATTACH_TCX_INGRESS = 46
ATTACH_TCX_EGRESS = 47

# enum bpf_link_type
LINK_TYPE_CGROUP = 3
LINK_TYPE_XDP = 6
LINK_TYPE_TCX = 11

BPF_F_ALLOW_MULTI = 1 << 1
BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
# syscall(2) is variadic; bpf() always passes these four, and declaring them lets
# plain ints through without building a ctypes object per argument (~1.5 us a call,
# which a node with 500 devices makes 1,000 times for tcx alone).
_libc.syscall.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint)


class BpfError(OSError):
    """A failed bpf(2) command: errno plus the command's name."""

    def __init__(self, err: int, cmd: int, detail: str = "") -> None:
        self.cmd_name = _CMD_NAMES.get(cmd, f"bpf cmd {cmd}")
        text = f"{self.cmd_name}: {os.strerror(err)}"
        super().__init__(err, f"{text}: {detail}" if detail else text)


@cache  # once: a bpf(2) per device and hook is 1,000 calls on a 500-pod node
def _nr_bpf() -> int:
    machine = os.uname().machine  # what platform.machine() returns, without its 3 ms import
    if machine not in _NR_BPF:
        raise BpfError(errno_mod.ENOSYS, -1)
    return _NR_BPF[machine]


def _buf(size: int = ATTR_SIZE) -> ctypes.Array[ctypes.c_char]:
    return ctypes.create_string_buffer(size)


def _addr(buf: ctypes.Array[ctypes.c_char]) -> int:
    return ctypes.addressof(buf)


def bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    """bpf(cmd, attr, ATTR_SIZE); returns the result (an fd for *_GET_FD / LOAD / CREATE).

    `attr` may be longer (prog_query keeps its id arrays after the block): the kernel
    is told ATTR_SIZE all the same."""
    ret = _libc.syscall(_nr_bpf(), cmd, ctypes.addressof(attr), ATTR_SIZE)
    if ret < 0:
        raise BpfError(ctypes.get_errno(), cmd)
    return int(ret)


# ------------------------------------------------------------------ objects by id/path


def obj_get(path: str) -> int:
    """BPF_OBJ_GET: an fd for the object pinned at `path` (read-write: progs/links need it)."""
    cpath = ctypes.create_string_buffer(os.fsencode(path))
    attr = _buf()
    struct.pack_into("=Q", attr, 0, _addr(cpath))
    return bpf(OBJ_GET, attr)


def obj_pin(fd: int, path: str) -> None:
    cpath = ctypes.create_string_buffer(os.fsencode(path))
    attr = _buf()
    struct.pack_into("=QI", attr, 0, _addr(cpath), fd)
    bpf(OBJ_PIN, attr)


def _fd_by_id(cmd: int, obj_id: int) -> int:
    attr = _buf()
    struct.pack_into("=I", attr, 0, obj_id)
    return bpf(cmd, attr)


def prog_fd_by_id(prog_id: int) -> int:
    return _fd_by_id(PROG_GET_FD_BY_ID, prog_id)


def link_fd_by_id(link_id: int) -> int:
    return _fd_by_id(LINK_GET_FD_BY_ID, link_id)


def _next_ids(cmd: int) -> Iterator[int]:
    start = 0
    while True:
        attr = _buf()
        struct.pack_into("=I", attr, 0, start)
        try:
            bpf(cmd, attr)
        except BpfError as exc:
            if exc.errno == errno_mod.ENOENT:  # past the last id
                return
            raise
        (start,) = struct.unpack_from("=I", attr, 4)
        yield start


def link_ids() -> Iterator[int]:
    """Every bpf_link id in the system (BPF_LINK_GET_NEXT_ID, kernel >= 5.8)."""
    return _next_ids(LINK_GET_NEXT_ID)


def fd_kind(fd: int) -> str:
    """ "map" | "prog" | "link" | "other", from the fd's anon inode name."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "other"
    for marker, kind in (
        ("bpf-map", "map"),
        ("bpf-prog", "prog"),
        ("bpf-link", "link"),
        ("bpf_link", "link"),
    ):
        if marker in target:
            return kind
    return "other"


# ------------------------------------------------------------------------- info


@record(frozen=True)
class ProgInfo:
    id: int
    type: int
    name: str
    tag: str

    @property
    def type_name(self) -> str:
        return PROG_TYPES.get(self.type, f"type {self.type}")


@record(frozen=True)
class LinkInfo:
    id: int
    type: int
    prog_id: int
    ifindex: int = 0  # xdp / tcx
    attach_type: int = 0  # tcx / cgroup
    cgroup_id: int = 0  # cgroup


def _info(fd: int, size: int) -> ctypes.Array[ctypes.c_char]:
    info = _buf(size)
    attr = _buf()
    struct.pack_into("=IIQ", attr, 0, fd, size, _addr(info))
    bpf(OBJ_GET_INFO_BY_FD, attr)
    return info


def prog_info(fd: int) -> ProgInfo:
    # struct bpf_prog_info: type@0 id@4 tag[8]@8 ... name[16]@64
    info = _info(fd, 88)
    ptype, pid = struct.unpack_from("=II", info, 0)
    tag = info.raw[8:16].hex()
    name = info.raw[64:80].split(b"\0", 1)[0].decode(errors="replace")
    return ProgInfo(id=pid, type=ptype, name=name, tag=tag)


def link_info(fd: int) -> LinkInfo:
    # struct bpf_link_info: type@0 id@4 prog_id@8, then an 8-aligned union @16:
    # xdp {ifindex}, tcx {ifindex, attach_type}, cgroup {u64 cgroup_id, attach_type}
    info = _info(fd, 64)
    ltype, lid, prog_id = struct.unpack_from("=III", info, 0)
    if ltype == LINK_TYPE_CGROUP:
        cgid, attach = struct.unpack_from("=QI", info, 16)
        return LinkInfo(lid, ltype, prog_id, attach_type=attach, cgroup_id=cgid)
    if ltype in (LINK_TYPE_XDP, LINK_TYPE_TCX):
        ifindex, attach = struct.unpack_from("=II", info, 16)
        return LinkInfo(lid, ltype, prog_id, ifindex=ifindex, attach_type=attach)
    return LinkInfo(lid, ltype, prog_id)


def prog_info_by_id(prog_id: int) -> ProgInfo:
    fd = prog_fd_by_id(prog_id)
    try:
        return prog_info(fd)
    finally:
        os.close(fd)


def link_info_by_id(link_id: int) -> LinkInfo:
    fd = link_fd_by_id(link_id)
    try:
        return link_info(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------ query


@record
class Query:
    prog_ids: list[int] = field(default_factory=list)
    # per program, the bpf_link that holds it (0: attached with BPF_PROG_ATTACH);
    # only tcx fills it (kernel >= 6.6), empty elsewhere
    link_ids: list[int] = field(default_factory=list)


def prog_query(target: int, attach_type: int, *, with_links: bool = False) -> Query:
    """BPF_PROG_QUERY on a cgroup fd or (tcx) an ifindex of the calling thread's netns."""
    cap = 64
    while True:
        # One buffer: the attribute block, then prog_ids[cap], then link_ids[cap]. The
        # tcx probe asks this of every device twice: ~6 us a query, against ~19 us with
        # three ctypes allocations and array slices.
        buf = ctypes.create_string_buffer(ATTR_SIZE + 8 * cap)
        base = ctypes.addressof(buf)
        # target@0 attach_type@4 query_flags@8 attach_flags@12 prog_ids@16 count@24
        # prog_attach_flags@32 link_ids@40 link_attach_flags@48 revision@56
        struct.pack_into("=IIIIQI", buf, 0, target, attach_type, 0, 0, base + ATTR_SIZE, cap)
        if with_links:
            struct.pack_into("=Q", buf, 40, base + ATTR_SIZE + 4 * cap)
        try:
            bpf(PROG_QUERY, buf)
        except BpfError as exc:
            if exc.errno == errno_mod.ENOSPC:  # more than `cap` programs: count says how many
                (cap,) = struct.unpack_from("=I", buf, 24)
                continue
            raise
        (count,) = struct.unpack_from("=I", buf, 24)
        if not count:
            return Query()
        ids = list(struct.unpack_from(f"={count}I", buf, ATTR_SIZE))
        links = list(struct.unpack_from(f"={count}I", buf, ATTR_SIZE + 4 * cap))
        return Query(ids, links if with_links else [])


# -------------------------------------------------------------- detach (cleanup)


def prog_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    """BPF_PROG_DETACH of exactly `prog_fd` from a cgroup (or, for tcx, an ifindex)."""
    attr = _buf()
    struct.pack_into("=III", attr, 0, target_fd, prog_fd, attach_type)
    bpf(PROG_DETACH, attr)


def link_detach(link_fd: int) -> None:
    """BPF_LINK_DETACH: the link stays (its pins/fds) but no longer holds the hook."""
    attr = _buf()
    struct.pack_into("=I", attr, 0, link_fd)
    bpf(LINK_DETACH, attr)


# ------------------------------------------------ loading (the simulator and tests)


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, name: str) -> int:
    attr = _buf()
    struct.pack_into("=IIII", attr, 0, map_type, key_size, value_size, max_entries)
    struct.pack_into("=16s", attr, 28, name.encode()[:15])
    return bpf(MAP_CREATE, attr)


def prog_load(
    prog_type: int,
    insns: bytes,
    name: str,
    *,
    expected_attach_type: int = 0,
    license: str = "GPL",
) -> int:
    """BPF_PROG_LOAD; the verifier's log is in the error message when it refuses."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(4096)
    attr = _buf()
    # prog_type@0 insn_cnt@4 insns@8 license@16 log_level@24 log_size@28 log_buf@32
    struct.pack_into(
        "=IIQQIIQ",
        attr,
        0,
        prog_type,
        len(insns) // 8,
        _addr(code),
        _addr(lic),
        1,
        len(log),
        _addr(log),
    )
    struct.pack_into("=16s", attr, 48, name.encode()[:15])  # prog_name@48
    struct.pack_into("=I", attr, 68, expected_attach_type)  # expected_attach_type@68
    try:
        return bpf(PROG_LOAD, attr)
    except BpfError as exc:
        text = log.value.decode(errors="replace").strip()
        if text:
            raise BpfError(exc.errno or errno_mod.EINVAL, PROG_LOAD, text) from None
        raise


def prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0) -> None:
    attr = _buf()
    struct.pack_into("=IIII", attr, 0, target_fd, prog_fd, attach_type, flags)
    bpf(PROG_ATTACH, attr)


def link_create(prog_fd: int, target: int, attach_type: int, flags: int = 0) -> int:
    """BPF_LINK_CREATE (target: a cgroup fd, or an ifindex of this thread's netns)."""
    attr = _buf()
    struct.pack_into("=IIII", attr, 0, prog_fd, target, attach_type, flags)
    return bpf(LINK_CREATE, attr)
