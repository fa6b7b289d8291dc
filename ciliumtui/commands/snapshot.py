"""`ciliumtui snapshot [--json] [--no-cluster]`: what the probes saw."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from ..aio import run
from ..collect import collect
from ..model import ProbeStatus, Snapshot
from ..options import Options
from ..snapshot_text import render_text


def cluster_probes_available() -> bool:
    """The cluster and DNS probes are separate parts; a build may not have them yet."""
    try:
        return hasattr(importlib.import_module("ciliumtui.cluster"), "collect_cluster") and hasattr(
            importlib.import_module("ciliumtui.dns"), "collect_dns"
        )
    except ImportError:
        return False


async def take(opts: Options, cluster: bool) -> Snapshot:
    if cluster and not cluster_probes_available():
        snap = await collect(opts, cluster=False)
        snap.probes["cluster"] = ProbeStatus(
            False, "cluster probes are not available in this build"
        )
        snap.probes = dict(sorted(snap.probes.items()))
        return snap
    return await collect(opts, cluster=cluster)


def main(args: argparse.Namespace, opts: Options) -> int:
    opts = opts.validate()
    snap = run(take(opts, cluster=not getattr(args, "no_cluster", False)))
    if getattr(args, "json", False):
        json.dump(snap.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(snap))
    return 0
