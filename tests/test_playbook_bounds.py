"""Hostile input costs a bounded time and memory and ends in ONE located line, exit 3
(issue 11 item 8): YAML alias bombs, deep nesting, huge documents, catastrophic input
regexes, non-finite durations, integers past Python's 4300-digit limit, a kubeconfig
that is not UTF-8. The CLI ones run as a process whose time and peak memory are measured
(and whose address space is capped, so a regression fails here instead of OOM-ing)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ciliumtui.engine.loader import validate_text
from ciliumtui.safeyaml import YamlError, load

CAP = 2 * 1024**3  # address space of the child: old code grew ~55 MB/s until OOM
MEMORY_MB = 150  # measured: ~27 MB for `playbooks validate` of the bomb
SECONDS = 8.0  # measured: ~0.4 s (interpreter start included)


def _peak_mb(pid: int, argv: list[str]) -> float | None:
    """VmHWM of `pid` once it runs argv, else None.

    Not wait4's ru_maxrss: Linux carries the high-water mark of the memory a process
    had before exec() into it, and a child forked from pytest starts as big as pytest
    is by then (153 MB late in a full run, against ~30 MB of its own). VmHWM belongs to
    the memory the exec'd program has made."""
    try:
        if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1] != [
            os.fsencode(a) for a in argv
        ]:
            return None  # not exec'd yet
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None  # gone, or a zombie (no memory left to report)


def cli(*args: str, env: dict | None = None, timeout: float = 30) -> tuple[int, str, float, float]:
    """(exit code, stderr, seconds, peak RSS in MB) of `python -m ciliumtui ARGS`."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"bounds-{os.getpid()}-{time.time_ns()}"
    argv = [sys.executable, "-m", "ciliumtui", *args]

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))

    start = time.monotonic()
    peak: float | None = None
    with open(f"{out}.err", "w+") as err:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, **(env or {})},
            preexec_fn=cap,
        )
        while True:
            now = _peak_mb(proc.pid, argv)
            if now is not None:
                peak = max(peak or 0.0, now)
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                proc.kill()
                pid, status, _ = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read()
    os.unlink(f"{out}.err")
    assert peak is not None, f"{' '.join(args)}: exited before its memory could be read"
    return proc.returncode, text, time.monotonic() - start, peak


def bomb(levels: int = 9) -> str:
    """Billion laughs: 9 levels of 9 aliases each = 9**9 (387 M) strings when expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    last = chr(96 + levels)
    lines.append(f"id: bomb\nsteps:\n  - {{id: s, action: shell.read, params: {{argv: *{last}}}}}")
    return "\n".join(lines) + "\n"


def one_located_line(text: str, path: Path) -> str:
    lines = [x for x in text.splitlines() if x.strip()]
    assert lines, text
    assert "Traceback" not in text and "internal error" not in text, text
    return lines[0]


# ------------------------------------------------------------------------- YAML bombs


def test_billion_laughs_playbook_is_refused_in_bounded_time_and_memory(tmp_path):
    f = tmp_path / "bomb.yaml"
    f.write_text(bomb())
    for args in (("playbooks", "validate", str(f)), ("run", str(f), "--dry-run")):
        rc, err, seconds, mb = cli(*args, env={"CILIUMTUI_STATE_DIR": str(tmp_path / "s")})
        line = one_located_line(err, f)
        assert rc == 3, err
        assert f"{f}:" in line and "alias bomb" in line, line
        assert seconds < SECONDS and mb < MEMORY_MB, (args, seconds, mb)


def test_yaml_reader_bounds_alias_expansion_depth_and_size():
    t0 = time.monotonic()
    with pytest.raises(YamlError, match=r"^x.yaml:\d+:\d+: document too large"):
        load(bomb(), "x.yaml")
    with pytest.raises(YamlError, match=r"^x.yaml:1:8: recursive alias \*a"):
        load("a: &a [*a]", "x.yaml")
    deep = r"^x.yaml:1:\d+: (nested more than 64 levels deep|.*exceeded maximum nesting depth)"
    with pytest.raises(YamlError, match=deep):
        load("[" * 100_000, "x.yaml")
    with pytest.raises(YamlError, match=deep):
        load("[" * 65 + "]" * 65, "x.yaml")
    with pytest.raises(YamlError, match=r"^x.yaml:\d+:\d+: "):
        load("- " * 5000 + "x", "x.yaml")
    with pytest.raises(YamlError, match=r"^x.yaml:1:1: document larger than"):
        load("a: " + "x" * (9 * 1024 * 1024), "x.yaml")
    assert time.monotonic() - t0 < 5
    # What is fine stays fine: aliases, merge keys, safe_load's scalars.
    doc = "base: &b {x: 1, y: 2}\nm: {<<: *b, y: 3}\nl: [*b, *b]\nf: 1.5\nn: ~\n"
    assert load(doc, "ok.yaml") == {
        "base": {"x": 1, "y": 2},
        "m": {"x": 1, "y": 3},
        "l": [{"x": 1, "y": 2}, {"x": 1, "y": 2}],
        "f": 1.5,
        "n": None,
    }


def test_deep_nesting_in_a_playbook_is_located_not_a_recursion_error(tmp_path):
    f = tmp_path / "deep.yaml"
    f.write_text("id: x\nsteps:\n  - {id: s, action: shell.read, params: {argv: " + "[" * 50_000)
    rc, err, seconds, _ = cli("run", str(f), env={"CILIUMTUI_STATE_DIR": str(tmp_path / "s")})
    line = one_located_line(err, f)
    assert rc == 3 and f"{f}:3:" in line and "nesting depth" in line, line
    assert seconds < SECONDS


