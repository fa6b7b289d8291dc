"""`ciliumtui diagnose [--json] [--fail-on warning|critical] [--from FILE]` (DESIGN §4).

Exit codes: 0 ok, 1 warning, 2 critical, 3 could not diagnose. An unreachable
apiserver is a finding (critical → 2), not a failure to diagnose. Imports stay
light: `--from` never loads the kubernetes client, pydantic, dnspython or textual.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from .. import aio
from ..checks import run_checks
from ..errors import CiliumtuiError
from ..model import Finding, Snapshot
from ..options import Options

EXIT_OK, EXIT_WARNING, EXIT_CRITICAL = 0, 1, 2


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


def exit_code(findings: list[Finding], fail_on: str = "warning") -> int:
    worst = {f.severity for f in findings}
    if "critical" in worst:
        return EXIT_CRITICAL
    if "warning" in worst and fail_on == "warning":
        return EXIT_WARNING
    return EXIT_OK


def to_json(snap: Snapshot, findings: list[Finding]) -> dict[str, Any]:
    return {
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
    for sev in ("critical", "warning", "info"):
        group = [f for f in findings if f.severity == sev]
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
    failed = {n: p for n, p in snap.probes.items() if not p.ok}
    if snap.probes:
        lines.append("")
        summary = f"probes: {len(snap.probes) - len(failed)} ok, {len(failed)} failed"
        lines.append(c("dim", summary))
        lines += [c("dim", f"  {n}: {p.error} ({p.ms:.0f} ms)") for n, p in failed.items()]
    counts = {
        s: sum(1 for f in findings if f.severity == s) for s in ("critical", "warning", "info")
    }
    lines.append(
        c(
            "bold",
            f"{counts['critical']} critical, {counts['warning']} warning, {counts['info']} info",
        )
    )
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace, opts: Options) -> int:
    from_file = getattr(args, "from_file", None)
    snap = load_snapshot(from_file) if from_file else take_snapshot(opts)
    findings = run_checks(snap)
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(to_json(snap, findings), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(snap, findings, colour=use_colour(sys.stdout)))
    sys.stdout.flush()
    return exit_code(findings, getattr(args, "fail_on", "warning") or "warning")
