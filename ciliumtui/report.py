"""A Markdown incident report from a run journal (pure: records in, text out).

The journal is already redacted at its sink; the report redacts again (records
and URL credentials in the finished text), because a report is the document most
likely to be pasted into a ticket or a chat.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .engine.journal import redact
from .model import severity_order
from .redact import redact_url


def _first(records: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((r for r in records if r.get("kind") == kind), None)


def _last(records: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((r for r in reversed(records) if r.get("kind") == kind), None)


def _finding_sets(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Every findings list a diagnose/verify step captured, in order."""
    return [
        r["data"]["findings"]
        for r in records
        if r.get("kind") == "step_finished"
        and isinstance((r.get("data") or {}).get("findings"), list)
    ]


def _findings_md(findings: list[dict[str, Any]]) -> list[str]:
    if not findings:
        return ["No findings."]
    lines = []
    # root causes first (diagnose JSON schema 2; older journals have no root_cause: all roots)
    for f in sorted(
        findings,
        key=lambda f: (
            f.get("root_cause") is False,
            severity_order(f.get("severity")),
            f.get("id", ""),
        ),
    ):
        cause = f" (explained by {', '.join(f['explained_by'])})" if f.get("explained_by") else ""
        lines.append(f"- **{f.get('severity', '?')}** `{f.get('id')}`: {f.get('title', '')}{cause}")
        lines += [f"  - {e}" for e in f.get("evidence") or []]
    return lines


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def render_report(records: list[dict[str, Any]], run_id: str, secrets: Iterable[str] = ()) -> str:
    """`secrets`: known secret values (e.g. from the kubeconfig) masked wherever they appear."""
    records = redact(records, secrets)
    start = _first(records, "run_started") or {}
    end = _last(records, "run_finished")
    info = start.get("data") or {}
    mode = info.get("mode") or {}
    out = [f"# Incident report: {info.get('node') or 'unknown node'}", ""]
    out += [
        f"- Run: `{run_id}`",
        f"- Playbook: `{info.get('playbook')}` (version {info.get('version')}, sha256 {str(info.get('sha256', ''))[:12]})",
        f"- Node: `{info.get('node')}`; kube context: `{info.get('context') or 'none'}`",
        f"- Operator: {(info.get('operator') or {}).get('user', '?')} on {(info.get('operator') or {}).get('host', '?')}",
        "- Mode: " + (", ".join(k.replace("_", "-") for k, v in mode.items() if v) or "live"),
        f"- Started: {start.get('ts', '?')}; finished: {end.get('ts') if end else 'not finished (interrupted?)'}",
        f"- Outcome: **{end.get('status') if end else 'unknown'}**"
        + (f" — {end['message']}" if end and end.get("message") else ""),
        "",
    ]
    sets = _finding_sets(records)
    out += ["## Findings before", ""] + (
        _findings_md(sets[0]) if sets else ["Not diagnosed in this run."]
    )
    out += ["", "## Findings after", ""]
    out += _findings_md(sets[-1]) if len(sets) > 1 else ["No later diagnosis in this run."]

    out += [
        "",
        "## Timeline",
        "",
        "| time | step | event | status | detail |",
        "|---|---|---|---|---|",
    ]
    for r in records:
        if r.get("kind") in ("step_output",):
            continue
        detail = r.get("message") or ""
        if r.get("kind") == "step_finished" and r.get("ms") is not None:
            detail = f"{detail} ({r['ms']:.0f} ms)".strip()
        out.append(
            f"| {_cell(r.get('ts', ''))} | {_cell(r.get('step_id', ''))} | {_cell(r.get('kind'))} "
            f"| {_cell(r.get('status', ''))} | {_cell(detail)} |"
        )

    commands = [
        (r.get("step_id"), line)
        for r in records
        if r.get("kind") == "step_started" and r.get("mutates")
        for line in r.get("plan") or []
    ]
    out += ["", "## Commands run", ""]
    if commands:
        out += ["```"] + [f"# {step}\n{line}" for step, line in commands] + ["```"]
    else:
        out.append("No changes were made.")

    backups = [
        f
        for r in records
        if r.get("kind") == "backup_saved"
        for f in (r.get("data") or {}).get("files", [])
    ]
    out += ["", "## Backups taken", ""]
    if backups:
        out += [f"- `{b.get('path')}` (sha256 {str(b.get('sha256', ''))[:16]})" for b in backups]
    else:
        out.append("None.")
    out.append("")
    # Again over the finished text: a URL with credentials must not reach a ticket even
    # if it came in through a field the record redaction does not walk.
    return redact_url("\n".join(out))
