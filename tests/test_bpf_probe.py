"""The BPF footprint probe on real programs (root): each kind found, decoys marked, limits as lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bpf_helpers import LXC, bpf_node_fixture, lay_leftovers, tc_filters, xdp_prog  # noqa: F401

from ciliumtui.model import BpfAttachment, BpfProgram, BpfState, NodeState, Snapshot
from ciliumtui.node.bpf import probe_bpf, read_bpf
from ciliumtui.ownership import is_cilium_bpf_pin, is_cilium_bpf_program
from ciliumtui.snapshot_text import render_text


def _key(a: BpfAttachment) -> tuple[str, str, str, str]:
    return (a.hook, a.target, a.program.name, a.via)


def test_ownership_names_and_pins():
    for name in ("cil_from_netdev", "cil_sock4_conne", "bpf_netdev.o:[from-netdev]", "bpf_lxc"):
        assert is_cilium_bpf_program(name), name
    for name in ("my_filter", "", None, "xcil_x", "cilium_like"):
        assert not is_cilium_bpf_program(name), name
    assert is_cilium_bpf_pin("/sys/fs/bpf/cilium/devices/eth0/links/cil_xdp_entry")
    assert is_cilium_bpf_pin("/sys/fs/bpf/tc/globals/cilium_ct4_global")
    for path in (
        "/sys/fs/bpf/tc/globals/my_map",
        "/sys/fs/bpf/tc/globals/sub/cilium_x",  # only the flat tc/globals names
        "/sys/fs/bpf/ciliumx/a",
        "/sys/fs/bpf/cilium",  # the directory itself stays (the agent recreates it)
        "/sys/fs/bpf/cilium/../my_map",
        "/sys/fs/bpf/my_prog",
    ):
        assert not is_cilium_bpf_pin(path), path


@pytest.mark.root
async def test_probe_finds_every_kind_with_ids_and_names(bpf_node):
    node = bpf_node()
    lay = lay_leftovers(node.sb)
    state = await probe_bpf(node.netns, node.host_root)
    assert state.errors == []
    found = {_key(a): a for a in state.attachments}
    assert {k for k, a in found.items() if a.cilium} == lay.cilium
    assert {k for k, a in found.items() if not a.cilium} == lay.decoys

    # Ids and names agree with iproute2's own view of the same objects.
    for direction in ("ingress", "egress"):
        for f in tc_filters(node.netns, "eth0", direction):
            prog = f["options"]["prog"]
            ours = [
                a
                for a in state.attachments
                if a.hook == f"tc-{direction}" and a.target == "eth0" and a.program.id == prog["id"]
            ]
            assert len(ours) == 1, f
            assert ours[0].program.name == prog["name"]
            assert ours[0].detail.startswith(f"pref {f['pref']} handle {f['options']['handle']} ")
    for dev in ("eth0", "eth1", "eth2"):
        xdp = [a for a in state.attachments if a.hook == "xdp" and a.target == dev]
        assert [a.program.id for a in xdp] == [xdp_prog(node.netns, dev)["id"]]
        assert xdp[0].detail.startswith("generic")
        assert xdp[0].program.type == "xdp"

    by = {(a.hook, a.target): a for a in state.attachments}
    eth2 = by[("xdp", "eth2")]
    assert eth2.link_pin == "/sys/fs/bpf/cilium/devices/eth2/links/cil_xdp_entry"
    host = by[("tcx-ingress", "cilium_host")]
    assert host.link_pin == "/sys/fs/bpf/cilium/devices/cilium_host/links/cil_to_host"
    assert host.program.type == "sched_cls" and len(host.program.tag or "") == 16
    lxc = by[("tcx-ingress", LXC)]
    assert lxc.link_pin is None and lxc.detail and lxc.detail.startswith("link ")
    sock6 = by[("cgroup:connect6", "/run/cilium/cgroupv2")]
    assert sock6.link_pin == "/sys/fs/bpf/cilium/socketlb/links/cgroup/cil_sock6_connect"
    assert by[("cgroup:connect4", "/run/cilium/cgroupv2")].program.type == "cgroup_sock_addr"
    assert len({a.program.id for a in state.attachments}) == len(state.attachments)

    pins = {p.path: p for p in state.pins}
    assert {p for p, v in pins.items() if v.cilium} == lay.cilium_pins
    assert {p for p, v in pins.items() if not v.cilium} == lay.decoy_pins
    assert pins["/sys/fs/bpf/tc/globals/cilium_ct4_global"].kind == "map"
    assert pins["/sys/fs/bpf/cilium/devices/eth2/links/cil_xdp_entry"].kind == "link"
    assert pins["/sys/fs/bpf/cilium/devices"].kind == "dir"
    # The loader's own scratch pins (outside tc/globals and cilium/) are not listed.
    assert not [p for p in pins if "ciliumtui-sim" in p]


@pytest.mark.root
async def test_probe_silent_on_a_healthy_node(bpf_node):
    """Devices with a clsact qdisc but nothing attached, an empty bpffs and cgroup root."""
    node = bpf_node()
    for dev in ("eth0", "cilium_host"):
        subprocess.run(["tc", "-n", node.netns, "qdisc", "add", "dev", dev, "clsact"], check=True)
    node.sb.with_cgroup()
    (node.host_root / "sys/fs/bpf/tc/globals").mkdir(parents=True)
    assert await probe_bpf(node.netns, node.host_root) == BpfState()


@pytest.mark.root
async def test_probe_silent_without_bpffs_or_cgroup(make_netns, tmp_path):
    """After a reboot: no bpffs content, no /run/cilium: nothing, and no error either."""
    ns = make_netns("bpf")
    assert await probe_bpf(ns, tmp_path) == BpfState()


@pytest.mark.root
async def test_decoys_alone_are_not_ciliums(bpf_node):
    node = bpf_node()
    node.sb.tc("eth0", "ingress", "my_filter")
    node.sb.xdp("eth1", "xdp_dispatcher")
    node.sb.cgroup_prog("connect4", "my_connect4")
    node.sb.map_pin("/sys/fs/bpf/tc/globals/my_map")
    state = await probe_bpf(node.netns, node.host_root)
    assert len(state.attachments) == 3 and len(state.pins) == 1
    assert not [a for a in state.attachments if a.cilium]
    assert not [p for p in state.pins if p.cilium]


@pytest.mark.root
def test_without_privileges_each_limit_is_one_line(bpf_node):
    """No CAP_BPF / CAP_NET_ADMIN: tcx, the cgroup root and the pins each give one line in
    errors (no exception), and what needs no privilege (the pin names) is still listed."""
    node = bpf_node(["eth0"], world_readable=True)
    node.sb.cgroup_prog("connect4", "cil_sock4_connect")
    node.sb.cilium_map("cilium_ct4_global")
    for d in (node.sb.bpffs, node.sb.bpffs / "tc", node.sb.bpffs / "tc/globals"):
        os.chmod(d, 0o755)  # so the pin names can be listed; the map itself stays 0600
    code = (
        "import json, sys, dataclasses\n"
        "from pathlib import Path\n"
        "from ciliumtui.node.bpf import read_bpf\n"
        # an unprivileged process cannot enter a netns: it reads its own
        "print(json.dumps(dataclasses.asdict(read_bpf(None, Path(sys.argv[1])))))\n"
    )
    res = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
        + [sys.executable, "-c", code, str(node.host_root)],
        capture_output=True,
        text=True,
        cwd="/",
        env={**os.environ, "HOME": "/"},
    )
    assert res.returncode == 0, res.stderr
    state = json.loads(res.stdout)
    errors = state["errors"]
    assert all("\n" not in e and "not permitted" in e for e in errors), errors
    assert sorted(e.split(":", 1)[0] for e in errors) == [
        "cgroup /run/cilium/cgroupv2",
        "pins",
        "tcx",
    ]
    assert [p["path"] for p in state["pins"]] == ["/sys/fs/bpf/tc/globals/cilium_ct4_global"]


@pytest.mark.root
async def test_probe_reads_a_few_hundred_devices_quickly(bpf_node):
    """Every lxc device has clsact + two Cilium filters (the shape of a busy node)."""
    n = 200
    names = [f"lxc{i:012x}" for i in range(n)]
    node = bpf_node(names)
    batch = []
    fd_path = node.host_root / "sys/fs/bpf/p-shared"
    from ciliumtui.node import bpfsys
    from ciliumtui.sim.bpf_loader import load_tc

    fd = load_tc("cil_from_contai")
    bpfsys.obj_pin(fd, str(fd_path))
    os.close(fd)
    for name in names:
        batch.append(f"qdisc add dev {name} clsact")
        for d in ("ingress", "egress"):
            batch.append(
                f"filter add dev {name} {d} pref 1 handle 1 bpf da object-pinned {fd_path}"
            )
    subprocess.run(
        ["tc", "-n", node.netns, "-batch", "-"],
        input="\n".join(batch) + "\n",
        text=True,
        check=True,
    )
    import time

    await probe_bpf(node.netns, node.host_root)  # imports pyroute2 once
    start = time.perf_counter()
    state = await probe_bpf(node.netns, node.host_root)
    ms = (time.perf_counter() - start) * 1000
    assert len([a for a in state.attachments if a.cilium and a.via == "tc"]) == 2 * n
    # Measured 0.27-0.33 s for 300 lxc devices (601 links, 600 filters, 150 tcx links,
    # 551 pins) on 2 shared cores; pyroute2's decoding took 4.4-5.9 s for the same.
    # The bound leaves room for a loaded CI machine and stays far under the node
    # probes' 20 s timeout, which is what a user would hit.
    assert ms < 5000, ms


def test_snapshot_text_shows_programs_per_device():
    bpf = BpfState(
        attachments=[
            BpfAttachment(
                "tc-ingress",
                "eth0",
                BpfProgram(42, "cil_from_netdev"),
                "tc",
                "pref 1 handle 0x1",
                cilium=True,
            ),
            BpfAttachment("xdp", "eth0", BpfProgram(43, "my_xdp"), "xdp", "generic"),
            BpfAttachment(
                "tcx-ingress",
                "cilium_host",
                BpfProgram(44, "cil_to_host"),
                "bpf_link",
                "link 7",
                link_pin="/sys/fs/bpf/cilium/devices/cilium_host/links/cil_to_host",
                cilium=True,
            ),
        ],  # fmt: skip
        errors=["tcx: BPF_PROG_QUERY not permitted (needs root: CAP_BPF + CAP_NET_ADMIN)"],
    )
    snap = Snapshot("n1", "2025-01-01T00:00:00Z", node=NodeState(bpf=bpf))
    text = render_text(snap)
    assert "BPF (3 attached, 2 Cilium's; 0 pins, 0 Cilium's)" in text
    lines = text.splitlines()
    (eth0,) = [x for x in lines if "cil_from_netdev" in x]
    assert eth0.startswith(" * eth0") and "id 42" in eth0 and "pref 1 handle 0x1" in eth0
    (decoy,) = [x for x in lines if "my_xdp" in x]
    assert decoy.startswith("   eth0")
    assert any("cil_to_host" in x and "pinned /sys/fs/bpf/cilium/devices" in x for x in lines)
    assert "could not read: tcx: BPF_PROG_QUERY not permitted" in text


@pytest.mark.root
def test_snapshot_command_shows_the_footprint(bpf_node):
    node = bpf_node()
    lay_leftovers(node.sb)
    cmd = [sys.executable, "-m", "ciliumtui", "snapshot", "--netns", node.netns]
    cmd += ["--host-root", str(node.host_root), "--no-cluster"]
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    assert any(x.startswith(" * eth1 ") and "cil_xdp_entry" in x for x in text.splitlines()), text
    assert any(x.startswith("   eth0 ") and "my_filter" in x for x in text.splitlines()), text
    data = json.loads(
        subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=120).stdout
    )
    bpf = data["node"]["bpf"]
    assert {a["program"]["name"] for a in bpf["attachments"] if a["cilium"]} >= {
        "cil_from_netdev",
        "cil_xdp_entry",
        "cil_sock4_conne",
    }
    assert data["probes"]["bpf"]["ok"] is True
    assert read_bpf(node.netns, Path(node.host_root)).attachments  # nothing was changed
