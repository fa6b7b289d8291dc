"""The rules of the codebase, enforced (DESIGN §3, issue 12): ruff lint and format,
the type checker, and the import-linter contracts of `.importlinter` (the layers:
checks and model do no I/O; node, cluster and engine know nothing of training,
the sim or the UI; widgets only draw).

mypy and import-linter read the package as it is installed: setuptools maps the
top-level screens/, playbooks/ and assets/ into `ciliumtui.*` (pyproject's
package-dir), which neither tool follows in a source tree, so the tests lay the
package out that way in a temporary directory first."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable} (pip install -e '.[test]')")
    return str(path)


@pytest.fixture(scope="module")
def installed_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ciliumtui package as a wheel lays it out (package-dir mapping applied)."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        mapping = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    out = tmp_path_factory.mktemp("layout")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "ciliumtui", out / "ciliumtui", ignore=ignore)
    for package, folder in mapping.items():
        target = out.joinpath(*package.split("."))
        shutil.copytree(ROOT / folder, target, ignore=ignore)
    shutil.copy(ROOT / ".importlinter", out / ".importlinter")
    return out


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    return proc.stdout


def test_ruff_check_is_clean() -> None:
    _run([_tool("ruff"), "check", "."], ROOT)


def test_ruff_format_is_clean() -> None:
    _run([_tool("ruff"), "format", "--check", "."], ROOT)


def test_mypy_is_clean(installed_layout: Path) -> None:
    _run(
        [
            _tool("mypy"),
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(installed_layout / ".mypy_cache"),
            "-p",
            "ciliumtui",
        ],
        installed_layout,
    )


def test_mypy_covers_the_core_packages() -> None:
    # model, checks, engine, node and cluster are never exempt (issue 12).
    with open(ROOT / "pyproject.toml", "rb") as f:
        overrides = tomllib.load(f)["tool"]["mypy"]["overrides"]
    exempt = [m for o in overrides if o.get("ignore_errors") for m in o["module"]]
    core = (
        "ciliumtui.model",
        "ciliumtui.checks",
        "ciliumtui.engine",
        "ciliumtui.node",
        "ciliumtui.cluster",
    )
    assert not [m for m in exempt if m.startswith(core)], exempt


def test_import_contracts_are_kept(installed_layout: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(installed_layout),
        "HOME": str(installed_layout),
    }
    out = _run([_tool("lint-imports"), "--no-cache"], installed_layout, env)
    assert "broken" not in out.lower().replace("0 broken", ""), out
