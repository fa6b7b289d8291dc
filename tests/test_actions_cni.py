"""cni.cleanup and cni.set-aside run by the real playbook runner on real host roots.

Each: does exactly its change, backs up what it touches, is idempotent, its plan is
what runs (the plan's commands, pasted into bash on a copy, give the same tree) and
a dry run changes nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ciliumtui.engine.actions.cni import FileOp, cleanup_ops, set_aside_ops
from ciliumtui.engine.loader import load_playbook, resolve_inputs
from ciliumtui.engine.runner import Runner
from ciliumtui.model import CniFile, Finding
from ciliumtui.node.cni import K3S_CNI_DIR
from ciliumtui.options import Options
from ciliumtui.sim.host_root import build_host_root
from ciliumtui.sim.scenario import deep_merge, load_scenario

pytestmark = pytest.mark.root  # the actions declare needs_root

ORPHANED = Finding("cni-config-orphaned", "critical", "Cilium's CNI config, Cilium not installed")
FOREIGN = json.dumps({"cniVersion": "0.4.0", "name": "bridge", "type": "bridge"})


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))


def make_root(tmp_path: Path, cni_files: list, name: str = "root") -> Path:
    root = tmp_path / name
    sc = deep_merge(load_scenario("healthy"), {"host": {"cni_files": cni_files}})
    build_host_root(sc, root)
    return root


def tree(root: Path) -> dict[str, str]:
    out = {}
    for d in ("etc/cni/net.d", K3S_CNI_DIR.lstrip("/")):
        for p in sorted((root / d).glob("*")) if (root / d).is_dir() else []:
            out[f"{d}/{p.name}"] = p.read_text()
    return out


def step_playbook(tmp_path: Path, action: str) -> str:
    path = tmp_path / f"{action}.yaml"
    path.write_text(
        "apiVersion: ciliumtui.io/v1alpha1\nkind: Playbook\n"
        f"id: t-{action.replace('.', '-')}\nversion: 1\ntitle: one step\nphases: [remediate]\n"
        f"steps:\n  - id: fix\n    phase: remediate\n    action: {action}\n    risk: high\n"
    )
    return str(path)


def assert_nothing_to_do(step: dict) -> None:
    """An empty plan (or notes only): the runner skips the step, asks and changes nothing."""
    assert "step_planned" not in step and "confirm_requested" not in step, step
    done = step["step_finished"]
    assert done.status == "skipped" and (done.data or {}).get("nothing_to_do"), done


async def run(playbook: str, root: Path, findings=(), **kw):
    opts = Options(node="k3s-node1", host_root=str(root))
    pb = load_playbook(playbook)
    events = []
    runner = Runner(pb, opts, resolve_inputs(pb, {}, "k3s-node1"), on_event=events.append, **kw)
    runner.findings = list(findings)
    result = await runner.run()
    step = {e.kind: e for e in events if e.step_id == "fix"}
    return result, step


def bash(lines: list[str], old: Path, new: Path) -> None:
    script = "\n".join(lines).replace(str(old), str(new))
    subprocess.run(["bash", "-euc", script], check=True)


async def test_orphaned_config_removed_backups_restored_with_backup(tmp_path):
    files = [
        "05-cilium.conflist",
        "10-flannel.conflist.cilium_bak",
        {"name": "20-bridge.conf.cilium_bak", "content": FOREIGN},
        {"name": "05-cilium.conflist", "dir": "k3s"},
    ]
    root = make_root(tmp_path, files)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)
    before = tree(root)
    pb = step_playbook(tmp_path, "cni.cleanup")

    result, step = await run(pb, root, [ORPHANED], dry_run=True)
    assert result.status == "planned" and tree(root) == before  # a dry run changes nothing
    plan = step["step_planned"].plan
    net_d = root / "etc/cni/net.d"
    assert plan == [
        f"rm -- {net_d}/05-cilium.conflist",
        f"mv -n -- {net_d}/10-flannel.conflist.cilium_bak {net_d}/10-flannel.conflist",
        f"mv -n -- {net_d}/20-bridge.conf.cilium_bak {net_d}/20-bridge.conf",
        f"rm -- {root}{K3S_CNI_DIR}/05-cilium.conflist",
    ]

    result, step = await run(pb, root, [ORPHANED], assume_yes=True)
    assert result.status == "ok", result
    after = tree(root)
    assert after == {
        "etc/cni/net.d/10-flannel.conflist": before["etc/cni/net.d/10-flannel.conflist.cilium_bak"],
        "etc/cni/net.d/20-bridge.conf": FOREIGN,
    }
    # the plan, pasted into a shell on an identical copy, does exactly the same
    bash(plan, root, copy)
    assert tree(copy) == after
    # every touched file is in the backup, with a manifest that says how to undo
    backup = Path(step["backup_saved"].data["dir"])
    manifest = json.loads((backup / "cni-manifest.json").read_text())
    assert len(manifest["ops"]) == 4 and len(manifest["undo"]) == 4
    assert (backup / "etc_cni_net.d_05-cilium.conflist").read_text() == before[
        "etc/cni/net.d/05-cilium.conflist"
    ]
    bash(manifest["undo"], Path("/nonexistent-never"), Path("/nonexistent-never"))
    assert tree(root) == before  # the undo lines put everything back
    # idempotent: once done, a second run has nothing to do
    await run(pb, root, [ORPHANED], assume_yes=True)
    result, step = await run(pb, root, [ORPHANED], dry_run=True)
    assert_nothing_to_do(step)


async def test_cilium_installed_keeps_its_config_and_the_backups(tmp_path):
    """No orphan finding (the k3s stop hook's cleanup-node): Cilium comes back and would
    rename them again, so nothing is touched."""
    root = make_root(tmp_path, ["05-cilium.conflist", "10-flannel.conflist.cilium_bak"])
    before = tree(root)
    result, step = await run(step_playbook(tmp_path, "cni.cleanup"), root, dry_run=True)
    assert_nothing_to_do(step)
    await run(step_playbook(tmp_path, "cni.cleanup"), root, assume_yes=True)
    assert tree(root) == before


async def test_backups_restored_where_no_cilium_config_is_left(tmp_path):
    root = make_root(
        tmp_path, ["10-flannel.conflist.cilium_bak", "20-x.conf.cilium_bak", "20-x.conf"]
    )
    result, step = await run(step_playbook(tmp_path, "cni.cleanup"), root, dry_run=True)
    net_d = root / "etc/cni/net.d"
    assert step["step_planned"].plan == [
        "# /etc/cni/net.d/20-x.conf.cilium_bak kept: 20-x.conf exists again",
        f"mv -n -- {net_d}/10-flannel.conflist.cilium_bak {net_d}/10-flannel.conflist",
    ]
    await run(step_playbook(tmp_path, "cni.cleanup"), root, assume_yes=True)
    assert sorted(tree(root)) == [
        "etc/cni/net.d/10-flannel.conflist",
        "etc/cni/net.d/20-x.conf",
        "etc/cni/net.d/20-x.conf.cilium_bak",
    ]


async def test_set_aside_moves_what_outranks_cilium_and_nothing_else(tmp_path):
    files = [
        "05-cilium.conflist",
        {"name": "00-bridge.conf", "content": FOREIGN},
        {"name": "01-broken.conflist", "content": "{not json"},
        {
            "name": "02-chained.conflist",
            "content": json.dumps({"plugins": [{"type": "aws-cni"}, {"type": "cilium-cni"}]}),
        },
        {"name": "03-readme.txt", "content": "not a config"},
        "10-flannel.conflist",  # sorts after Cilium's: never read, stays
        {"name": "00-flannel.conflist", "dir": "k3s"},  # no Cilium config there: untouched
    ]
    root = make_root(tmp_path, files)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)
    before = tree(root)
    pb = step_playbook(tmp_path, "cni.set-aside")
    result, step = await run(pb, root, dry_run=True)
    assert tree(root) == before
    plan = step["step_planned"].plan
    net_d = root / "etc/cni/net.d"
    assert plan == [
        "# /etc/cni/net.d: the runtime uses 00-bridge.conf (first by name); Cilium's 05-cilium.conflist should",
        "# /etc/cni/net.d/02-chained.conflist kept: it chains cilium-cni",
        f"mv -n -- {net_d}/00-bridge.conf {net_d}/00-bridge.conf.cilium_bak",
        f"mv -n -- {net_d}/01-broken.conflist {net_d}/01-broken.conflist.cilium_bak",
    ]
    result, step = await run(pb, root, assume_yes=True)
    assert result.status == "ok", result
    after = tree(root)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == {
        "etc/cni/net.d/00-bridge.conf",
        "etc/cni/net.d/00-bridge.conf.cilium_bak",
        "etc/cni/net.d/01-broken.conflist",
        "etc/cni/net.d/01-broken.conflist.cilium_bak",
    }
    assert after["etc/cni/net.d/00-bridge.conf.cilium_bak"] == FOREIGN
    bash(plan, root, copy)
    assert tree(copy) == after
    backup = Path(step["backup_saved"].data["dir"])
    assert (backup / "etc_cni_net.d_00-bridge.conf").read_text() == FOREIGN
    result, step = await run(pb, root, dry_run=True)
    assert_nothing_to_do(step)  # idempotent
    # and the restore in cleanup (Cilium uninstalled) brings them back
    await run(step_playbook(tmp_path, "cni.cleanup"), root, [ORPHANED], assume_yes=True)
    restored = tree(root)
    assert restored["etc/cni/net.d/00-bridge.conf"] == FOREIGN
    assert "etc/cni/net.d/05-cilium.conflist" not in restored


async def test_set_aside_never_overwrites_an_existing_backup(tmp_path):
    root = make_root(
        tmp_path,
        [
            "05-cilium.conflist",
            {"name": "00-a.conf", "content": FOREIGN},
            {"name": "00-a.conf.cilium_bak", "content": "older"},
        ],
    )
    result, step = await run(step_playbook(tmp_path, "cni.set-aside"), root, dry_run=True)
    assert_nothing_to_do(step)  # only a note: nothing it can do safely


def f(name: str, d: str = "/etc/cni/net.d", **kw) -> CniFile:
    from ciliumtui.ownership import is_cilium_cni_file

    return CniFile(
        name, cilium=is_cilium_cni_file(name), backup=name.endswith(".cilium_bak"), dir=d, **kw
    )


def test_pure_decisions():
    assert cleanup_ops([f("05-cilium.conflist")], orphaned=False) == ([], [])
    ops, _ = cleanup_ops([f("05-cilium.conflist"), f("a.conf.cilium_bak")], orphaned=True)
    assert ops == [
        FileOp("rm", "/etc/cni/net.d/05-cilium.conflist"),
        FileOp("mv", "/etc/cni/net.d/a.conf.cilium_bak", "/etc/cni/net.d/a.conf"),
    ]
    assert set_aside_ops([f("05-cilium.conflist"), f("10-flannel.conflist")]) == ([], [])
    assert set_aside_ops([f("00-x.conf")]) == ([], [])  # no Cilium config: not touched
    ops, notes = set_aside_ops([f("05-cilium.conflist"), f("00-x.json")])
    assert ops == [FileOp("mv", "/etc/cni/net.d/00-x.json", "/etc/cni/net.d/00-x.json.cilium_bak")]