# --------------------------------------------------------------------------- ReDoS

REGEX_PB = """\
id: redos
inputs:
  name: {{type: string, regex: '{regex}', required: true}}
steps:
  - id: echo
    action: shell.read
    params: {{argv: [echo, "{{{{ inputs.name }}}}"]}}
"""


@pytest.mark.parametrize(
    ("regex", "value"),
    [
        ("^(a|aa)+$", "a" * 5000 + "!"),  # backtracks for ever in `re` and `regex` alike
        ("^(a+)+$", "a" * 60_000 + "!"),  # the pattern (the `regex` engine copes)
        ("(x+x+)+y", "x" * 20_000),
    ],
    ids=["a-or-aa", "a-plus-plus", "x-plus-x-plus"],
)
def test_catastrophic_input_regex_is_bounded(tmp_path, regex, value):
    f = tmp_path / "redos.yaml"
    f.write_text(REGEX_PB.format(regex=regex))
    rc, err, seconds, mb = cli(
        "run", str(f), "--input", f"name={value}", env={"CILIUMTUI_STATE_DIR": str(tmp_path)}
    )
    line = one_located_line(err, f)
    assert rc == 3 and "--input name:" in line, line
    assert "does not match" in line or "did not finish within" in line, line
    assert seconds < SECONDS and mb < MEMORY_MB, (seconds, mb)


def test_catastrophic_default_is_bounded_at_load(tmp_path):
    text = REGEX_PB.format(regex="^(a|aa)+$").replace(
        "required: true", "default: " + "a" * 3000 + "b"
    )
    t0 = time.monotonic()
    errs = validate_text(text, "pb.yaml")
    assert time.monotonic() - t0 < 3
    assert any(e.startswith("pb.yaml:3:") and "did not finish within" in e for e in errs), errs


# ----------------------------------------------------------- numbers and durations

GOOD = """\
id: nums
version: 1
steps:
  - id: look
    action: shell.read
    params: {argv: ["true"]}
    timeout: 30
    retry: {attempts: 2, delay: 1}
  - id: change
    action: shell
    risk: low
    params: {argv: ["true"]}
    rate_limit: {key: k, max: 3, per: 30m}
"""


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("timeout: 30", "timeout: .nan", "pb.yaml:7:14:", "must be a finite duration, got nan"),
        ("timeout: 30", "timeout: .inf", "pb.yaml:7:14:", "must be a finite duration, got inf"),
        ("timeout: 30", "timeout: -.inf", "pb.yaml:7:14:", "finite duration"),
        ("timeout: 30", "timeout: 1.0e+400", "pb.yaml:7:14:", "finite duration"),
        ("timeout: 30", "timeout: 0", "pb.yaml:7:14:", "must be more than 0"),
        ("timeout: 30", "timeout: 8d", "pb.yaml:7:14:", "must be between 0 s and 604800 s"),
        ("delay: 1", "delay: " + "9" * 400, "pb.yaml:8:33:", "duration of sensible size"),
        ("max: 3", "max: 0", "pb.yaml:13:31:", "rate_limit.max of step 'change' must be between 1"),
        ("per: 30m", "per: .nan", "pb.yaml:13:39:", "finite duration"),
        (
            "version: 1",
            "version: " + "1" * 5000,
            "pb.yaml:2:10:",
            "Exceeds the limit (4300 digits)",
        ),
        ("version: 1", "version: " + "1" * 400, "pb.yaml:2:10:", "a 400-digit number"),
        ("attempts: 2", "attempts: 1001", "pb.yaml:8:23:", "between 1 and 1000"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)
def test_bad_numbers_are_validation_errors_with_position(old, new, where, message):
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    errs = validate_text(text, "pb.yaml")
    assert any(e.startswith(where) and message in e for e in errs), errs


def test_good_numbers_load():
    assert validate_text(GOOD, "pb.yaml") == []


def test_huge_integer_input_and_non_utf8_kubeconfig_in_run_are_one_located_line(tmp_path):
    pb = tmp_path / "count.yaml"
    pb.write_text(
        "id: count\ninputs:\n  n: {type: int, default: 1}\nsteps:\n"
        "  - {id: s, action: shell.read, params: {argv: [echo, '{{ inputs.n }}']}}\n"
    )
    env = {"CILIUMTUI_STATE_DIR": str(tmp_path / "s")}
    rc, err, _, _ = cli("run", str(pb), "--input", "n=" + "7" * 5000, env=env)
    line = one_located_line(err, pb)
    assert rc == 3 and "--input n: '7777" in line and "is not an integer" in line, line
    assert len(line) < 200
    rc, err, _, _ = cli("run", str(pb), "--input", "n=" + "7" * 30, env=env)
    assert rc == 3 and "--input n: must be between -9007199254740992 and 9007" in err, err

    kube = tmp_path / "kubeconfig"
    kube.write_bytes(b"apiVersion: v1\nclusters:\n- name: c\n  cluster: {server: 'caf\xe9'}\n")
    for extra in ((), ("--dry-run",)):
        rc, err, seconds, _ = cli(
            "run", "restart", "--yes", "--kubeconfig", str(kube), *extra, env=env
        )
        line = one_located_line(err, kube)
        assert rc == 3, err
        assert f"kubeconfig {kube}:4:25: not UTF-8 text (byte 0xe9" in line, line
        assert seconds < SECONDS
