"""`ciliumtui playbooks list | show PLAYBOOK | validate FILE...`."""

from __future__ import annotations

import argparse
import sys

from ..engine.actions import REGISTRY
from ..engine.loader import builtin_ids, load_playbook, validate_file
from ..errors import CiliumtuiError
from ..options import Options


def _list() -> int:
    rows = []
    for pid in builtin_ids():
        try:
            pb = load_playbook(pid)
            mut = sum(1 for s in pb.steps if s.mutates)
            n = len(pb.steps)
            changes = f"{mut} change the node or cluster" if mut else "read-only"
            rows.append((pid, pb.title, f"{n} step{'s' if n != 1 else ''}, {changes}"))
        except CiliumtuiError as exc:
            rows.append((pid, f"INVALID: {exc}", ""))
    width = max(len(r[0]) for r in rows) if rows else 0
    for pid, title, note in rows:
        print(f"{pid:<{width}}  {title}{'  (' + note + ')' if note else ''}")
    return 0


def _show(ref: str) -> int:
    pb = load_playbook(ref)
    print(f"{pb.id} v{pb.version}: {pb.title}")
    if pb.description:
        for line in pb.description.rstrip().splitlines():
            print(f"  {line}")
    if pb.inputs:
        print("inputs:")
        for i in pb.inputs.values():
            extra = (
                f" default={i.default!r}"
                if i.default is not None
                else (" (required)" if i.required else "")
            )
            print(f"  {i.name}: {i.type}{extra}{'  ' + i.help if i.help else ''}")
    for section, steps in (("steps", pb.steps), ("always", pb.always)):
        if not steps:
            continue
        print(f"{section}:")
        for s in steps:
            kind = f"{'changes' if s.mutates else 'reads'}, risk {s.risk}"
            print(f"  [{s.phase}] {s.id}: {s.label}")
            print(f"      {s.action} ({kind}){'  when: ' + s.when.text if s.when else ''}")
            summary = REGISTRY[s.action].summary
            if summary:
                print(f"      {summary}")
            if s.rollback:
                print(f"      rollback: {s.rollback.action} {s.rollback.params}")
    return 0


def _validate(files: list[str]) -> int:
    bad = 0
    for f in files:
        errors = validate_file(f)
        for e in errors:
            print(e, file=sys.stderr)
        if errors:
            bad += 1
        else:
            print(f"{f}: ok")
    return 3 if bad else 0


def main(args: argparse.Namespace, opts: Options) -> int:
    if args.action == "list":
        return _list()
    if args.action == "show":
        return _show(args.playbook)
    return _validate(args.files)
