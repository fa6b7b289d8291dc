"""Credentials in URLs never leave the process (issue 11): one rule, every sink.

A kubeconfig may carry a password in its server URL (`https://user:pass@host`);
the cluster state, the run journal and the incident report all pass text
through `redact_url` before anyone can read it. Pure (no I/O): the model-level
code may use it.
"""

from __future__ import annotations

import re

# scheme://userinfo@host — the authority ends at "/", "?", "#", whitespace or a
# quote. RFC 3986 forbids a raw "@" in userinfo, but people paste passwords
# unescaped: the match is greedy, so the LAST "@" of the authority ends the
# userinfo and "p@ss" is hidden whole.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s\"'<>]*@")

MASK = "***"


def redact_url(text: str) -> str:
    """`text` with the userinfo of every URL in it replaced by ***.

    >>> redact_url("https://alice:s3cret@10.0.0.1:6443")
    'https://***@10.0.0.1:6443'
    >>> redact_url("server https://10.0.0.1:6443 timed out")
    'server https://10.0.0.1:6443 timed out'
    """
    if "@" not in text:  # the common case costs one scan
        return text
    return _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
