"""The self-contained bundle for nodes without network (issue 7): build it, then run
`diagnose --json` from it with a bare interpreter, outside any venv, against a node
in a network namespace. Slow (it downloads wheels for every CPython 3.10+ here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ciliumtui.bundle import find_interpreters

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "ciliumtui.pex"
    proc = subprocess.run(
        [sys.executable, "-m", "ciliumtui.bundle", "--out", str(out), "--project", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def _bare_env(home: Path) -> dict[str, str]:
    # No venv, no PYTHONPATH, nothing of ours on the path: what a broken node has.
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def test_bundle_runs_diagnose_json_outside_any_venv(
    bundle: Path, cilium_node, tmp_path: Path
) -> None:
    netns, host_root = cilium_node
    interpreters = find_interpreters()
    assert interpreters, "no CPython 3.10+ found"
    # The oldest supported interpreter is the strictest test of the bundle.
    python = interpreters[0]
    proc = subprocess.run(
        [
            python,
            str(bundle),
            "diagnose",
            "--json",
            "--netns",
            netns,
            "--host-root",
            str(host_root),
            "--kubeconfig",
            str(tmp_path / "missing-kubeconfig"),
            "--node",
            "k3s-node1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_bare_env(tmp_path),
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]  # critical: the apiserver is unreachable
    report = json.loads(proc.stdout)
    assert report["node"] == "k3s-node1"
    ids = {f["id"] for f in report["findings"]}
    assert "apiserver-unreachable" in ids
    # The node side was really probed inside the namespace (the healthy fixture: an agent runs).
    assert report["probes"]["links"]["ok"] is True
    assert "stale-cilium-interfaces" not in ids


def test_bundle_supports_every_interpreter_it_was_built_for(bundle: Path, tmp_path: Path) -> None:
    for python in find_interpreters():
        proc = subprocess.run(
            [python, str(bundle), "--version"],
            capture_output=True,
            text=True,
            timeout=120,
            env=_bare_env(tmp_path),
            cwd=tmp_path,
        )
        assert proc.returncode == 0 and proc.stdout.startswith("ciliumtui "), (
            python,
            proc.stderr[-500:],
        )
    assert os.access(bundle, os.X_OK)
