"""`ciliumtui diagnose [--format text|json|npd|prom|junit] [--json] [--fail-on warning|critical]
[--from FILE] [--out FILE]` (DESIGN §4).

Exit codes: 0 ok, 1 warning, 2 critical, 3 could not diagnose — except `--format npd`,
which speaks node-problem-detector's plugin protocol (0 ok, 1 problem, 2 unknown).
An unreachable apiserver is a finding (critical → 2), not a failure to diagnose.
Imports stay light: `--from` never loads the kubernetes client, pydantic, dnspython
or textual. `--out FILE` writes atomically (a temporary file renamed over FILE), so
node_exporter's textfile collector never reads half a file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from .. import __version__, aio
from ..checks import run_checks
from ..checks.causes import symptoms_of
from ..errors import CiliumtuiError
from ..model import SEVERITIES, SEVERITY_RANK, Finding, Snapshot
from ..options import Options

EXIT_OK, EXIT_WARNING, EXIT_CRITICAL = 0, 1, 2
JSON_SCHEMA = 2  # DESIGN §4: root_cause/explained_by, tool_version, generated_at
FORMATS = ("text", "json", "npd", "prom", "junit")


def load_snapshot(path: str) -> Snapshot:
    """A snapshot saved by `ciliumtui snapshot --json`; any problem is one line, exit 3."""
    from ..snapshot_load import snapshot_from_dict

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise CiliumtuiError(f"--from {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CiliumtuiError(f"--from {path}: not a text file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CiliumtuiError(f"--from {path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    try:
        return snapshot_from_dict(data)
    except ValueError as exc:
        raise CiliumtuiError(f"--from {path}: {exc}") from None


def take_snapshot(opts: Options) -> Snapshot:
    """Probe this node and its cluster (node and cluster probes run concurrently)."""

    from ..collect import collect

    opts = opts.validate()
    try:
        return aio.run(collect(opts))
    except ImportError as exc:  # a probe module missing from this install
        raise CiliumtuiError(f"cannot probe: {exc}") from None


def failing(findings: list[Finding], fail_on: str = "warning") -> list[Finding]:
    """The findings at or above `fail_on` (warning: critical and warning)."""
    floor = SEVERITY_RANK["warning" if fail_on == "warning" else "critical"]
    return [f for f in findings if SEVERITY_RANK[f.severity] >= floor]


def exit_code(findings: list[Finding], fail_on: str = "warning") -> int:
    worst = {f.severity for f in failing(findings, fail_on)}
    if "critical" in worst:
        return EXIT_CRITICAL
    if "warning" in worst:
        return EXIT_WARNING
    return EXIT_OK


def rfc3339(when: datetime | None = None) -> str:
    """'2026-11-26T19:00:00Z' (UTC, seconds)."""
    return (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_json(
    snap: Snapshot, findings: list[Finding], generated_at: str | None = None
) -> dict[str, Any]:
    """The diagnose JSON of DESIGN §4 (schema 2); also NodeDiagnosis.status (§10)."""
    return {
        "schema": JSON_SCHEMA,
        "tool_version": __version__,
        "generated_at": generated_at or rfc3339(),
        "node": snap.node_name,
        "cilium_version": snap.cilium_version,
        "findings": [f.to_json() for f in findings],
        "probes": {
            name: {"ok": p.ok, "error": p.error, "ms": p.ms} for name, p in snap.probes.items()
        },
    }


# ------------------------------------------------------------------ human text

_STYLE = {"critical": "1;31", "warning": "1;33", "info": "1;36", "dim": "2", "bold": "1"}
_MARK = {"critical": "✗", "warning": "!", "info": "i"}


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR")  # no-color.org: set and non-empty


def render_text(snap: Snapshot, findings: list[Finding], *, colour: bool = False) -> str:
    """Root causes by severity, each with its evidence, its fix and — folded under
    it — the symptoms it explains (each shown once, under its first root cause)."""

    def c(style: str, text: str) -> str:
        return f"\x1b[{_STYLE[style]}m{text}\x1b[0m" if colour else text

    lines: list[str] = []
    head = f"node {snap.node_name} · Cilium {snap.cilium_version or 'version unknown'}"
    cl = snap.cluster
    if cl is not None and cl.reachable:
        head += f" · apiserver {cl.server or '?'}" + (
            f" (context {cl.context})" if cl.context else ""
        )
    lines.append(c("bold", head))
    if not findings:
        lines.append("no findings: the node looks healthy")
    roots = [f for f in findings if f.root_cause]
    shown: set[str] = set()
    for sev in SEVERITIES:
        group = [f for f in roots if f.severity == sev]
        if not group:
            continue
        lines.append("")
        lines.append(c(sev, f"{sev.upper()} ({len(group)})"))
        for f in group:
            lines.append(f"  {c(sev, _MARK[sev])} {f.title}  {c('dim', f'[{f.id}]')}")
            lines += [f"      {e}" for e in f.evidence]
            fix = []
            if f.playbook:
                fix.append(f"fix: ciliumtui run {f.playbook}")
            if f.docs:
                fix.append(f"docs: {f.docs}")
            if fix:
                lines.append("      " + c("dim", "  ".join(fix)))
            symptoms = symptoms_of(f.id, findings)
            if symptoms:
                lines.append("      " + c("bold", f"explains: {', '.join(s.id for s in symptoms)}"))
            for s in symptoms:
                if s.id in shown:
                    continue
                shown.add(s.id)
                mark = c(s.severity, _MARK[s.severity])
                lines.append(f"      ↳ {mark} {s.title}  {c('dim', f'[{s.id}]')}")
                lines += [f"            {e}" for e in s.evidence]
                lines.append(
                    "            " + c("dim", f"explained by: {', '.join(s.explained_by)}")
                )
    failed = {n: p for n, p in snap.probes.items() if not p.ok}
    if snap.probes:
        lines.append("")
        summary = f"probes: {len(snap.probes) - len(failed)} ok, {len(failed)} failed"
        lines.append(c("dim", summary))
        lines += [c("dim", f"  {n}: {p.error} ({p.ms:.0f} ms)") for n, p in failed.items()]
    counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    tail = f" ({len(roots)} root cause{'s' if len(roots) != 1 else ''})" if findings else ""
    lines.append(
        c(
            "bold",
            f"{counts['critical']} critical, {counts['warning']} warning, {counts['info']} info"
            + tail,
        )
    )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- output


def write_atomic(path: str, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory and a
    rename: readers see the old file or the new one, never half of one."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    except OSError as exc:
        raise CiliumtuiError(f"--out {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # node_exporter runs as another user
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CiliumtuiError(f"--out {path}: {exc.strerror or exc}") from None


def _format(args: argparse.Namespace) -> str:
    fmt = getattr(args, "format", None)
    if getattr(args, "json", False):
        if fmt not in (None, "json"):
            raise CiliumtuiError(f"--json and --format {fmt} contradict each other")
        return "json"
    return fmt or "text"


def render(
    fmt: str, snap: Snapshot, findings: list[Finding], fail_on: str, *, colour: bool = False
) -> str:
    from . import diagnose_formats as formats

    if fmt == "json":
        return json.dumps(to_json(snap, findings), indent=2) + "\n"
    if fmt == "npd":
        return formats.npd(findings, fail_on)
    if fmt == "prom":
        return formats.prom(snap, findings)
    if fmt == "junit":
        return formats.junit(snap, findings, fail_on)
    return render_text(snap, findings, colour=colour)


def main(args: argparse.Namespace, opts: Options) -> int:
    fmt = _format(args)
    fail_on = getattr(args, "fail_on", "warning") or "warning"
    if fmt == "npd":
        from .diagnose_formats import npd_main

        return npd_main(lambda: _diagnose(args, opts), fail_on, getattr(args, "out", None))
    snap, findings = _diagnose(args, opts)
    out = getattr(args, "out", None)
    text = render(fmt, snap, findings, fail_on, colour=not out and use_colour(sys.stdout))
    if out:
        write_atomic(out, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return exit_code(findings, fail_on)


def _diagnose(args: argparse.Namespace, opts: Options) -> tuple[Snapshot, list[Finding]]:
    from_file = getattr(args, "from_file", None)
    snap = load_snapshot(from_file) if from_file else take_snapshot(opts)
    return snap, run_checks(snap)
