"""netns.run: what a probe's command prints is all there, and the command never
waits for this process to read it."""

from __future__ import annotations

import asyncio
import gc
import time

from ciliumtui.cli import main
from ciliumtui.netns import run

BIG = 2_000_000  # ~30 pipe buffers: through a pipe, the writer stalls until read


async def test_a_big_output_is_complete_and_the_command_ends_while_the_loop_is_busy() -> None:
    # The command writes 2 MB, then the time it finished. While it writes, the event
    # loop is busy (as it is while other probes parse): nothing reads its output.
    script = f"sleep 0.3; head -c {BIG} /dev/zero | tr '\\0' a; date +%s.%N >&2"
    task = asyncio.ensure_future(run(["sh", "-c", script]))
    await asyncio.sleep(0.05)  # the command has started (and sleeps)
    time.sleep(1.0)  # the loop is blocked: no read of any pipe can happen now
    unblocked = time.time()
    done = await task
    assert done.rc == 0
    assert done.stdout == "a" * BIG
    finished = float(done.stderr.strip())
    # Through a pipe the command would still be writing when the loop came back.
    assert finished < unblocked, f"the command ended {finished - unblocked:.3f}s after the loop"


async def test_a_command_that_prints_nothing_gives_empty_output() -> None:
    done = await run(["true"])
    assert (done.rc, done.stdout, done.stderr) == (0, "", "")


def test_a_command_run_in_process_leaves_the_cyclic_collector_on(tmp_path) -> None:
    # The CLI turns collections off while its modules load; a caller that runs it
    # in-process (tests, a wrapper) gets them back, whatever the command did.
    assert gc.isenabled()
    main(["snapshot", "--json", "--node-file", str(tmp_path / "missing.json")])
    assert gc.isenabled()
    main(["playbooks", "list"])
    assert gc.isenabled()
