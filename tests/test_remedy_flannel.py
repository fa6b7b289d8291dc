"""flannel.cleanup in a test namespace and host root: flannel's links (a real vxlan
flannel.1 on UDP 8472, a cni0 bridge), its CNI config and lease file go, backed up;
Cilium's links and CNI config and anyone else's bridge stay."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from ciliumtui.engine.loader import load_playbook, resolve_inputs
from ciliumtui.engine.runner import Runner
from ciliumtui.options import Options

pytestmark = pytest.mark.root

FLANNEL_CNI = {
    "name": "cbr0",
    "cniVersion": "1.0.0",
    "plugins": [
        {"type": "flannel", "delegate": {"hairpinMode": True, "forceAddress": True}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}
CILIUM_CNI = {"cniVersion": "0.3.1", "name": "cilium", "plugins": [{"type": "cilium-cni"}]}
K3S_CNI_DIR = "var/lib/rancher/k3s/agent/etc/cni/net.d"
CLEANUP = """
id: flannel-cleanup
steps:
  - id: cleanup
    action: flannel.cleanup
    risk: high
"""


def ip(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True)


def links(ns: str) -> set[str]:
    out = subprocess.run(["ip", "-n", ns, "-j", "link"], capture_output=True, text=True).stdout
    return {link["ifname"] for link in json.loads(out)}


def flannel_node(ns: str, root: Path) -> None:
    ip(ns, "link", "add", "flannel.1", "type", "vxlan", "id", "1", "dstport", "8472", "nolearning")
    ip(ns, "link", "add", "cni0", "type", "bridge")
    ip(ns, "link", "add", "cilium_host", "type", "veth", "peer", "name", "cilium_net")
    ip(ns, "link", "add", "lxcbr0", "type", "bridge")  # LXC's bridge: not flannel's
    (root / "etc/rancher/k3s").mkdir(parents=True)
    (root / K3S_CNI_DIR).mkdir(parents=True)
    (root / K3S_CNI_DIR / "10-flannel.conflist").write_text(json.dumps(FLANNEL_CNI))
    (root / "etc/cni/net.d").mkdir(parents=True)
    (root / "etc/cni/net.d/05-cilium.conflist").write_text(json.dumps(CILIUM_CNI))
    (root / "run/flannel").mkdir(parents=True)
    (root / "run/flannel/subnet.env").write_text("FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_MTU=1450\n")


def test_flannel_cleanup_removes_flannel_traces_only(make_netns, tmp_path, monkeypatch):
    checks_k3s = pytest.importorskip("ciliumtui.checks.k3s")
    if not hasattr(checks_k3s, "FLANNEL_LINKS"):
        pytest.skip("needs the flannel facts of checks.k3s (the checks branch)")
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    ns, root = make_netns("rf"), tmp_path / "root"
    flannel_node(ns, root)
    (tmp_path / "pb.yaml").write_text(CLEANUP)
    pb = load_playbook(str(tmp_path / "pb.yaml"))
    opts = Options(netns=ns, host_root=str(root), node="k3s-node1")
    evs: list = []

    result = asyncio.run(
        Runner(pb, opts, resolve_inputs(pb, {}), dry_run=True, on_event=evs.append).run()
    )
    plan = next(e.plan for e in evs if e.kind == "step_planned")
    assert f"ip -n {ns} link delete flannel.1" in plan
    assert f"ip -n {ns} link delete cni0" in plan
    assert f"rm -- {root}/{K3S_CNI_DIR}/10-flannel.conflist" in plan
    assert f"rm -- {root}/run/flannel/subnet.env" in plan
    assert not [x for x in plan if "cilium" in x or "lxcbr0" in x]
    assert {"flannel.1", "cni0"} <= links(ns)  # a dry run changes nothing

    result = asyncio.run(Runner(pb, opts, resolve_inputs(pb, {}), assume_yes=True).run())
    assert result.status == "ok", result
    left = links(ns)
    assert "flannel.1" not in left and "cni0" not in left
    assert {"cilium_host", "cilium_net", "lxcbr0"} <= left
    assert not (root / K3S_CNI_DIR / "10-flannel.conflist").exists()
    assert not (root / "run/flannel/subnet.env").exists()
    assert (root / "etc/cni/net.d/05-cilium.conflist").is_file()
    backup = Path(result.backups["cleanup"])
    saved = json.loads(
        (backup / "var_lib_rancher_k3s_agent_etc_cni_net.d_10-flannel.conflist").read_text()
    )
    assert saved == FLANNEL_CNI
    assert "FLANNEL_MTU=1450" in (backup / "run_flannel_subnet.env").read_text()
    was = {link["name"] for link in json.loads((backup / "flannel-links.json").read_text())}
    assert was == {"flannel.1", "cni0"}

    # nothing of flannel's left: nothing to do
    result = asyncio.run(Runner(pb, opts, resolve_inputs(pb, {})).run())
    assert result.steps == {"cleanup": "skipped"}
