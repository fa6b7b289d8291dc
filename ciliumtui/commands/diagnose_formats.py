"""`diagnose --format npd|prom|junit`: the diagnosis for the monitoring people run.

- npd: node-problem-detector's custom-plugin protocol — exit 0 ok, 1 problem,
  2 unknown; the first stdout line (≤ 80 bytes: NPD's default max_output_length)
  names the root cause, so the Node condition's message is the thing to fix.
- prom: node_exporter textfile-collector metrics (text exposition format 0.0.4).
- junit: one testcase per catalogue id, failed when that finding is present at or
  above --fail-on, so CI dashboards show which checks a node passes.
"""

from __future__ import annotations

import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

from ..checks import CATALOGUE
from ..checks.causes import symptoms_of
from ..errors import CiliumtuiError
from ..model import SEVERITIES, Finding, Snapshot
from .diagnose import failing, rfc3339, write_atomic

NPD_OK, NPD_PROBLEM, NPD_UNKNOWN = 0, 1, 2
NPD_MAX_LINE = 80  # bytes


def first_line(text: str, limit: int = NPD_MAX_LINE) -> str:
    """One line of at most `limit` UTF-8 bytes (cut with '…' when longer)."""
    line = " ".join(text.split())
    data = line.encode()
    if len(data) <= limit:
        return line
    return data[: limit - 3].decode(errors="ignore").rstrip() + "…"


# ------------------------------------------------------------------------- npd


def npd(findings: list[Finding], fail_on: str = "warning") -> str:
    """The plugin's stdout: the root cause first, then what it explains."""
    bad = failing(findings, fail_on)
    if not bad:
        rest = f" ({len(findings)} below --fail-on {fail_on})" if findings else ""
        return first_line(f"ok: Cilium networking looks healthy{rest}") + "\n"
    bad_ids = {f.id for f in bad}
    roots = [
        f
        for f in findings
        if f.root_cause
        and (f.id in bad_ids or any(s.id in bad_ids for s in symptoms_of(f.id, findings)))
    ]
    lines = [first_line(f"{r.id}: {r.title}") for r in roots]
    for r in roots[:1]:
        explained = [s.id for s in symptoms_of(r.id, findings)]
        if explained:
            lines.append(f"explains: {', '.join(explained)}")
        if r.playbook:
            lines.append(f"fix: ciliumtui run {r.playbook}")
    return "\n".join(lines) + "\n"


def npd_main(
    run: Callable[[], tuple[Snapshot, list[Finding]]], fail_on: str, out: str | None = None
) -> int:
    """Run the diagnosis under NPD's rules: whatever goes wrong is `unknown` (2) with
    one line saying why — never a traceback, never exit 3 (NPD reads that as unknown
    too, but without a message)."""
    try:
        _, findings = run()
        text, code = npd(findings, fail_on), NPD_OK
        if failing(findings, fail_on):
            code = NPD_PROBLEM
    except CiliumtuiError as exc:
        text, code = first_line(f"unknown: {exc}") + "\n", NPD_UNKNOWN
    except Exception as exc:  # a bug must still be a well-formed plugin answer
        text, code = first_line(f"unknown: {type(exc).__name__}: {exc}") + "\n", NPD_UNKNOWN
    if out:
        write_atomic(out, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return code


# ------------------------------------------------------------------------ prom


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    # full precision: `:g` would print a Unix timestamp as 1.79613e+09
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def prom(snap: Snapshot, findings: list[Finding], now: float | None = None) -> str:
    """node_exporter textfile-collector metrics."""
    out: list[str] = []

    def metric(name: str, help_: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} gauge")
        out.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)

    metric(
        "ciliumtui_finding",
        "A ciliumtui diagnose finding present on this node (1 while present).",
        [(f'{{id="{_label(f.id)}",severity="{f.severity}"}}', 1) for f in findings],
    )
    metric(
        "ciliumtui_root_cause",
        "A present finding that no other finding explains (1 while present).",
        [(f'{{id="{_label(f.id)}"}}', 1) for f in findings if f.root_cause],
    )
    metric(
        "ciliumtui_findings",
        "How many findings are present, by severity.",
        [(f'{{severity="{s}"}}', sum(1 for f in findings if f.severity == s)) for s in SEVERITIES],
    )
    metric(
        "ciliumtui_probe_duration_seconds",
        "How long each probe of the diagnosis took.",
        [(f'{{probe="{_label(n)}"}}', round(p.ms / 1000, 6)) for n, p in snap.probes.items()],
    )
    metric(
        "ciliumtui_probe_ok",
        "Whether each probe of the diagnosis succeeded (1) or failed (0).",
        [(f'{{probe="{_label(n)}"}}', 1 if p.ok else 0) for n, p in snap.probes.items()],
    )
    metric(
        "ciliumtui_last_run_timestamp_seconds",
        "When this diagnosis ran, in seconds since the Unix epoch.",
        [("", round(time.time() if now is None else now, 3))],
    )
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------- junit


def junit(snap: Snapshot, findings: list[Finding], fail_on: str = "warning") -> str:
    """JUnit XML: one testcase per catalogue id."""
    by_id = {f.id: f for f in findings}
    bad = {f.id for f in failing(findings, fail_on)}
    suites = ET.Element("testsuites", name="ciliumtui diagnose")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"ciliumtui diagnose {snap.node_name}",
        tests=str(len(CATALOGUE)),
        failures=str(len(bad)),
        errors="0",
        skipped="0",
        timestamp=rfc3339(),
        hostname=snap.node_name,
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="cilium_version", value=snap.cilium_version or "")
    ET.SubElement(props, "property", name="fail_on", value=fail_on)
    for fid, entry in CATALOGUE.items():
        case = ET.SubElement(
            suite, "testcase", classname=f"ciliumtui.{entry.severity}", name=fid, time="0"
        )
        f = by_id.get(fid)
        if f is None:
            continue
        body = list(f.evidence)
        if f.explained_by:
            body.append(f"explained by: {', '.join(f.explained_by)}")
        if f.playbook:
            body.append(f"fix: ciliumtui run {f.playbook}")
        if fid in bad:
            failure = ET.SubElement(case, "failure", message=f.title, type=f.severity)
            failure.text = "\n".join(body)
        else:
            ET.SubElement(case, "system-out").text = "\n".join([f.title, *body])
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )
