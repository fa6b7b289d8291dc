"""`ciliumtui report [RUN_ID] [--out FILE]`: a Markdown incident report of a run."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..engine.journal import journal_path, list_runs, read_journal
from ..errors import CiliumtuiError
from ..options import Options
from ..report import render_report

_SECRET_FIELDS = ("token", "password", "client-key-data", "client-certificate-data")


def kubeconfig_secrets(opts: Options) -> list[str]:
    """Credential values of every kubeconfig this host might use, to mask them by value."""
    import yaml

    paths = [opts.kubeconfig] if opts.kubeconfig else []
    paths += (os.environ.get("KUBECONFIG") or "").split(os.pathsep)
    paths += [
        str(Path.home() / ".kube" / "config"),
        str(opts.host_path("/etc/rancher/k3s/k3s.yaml")),
    ]
    found: list[str] = []
    for p in filter(None, paths):
        try:
            data = yaml.safe_load(Path(p).read_text())
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        for entry in (data or {}).get("users") or [] if isinstance(data, dict) else []:
            user = (entry or {}).get("user") or {}
            found += [
                str(user[k]) for k in _SECRET_FIELDS if isinstance(user, dict) and user.get(k)
            ]
    return found


def main(args: argparse.Namespace, opts: Options) -> int:
    runs = list_runs()
    run_id = args.run_id or (runs[-1] if runs else None)
    if run_id is None:
        raise CiliumtuiError(
            "no runs in the journal yet (run a playbook first: `ciliumtui run diagnose`)"
        )
    records = read_journal(journal_path(run_id))
    if not records:
        raise CiliumtuiError(
            f"no journal for run {run_id} (see `ls {journal_path(run_id).parent.parent}`)"
        )
    text = render_report(records, run_id, kubeconfig_secrets(opts))
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CiliumtuiError(f"--out {args.out}: {exc.strerror or exc}") from None
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
