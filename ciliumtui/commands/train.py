"""`ciliumtui train [SCENARIO] [--headless]`: training mode on a simulated broken node.

The list shows each scenario's number and title only: a title says what the
trainee sees, never what is wrong (nor does the list show the scenario ids, which
name the fault; `ciliumtui sim list` is the trainer's view with everything).
A scenario is started by its number or its id.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import time
from typing import TYPE_CHECKING

from ..errors import CiliumtuiError
from ..options import Options
from ..sim.scenario import list_scenarios, load_scenario
from . import ctrl_c_stops

if TYPE_CHECKING:
    from ..training.env import TrainingEnv
    from ..training.session import TrainingSession

POLL = 1.0  # seconds between looks at the journal while waiting (headless)


def _list() -> int:
    rows = list_scenarios()
    print("Training scenarios (start one with `ciliumtui train N`):")
    for n, (_sid, title, _summary) in enumerate(rows, start=1):
        print(f"  {n:>2}. {title}")
    return 0


def scenario_id(arg: str) -> str:
    """The scenario an argument names: a number from the list, or an id (or a path)."""
    if arg.isdigit():
        rows = list_scenarios()
        n = int(arg)
        if not 1 <= n <= len(rows):
            raise CiliumtuiError(f"no scenario {n} (there are {len(rows)}: `ciliumtui train`)")
        return rows[n - 1][0]
    return arg


def main(args: argparse.Namespace, opts: Options) -> int:
    if not args.scenario:
        return _list()
    sid = scenario_id(args.scenario)
    load_scenario(sid)  # an unknown scenario: one line, exit 3, before any set-up
    from ..training.env import TrainingEnv
    from ..training.session import TrainingSession
    from ..training.tui import mode_line

    print("Setting up the training node…", flush=True)
    # SIGTERM and SIGHUP (the SSH session dropped) tear down like Ctrl-C: nothing may
    # be left behind. A SIGKILL'd session's namespace and temp dir are reaped by the next one.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    env = TrainingEnv(sid)
    try:
        with env:
            if env.notice:
                print(f"Note: {env.notice}", flush=True)
            session = TrainingSession(env)
            print(mode_line(session), flush=True)
            if not args.headless:
                from ..training.tui import run_training_tui

                code = run_training_tui(session)
                if session.result is not None:
                    print("\n".join(session.result.lines()))
            else:
                code = _headless(session)
    finally:
        _print_kept(env)
    return code


def _print_kept(env: TrainingEnv) -> None:
    """Where the session's journals went (they outlive the session for `report`)."""
    if env.kept_runs:
        last = env.kept_runs[-1]
        print(
            f"Journals kept: {len(env.kept_runs)} run(s); incident report of the last one: "
            f"{env.command_line('report', last, flags=False)}",
            flush=True,
        )


def _headless(session: TrainingSession) -> int:
    env = session.env
    scenario = session.scenario
    print()
    print(f"== {scenario.get('title')} ==")
    print(str(scenario.get("briefing", "")).strip())
    print()
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.env_vars().items())
    print("In a second terminal (the journal goes to this session's state dir):")
    if env.env_file is not None:
        print(f"  . {env.env_file}    # then plain ciliumtui and kubectl act on this node")
        print("  or, spelled out:")
    print(f"  {envs} {env.command_line('diagnose')}")
    print(f"  {envs} {env.command_line('run', 'PLAYBOOK')}")
    print(f"  {envs} {env.command_line('run', 'verify')}")
    print(f"  {envs} {env.command_line('report', 'RUN_ID', flags=False)}")
    _hints_on_stdin(session)
    gave_up = False
    try:  # from the moment Ctrl-C is announced, it gives up (never a bare "interrupted")
        ctrl_c_stops()
        print(
            f"Hints: {len(session.hints)} (type h + Enter for the next one). "
            "Waiting until verify passes; Ctrl-C gives up.",
            flush=True,
        )
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
