"""`ciliumtui publish [--once | --interval S]` (DESIGN §10): diagnose this node and
publish the result as its CiliumNetworkHealthy condition and NodeDiagnosis.

--once publishes one result (exit 0, or 3 when it could not publish); otherwise it
runs until SIGTERM/SIGINT, one cycle per interval (ciliumtui.fleet.publisher).
"""

from __future__ import annotations

import argparse
import signal
import threading

from ..errors import CiliumtuiError
from ..fleet import DEFAULT_INTERVAL
from ..fleet.incluster import pod_options
from ..fleet.publisher import Publisher
from ..options import Options


def main(args: argparse.Namespace, opts: Options) -> int:
    interval = args.interval if args.interval is not None else DEFAULT_INTERVAL
    if args.once and args.interval is not None:
        raise CiliumtuiError("publish: --once and --interval exclude each other")
    if not args.once and interval < 1:
        raise CiliumtuiError("publish: --interval must be at least 1 second")
    # Publishing is read-only on the node whatever the flags say: only the API is written.
    opts = pod_options(opts)
    if args.once:
        return Publisher(opts, 0).once()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    return Publisher(opts, interval).forever(stop)
