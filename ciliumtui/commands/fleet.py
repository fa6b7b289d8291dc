"""`ciliumtui fleet manifest|status|run` (DESIGN §10).

manifest  prints what to `kubectl apply -f -` (no cluster needed)
status    every node's condition and NodeDiagnosis: exit 0 all healthy, 1 warnings
          only (or nodes unknown / not reporting), 2 a broken node, 3 could not read
run       rolls a node playbook as one Job per node: exit 0 every target done,
          1 a node failed (or was not started), 3 refused (the Lease is held) or
          could not read; --dry-run shows the plan and creates nothing
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import CiliumtuiError
from ..fleet import NAMESPACE
from ..fleet.incluster import pod_options
from ..options import Options


def main(args: argparse.Namespace, opts: Options) -> int:
    if args.action == "manifest":
        return _manifest(args)
    opts = pod_options(opts)
    if args.action == "status":
        return _status(args, opts)
    return _run(args, opts)


def _manifest(args: argparse.Namespace) -> int:
    from ..fleet.manifest import DEFAULT_IMAGE, render

    sys.stdout.write(render(args.namespace or NAMESPACE, args.image or DEFAULT_IMAGE))
    return 0


def _status(args: argparse.Namespace, opts: Options) -> int:
    from ..fleet.read import read_fleet
    from ..fleet.status import render_text

    read = read_fleet(opts, args.selector)
    fs = read.status()
    if read.crd_missing:
        print(
            "ciliumtui: note: the NodeDiagnosis CRD is not installed "
            "(`ciliumtui fleet manifest | kubectl apply -f -`)",
            file=sys.stderr,
        )
    if args.json:
        sys.stdout.write(json.dumps(fs.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(fs))
    return fs.exit_code


def _run(args: argparse.Namespace, opts: Options) -> int:
    from ..cluster.client import api_client
    from ..fleet.jobs import check_playbook, parse_budget, plan, render_plan
    from ..fleet.manifest import DEFAULT_IMAGE
    from ..fleet.read import read_fleet
    from ..fleet.roll import Roll

    check_playbook(args.playbook)
    if args.job_timeout < 10:
        raise CiliumtuiError("--job-timeout must be at least 10 seconds")
    namespace = args.namespace or NAMESPACE
    image = args.image or DEFAULT_IMAGE
    read = read_fleet(opts, args.selector)
    if read.crd_missing:
        raise CiliumtuiError(
            "fleet run: no NodeDiagnosis CRD, so no node's needs are known "
            "(apply `ciliumtui fleet manifest` and let the publishers report first)"
        )
    targets = plan(read.status(), args.playbook)
    budget = parse_budget(args.max_unavailable, max(1, sum(t.run for t in targets)))
    if args.dry_run:
        sys.stdout.write(render_plan(targets, args.playbook, budget, image))
        return 0
    api = api_client(opts)
    try:
        roll = Roll(
            api,
            opts,
            args.playbook,
            targets,
            budget,
            namespace,
            image,
            args.job_timeout,
            say=lambda line: print(line, flush=True),
            context=getattr(api, "ciliumtui_context", None),
        )
        return roll.run().exit_code
    finally:
        api.close()
