"""The write-ahead run journal (JSONL), the state dir, and redaction at the sink.

State dir: $CILIUMTUI_STATE_DIR, else /var/lib/ciliumtui for root, else
$XDG_STATE_HOME/ciliumtui (default ~/.local/state/ciliumtui). Each run lives in
runs/<run-id>/ with journal.jsonl and backups/ beside it.

Secrets never reach the file: every record passes `redact()` right before it is
written (keys named like tokens/passwords/keys, bearer tokens and kubeconfig
credential fields inside strings, the userinfo of URLs, and the values of `secret: true`
inputs).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..redact import redact_url

_SECRET_KEY = re.compile(
    r"(token|password|passwd|secret|client[-_]?key|private[-_]?key|authorization|bearer|"
    r"api[-_]?key|credential)",
    re.I,
)
_SECRET_TEXT = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (
        re.compile(
            r"(?i)((?:client-key-data|client-certificate-data|token|password|passwd|secret)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"
        ),
        r"\1***",
    ),
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        "***PRIVATE KEY***",
    ),
]


def state_dir() -> Path:
    env = os.environ.get("CILIUMTUI_STATE_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/ciliumtui")
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "ciliumtui"


def runs_dir() -> Path:
    return state_dir() / "runs"


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    secrets = [s for s in secrets if s and len(str(s)) >= 3]
    return _redact(value, [str(s) for s in secrets])


def _redact(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if (
                isinstance(k, str)
                and _SECRET_KEY.search(k)
                and isinstance(v, (str, int, float))
                and v != ""
            ):
                out[k] = "***"
            else:
                out[k] = _redact(v, secrets)
        return out
    if isinstance(value, (list, tuple)):
        return [_redact(v, secrets) for v in value]
    if isinstance(value, str):
        value = redact_url(value)  # a password in a URL's userinfo (kubeconfig server:)
        for s in secrets:
            value = value.replace(s, "***")
        for pattern, repl in _SECRET_TEXT:
            value = pattern.sub(repl, value)
        return value
    return value


class Journal:
    """Append-only JSONL. `write(record, sync=True)` returns only once the record is on disk."""

    def __init__(self, path: Path, secrets: Iterable[str] = ()) -> None:
        self.path = path
        self.secrets = list(secrets)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, record: dict[str, Any], sync: bool = False) -> None:
        line = json.dumps(redact(record, self.secrets), default=str, ensure_ascii=False)
        self._fh.write(line + "\n")
        self._fh.flush()
        if sync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The records of a journal; a torn last line (the process was killed) is ignored."""
    out = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def journal_path(run_id: str) -> Path:
    return runs_dir() / run_id / "journal.jsonl"


def list_runs() -> list[str]:
    """Run ids, oldest first (ids start with a UTC timestamp)."""
    d = runs_dir()
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if (p / "journal.jsonl").is_file())


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
