"""pod-cidr-change with and without helm, on the default-pod-cidr-overlap node.

Real: the training world (ciliumtui.training.env.TrainingEnv: the network namespace
node, the simulated cluster kubectl and the client talk to, the node's datapath
following the new pool once the fix lands), the CLI as a subprocess. A MOCK, because real helm and a chart
repository cannot run here: a stand-in `helm` executable on PATH that records
every argv and answers `helm status`, `helm get values` and `helm repo list` the
way helm 3 does for a Cilium 1.18.4 release; its `upgrade` does what the chart
would do with the new value (cilium-config's `cluster-pool-ipv4-cidr`, through
the real kubectl), so the rest of the playbook runs against what helm left.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.root

HELM_STUB = r'''#!PYTHON
"""Stand-in for helm 3 (see the test module): records argv, answers like helm."""
import json, os, subprocess, sys

args = sys.argv[1:]
with open(os.environ["HELM_STUB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
state_path = os.environ["HELM_STUB_STATE"]
state = json.load(open(state_path))


def flag(name):
    return args[args.index(name) + 1] if name in args else None


def parse_set(text):
    key, _, value = text.partition("=")
    if value.startswith("{") and value.endswith("}"):
        value = [v for v in value[1:-1].split(",") if v]
    return key, value


cmd = args[:2]
if args[0] == "status":
    if args[1] != state["release"] or state.get("absent"):
        sys.stderr.write("Error: release: not found\n")
        sys.exit(1)
    print(json.dumps({
        "name": args[1], "namespace": flag("--namespace"), "version": state["revision"],
        "info": {"status": "deployed"},
        "chart": {"metadata": {"name": "cilium", "version": "1.18.4", "appVersion": "1.18.4"}},
    }))
elif cmd == ["get", "values"]:
    print(json.dumps(state["values"]))  # JSON is YAML too (-o yaml)
elif cmd == ["repo", "list"]:
    print(json.dumps([{"name": "cilium", "url": "https://helm.cilium.io/"}]))
elif args[0] == "upgrade":
    for i, a in enumerate(args):
        if a == "--set":
            key, value = parse_set(args[i + 1])
            cur = state["values"]
            *path, last = key.split(".")
            for p in path:
                cur = cur.setdefault(p, {})
            cur[last] = value
    state["revision"] += 1
    json.dump(state, open(state_path, "w"))
    pool = state["values"]["ipam"]["operator"]["clusterPoolIPv4PodCIDRList"]
    # what the chart renders: cilium-config's cluster-pool-ipv4-cidr (the list, space-joined)
    body = json.dumps({"data": {"cluster-pool-ipv4-cidr": " ".join(pool)}})
    subprocess.run(
        ["kubectl", "--kubeconfig", flag("--kubeconfig"), "-n", "kube-system", "patch",
         "configmap", "cilium-config", "--type", "merge", "-p", body],
        check=True, capture_output=True,
    )
    print('Release "%s" has been upgraded. Happy Helming!' % args[1])
else:
    sys.stderr.write("helm stub: unexpected %r\n" % args)
    sys.exit(2)
'''


def install_stub(tmp_path: Path, *, absent: bool = False) -> tuple[Path, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "helm"
    stub.write_text(HELM_STUB.replace("#!PYTHON", f"#!{sys.executable}"))
    stub.chmod(0o755)
    state = tmp_path / "helm-state.json"
    values = {
        "ipam": {
            "mode": "cluster-pool",
            "operator": {"clusterPoolIPv4PodCIDRList": ["10.0.0.0/8"]},
        },
        "kubeProxyReplacement": "false",
    }
    state.write_text(
        json.dumps({"release": "cilium", "revision": 1, "values": values, "absent": absent})
    )
    return bin_dir, state


@dataclass
class World:
    env: Any
    sim: Any
    kubeconfig: str

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "ciliumtui", *args, *self.env.cli_flags()]


@contextmanager
def world(name: str, tmp_path: Path, monkeypatch) -> Iterator[World]:
    from ciliumtui.training.env import TrainingEnv

    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "operator-state"))
    with TrainingEnv(name, root=True) as env:
        assert env.sim is not None
        yield World(env, env.sim, str(env.opts.kubeconfig))


def run(w: World, tmp_path: Path, bin_dir: Path | None, *args: str) -> subprocess.CompletedProcess:
    path = "/usr/sbin:/usr/bin:/sbin:/bin"
    env = {
        **w.env.env_vars(),
        "PATH": f"{bin_dir}:{path}" if bin_dir else path,
        "HOME": str(tmp_path),  # kubectl (run by the stand-in helm) keeps its cache there
        "HELM_STUB_LOG": str(tmp_path / "helm.log"),
        "HELM_STUB_STATE": str(tmp_path / "helm-state.json"),
    }
    return subprocess.run(
        w.argv("run", *args), capture_output=True, text=True, timeout=300, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def events(res: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]


def steps(evs: list[dict]) -> dict[str, str]:
    return {e["step_id"]: e["status"] for e in evs if e["kind"] == "step_finished"}


def helm_calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "helm.log"
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def test_with_helm_the_release_is_upgraded_with_exactly_the_printed_line(tmp_path, monkeypatch):
    bin_dir, state = install_stub(tmp_path)
    with world("default-pod-cidr-overlap", tmp_path, monkeypatch) as w:
        res = run(w, tmp_path, bin_dir, "pod-cidr-change", "--yes", "--json")
        evs = events(res)
        st = steps(evs)
        assert res.returncode == 0, (st, res.stderr[-2000:])
        assert st["find-helm-release"] == "ok" and st["helm-upgrade"] == "ok"
        assert st["patch-cilium-config"] == "skipped"  # helm owns the value: no ConfigMap edit
        assert st["verify"] == "ok"
        plan = next(
            e["plan"] for e in evs if e["kind"] == "step_started" and e["step_id"] == "helm-upgrade"
        )
        (line,) = [x for x in plan if not x.startswith("#")]
        assert line == shlex.join([
            "helm", "upgrade", "cilium", "cilium/cilium", "--namespace", "kube-system",
            "--version", "1.18.4", "--reuse-values",
            "--set", "ipam.operator.clusterPoolIPv4PodCIDRList={172.16.0.0/16}",
            "--kubeconfig", w.kubeconfig,
        ])  # fmt: skip
        assert "'ipam.operator.clusterPoolIPv4PodCIDRList={172.16.0.0/16}'" in line
        assert "# chart version 1.18.4 kept: only the values change" in plan
        upgrades = [c for c in helm_calls(tmp_path) if c[0] == "upgrade"]
        assert len(upgrades) == 1
        assert ["helm", *upgrades[0]] == shlex.split(line)  # what ran is what was shown
        assert json.loads(state.read_text())["values"]["ipam"]["operator"][
            "clusterPoolIPv4PodCIDRList"
        ] == ["172.16.0.0/16"]
        cm = w.sim.store.get("v1/ConfigMap", "kube-system", "cilium-config")
        assert cm["data"]["cluster-pool-ipv4-cidr"] == "172.16.0.0/16"
        backup = Path(
            next(
                e["data"]["dir"]
                for e in evs
                if e["kind"] == "backup_saved" and e["step_id"] == "helm-upgrade"
            )
        )
        assert (backup / "helm-values-cilium-rev1.yaml").is_file()
        assert "helm rollback cilium 1 --namespace kube-system" in (backup / "undo.sh").read_text()


# The shells installed here (zsh, where `[0]=` unquoted fails as a glob, when present;
# a skip would turn a root run red in CI).
SHELLS = [s for s in ("bash", "dash", "zsh", "ksh") if shutil.which(s)]


@pytest.mark.parametrize("shell", SHELLS)
def test_the_printed_helm_line_pastes_into_any_shell(tmp_path, shell):
    """The plan's line, pasted into a shell, gives helm exactly the argv the step ran
    (the list braces and the comma of a dual-stack list survive: bash would brace-
    expand an unquoted {a,b})."""
    from ciliumtui.engine.actions.helm import set_value

    line = shlex.join([
        "helm", "upgrade", "cilium", "cilium/cilium", "--reuse-values",
        "--set", f"ipam.operator.clusterPoolIPv4PodCIDRList={set_value(['172.16.0.0/16', '172.17.0.0/16'])}",
    ])  # fmt: skip
    bin_dir, _ = install_stub(tmp_path)
    record = bin_dir / "helm"
    record.write_text(f"#!{sys.executable}\nimport json,sys\nprint(json.dumps(sys.argv[1:]))\n")
    done = subprocess.run(
        [shell, "-c", line], capture_output=True, text=True, timeout=30,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ["helm", *json.loads(done.stdout)] == shlex.split(line)
    assert json.loads(done.stdout)[-1].endswith("={172.16.0.0/16,172.17.0.0/16}")


def test_without_helm_or_without_the_release_the_configmap_is_patched(tmp_path, monkeypatch):
    bin_dir, _ = install_stub(tmp_path, absent=True)  # helm present, no cilium release
    with world("default-pod-cidr-overlap", tmp_path, monkeypatch) as w:
        res = run(w, tmp_path, bin_dir, "pod-cidr-change", "--dry-run", "--json")
        evs = events(res)
        assert res.returncode == 0, res.stdout[-3000:]
        out = [e.get("message") or "" for e in evs if e["kind"] == "step_output"]
        assert any("no helm release cilium in kube-system" in m for m in out), out
        plan = next(
            e["plan"]
            for e in evs
            if e["kind"] == "step_planned" and e["step_id"] == "patch-cilium-config"
        )
        assert plan[-1] == (
            "kubectl -n kube-system patch configmap cilium-config --type merge -p "
            """'{"data":{"cluster-pool-ipv4-cidr":"172.16.0.0/16"}}'"""
        )
        assert not [c for c in helm_calls(tmp_path) if c[0] == "upgrade"]
        # a pool the operator gives must be free (eth0 is 10.0.3.7/22): refused, nothing changed
        before = w.sim.mutations
        res = run(
            w, tmp_path, None, "pod-cidr-change", "--yes", "--input", "pool=10.0.2.0/23", "--json"
        )
        st = {e["step_id"]: e for e in events(res) if e["kind"] == "step_finished"}
        assert res.returncode == 1 and st["plan-pool"]["status"] == "failed"
        assert "10.0.2.0/23 overlaps what is in use" in st["plan-pool"]["message"]
        assert w.sim.mutations == before
        # and with no helm at all (PATH without it): the same path, said so
        res = run(
            w, tmp_path, None, "pod-cidr-change", "--yes", "--input", "pool=172.30.0.0/16", "--json"
        )
        st = steps(events(res))
        assert res.returncode == 0, (st, res.stderr[-2000:])
        assert st["helm-upgrade"] == "skipped" and st["patch-cilium-config"] == "ok"
        cm = w.sim.store.get("v1/ConfigMap", "kube-system", "cilium-config")
        assert cm["data"]["cluster-pool-ipv4-cidr"] == "172.30.0.0/16"  # the operator's choice
        cns = {
            c["metadata"]["name"]: c["spec"]["ipam"]["podCIDRs"]
            for c in w.sim.store.list("cilium.io/v2/CiliumNode")
        }
        assert all(c[0].startswith("172.30.") for c in cns.values()), cns
