"""Real BPF leftovers in a test namespace (root): Cilium's and decoys on the same devices.

    from bpf_helpers import bpf_node_fixture, lay_leftovers  # noqa: F401 (the bpf_node fixture)

    def test_x(bpf_node):
        node = bpf_node()                 # netns + devices + private bpffs + child cgroup
        layout = lay_leftovers(node.sb)   # what Cilium leaves after a stop, plus decoys

The programs are two instructions loaded with bpf(2) (ciliumtui.sim.bpf_loader);
the bpffs is mounted under the test's host root, the cgroup is a fresh child of
this machine's cgroup2 root bound at <host-root>/run/cilium/cgroupv2. The fixture
removes the namespaces, mounts and cgroup even when the test fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ciliumtui.sim.bpf_loader import BpfSandbox

DEVICES = ["eth0", "eth1", "eth2", "cilium_host", "lxc0123456789ab"]
LXC = "lxc0123456789ab"


@dataclass
class BpfNode:
    netns: str
    host_root: Path
    sb: BpfSandbox


@dataclass
class Layout:
    # (hook, target, kernel program name, via) of what is Cilium's / a decoy
    cilium: set[tuple[str, str, str, str]] = field(default_factory=set)
    decoys: set[tuple[str, str, str, str]] = field(default_factory=set)
    cilium_pins: set[str] = field(default_factory=set)  # node paths
    decoy_pins: set[str] = field(default_factory=set)


def add_devices(netns: str, names: list[str]) -> None:
    """veth pairs (peers p0, p1, …) in `netns`, up."""
    batch = []
    for i, name in enumerate(names):
        batch += [f"link add {name} type veth peer name p{i}", f"link set {name} up"]
    subprocess.run(
        ["ip", "-n", netns, "-batch", "-"], input="\n".join(batch) + "\n", text=True, check=True
    )


def lay_leftovers(sb: BpfSandbox) -> Layout:
    """Cilium's footprint after its agent stopped, with decoys beside it.

    eth0: Cilium's legacy tc filters (ingress + egress) and, at the SAME pref, a
    user's tc filter; a user's XDP program. eth1: Cilium's XDP through netlink.
    eth2: Cilium's XDP through a bpf_link pinned under cilium/devices/eth2/links.
    cilium_host: Cilium's tcx (pinned link) and a user's tcx link (held by an fd).
    lxc…: a Cilium tcx link nothing pins (another process holds it). Cgroup root:
    socket-LB connect4 (PROG_ATTACH) and connect6 (pinned link), a user's
    sendmsg4. Pins: cilium_* maps in tc/globals and a user's map there.
    """
    lay = Layout()
    sb.tc("eth0", "ingress", "cil_from_netdev", pref=1, handle=1)
    sb.tc("eth0", "ingress", "my_filter", pref=1, handle=2)
    sb.tc("eth0", "egress", "cil_to_netdev", pref=1, handle=1)
    sb.xdp("eth0", "my_xdp")
    sb.xdp("eth1", "cil_xdp_entry")
    sb.xdp_link("eth2", "cil_xdp_entry")
    sb.tcx("cilium_host", "ingress", "cil_to_host")
    sb.tcx("cilium_host", "egress", "my_tcx", pin=None)
    sb.tcx(LXC, "ingress", "cil_from_contai", pin=None)
    sb.cgroup_prog("connect4", "cil_sock4_connect")
    sb.cgroup_prog("connect6", "cil_sock6_connect", link=True)
    sb.cgroup_prog("sendmsg4", "my_sendmsg4", multi=True)
    for name in ("cilium_ct4_global", "cilium_lb4_services_v2", "cilium_calls_hostns"):
        sb.cilium_map(name)
    sb.map_pin("/sys/fs/bpf/tc/globals/my_map")
    lay.cilium = {
        ("tc-ingress", "eth0", "cil_from_netdev", "tc"),
        ("tc-egress", "eth0", "cil_to_netdev", "tc"),
        ("xdp", "eth1", "cil_xdp_entry", "xdp"),
        ("xdp", "eth2", "cil_xdp_entry", "bpf_link"),
        ("tcx-ingress", "cilium_host", "cil_to_host", "bpf_link"),
        ("tcx-ingress", LXC, "cil_from_contai", "bpf_link"),
        ("cgroup:connect4", "/run/cilium/cgroupv2", "cil_sock4_conne", "cgroup"),
        ("cgroup:connect6", "/run/cilium/cgroupv2", "cil_sock6_conne", "bpf_link"),
    }
    lay.decoys = {
        ("tc-ingress", "eth0", "my_filter", "tc"),
        ("xdp", "eth0", "my_xdp", "xdp"),
        ("tcx-egress", "cilium_host", "my_tcx", "bpf_link"),
        ("cgroup:sendmsg4", "/run/cilium/cgroupv2", "my_sendmsg4", "cgroup"),
    }
    links = [
        "/sys/fs/bpf/cilium/devices/eth2/links/cil_xdp_entry",
        "/sys/fs/bpf/cilium/devices/cilium_host/links/cil_to_host",
        "/sys/fs/bpf/cilium/socketlb/links/cgroup/cil_sock6_connect",
    ]
    dirs = {str(Path(p).parent) for p in links} | {
        str(q) for p in links for q in Path(p).parents if str(q).startswith("/sys/fs/bpf/cilium/")
    }
    lay.cilium_pins = (
        set(links)
        | dirs
        | {
            f"/sys/fs/bpf/tc/globals/{n}"
            for n in ("cilium_ct4_global", "cilium_lb4_services_v2", "cilium_calls_hostns")
        }
    )
    lay.decoy_pins = {"/sys/fs/bpf/tc/globals/my_map"}
    return lay


def tc_filters(netns: str, dev: str, direction: str) -> list[dict]:
    """iproute2's own view (tc -j): every filter with its handle and program."""
    out = subprocess.run(
        ["tc", "-n", netns, "-j", "filter", "show", "dev", dev, direction],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [f for f in json.loads(out or "[]") if f.get("options", {}).get("handle")]


def xdp_prog(netns: str, dev: str) -> dict | None:
    """iproute2's view of dev's XDP program ({"id": …, "name": …}) or None."""
    out = subprocess.run(
        ["ip", "-n", netns, "-j", "-d", "link", "show", "dev", dev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    xdp = json.loads(out)[0].get("xdp")
    return xdp.get("prog") if xdp else None


@pytest.fixture(name="bpf_node")
def bpf_node_fixture(make_netns, tmp_path: Path) -> Iterator[Callable[..., BpfNode]]:
    """Factory: a netns with DEVICES, a host root with a private bpffs (and, once a
    cgroup program is laid, a child cgroup). Everything goes afterwards."""
    made: list[BpfSandbox] = []
    public: list[Path] = []

    def make(
        devices: list[str] | None = None, *, name: str = "bpf", world_readable: bool = False
    ) -> BpfNode:
        """world_readable: a host root outside pytest's 0700 tmp dirs (for tests that
        read it as an unprivileged user)."""
        netns = make_netns(name)
        add_devices(netns, DEVICES if devices is None else devices)
        if world_readable:
            root = Path(tempfile.mkdtemp(prefix="ciliumtui-bpf-"))
            root.chmod(0o755)
            public.append(root)
        else:
            root = tmp_path / f"root-{netns}"
            root.mkdir()
        sb = BpfSandbox(root, netns)
        made.append(sb)
        return BpfNode(netns, root, sb)

    try:
        yield make
    finally:
        for sb in made:
            sb.close()
        for root in public:  # unmounted above: only plain directories are left
            shutil.rmtree(root, ignore_errors=True)
