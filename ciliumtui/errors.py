"""The one error type that reaches the user: a single clear line, exit code 3."""

from __future__ import annotations


class CiliumtuiError(Exception):
    """A tool or usage error. `str(exc)` is the whole message shown to the user."""

    exit_code = 3
