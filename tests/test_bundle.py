"""The self-contained bundle for nodes without network: build it the way an operator
does on their own workstation — once with their HOME (pip configuration, caches,
~/.cache/pex) and once with an empty one — then run `diagnose --json` from it with
a bare interpreter, outside any venv, against a node in a network namespace.
Slow (pex resolves wheels for eight Python/architecture targets)."""

from __future__ import annotations

import glob
import json
import os
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ciliumtui.bundle import TARGETS, complete_platform, package_sources

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.root, pytest.mark.slow]


def local_interpreters() -> list[str]:
    """CPython 3.10+ interpreters on this machine, one per minor version (oldest first)."""
    found: dict[int, str] = {}
    for minor in range(10, 16):
        candidates = [f"/usr/bin/python3.{minor}", f"/usr/local/bin/python3.{minor}"]
        candidates += sorted(
            glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}.*/bin/python3"))
        )
        for exe in candidates:
            if os.access(exe, os.X_OK):
                found.setdefault(minor, os.path.realpath(exe))
    return [found[m] for m in sorted(found)]


def _build(out: Path, env: dict[str, str], *targets: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "ciliumtui.bundle", "--out", str(out), "--project", str(ROOT)]
    for t in targets:
        argv += ["--target", t]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=900, env=env, cwd=out.parent
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every target, built with the operator's own HOME (its pip.conf and caches)."""
    out = tmp_path_factory.mktemp("bundle") / "ciliumtui.pex"
    proc = _build(out, dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def _bare_env(home: Path) -> dict[str, str]:
    # No venv, no PYTHONPATH, nothing of ours on the path: what a broken node has.
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def test_bundle_runs_diagnose_json_outside_any_venv(
    bundle: Path, cilium_node, tmp_path: Path
) -> None:
    netns, host_root = cilium_node
    interpreters = local_interpreters()
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


def test_bundle_runs_on_every_local_interpreter(bundle: Path, tmp_path: Path) -> None:
    for python in local_interpreters():
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


def test_bundle_carries_compiled_wheels_for_every_python_and_architecture(bundle: Path) -> None:
    # Not only the interpreters of the build machine: aarch64 nodes and 3.10-3.13 alike.
    names = zipfile.ZipFile(bundle).namelist()
    # ciliumtui itself is pure (its C scan is left out): one wheel runs on every target.
    ours = {n.split("/")[1] for n in names if n.startswith(".deps/ciliumtui-")}
    assert ours and all(n.endswith("-py3-none-any.whl") for n in ours), ours
    assert not any("_savescan" in n and n.endswith(".so") for n in names)
    for target in TARGETS:
        interp, arch = target.split("-")
        assert any(
            n.startswith(".deps/PyYAML-") or n.startswith(".deps/pyyaml-")
            for n in names
            if f"-{interp}-{interp}-" in n and arch in n
        ), f"no PyYAML wheel for {target}"


def test_bundle_build_is_the_same_with_an_empty_home(tmp_path: Path) -> None:
    """Nothing of the builder's HOME (pip.conf, ~/.cache/pex) decides whether it builds."""
    home = tmp_path / "home"
    home.mkdir()
    here = f"cp3{sys.version_info.minor}-{platform.machine()}"
    out = tmp_path / "ciliumtui.pex"
    proc = _build(out, {**os.environ, "HOME": str(home)}, here)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = subprocess.run(
        [sys.executable, str(out), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_bare_env(tmp_path),
        cwd=tmp_path,
    )
    assert run.returncode == 0 and run.stdout.startswith("ciliumtui "), run.stderr[-500:]
    assert not (home / ".cache" / "pex").exists()  # its own PEX_ROOT, not the user's


def test_package_sources_carry_only_where_packages_come_from() -> None:
    config = "\n".join(
        [
            ":env:.find-links='/var/lib/wheels'",
            "global.index-url='https://mirror.example/simple'",
            "global.extra-index-url='https://a.example/simple https://b.example/simple'",
            "global.constraint='/etc/xdg/pip/constraints.txt'",
            "global.cache-dir='/var/cache/pip'",
            "global.cert='/etc/ssl/certs/ca.pem'",
        ]
    )
    assert package_sources(config) == [
        "--no-pypi",
        "--index",
        "https://mirror.example/simple",
        "--index",
        "https://a.example/simple",
        "--index",
        "https://b.example/simple",
        "-f",
        "/var/lib/wheels",
        "--cert",
        "/etc/ssl/certs/ca.pem",
    ]
    assert package_sources("") == []  # no configuration: pex's default, PyPI


def test_complete_platform_answers_the_markers_dependencies_use() -> None:
    plat = complete_platform("cp310-aarch64")
    env = plat["marker_environment"]
    assert env["python_full_version"].startswith("3.10.") and env["platform_machine"] == "aarch64"
    tags = plat["compatible_tags"]
    assert tags[0] == "cp310-cp310-manylinux_2_17_aarch64"
    assert "cp310-cp310-manylinux2014_aarch64" in tags and "py3-none-any" in tags
    assert not any("x86_64" in t for t in tags)
