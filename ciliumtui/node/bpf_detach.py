"""The bpf(2) detaches no shell command does exactly (the kernel backend's side).

bpftool's `net detach` takes whichever tcx program is last on a hook, and a node
rarely has bpftool at all: these detach exactly the program (BPF_PROG_DETACH) or
the link (BPF_LINK_DETACH) that bpf.cleanup planned, by id. Blocking: run them in a
worker thread.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from ..netns import in_netns
from . import bpfsys

TCX_ATTACH = {"tcx-ingress": bpfsys.ATTACH_TCX_INGRESS, "tcx-egress": bpfsys.ATTACH_TCX_EGRESS}


def detach_program(
    netns: str | None, host_root: Path, hook: str, target: str, prog_id: int
) -> None:
    """BPF_PROG_DETACH of program `prog_id` from `hook` of `target`: a tcx hook of device
    `target` in `netns` (an ifindex is per namespace), or `cgroup:<attach type>` of the
    cgroup at node path `target` under `host_root`. BpfError/OSError as the kernel says."""
    if hook in TCX_ATTACH:

        def tcx() -> None:
            ifindex = socket.if_nametoindex(target)
            fd = bpfsys.prog_fd_by_id(prog_id)
            try:
                bpfsys.prog_detach(ifindex, fd, TCX_ATTACH[hook])
            finally:
                os.close(fd)

        in_netns(netns, tcx)
        return
    kind = hook.split(":", 1)[1] if hook.startswith("cgroup:") else ""
    if kind not in bpfsys.CGROUP_ATTACH_BY_NAME:
        raise ValueError(f"no bpf(2) detach for hook {hook!r}")
    cg = os.open(host_root / target.lstrip("/"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = bpfsys.prog_fd_by_id(prog_id)
        try:
            bpfsys.prog_detach(cg, fd, bpfsys.CGROUP_ATTACH_BY_NAME[kind])
        finally:
            os.close(fd)
    finally:
        os.close(cg)


def detach_link(link_id: int) -> bool:
    """BPF_LINK_DETACH of link `link_id`; False when there is no such link (gone already)."""
    try:
        fd = bpfsys.link_fd_by_id(link_id)
    except bpfsys.BpfError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    try:
        bpfsys.link_detach(fd)
    finally:
        os.close(fd)
    return True
