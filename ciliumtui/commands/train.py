"""`ciliumtui train [SCENARIO] [--headless]`: training mode on a simulated broken node."""

from __future__ import annotations

import argparse
import shlex
import signal
import time
from typing import TYPE_CHECKING

from ..options import Options
from ..sim.scenario import list_scenarios, load_scenario

if TYPE_CHECKING:
    from ..training.session import TrainingSession

POLL = 1.0  # seconds between looks at the journal while waiting (headless)


def _list() -> int:
    rows = list_scenarios()
    width = max(len(sid) for sid, _, _ in rows)
    print("Scenarios (ciliumtui train SCENARIO):")
    for sid, title, summary in rows:
        print(f"  {sid:<{width}}  {title}")
        if summary:
            print(f"  {'':<{width}}  {summary}")
    return 0


def main(args: argparse.Namespace, opts: Options) -> int:
    if not args.scenario:
        return _list()
    load_scenario(args.scenario)  # an unknown scenario: one line, exit 3, before any set-up
    from ..training.env import TrainingEnv
    from ..training.session import TrainingSession
    from ..training.tui import mode_line

    print(f"Setting up {args.scenario}…", flush=True)
    # SIGTERM and SIGHUP (the SSH session dropped) tear down like Ctrl-C: nothing may
    # be left behind. A SIGKILL'd session's namespace is reaped by the next one.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    with TrainingEnv(args.scenario) as env:
        session = TrainingSession(env)
        print(mode_line(session), flush=True)
        if not args.headless:
            from ..training.tui import run_training_tui

            code = run_training_tui(session)
            if session.result is not None:
                print("\n".join(session.result.lines()))
            return code
        return _headless(session)


def _headless(session: TrainingSession) -> int:
    env = session.env
    scenario = session.scenario
    print()
    print(f"== {scenario.get('title')} ==")
    print(str(scenario.get("briefing", "")).strip())
    print()
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.env_vars().items())
    flags = shlex.join(env.cli_flags())
    print("In a second terminal (the journal goes to this session's state dir):")
    print(f"  {envs} ciliumtui diagnose {flags}")
    print(f"  {envs} ciliumtui run cleanup {flags}")
    print(f"  {envs} ciliumtui run verify {flags}")
    print(
        f"Hints: {len(session.hints)} (type h + Enter for the next one). "
        "Waiting until verify passes; Ctrl-C gives up.",
        flush=True,
    )
    _hints_on_stdin(session)
    gave_up = False
    try:
        while not session.verify_passed():
            time.sleep(POLL)
    except KeyboardInterrupt:
        gave_up = True
    debrief = session.finish(gave_up=gave_up)
    print()
    print("\n".join(debrief.lines()), flush=True)
    return 0 if debrief.solved else 1


def _hints_on_stdin(session: TrainingSession) -> None:
    """`h` + Enter prints the next hint (each one counts); no stdin, no hints."""
    import sys
    import threading

    def read() -> None:
        for line in sys.stdin:
            if line.strip().lower() in ("h", "hint"):
                hint = session.next_hint()
                print(
                    f"Hint {session.hints_used}: {hint}" if hint else "No more hints.", flush=True
                )

    threading.Thread(target=read, name="train-hints", daemon=True).start()
