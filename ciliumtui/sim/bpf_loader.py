"""Real BPF objects shaped like Cilium's, with no clang: for scenarios and tests.

Each program is two instructions (`r0 = RET; exit`) loaded with bpf(2) under a
name Cilium's loader uses (`cil_from_netdev`, `cil_xdp_entry`, `cil_sock4_connect`)
or a decoy's (`my_filter`). Attaching goes the ways a node sees them:
`tc filter add … bpf da object-pinned`, `ip link set … xdpgeneric pinned`,
BPF_LINK_CREATE for tcx / XDP / cgroup links (pinned where Cilium >= 1.15 pins
them), BPF_PROG_ATTACH for socket-LB on a cgroup.

Everything lives in a private bpffs mounted under the scenario's host root and a
dedicated child cgroup; `BpfSandbox.close()` removes both (netns attachments die
with the namespace).
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..netns import in_netns
from ..node import bpfsys
from ..node.bpf import CGROUP_ROOT, CILIUM_BPFFS, TC_GLOBALS

_MOV_R0 = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K
_EXIT = 0x95  # BPF_JMP | BPF_EXIT
TC_ACT_OK = 0
TC_ACT_SHOT = 2  # drop
XDP_PASS = 2
SOCK_ALLOW = 1  # cgroup sock_addr: 1 lets the connect/sendmsg through


def two_insns(ret: int) -> bytes:
    """`r0 = ret; exit` as eBPF bytecode."""
    return struct.pack("<BBhi", _MOV_R0, 0, 0, ret) + struct.pack("<BBhi", _EXIT, 0, 0, 0)


def load_tc(name: str, ret: int = TC_ACT_OK) -> int:
    """A sched_cls program (tc and tcx) returning TC_ACT_OK / TCX_PASS (or `ret`)."""
    return bpfsys.prog_load(bpfsys.PROG_TYPE_SCHED_CLS, two_insns(ret), name)


def load_xdp(name: str) -> int:
    return bpfsys.prog_load(bpfsys.PROG_TYPE_XDP, two_insns(XDP_PASS), name)


def load_sock_addr(name: str, attach: str) -> int:
    """A cgroup/sock_addr program for `attach` (connect4, sendmsg6, ...)."""
    return bpfsys.prog_load(
        bpfsys.PROG_TYPE_CGROUP_SOCK_ADDR,
        two_insns(SOCK_ALLOW),
        name,
        expected_attach_type=bpfsys.CGROUP_ATTACH_BY_NAME[attach],
    )


def _run(argv: list[str]) -> None:
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")


def cgroup2_mount() -> Path:
    """Where this machine's cgroup2 hierarchy is mounted (/sys/fs/cgroup or …/unified)."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[2] == "cgroup2":
            return Path(parts[1])
    raise RuntimeError("no cgroup2 mount on this machine")


def remove_cgroup(path: Path) -> bool:
    """rmdir a (process-less) cgroup; True when it is gone."""
    for _ in range(50):  # the kernel frees a cgroup's programs asynchronously
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.02)
    return False


def mounts_under(directory: Path) -> list[Path]:
    """Mount points at or below `directory` (deepest first): what a killed owner left."""
    base = os.path.realpath(directory)
    out = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        # /proc/mounts escapes blanks as octal: \040
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[1])
        if point == base or point.startswith(base + "/"):
            out.append(Path(point))
    return sorted(set(out), key=lambda p: len(p.parts), reverse=True)


