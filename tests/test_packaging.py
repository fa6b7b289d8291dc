"""What `pip install .` ships: every subpackage and data file the code loads.

An editable install hides a package missing from pyproject's explicit list; a
real install (the README's first command) would then fail with ImportError.
"""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def _config() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    listed = set(_config()["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "ciliumtui").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found - listed == set(), f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    mapped = _config()["package-dir"]
    for package, folder in mapped.items():
        assert (ROOT / folder / "__init__.py").is_file(), package
        assert package in listed


def test_every_data_file_the_code_loads_is_package_data() -> None:
    data = _config()["package-data"]
    assert "*.yaml" in data["ciliumtui.playbooks"] and "*.json" in data["ciliumtui.playbooks"]
    assets = data["ciliumtui.assets"]
    for pattern, folder in (
        ("*.tcss", "assets"),
        ("scenarios/*.yaml", "assets"),
        ("samples/*", "assets"),
    ):
        assert pattern in assets
        assert list((ROOT / folder).glob(pattern)), f"{pattern} matches nothing in {folder}/"
