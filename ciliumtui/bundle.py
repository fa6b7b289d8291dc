"""Build one self-contained file for a node with no working DNS or package access.

    pip install 'ciliumtui[bundle]'          # pex and packaging, pinned
    python -m ciliumtui.bundle --out ciliumtui.pex

The result is a PEX zipapp holding ciliumtui and every dependency, for CPython
3.10-3.13 on Linux x86_64 and aarch64 (manylinux2014, glibc >= 2.17), whatever
interpreters the build machine has: pex resolves wheels for each target from a
complete platform description (markers and tags), so compiled dependencies
(pyyaml, aiohttp and its helpers) come as one wheel per Python and architecture.
Copy it to the node and run `python3 ciliumtui.pex diagnose --json`; nothing
else is installed there.

The build is the same whatever the builder's machine holds: pex runs with its
own PEX_ROOT (no ~/.cache/pex), a pinned pip (the one pex 2.105.2 verifies) and
no pip configuration file; of the builder's pip settings only where packages
come from (index-url, extra-index-url, find-links, cert, proxy) is passed on,
explicitly, so a private mirror still works.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

PYTHONS = ((3, 10), (3, 11), (3, 12), (3, 13))
ARCHES = ("x86_64", "aarch64")
TARGETS = tuple(f"cp{a}{b}-{arch}" for a, b in PYTHONS for arch in ARCHES)
GLIBC = (2, 17)  # manylinux2014: every distribution a k3s node runs
# The pip pex runs to resolve. Pinned (with pex itself, in pyproject's `bundle`
# extra): left to pex, the choice follows the interpreters found and the cache.
PEX_PIP_VERSION = "25.2"


def _platform_tags(arch: str) -> list[str]:
    """manylinux tags a glibc-2.17 system accepts, most specific first."""
    tags = [f"manylinux_{GLIBC[0]}_{minor}_{arch}" for minor in range(GLIBC[1], 4, -1)]
    tags.insert(1, f"manylinux2014_{arch}")
    if arch == "x86_64":
        tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
    return tags


def complete_platform(target: str) -> dict[str, object]:
    """A pex --complete-platform for "cp311-aarch64": marker environment and tags.

    Abbreviated --platform strings fail as soon as a dependency's marker reads
    python_full_version (and `pip download --python-version` evaluates markers
    for the running interpreter, missing e.g. async-timeout on 3.10); a complete
    platform answers every marker for the target itself.
    """
    from packaging import tags

    interp, arch = target.split("-", 1)
    major, minor = int(interp[2]), int(interp[3:])
    full = f"{major}.{minor}.0"  # the oldest patch release: the conservative reading of markers
    platforms = _platform_tags(arch)
    compatible = [
        *tags.cpython_tags((major, minor), abis=[interp], platforms=platforms),
        *tags.compatible_tags((major, minor), interpreter=interp, platforms=platforms),
    ]
    return {
        "marker_environment": {
            "implementation_name": "cpython",
            "implementation_version": full,
            "os_name": "posix",
            "platform_machine": arch,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": full,
            "python_version": f"{major}.{minor}",
            "sys_platform": "linux",
        },
        "compatible_tags": [str(t) for t in compatible],
    }


def package_sources(pip_config: str) -> list[str]:
    """pex arguments for where the builder's pip gets packages (`pip config list` text).

    Only the sources are carried over; caches, constraints and the rest of the
    builder's pip settings are not (pex runs pip --isolated).
    """
    values: dict[str, str] = {}
    for line in pip_config.splitlines():
        key, sep, value = line.partition("=")
        if not sep or "." not in key:
            continue
        name = key.split(".", 1)[1]
        values.setdefault(name, value.strip().strip("'\""))  # :env: first, then files
    args: list[str] = []
    if values.get("index-url"):
        args += ["--no-pypi", "--index", values["index-url"]]
    for url in shlex.split(values.get("extra-index-url", "")):
        args += ["--index", url]
    for loc in shlex.split(values.get("find-links", "")):
        args += ["-f", loc]
    for name in ("cert", "proxy"):
        if values.get(name):
            args += [f"--{name}", values[name]]
    return args


def _pip_config() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    )
    return done.stdout if done.returncode == 0 else ""


def _isolated_env(pex_root: Path) -> dict[str, str]:
    """The environment pex runs in: nothing of the builder's pip or pex set-up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PEX_"))}
    env.update(PEX_ROOT=str(pex_root), PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1")
    return env


def build(project: Path, out: Path, targets: list[str], work: Path) -> None:
    # ciliumtui itself goes in pure (setup.py): its one C part, the iptables-save
    # scan, would tie the wheel to this machine's Python and architecture.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work), str(project)],
        check=True,
        env={**os.environ, "CILIUMTUI_PURE_PYTHON": "1"},
    )
    pex = Path(sys.executable).with_name("pex")
    argv = [
        str(pex) if pex.exists() else "pex",
        "ciliumtui",
        "-c",
        "ciliumtui",
        "-o",
        str(out),
        "-f",
        str(work),  # this checkout's wheel
        *package_sources(_pip_config()),
        "--pip-version",
        PEX_PIP_VERSION,
        "--no-allow-pip-version-fallback",
        "--python-shebang",
        "/usr/bin/env python3",
    ]
    for target in targets:
        path = work / f"{target}.json"
        path.write_text(json.dumps(complete_platform(target)))
        argv += ["--complete-platform", str(path)]
    subprocess.run(argv, check=True, env=_isolated_env(work / "pex-root"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m ciliumtui.bundle", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--out", default="ciliumtui.pex", help="output file (default: ciliumtui.pex)")
    ap.add_argument(
        "--target",
        action="append",
        choices=TARGETS,
        help="build only for these (repeatable; default: all of " + ", ".join(TARGETS) + ")",
    )
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
    try:
        import packaging.tags  # noqa: F401
    except ImportError:
        print(
            "ciliumtui.bundle: error: needs pex and packaging: pip install 'ciliumtui[bundle]'",
            file=sys.stderr,
        )
        return 3
    targets = args.target or list(TARGETS)
    print(f"targets: {', '.join(targets)}", file=sys.stderr)
    try:
        with tempfile.TemporaryDirectory(prefix="ciliumtui-bundle-") as tmp:
            build(project, Path(args.out).resolve(), targets, Path(tmp))
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"ciliumtui.bundle: error: {exc}", file=sys.stderr)
        return 3
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
