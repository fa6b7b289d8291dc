"""sysctl.rp-filter on real namespaces: a hardening file sets conf.all.rp_filter=1, so
Cilium's devices filter strictly although their own value is 0 (cilium#10645)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ciliumtui.engine.actions.sysctl import DROPIN_NAMES, choose_dropin, plan_rp_filter
from ciliumtui.engine.loader import load_playbook, resolve_inputs
from ciliumtui.engine.runner import Runner
from ciliumtui.errors import CiliumtuiError
from ciliumtui.model import SysctlSetting
from ciliumtui.node.sysctl import effective_rp_filter, read_rp_filter
from ciliumtui.options import Options

pytestmark = pytest.mark.root

HARDENING = "/usr/lib/sysctl.d/99-zzz-hardening.conf"
HARDENING_TEXT = "net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.conf.default.rp_filter = 1\n"
LXC = "lxc0123456789ab"
# veth pairs: Cilium's host pair, an endpoint veth (peer = the pod's eth0), an uplink and
# a decoy bridge whose name starts with lxc but is not Cilium's
PAIRS = [("cilium_host", "cilium_net"), (LXC, "podeth0"), ("eth0", "uplink-peer")]


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))


def sysctl_w(ns: str, *assignments: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", *assignments], check=True)


def hardened_node(make_netns, root: Path, eth0: int = 0) -> str:
    """A netns after boot with the hardening file applied (all=1, default=1)."""
    ns = make_netns("rpf")
    for a, b in PAIRS:
        subprocess.run(
            ["ip", "-n", ns, "link", "add", a, "type", "veth", "peer", "name", b], check=True
        )
    subprocess.run(["ip", "-n", ns, "link", "add", "lxcbr0", "type", "bridge"], check=True)
    f = root / HARDENING.lstrip("/")
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(HARDENING_TEXT)
    # devices start at 0 (a new netns copies `default` from this host, which may differ)
    devices = [d for pair in PAIRS for d in pair] + ["lxcbr0", "lo"]
    sysctl_w(ns, *(f"net.ipv4.conf.{d}.rp_filter=0" for d in devices))
    sysctl_w(ns, "net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.default.rp_filter=1")
    sysctl_w(ns, f"net.ipv4.conf.eth0.rp_filter={eth0}")
    return ns


def step_playbook(tmp_path: Path) -> str:
    path = tmp_path / "rp.yaml"
    path.write_text(
        "apiVersion: ciliumtui.io/v1alpha1\nkind: Playbook\nid: t-rp\nversion: 1\n"
        "title: one step\nphases: [remediate]\nsteps:\n  - id: fix\n    phase: remediate\n"
        "    action: sysctl.rp-filter\n    risk: high\n"
    )
    return str(path)


def assert_nothing_to_do(step: dict) -> None:
    """An empty plan (or notes only): the runner skips the step, asks and changes nothing."""
    assert "step_planned" not in step and "confirm_requested" not in step, step
    done = step["step_finished"]
    assert done.status == "skipped" and (done.data or {}).get("nothing_to_do"), done


async def run(tmp_path: Path, ns: str, root: Path, **kw):
    opts = Options(node="k3s-node1", netns=ns, host_root=str(root))
    pb = load_playbook(step_playbook(tmp_path))
    events = []
    runner = Runner(pb, opts, resolve_inputs(pb, {}, "k3s-node1"), on_event=events.append, **kw)
    result = await runner.run()
    return result, {e.kind: e for e in events if e.step_id == "fix"}


def effective(rp: dict[str, int]) -> dict[str, int]:
    return {d: effective_rp_filter(rp, d) for d in rp if d not in ("all", "default")}


async def test_fix_takes_the_filter_off_ciliums_devices_only(make_netns, tmp_path):
    root, twin_root = tmp_path / "root", tmp_path / "twin"
    ns = hardened_node(make_netns, root)
    twin = hardened_node(make_netns, twin_root)
    before = read_rp_filter(ns)
    assert effective_rp_filter(before, "cilium_host") == 1 and before["cilium_host"] == 0

    result, step = await run(tmp_path, ns, root, dry_run=True)
    assert result.status == "planned" and read_rp_filter(ns) == before  # dry run: no change
    dropin = root / "etc/sysctl.d" / DROPIN_NAMES[0]
    assert not dropin.exists()
    plan = step["step_planned"].plan
    assert plan[0].startswith("# cilium_host, cilium_net, lxc0123456789ab: effective rp_filter")
    assert f"conf.all is the culprit (set by {HARDENING})" in plan[0]
    assert plan[-1] == f"ip netns exec {ns} sysctl -w net.ipv4.conf.all.rp_filter=0"
    assert f"cat > {dropin} <<'EOF'" in plan

    result, step = await run(tmp_path, ns, root, assume_yes=True)
    assert result.status == "ok", result
    after = read_rp_filter(ns)
    eff_before, eff_after = effective(before), effective(after)
    for dev in ("cilium_host", "cilium_net", LXC):
        assert eff_after[dev] == 0, dev
    for dev in ("eth0", "uplink-peer", "podeth0", "lxcbr0"):
        assert eff_after[dev] == eff_before[dev] == 1, dev  # the hardening stays
    assert after["default"] == 1  # devices created later keep it too
    text = dropin.read_text()
    assert "net.ipv4.conf.all.rp_filter = 0" in text and "-net.ipv4.conf.eth0.rp_filter = 1" in text
    assert not any("cilium" in line and "= 1" in line for line in text.splitlines())

    # plan == what runs: the plan pasted into bash on the twin node gives the same state
    script = "\n".join(plan).replace(str(root), str(twin_root)).replace(ns, twin)
    subprocess.run(["bash", "-euc", script], check=True, capture_output=True)
    assert read_rp_filter(twin) == after
    assert (twin_root / "etc/sysctl.d" / DROPIN_NAMES[0]).read_text() == text

    # backup: old values and an undo script that restores them
    backup = Path(step["backup_saved"].data["dir"])
    subprocess.run(["sh", str(backup / "undo.sh")], check=True, capture_output=True)
    assert read_rp_filter(ns) == before and not dropin.exists()
    await run(tmp_path, ns, root, assume_yes=True)

    # idempotent: nothing strict left, nothing to do
    result, step = await run(tmp_path, ns, root, dry_run=True)
    assert_nothing_to_do(step)


async def test_the_dropin_survives_a_reboot_with_systemd_sysctl(make_netns, tmp_path):
    """After a 'reboot' (a fresh namespace), systemd-sysctl applying the hardening file and
    then the drop-in, in name order, leaves Cilium's devices unfiltered, the rest filtered."""
    root = tmp_path / "root"
    ns = hardened_node(make_netns, root)
    await run(tmp_path, ns, root, assume_yes=True)
    fixed = effective(read_rp_filter(ns))
    booted = hardened_node(make_netns, tmp_path / "boot")
    sysctl_w(booted, "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
    files = [str(root / HARDENING.lstrip("/")), str(root / "etc/sysctl.d" / DROPIN_NAMES[0])]
    assert sorted(files, key=lambda p: p.rsplit("/", 1)[1]) == files
    subprocess.run(
        ["ip", "netns", "exec", booted, "/lib/systemd/systemd-sysctl", *files], check=True
    )
    assert effective(read_rp_filter(booted)) == fixed


async def test_only_a_strict_cilium_device_is_fixed_when_all_is_zero(make_netns, tmp_path):
    root = tmp_path / "root"
    ns = hardened_node(make_netns, root)
    (root / HARDENING.lstrip("/")).unlink()
    sysctl_w(ns, "net.ipv4.conf.all.rp_filter=0", f"net.ipv4.conf.{LXC}.rp_filter=2")
    result, step = await run(tmp_path, ns, root, dry_run=True)
    plan = step["step_planned"].plan
    assert [line for line in plan if "sysctl -w" in line] == [
        f"ip netns exec {ns} sysctl -w net.ipv4.conf.{LXC}.rp_filter=0"
    ]
    assert "net.ipv4.conf.all.rp_filter = 0" not in "\n".join(plan)  # all is not touched
    before = read_rp_filter(ns)
    await run(tmp_path, ns, root, assume_yes=True)
    after = read_rp_filter(ns)
    assert after[LXC] == 0 and {k: v for k, v in after.items() if k != LXC} == {
        k: v for k, v in before.items() if k != LXC
    }


async def test_healthy_node_has_nothing_to_do(cilium_node, tmp_path):
    ns, root = cilium_node
    result, step = await run(tmp_path, ns, root, dry_run=True)
    assert_nothing_to_do(step)


def s(file: str, key: str = "net.ipv4.conf.all.rp_filter", value: str = "1") -> SysctlSetting:
    return SysctlSetting(file, key, value)


def test_dropin_name_sorts_after_every_rp_filter_file():
    assert choose_dropin([]) == "/etc/sysctl.d/99-zzzz-ciliumtui-rp-filter.conf"
    assert choose_dropin([s("/usr/lib/sysctl.d/99-zzz-override_cilium.conf")]).endswith(
        "/99-zzzz-ciliumtui-rp-filter.conf"
    )
    assert (
        choose_dropin([s("/etc/sysctl.d/99-zzzzz-cis.conf")])
        == "/etc/sysctl.d/zzzz-ciliumtui-rp-filter.conf"
    )
    assert (
        choose_dropin([s("/etc/sysctl.d/zzzzz.conf")]) == "/etc/sysctl.d/~ciliumtui-rp-filter.conf"
    )
    with pytest.raises(CiliumtuiError, match="sorts after every name"):
        choose_dropin([s("/etc/sysctl.d/~~~.conf")])


def test_plan_pure_cases():
    assert plan_rp_filter({"all": 0, "cilium_host": 0, "eth0": 1}, []).empty
    fix = plan_rp_filter(
        {"all": 2, "default": 0, "cilium_host": 0, "eth0": 0, "eth0.100": 2, "lo": 0}, []
    )
    assert fix.live == [("eth0", 2), ("all", 0)]  # eth0.100 already at 2, lo never pinned
    assert "-net.ipv4.conf.eth0.rp_filter = 2" in fix.text
    # all is 0 now but a file sets 1 at boot: the drop-in still pins all = 0
    fix = plan_rp_filter({"all": 0, "lxc0123456789ab": 1}, [s("/etc/sysctl.d/50-x.conf")])
    assert fix.live == [("lxc0123456789ab", 0)] and "net.ipv4.conf.all.rp_filter = 0" in fix.text
    fix = plan_rp_filter({"all": 1, "cilium_host": 0}, [s("/etc/sysctl.conf")])
    assert any("/etc/sysctl.conf" in n for n in fix.notes)
