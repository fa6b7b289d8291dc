"""The dumps a one-shot command starts before its imports (ciliumtui.prefetch): the
probes read them as if they had run them — same data, same one-line errors, and a
hung one is killed at the probe's timeout."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from ciliumtui import prefetch
from ciliumtui.errors import CiliumtuiError
from ciliumtui.node.ipjson import ip_json


@pytest.fixture(autouse=True)
def _nothing_left_over():
    yield
    for proc, out, err in prefetch._dumps.values():
        proc.kill()
        proc.wait()
        out.close()
        err.close()
    prefetch._dumps.clear()
    for proc in prefetch._started.values():
        proc.kill()
        proc.wait()
    prefetch._started.clear()


@pytest.mark.root
async def test_a_prefetched_dump_is_what_the_probe_would_have_read(make_netns) -> None:
    ns = make_netns("pf")
    subprocess.run(["ip", "-n", ns, "addr", "add", "10.9.0.1/24", "dev", "lo"], check=True)
    # An alias may hold any bytes (ip -j prints them raw): not UTF-8 here.
    subprocess.run(
        [b"ip", b"-n", ns.encode(), b"link", b"set", b"lo", b"alias", b"caf\xe9"], check=True
    )
    direct = await ip_json(["-d", "addr", "show"], ns)
    prefetch.start_saves(ns)
    time.sleep(0.3)  # the imports a real start does meanwhile
    # Taken once: the probe reads the dump started at start-up ...
    assert prefetch.ip_argv(ns, ("-d", "addr", "show")) in prefetch._dumps
    early = await ip_json(["-d", "addr", "show"], ns)
    assert early == direct
    assert any(link.get("ifalias") == "caf\ufffd" for link in early)
    assert prefetch.ip_argv(ns, ("-d", "addr", "show")) not in prefetch._dumps
    # ... and every later read is a new one.
    subprocess.run(["ip", "-n", ns, "addr", "add", "10.9.1.1/24", "dev", "lo"], check=True)
    later = await ip_json(["-d", "addr", "show"], ns)
    assert "10.9.1.1" in str(later) and "10.9.1.1" not in str(early)


async def test_a_failed_prefetched_dump_is_the_same_one_line_error() -> None:
    ns = "no-such-netns-pf"
    with pytest.raises(CiliumtuiError) as direct:
        await ip_json(["route", "show", "table", "all"], ns)
    prefetch.start_saves(ns)
    with pytest.raises(CiliumtuiError) as early:
        await ip_json(["route", "show", "table", "all"], ns)
    assert str(early.value) == str(direct.value)
    assert "\n" not in str(early.value) and str(early.value).startswith("ip -n no-such-netns-pf")


async def test_a_hung_prefetched_dump_is_killed_at_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "ip"
    fake.write_text(f'#!/bin/sh\necho "$$ $*" >> {tmp_path}/pids\nexec sleep 60\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    prefetch.start_saves(None)
    start = time.perf_counter()
    with pytest.raises(CiliumtuiError, match=r"ip -N -j -d addr show: timed out after 0.5s"):
        await ip_json(["-d", "addr", "show"], None, timeout=0.5)
    assert time.perf_counter() - start < 2.0
    pids = (tmp_path / "pids").read_text().splitlines()
    pid = next(int(ln.split()[0]) for ln in pids if ln.endswith("-d addr show"))
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped, not left sleeping
