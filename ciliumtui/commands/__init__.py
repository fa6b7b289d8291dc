"""The CLI's subcommands, one module each (ciliumtui.cli parses and dispatches)."""

from __future__ import annotations

import signal


def ctrl_c_stops() -> None:
    """Make Ctrl-C (SIGINT) raise KeyboardInterrupt even when this process was started
    with SIGINT ignored — as every `cmd &` of a non-interactive shell is, and so every
    process a script or CI starts in the background. `sim serve` and `train
    --headless` are stopped by Ctrl-C / `kill -INT` and clean up their namespaces then;
    an ignored SIGINT left them running (and their namespaces behind) for good."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
