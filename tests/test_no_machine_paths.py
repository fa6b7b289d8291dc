"""No test or benchmark may depend on one machine's layout: an absolute path outside
the checkout (a venv, a home directory, /work/...) passes there and fails on a fresh
clone. System tools and node paths (/usr, /bin, /sbin, /etc, /opt, /run, /proc, /sys, /dev, /tmp, /var)
are fine; so is ../shared, which CI provides beside the clone — but only relative to
the checkout, never by an absolute path."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("tests", "benchmarks", "ciliumtui", "screens", ".ci")

# Where one machine's files live: homes, mounts, project trees, virtualenvs.
MACHINE_PATH = re.compile(
    r"""(?<![\w.~$-])(
        /(?:work|root|home|srv|mnt|media|Users|workspace)/[^\s"'`)]*
      | /[^\s"'`()]*/\.?venv/[^\s"'`)]*
      | /[^\s"'`()]*/shared/(?:reference|seed|DESIGN)[^\s"'`)]*
    )""",
    re.VERBOSE,
)


def machine_paths(text: str) -> list[str]:
    return [m.group(1) for m in MACHINE_PATH.finditer(text)]


def test_no_test_or_benchmark_names_a_path_outside_the_checkout() -> None:
    found = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix not in (".py", "") or not path.is_file() or "__pycache__" in path.parts:
                continue
            if path == Path(__file__).resolve():
                continue
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                found += [f"{path.relative_to(ROOT)}:{n}: {p}" for p in machine_paths(line)]
    assert not found, "absolute paths into one machine's layout:\n" + "\n".join(found)


def test_the_scan_catches_what_broke_a_fresh_clone() -> None:
    # The defects issue 10 found, and what must not be flagged.
    assert machine_paths('CILIUMTUI = "/work/venv/bin/ciliumtui"')
    assert machine_paths('Path("/work/shared/reference/cilium/x.txt")')
    assert machine_paths("exe = '/home/ops/.venv/bin/python'")
    assert machine_paths("'/srv/ci/project/.venv/bin/pytest'")
    assert not machine_paths('["/usr/sbin/ip", "/run/netns/x", "/tmp/y", "/etc/hostname"]')
    assert not machine_paths('Path("~/.pyenv/versions").expanduser()')
    assert not machine_paths("ROOT.parent / 'shared' / 'reference'")
