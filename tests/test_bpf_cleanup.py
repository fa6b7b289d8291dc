"""bpf.cleanup on real programs: exactly Cilium's objects go, decoys on the same devices stay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bpf_helpers import LXC, bpf_node_fixture, lay_leftovers, tc_filters, xdp_prog  # noqa: F401

from ciliumtui.engine.actions.base import ActionContext
from ciliumtui.engine.actions.bpf import BpfCleanup, machine_wide, plan_ops, scoped
from ciliumtui.engine.loader import load_playbook, resolve_inputs
from ciliumtui.engine.runner import Runner
from ciliumtui.errors import CiliumtuiError
from ciliumtui.model import BpfAttachment, BpfPin, BpfProgram, BpfState
from ciliumtui.node import bpfsys
from ciliumtui.node.backend import KernelBackend
from ciliumtui.node.bpf import read_bpf
from ciliumtui.options import Options

CG = "/run/cilium/cgroupv2"


def _att(hook, target, name, via, detail=None, pin=None, cilium=None, pid=1):
    own = name.startswith("cil_") if cilium is None else cilium
    return BpfAttachment(hook, target, BpfProgram(pid, name), via, detail, pin, own)


def _state() -> BpfState:
    return BpfState(
        attachments=[
            _att("tc-ingress", "eth0", "cil_from_netdev", "tc", "pref 1 handle 0x1 x", pid=10),
            _att("tc-ingress", "eth0", "my_filter", "tc", "pref 1 handle 0x2 y", pid=11),
            _att("tc-egress", "eth0", "cil_to_netdev", "tc", "pref 1 handle 0x1 chain 2", pid=12),
            _att("xdp", "eth0", "my_xdp", "xdp", "generic", pid=13),
            _att("xdp", "eth1", "cil_xdp_entry", "xdp", "native", pid=14),
            _att(
                "xdp",
                "eth2",
                "cil_xdp_entry",
                "bpf_link",
                "generic link 7",
                "/sys/fs/bpf/cilium/devices/eth2/links/cil_xdp_entry",
                pid=15,
            ),
            _att("tcx-ingress", LXC, "cil_from_contai", "bpf_link", "link 8", pid=16),
            _att("tcx-egress", "eth0", "cil_to_netdev", "tcx", pid=17),
            _att("tcx-egress", "eth1", "my_tcx", "bpf_link", "link 9", pid=18),
            _att("cgroup:connect4", CG, "cil_sock4_conne", "cgroup", pid=19),
            _att("cgroup:sendmsg4", CG, "my_sendmsg4", "cgroup", pid=20),
        ],  # fmt: skip
        pins=[
            BpfPin("/sys/fs/bpf/cilium/devices", "dir", True),
            BpfPin("/sys/fs/bpf/cilium/devices/eth2", "dir", True),
            BpfPin("/sys/fs/bpf/cilium/devices/eth2/links", "dir", True),
            BpfPin("/sys/fs/bpf/cilium/devices/eth2/links/cil_xdp_entry", "link", True),
            BpfPin("/sys/fs/bpf/tc/globals/cilium_ct4_global", "map", True),
            BpfPin("/sys/fs/bpf/tc/globals/my_map", "map", False),
            # marked Cilium's by mistake: the action asks ownership.py again and refuses
            BpfPin("/sys/fs/bpf/tc/globals/other_map", "map", True),
        ],
    )


def _kernel(netns: str | None, host_root: str) -> KernelBackend:
    """The plan's lines are the kernel backend's commands (its argv and host paths)."""
    return KernelBackend(Options(netns=netns, host_root=host_root))


def test_plan_is_exact_ordered_and_never_names_a_decoy():
    root = _kernel("ns1", "/hostroot")
    lines = [op.line for op in plan_ops(_state(), root)]
    assert lines == [
        "tc -n ns1 filter del dev eth0 ingress pref 1 handle 0x1 bpf  # cil_from_netdev (id 10)",
        "tc -n ns1 filter del dev eth0 egress chain 2 pref 1 handle 0x1 bpf  # cil_to_netdev (id 12)",
        "ip -n ns1 link set dev eth1 xdpdrv off  # cil_xdp_entry (id 14)",
        "# bpf(2) BPF_PROG_DETACH cil_to_netdev (id 17) from tcx-egress eth0 in netns ns1"
        " (that program only)",
        "bpftool cgroup detach /hostroot/run/cilium/cgroupv2 connect4 id 19  # via bpf(2)"
        " BPF_PROG_DETACH: cil_sock4_conne (id 19)",
        "bpftool link detach id 8  # via bpf(2) BPF_LINK_DETACH: tcx-ingress lxc0123456789ab:"
        " cil_from_contai (id 16)",
        "rm /hostroot/sys/fs/bpf/cilium/devices/eth2/links/cil_xdp_entry  # detaches xdp eth2:"
        " cil_xdp_entry (id 15)",
        "rm /hostroot/sys/fs/bpf/tc/globals/cilium_ct4_global",
        "rmdir /hostroot/sys/fs/bpf/cilium/devices/eth2/links",
        "rmdir /hostroot/sys/fs/bpf/cilium/devices/eth2",
        "rmdir /hostroot/sys/fs/bpf/cilium/devices",
    ]
    text = "\n".join(lines)
    for decoy in ("my_filter", "my_xdp", "my_tcx", "my_sendmsg4", "my_map", "other_map"):
        assert decoy not in text
    assert "handle 0x2" not in text and "eth0 xdp" not in text and "link 9" not in text
    # Without a namespace the commands carry no -n.
    assert plan_ops(_state(), _kernel(None, "/"))[0].line.startswith(
        "tc filter del dev eth0 ingress"
    )
    assert plan_ops(BpfState(), root) == []


def test_a_netns_on_this_machine_leaves_the_machines_pins_and_cgroup_alone():
    assert machine_wide(None, Path("/")) and machine_wide("ns1", Path("/hostroot"))
    assert not machine_wide("ns1", Path("/"))
    state, set_aside = scoped(_state(), wide=False)
    assert set_aside == 1 + 6  # the Cilium cgroup program and the six Cilium-marked pins
    lines = [op.line for op in plan_ops(state, _kernel("ns1", "/"))]
    assert not [x for x in lines if x.startswith(("rm", "bpftool cgroup"))]
    # the link whose pin is set aside is detached by its id instead
    assert any(x.startswith("bpftool link detach id 7 ") for x in lines)


def _ctx(node, tmp_path: Path, netns: str | None = None) -> ActionContext:
    opts = Options(netns=node.netns if netns is None else netns, host_root=str(node.host_root))
    return ActionContext(opts=opts, params={}, step_id="cleanup-bpf", run_dir=tmp_path / "run")


def _one_step(tmp_path: Path) -> Path:
    pb = tmp_path / "bpf-only.yaml"
    pb.write_text(
        "id: bpf-only\nsteps:\n  - id: cleanup-bpf\n    action: bpf.cleanup\n"
        "    risk: destructive\n"
    )
    return pb


async def _run(node, playbook: str, **kw):
    opts = Options(netns=node.netns, host_root=str(node.host_root), node="k3s-node1")
    pb = load_playbook(playbook)
    events: list = []
    runner = Runner(pb, opts, resolve_inputs(pb, {}, "k3s-node1"), on_event=events.append, **kw)
    return await runner.run(), events


def _view(node) -> dict:
    """iproute2's and the filesystem's view, independent of the probe."""
    return {
        "tc": {(dev, d): tc_filters(node.netns, dev, d) for dev in ("eth0", "eth1") for d in ("ingress", "egress")},
        "xdp": {dev: xdp_prog(node.netns, dev) for dev in ("eth0", "eth1", "eth2")},
        "files": sorted(str(p.relative_to(node.host_root)) for p in node.sb.bpffs.rglob("*")),
    }  # fmt: skip


@pytest.mark.root
async def test_cleanup_removes_exactly_ciliums_objects(bpf_node, tmp_path, monkeypatch):
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    node = bpf_node()
    lay = lay_leftovers(node.sb)
    node.sb.tc("eth1", "egress", "cil_to_netdev", chain=2)
    before = read_bpf(node.netns, node.host_root)
    decoys = {(a.hook, a.target, a.program.id) for a in before.attachments if not a.cilium}
    assert len(decoys) == len(lay.decoys) == 4

    result, _ = await _run(node, str(_one_step(tmp_path)), assume_yes=True)
    assert result.status == "ok", result

    after = read_bpf(node.netns, node.host_root)
    assert after.errors == []
    assert not [a for a in after.attachments if a.cilium]
    assert not [p for p in after.pins if p.cilium]
    # Every decoy is still attached, the very same program (same id).
    assert {(a.hook, a.target, a.program.id) for a in after.attachments} == decoys
    assert {p.path for p in after.pins} == lay.decoy_pins
    # ... and iproute2 agrees: the user's filter at Cilium's pref on eth0, the user's XDP.
    (user,) = tc_filters(node.netns, "eth0", "ingress")
    assert user["options"]["prog"]["name"] == "my_filter" and user["options"]["handle"] == "0x2"
    assert tc_filters(node.netns, "eth0", "egress") == []
    assert tc_filters(node.netns, "eth1", "egress") == []
    assert xdp_prog(node.netns, "eth0")["name"] == "my_xdp"
    assert xdp_prog(node.netns, "eth1") is None and xdp_prog(node.netns, "eth2") is None
    assert (node.host_root / "sys/fs/bpf/tc/globals/my_map").exists()
    assert not (node.host_root / "sys/fs/bpf/cilium/devices").exists()

    # What was attached is in the backup, written before anything changed.
    backup = Path(result.backups["cleanup-bpf"]) / "bpf-state.json"
    saved = json.loads(backup.read_text())
    assert {(a["hook"], a["target"], a["program"]["id"]) for a in saved["attachments"]} == {
        (a.hook, a.target, a.program.id) for a in before.attachments
    }
    assert {p["path"] for p in saved["pins"]} == {p.path for p in before.pins}

    # A second run has nothing to do.
    assert await BpfCleanup().plan(_ctx(node, tmp_path)) == []


@pytest.mark.root
async def test_the_plan_names_each_program_and_device_and_its_lines_paste(bpf_node, tmp_path):
    node = bpf_node()
    lay_leftovers(node.sb)
    state = read_bpf(node.netns, node.host_root)
    ids = {(a.hook, a.target): a.program.id for a in state.attachments if a.cilium}
    plan = await BpfCleanup().plan(_ctx(node, tmp_path))
    ns, root = node.netns, node.host_root
    expected = [
        f"tc -n {ns} filter del dev eth0 ingress pref 1 handle 0x1 bpf"
        f"  # cil_from_netdev (id {ids[('tc-ingress', 'eth0')]})",
        f"tc -n {ns} filter del dev eth0 egress pref 1 handle 0x1 bpf"
        f"  # cil_to_netdev (id {ids[('tc-egress', 'eth0')]})",
        f"ip -n {ns} link set dev eth1 xdpgeneric off  # cil_xdp_entry (id {ids[('xdp', 'eth1')]})",
        f"rm {root}/sys/fs/bpf/cilium/devices/eth2/links/cil_xdp_entry"
        f"  # detaches xdp eth2: cil_xdp_entry (id {ids[('xdp', 'eth2')]})",
        f"rm {root}/sys/fs/bpf/cilium/devices/cilium_host/links/cil_to_host"
        f"  # detaches tcx-ingress cilium_host: cil_to_host (id {ids[('tcx-ingress', 'cilium_host')]})",
        f"rm {root}/sys/fs/bpf/cilium/socketlb/links/cgroup/cil_sock6_connect"
        f"  # detaches cgroup:connect6 {CG}: cil_sock6_conne (id {ids[('cgroup:connect6', CG)]})",
        f"rm {root}/sys/fs/bpf/tc/globals/cilium_ct4_global",
    ]
    for line in expected:
        assert line in plan, (line, plan)
    (lxc,) = [x for x in plan if LXC in x]
    assert lxc.startswith("bpftool link detach id ") and "BPF_LINK_DETACH" in lxc
    (sock4,) = [x for x in plan if "cil_sock4_conne" in x]
    assert sock4.startswith(f"bpftool cgroup detach {root}/run/cilium/cgroupv2 connect4 id ")
    assert plan[-1].startswith("# ")  # the note on links another process still holds
    for decoy in ("my_filter", "my_xdp", "my_tcx", "my_sendmsg4", "my_map"):
        assert not [x for x in plan if decoy in x]

    # The tc/ip lines are pasteable: run through a shell, they remove exactly their object.
    for line in plan:
        if line.startswith(("tc ", "ip ")):
            subprocess.run(["bash", "-c", line], check=True)
    assert [f["options"]["prog"]["name"] for f in tc_filters(ns, "eth0", "ingress")] == [
        "my_filter"
    ]
    assert tc_filters(ns, "eth0", "egress") == []
    assert xdp_prog(ns, "eth0")["name"] == "my_xdp" and xdp_prog(ns, "eth1") is None


@pytest.mark.root
async def test_nothing_to_do_on_a_node_with_only_other_peoples_programs(bpf_node, tmp_path):
    node = bpf_node()
    node.sb.tc("eth0", "ingress", "my_filter")
    node.sb.xdp("eth0", "my_xdp")
    node.sb.cgroup_prog("connect4", "my_connect4")
    node.sb.map_pin("/sys/fs/bpf/tc/globals/my_map")
    before = _view(node)
    action = BpfCleanup()
    assert await action.plan(_ctx(node, tmp_path)) == []
    res = await action.run(_ctx(node, tmp_path))
    assert res.ok and not res.changed
    assert _view(node) == before


@pytest.mark.root
async def test_dry_run_changes_nothing(bpf_node, tmp_path, monkeypatch):
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    node = bpf_node()
    lay_leftovers(node.sb)
    before, view = read_bpf(node.netns, node.host_root), _view(node)
    result, events = await _run(node, "cleanup-node", dry_run=True)
    assert result.status == "planned", result
    (planned,) = [e for e in events if e.kind == "step_planned" and e.step_id == "cleanup-bpf"]
    assert any("cil_from_netdev" in line for line in planned.plan), planned
    assert read_bpf(node.netns, node.host_root) == before
    assert _view(node) == view


@pytest.mark.root
def test_cleanup_node_playbook_removes_bpf_state_headless(bpf_node, tmp_path):
    """What the k3s stop hook runs: `ciliumtui run cleanup-node --yes`."""
    node = bpf_node()
    lay_leftovers(node.sb)
    env = {**os.environ, "CILIUMTUI_STATE_DIR": str(tmp_path / "state")}
    cmd = [sys.executable, "-m", "ciliumtui", "run", "cleanup-node", "--yes"]
    cmd += ["--netns", node.netns, "--host-root", str(node.host_root), "--node", "k3s-node1"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    after = read_bpf(node.netns, node.host_root)
    assert not [a for a in after.attachments if a.cilium], after
    assert not [p for p in after.pins if p.cilium]
    names = {a.program.name for a in after.attachments}
    # cilium_host and the lxc device went with delete-links; eth0's and the cgroup's decoys stay
    assert {"my_filter", "my_xdp", "my_sendmsg4"} <= names
    assert (node.host_root / "sys/fs/bpf/tc/globals/my_map").exists()


@pytest.mark.root
async def test_a_link_still_held_after_its_pin_is_gone_is_detached_by_id(bpf_node, tmp_path):
    """Removing a pin detaches only when nothing else holds the link (another process's fd)."""
    node = bpf_node(["eth0"])
    node.sb.tcx("eth0", "ingress", "cil_from_netdev")
    pin = node.sb.node_path("/sys/fs/bpf/cilium/devices/eth0/links/cil_from_netdev")
    node.sb.held.append(bpfsys.obj_get(str(pin)))  # "another process" keeps the link open
    ctx = _ctx(node, tmp_path)
    res = await BpfCleanup().run(ctx)
    assert res.ok and res.changed
    assert any("BPF_LINK_DETACH (still held)" in line for line in ctx.lines), ctx.lines
    state = read_bpf(node.netns, node.host_root)
    assert state.attachments == [] and state.pins == []


@pytest.mark.root
async def test_fails_naming_what_could_not_be_removed(bpf_node, tmp_path):
    """A Cilium directory someone mounted over cannot go: everything else does, and the
    step fails saying what remains."""
    node = bpf_node(["eth0"])
    node.sb.tc("eth0", "ingress", "cil_from_netdev")
    node.sb.cilium_map("cilium_ct4_global")
    busy = node.sb.node_path("/sys/fs/bpf/cilium/endpoints/1234")
    busy.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "none", str(busy)], check=True)
    try:
        ctx = _ctx(node, tmp_path)
        with pytest.raises(CiliumtuiError, match="still present: pin /sys/fs/bpf/cilium/endpoints"):
            await BpfCleanup().run(ctx)
        assert any(line.startswith(f"# could not rmdir {busy}") for line in ctx.lines), ctx.lines
        left = read_bpf(node.netns, node.host_root)
        assert left.attachments == []
        assert {p.path for p in left.pins} == {
            "/sys/fs/bpf/cilium/endpoints",
            "/sys/fs/bpf/cilium/endpoints/1234",
        }
    finally:
        subprocess.run(["umount", str(busy)], check=False)


@pytest.mark.root
async def test_tcx_attached_without_a_link_only_ciliums_program_goes(bpf_node, tmp_path):
    """tcx holds several programs per hook: BPF_PROG_DETACH takes exactly Cilium's."""
    node = bpf_node(["eth0"])
    node.sb.tcx_attach("eth0", "ingress", "my_tcx_first")
    node.sb.tcx_attach("eth0", "ingress", "cil_from_netdev")
    node.sb.tcx_attach("eth0", "ingress", "my_tcx_last")
    plan = await BpfCleanup().plan(_ctx(node, tmp_path))
    assert len(plan) == 1 and plan[0].startswith("# bpf(2) BPF_PROG_DETACH cil_from_netdev (id ")
    res = await BpfCleanup().run(_ctx(node, tmp_path))
    assert res.ok
    left = read_bpf(node.netns, node.host_root).attachments
    assert [(a.hook, a.program.name, a.via) for a in left] == [
        ("tcx-ingress", "my_tcx_first", "tcx"),
        ("tcx-ingress", "my_tcx_last", "tcx"),
    ]
