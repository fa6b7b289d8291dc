"""Build one self-contained file for a node with no working DNS or package access.

    python -m ciliumtui.bundle --out ciliumtui.pex

The result is a PEX zipapp holding ciliumtui and every dependency, with wheels
for each CPython 3.10+ found on the build machine (compiled dependencies such as
pydantic-core and aiohttp need one wheel per Python version). Copy it to the node
and run `python3 ciliumtui.pex diagnose --json`; nothing else is installed there.

Steps: (1) a wheelhouse — the ciliumtui wheel plus `pip download --only-binary`
of the dependencies for each interpreter; (2) `pex` resolves from that
wheelhouse alone (`--no-pypi`), so the bundle is reproducible offline once the
wheelhouse exists (`--wheelhouse DIR` reuses one).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MIN_MINOR = 10


def find_interpreters() -> list[str]:
    """CPython 3.10+ interpreters on this machine, one per minor version."""
    found: dict[str, str] = {}
    candidates = [sys.executable]
    for minor in range(MIN_MINOR, 16):
        candidates.append(shutil.which(f"python3.{minor}") or "")
        candidates += sorted(
            glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}.*/bin/python3"))
        )
        candidates += sorted(glob.glob(f"/usr/bin/python3.{minor}"))
    for exe in filter(None, candidates):
        try:
            out = subprocess.run(
                [exe, "-c", "import sys, pip; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        major, minor = (int(x) for x in out.split("."))
        if major == 3 and minor >= MIN_MINOR:
            found.setdefault(out, os.path.realpath(exe))
    return [found[k] for k in sorted(found, key=lambda v: int(v.split(".")[1]))]


def project_dependencies(project: Path) -> list[str]:
    import tomllib  # build machines run Python 3.11+; the bundle itself supports 3.10

    with open(project / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def build_wheelhouse(project: Path, wheelhouse: Path, interpreters: list[str]) -> None:
    wheelhouse.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(wheelhouse),
            str(project),
        ],
        check=True,
    )
    deps = project_dependencies(project)
    for exe in interpreters:
        subprocess.run(
            [
                exe,
                "-m",
                "pip",
                "download",
                "-q",
                "--only-binary=:all:",
                "-d",
                str(wheelhouse),
                *deps,
            ],
            check=True,
        )


def build_pex(out: Path, wheelhouse: Path, interpreters: list[str]) -> None:
    pex = shutil.which("pex") or str(Path(sys.executable).with_name("pex"))
    argv = [
        pex,
        "ciliumtui",
        "-c",
        "ciliumtui",
        "-o",
        str(out),
        "--no-pypi",
        "-f",
        str(wheelhouse),
        # The 2020 resolver picks, per interpreter, the newest release that supports it
        # (e.g. dnspython 2.8 for 3.10 and 2.9 for 3.11+).
        "--resolver-version",
        "pip-2020-resolver",
        "--python-shebang",
        "/usr/bin/env python3",
    ]
    for exe in interpreters:
        argv += ["--python", exe]
    subprocess.run(argv, check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m ciliumtui.bundle", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--out", default="ciliumtui.pex", help="output file (default: ciliumtui.pex)")
    ap.add_argument("--wheelhouse", help="reuse / keep the wheelhouse in this directory")
    ap.add_argument(
        "--project",
        default=None,
        help="the ciliumtui source tree (default: the current directory, else this checkout)",
    )
    args = ap.parse_args(argv)
    if args.project:
        project = Path(args.project)
    elif (Path.cwd() / "pyproject.toml").is_file():
        project = Path.cwd()
    else:
        project = Path(__file__).resolve().parent.parent
    if not (project / "pyproject.toml").is_file():
        print(f"ciliumtui.bundle: error: {project} has no pyproject.toml", file=sys.stderr)
        return 3
    interpreters = find_interpreters()
    print("interpreters: " + ", ".join(interpreters), file=sys.stderr)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            wheelhouse = Path(args.wheelhouse) if args.wheelhouse else Path(tmp) / "wheelhouse"
            build_wheelhouse(project, wheelhouse, interpreters)
            build_pex(Path(args.out), wheelhouse, interpreters)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"ciliumtui.bundle: error: {exc}", file=sys.stderr)
        return 3
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
