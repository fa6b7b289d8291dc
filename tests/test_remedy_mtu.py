"""mtu-fix on a node whose uplink is at 1450 while Cilium's devices stay at 1500
(a cloud network): what it would change, shown before it runs — the pinned `mtu`
set to the uplink's (cilium-config without helm, `--set mtu=` with helm), or an
agent restart when nothing pins it. Real: the netns node, the simulated cluster,
the CLI; the stand-in helm of test_remedy_helm (real helm cannot run here)."""

from __future__ import annotations

import json
import subprocess

import pytest
from sim_helpers import kubectl, node_world
from test_remedy_helm import events, install_stub

pytestmark = pytest.mark.root


def _needs_mtu_check() -> None:
    pytest.importorskip(
        "ciliumtui.checks.mtu", reason="needs the mtu-mismatch check (checks branch)"
    )


def plans(evs: list[dict]) -> dict[str, list[str]]:
    return {e["step_id"]: e["plan"] for e in evs if e["kind"] == "step_planned"}


def dry_run(w, tmp_path, bin_dir=None) -> list[dict]:
    path = "/usr/sbin:/usr/bin:/sbin:/bin"
    res = subprocess.run(
        w.argv("run", "mtu-fix", "--dry-run", "--json"),
        capture_output=True, text=True, timeout=300,
        env={
            "PATH": f"{bin_dir}:{path}" if bin_dir else path,
            "CILIUMTUI_STATE_DIR": str(tmp_path / "state"),
            "HOME": str(tmp_path),  # kubectl (run by the stand-in helm) keeps its cache there
            "HELM_STUB_LOG": str(tmp_path / "helm.log"),
            "HELM_STUB_STATE": str(tmp_path / "helm-state.json"),
        },
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    return events(res)


def test_mtu_fix_plans_the_uplinks_mtu_or_an_agent_restart(tmp_path):
    _needs_mtu_check()
    with node_world("healthy", tmp_path / "w", prefix="rm") as w:
        subprocess.run(["ip", "-n", w.netns, "link", "set", "eth0", "mtu", "1450"], check=True)
        # nothing pins Cilium's MTU: restarting the agent detects the uplink's again
        evs = dry_run(w, tmp_path)
        out = [e.get("message") or "" for e in evs if e["kind"] == "step_output"]
        assert "uplink eth0: MTU 1450" in out, out
        assert any("pins no mtu" in m for m in out)
        planned = plans(evs)
        assert "patch-mtu" not in planned and "helm-set-mtu" not in planned
        assert planned["restart-agent"][0].startswith("kubectl -n kube-system delete pod cilium-")

        # pinned at 1500 in cilium-config, no helm: the key is set to 1450, then every agent restarts
        body = json.dumps({"data": {"mtu": "1500"}})
        done = kubectl(
            w.sim,
            "-n",
            "kube-system",
            "patch",
            "configmap",
            "cilium-config",
            "--type",
            "merge",
            "-p",
            body,
        )
        assert done.returncode == 0, done.stderr
        planned = plans(dry_run(w, tmp_path))
        assert planned["patch-mtu"] == [
            "# mtu: '1500' -> '1450'",
            """kubectl -n kube-system patch configmap cilium-config --type merge -p '{"data":{"mtu":"1450"}}'""",
        ]
        assert "restart-agents" in planned and "restart-agent" not in planned

        # pinned, and Cilium is a helm release: the helm value instead
        bin_dir, state = install_stub(tmp_path)
        st = json.loads(state.read_text())
        st["values"]["mtu"] = 1500
        state.write_text(json.dumps(st))
        planned = plans(dry_run(w, tmp_path, bin_dir))
        assert "patch-mtu" not in planned
        (line,) = [x for x in planned["helm-set-mtu"] if not x.startswith("#")]
        assert " --reuse-values --set mtu=1450 " in line and "--version 1.18.4" in line
        assert "# mtu: 1500 -> 1450" in planned["helm-set-mtu"]
