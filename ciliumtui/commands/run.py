"""`ciliumtui run PLAYBOOK [--dry-run] [--yes] [--input k=v] [--resume ID] [--json]`.

Prints each step's plan, progress and result as the runner's events arrive
(text to stdout, or one JSON object per event with --json). Exit codes: 0 success
(or a dry-run), 1 a step/verify failed, 3 usage/load error, refused (read-only,
declined, confirmation needed without a TTY and without --yes, another run holds
the node's lock, preflight found a step's needs missing) or a dry-run that could
not be planned.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import TextIO

from .. import aio
from ..engine.events import ConfirmRequest, Event, plan_line
from ..engine.loader import load_playbook, parse_input_args, resolve_inputs
from ..engine.runner import Runner
from ..options import Options

_MARK = {
    "ok": "✔",
    "failed": "✘",
    "skipped": "–",
    "refused": "⊘",
    "planned": "◇",
    "declined": "⊘",
    "unplanned": "✘",
}


class TextPrinter:
    """Human progress: a header per step, its plan once, live output, the result."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.current: str | None = None
        self.plan_shown: set[str] = set()

    def _header(self, ev: Event) -> None:
        if ev.step_id and ev.step_id != self.current:
            self.current = ev.step_id
            risk = f"  (changes: risk {ev.risk})" if ev.mutates else ""
            self.out.write(f"\n[{ev.phase}] {ev.step_id}: {ev.title}{risk}\n")

    def _plan(self, ev: Event, intro: str = "") -> None:
        if ev.plan and ev.step_id not in self.plan_shown:
            self.plan_shown.add(ev.step_id or "")
            if intro:
                self.out.write(f"    {intro}\n")
            for line in ev.plan:
                self.out.write(f"    {plan_line(line)}\n")

    def __call__(self, ev: Event) -> None:
        w = self.out.write
        if ev.kind == "run_started":
            d = ev.data
            mode = [m for m, on in (d.get("mode") or {}).items() if on and m != "assume_yes"]
            w(
                f"▶ {d.get('playbook')} on node {d.get('node')} (context {d.get('context') or '-'})"
                f"{' [' + ', '.join(mode) + ']' if mode else ''}  run {ev.run_id}\n"
            )
            if ev.message:  # e.g. a stale lock of a dead run taken over
                w(f"  note: {ev.message}\n")
        elif ev.kind == "run_finished":
            w(f"\n■ {ev.status}{': ' + ev.message if ev.message else ''}\n  run id: {ev.run_id}\n")
        elif ev.kind == "rollback_started":
            w(
                f"\n↺ rolling back: {', '.join(ev.data.get('steps') or []) or 'nothing to roll back'}\n"
            )
        elif ev.step_id:
            self._header(ev)
            if ev.kind == "step_planned":
                self._plan(ev, "dry-run, would run:")
            elif ev.kind in ("confirm_requested", "step_started"):
                self._plan(ev)
            elif ev.kind == "confirm_granted" and ev.data.get("by") == "--yes":
                w("    confirmed by --yes\n")
            elif ev.kind == "backup_saved":
                w(f"    backup saved: {ev.data.get('dir')}\n")
            elif ev.kind == "step_output" and ev.message:
                w(f"    {ev.message}\n")
            elif ev.kind == "step_finished":
                ms = f" ({ev.ms:.0f} ms)" if ev.ms is not None else ""
                msg = f": {ev.message}" if ev.message else ""
                w(f"  {_MARK.get(ev.status or '', '?')} {ev.status}{ms}{msg}\n")
        self.out.flush()


def json_printer(out: TextIO) -> Callable[[Event], None]:
    def emit(ev: Event) -> None:
        out.write(json.dumps(ev.to_dict(), default=str) + "\n")
        out.flush()

    return emit


async def tty_confirm(req: ConfirmRequest) -> bool:
    """Ask on the terminal. Cancel is the default: anything but y / the node name declines."""
    err = sys.stderr
    err.write(f"\n  context: {req.context or '-'}   node: {req.node}   risk: {req.risk}\n")
    if req.message:
        err.write(f"  {req.message}\n")
    for line in req.plan:
        err.write(f"    {plan_line(line)}\n")
    err.write("  " + req.prompt())
    err.flush()
    try:
        answer = await asyncio.to_thread(sys.stdin.readline)
    except (OSError, ValueError):
        return False
    return req.accepts(answer)


def main(args: argparse.Namespace, opts: Options) -> int:
    opts.validate()
    pb = load_playbook(args.playbook)
    inputs = resolve_inputs(pb, parse_input_args(args.input or []), opts.node_name)
    interactive = sys.stdin.isatty() and not args.json
    runner = Runner(
        pb,
        opts,
        inputs,
        dry_run=args.dry_run,
        assume_yes=args.yes,
        confirm=tty_confirm if interactive else None,
        on_event=json_printer(sys.stdout) if args.json else TextPrinter(sys.stdout),
        resume=args.resume,
    )
    result = aio.run(runner.run())
    if result.status in ("refused", "declined", "unplanned") and not args.json:
        print(f"ciliumtui: {result.message}", file=sys.stderr)
    return result.exit_code