def unmount_all(points: list[Path]) -> None:
    for mnt in points:
        subprocess.run(["umount", str(mnt)], capture_output=True)
        if os.path.ismount(mnt):
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@dataclass
class BpfSandbox:
    """A private bpffs at `<host_root>/sys/fs/bpf` and a child cgroup bound at
    `<host_root>/run/cilium/cgroupv2`, plus helpers that lay objects into them."""

    host_root: Path
    netns: str | None
    # the child cgroup's name (default: ciliumtui-sim-<random>); a caller that must reap
    # it after a SIGKILL records the name before the cgroup exists
    cgroup_name: str | None = None
    bpffs: Path = field(init=False)
    cgroup: Path | None = None  # the dedicated child cgroup (created by with_cgroup)
    held: list[int] = field(default_factory=list)  # fds kept open (links no pin holds)
    _mounts: list[Path] = field(default_factory=list)
    _scratch: Path = field(init=False)

    def __post_init__(self) -> None:
        self.bpffs = self.host_root / "sys/fs/bpf"
        self.bpffs.mkdir(parents=True, exist_ok=True)
        _run(["mount", "-t", "bpf", "bpf", str(self.bpffs)])
        self._mounts.append(self.bpffs)
        self._scratch = self.bpffs / "ciliumtui-sim"  # not Cilium's, never probed
        self._scratch.mkdir()

    # ---------------------------------------------------------------- places

    def node_path(self, node_path: str) -> Path:
        return self.host_root / node_path.lstrip("/")

    def with_cgroup(self) -> Path:
        """A fresh child of this machine's cgroup2 root, bound at run/cilium/cgroupv2."""
        if self.cgroup is None:
            child = cgroup2_mount() / (self.cgroup_name or f"ciliumtui-sim-{uuid.uuid4().hex[:10]}")
            child.mkdir()
            self.cgroup = child
            where = self.node_path(CGROUP_ROOT)
            where.mkdir(parents=True, exist_ok=True)
            _run(["mount", "--bind", str(child), str(where)])
            self._mounts.append(where)
        return self.node_path(CGROUP_ROOT)

    def _pin_scratch(self, fd: int, name: str, as_name: str | None = None) -> Path:
        # a neutral name: tc calls the filter after it ("p-1a2b3c:[*fsobj]"), and tests must
        # see Cilium's programs by their kernel names, not by this path (`as_name`: a
        # scenario's filter named like Cilium's loader names it, "cil_from_netdev-eth0")
        path = self._scratch / (as_name or f"p-{uuid.uuid4().hex[:6]}")
        if path.exists():
            path = self._scratch / f"{as_name}-{uuid.uuid4().hex[:6]}"
        bpfsys.obj_pin(fd, str(path))
        return path

    def pin(self, fd: int, node_path: str) -> Path:
        """Pin fd at a node path (`/sys/fs/bpf/...`) of the sandbox."""
        path = self.node_path(node_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        bpfsys.obj_pin(fd, str(path))
        return path

    def _ifindex(self, dev: str) -> int:
        import socket

        return in_netns(self.netns, lambda: socket.if_nametoindex(dev))

    # --------------------------------------------------------------- attach

    def tc(
        self,
        dev: str,
        direction: str,
        name: str,
        *,
        pref: int = 1,
        handle: int = 1,
        chain: int = 0,
        ret: int = TC_ACT_OK,
        filter_name: str | None = None,
    ) -> None:
        """A cls_bpf filter on dev's clsact (added when missing), as Cilium's legacy tc;
        ret=TC_ACT_SHOT makes it drop everything (what a dead agent's program does once
        the device it redirects to is gone)."""
        fd = load_tc(name, ret)
        try:
            path = self._pin_scratch(fd, name, filter_name)
            tc = ["tc", "-n", self.netns] if self.netns else ["tc"]
            subprocess.run([*tc, "qdisc", "add", "dev", dev, "clsact"], capture_output=True)
            _run(
                [*tc, "filter", "add", "dev", dev, direction]
                + (["chain", str(chain)] if chain else [])
                + ["pref", str(pref)]
                + ["handle", str(handle), "bpf", "da", "object-pinned", str(path)]
            )
            path.unlink()  # the filter holds the program now, as on a node
        finally:
            os.close(fd)

    def xdp(self, dev: str, name: str, *, mode: str = "xdpgeneric") -> None:
        """XDP attached through netlink (`ip link set dev X xdpgeneric pinned P`)."""
        fd = load_xdp(name)
        try:
            path = self._pin_scratch(fd, name)
            ip = ["ip", "-n", self.netns] if self.netns else ["ip"]
            _run([*ip, "link", "set", "dev", dev, mode, "pinned", str(path)])
            path.unlink()
        finally:
            os.close(fd)

    def _link(self, prog_fd: int, target: int, attach: int, flags: int, pin: str | None) -> int:
        link = in_netns(self.netns, lambda: bpfsys.link_create(prog_fd, target, attach, flags))
        if pin is None:
            self.held.append(link)  # nothing pins it: only our fd keeps it attached
            return link
        self.pin(link, pin)
        os.close(link)
        return -1

    def tcx(self, dev: str, direction: str, name: str, *, pin: str | None = "cilium") -> int:
        """A tcx link on dev; pinned at cilium/devices/<dev>/links/<name> (pin="cilium"),
        at another node path, or (pin=None) held only by the returned fd."""
        attach = bpfsys.ATTACH_TCX_INGRESS if direction == "ingress" else bpfsys.ATTACH_TCX_EGRESS
        fd = load_tc(name)
        try:
            where = f"{CILIUM_BPFFS}/devices/{dev}/links/{name}" if pin == "cilium" else pin
            return self._link(fd, self._ifindex(dev), attach, 0, where)
        finally:
            os.close(fd)

    def tcx_attach(self, dev: str, direction: str, name: str) -> None:
        """A tcx program attached with BPF_PROG_ATTACH (no link): the device holds it."""
        attach = bpfsys.ATTACH_TCX_INGRESS if direction == "ingress" else bpfsys.ATTACH_TCX_EGRESS
        fd = load_tc(name)
        try:
            ifindex = self._ifindex(dev)
            in_netns(self.netns, lambda: bpfsys.prog_attach(ifindex, fd, attach))
        finally:
            os.close(fd)

    def xdp_link(self, dev: str, name: str, *, pin: str | None = "cilium") -> int:
        fd = load_xdp(name)
        try:
            where = f"{CILIUM_BPFFS}/devices/{dev}/links/{name}" if pin == "cilium" else pin
            flags = bpfsys.XDP_FLAGS_SKB_MODE
            return self._link(fd, self._ifindex(dev), bpfsys.ATTACH_XDP, flags, where)
        finally:
            os.close(fd)

    def cgroup_prog(
        self, attach: str, name: str, *, link: bool = False, multi: bool = False
    ) -> None:
        """A socket-LB program on the sandbox's cgroup root: BPF_PROG_ATTACH (as Cilium
        < 1.14 and on kernels without bpf_link), or a link pinned where Cilium pins it."""
        root = self.with_cgroup()
        fd = load_sock_addr(name, attach)
        cg = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            at = bpfsys.CGROUP_ATTACH_BY_NAME[attach]
            if link:
                pin = f"{CILIUM_BPFFS}/socketlb/links/cgroup/{name}"
                lk = bpfsys.link_create(fd, cg, at)
                self.pin(lk, pin)
                os.close(lk)
            else:
                bpfsys.prog_attach(cg, fd, at, bpfsys.BPF_F_ALLOW_MULTI if multi else 0)
        finally:
            os.close(cg)
            os.close(fd)

    def map_pin(self, node_path: str, name: str | None = None) -> Path:
        """A small hash map pinned at node_path (`/sys/fs/bpf/tc/globals/cilium_ct4_global`)."""
        fd = bpfsys.map_create(bpfsys.BPF_MAP_TYPE_HASH, 4, 4, 16, name or Path(node_path).name)
        try:
            return self.pin(fd, node_path)
        finally:
            os.close(fd)

    def cilium_map(self, name: str) -> Path:
        return self.map_pin(f"{TC_GLOBALS}/{name}")

    # ---------------------------------------------------------------- close

    def close(self) -> None:
        """Unmount and remove everything the sandbox made (safe to call twice)."""
        for fd in self.held:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.held.clear()
        unmount_all(list(reversed(self._mounts)))
        self._mounts.clear()
        if self.cgroup is not None:
            remove_cgroup(self.cgroup)
            self.cgroup = None

    def __enter__(self) -> BpfSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------- a scenario's footprint


def tc_filter_name(prog: str, dev: str) -> str:
    """The pin a scenario's tc filter is loaded from: tc names the filter after it
    (`cil_from_netdev-eth0:[*fsobj]`, next to the `cil_from_netdev-eth0` Cilium's Go
    loader gives its filters)."""
    return f"{prog}-{dev}"


def lay_bpf(sb: BpfSandbox, spec: dict[str, object]) -> None:
    """Lay a scenario's `network.bpf` (assets/scenarios/README.md) into the sandbox:
    tc filters, tcx and XDP links pinned where Cilium pins them, socket-LB programs
    on the cgroup root, `cilium_*` maps in tc/globals. The node's recorded twin is
    ciliumtui.training.recorded.bpf_state(spec)."""

    def items(key: str) -> list[dict[str, object]]:
        value = spec.get(key) or []
        return [dict(x) for x in value] if isinstance(value, list) else []

    for i, t in enumerate(items("tc")):
        ret = TC_ACT_SHOT if t.get("drop") else TC_ACT_OK
        d = str(t.get("direction", "ingress"))
        name, dev = str(t.get("name", "cil_from_netdev")), str(t["dev"])
        sb.tc(dev, d, name, handle=1 + i, ret=ret, filter_name=tc_filter_name(name, dev))
    for t in items("tcx"):
        sb.tcx(str(t["dev"]), str(t.get("direction", "ingress")), str(t.get("name")))
    for x in items("xdp"):
        name = str(x.get("name", "cil_xdp_entry"))
        if x.get("link", True):
            sb.xdp_link(str(x["dev"]), name)
        else:
            sb.xdp(str(x["dev"]), name)
    for c in items("socket_lb"):
        attach = str(c.get("attach", "connect4"))
        sb.cgroup_prog(attach, str(c.get("name", "cil_sock4_connect")), link=bool(c.get("link")))
    maps = spec.get("maps") or []
    for m in maps if isinstance(maps, list) else []:
        sb.cilium_map(str(m))
