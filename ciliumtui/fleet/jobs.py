"""`fleet run`'s plan: which nodes, how many at a time, and the Job per node (pure).

A node is a target when its NodeDiagnosis names the playbook (or the playbook it
is the node-only part of: cleanup-node for cleanup) as a finding's remediation:
a roll never runs a node playbook where the node's own diagnosis does not ask
for it (cleanup-node on a node whose agent runs would cut its pods off). Nodes
with no report, or one older than 3 intervals, are left alone too: nothing says
what they need.

`--max-unavailable N|P%` is the budget: at most N nodes are being changed at
once, and a node whose Job failed stays unavailable (it keeps its slot), so the
roll stops launching once N nodes have failed — like a Deployment's rollout.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import CiliumtuiError
from . import APP, LABEL_APP, NODE_PLAYBOOKS
from .manifest import HOST_ROOT, SERVICE_ACCOUNT, node_env
from .status import FleetStatus, NodeRow

RUN_LABEL = "ciliumtui.io/fleet-run"
NODE_LABEL = "ciliumtui.io/node"
PLAYBOOK_LABEL = "ciliumtui.io/playbook"
JOB_TTL = 3600  # seconds a finished Job (and its pod, its log) stays for `kubectl logs`


def parse_budget(text: str, nodes: int) -> int:
    """--max-unavailable: N, or P% of the selected nodes (rounded down, at least 1)."""
    m = re.fullmatch(r"\s*(\d+)\s*(%?)\s*", text or "")
    if not m:
        raise CiliumtuiError(f"--max-unavailable {text!r}: give a number or a percentage (25%)")
    value = int(m.group(1))
    if m.group(2):
        if not 0 < value <= 100:
            raise CiliumtuiError(f"--max-unavailable {text}: a percentage from 1% to 100%")
        return max(1, math.floor(nodes * value / 100))
    if value < 1:
        raise CiliumtuiError("--max-unavailable must be at least 1")
    return value


def check_playbook(playbook: str) -> tuple[str, ...]:
    """The remediation playbooks `playbook` answers for; one line when it is not a node one."""
    if playbook not in NODE_PLAYBOOKS:
        raise CiliumtuiError(
            f"fleet run: {playbook} is not a node playbook "
            f"(a fleet rolls: {', '.join(NODE_PLAYBOOKS)})"
        )
    return NODE_PLAYBOOKS[playbook]


@dataclass(frozen=True)
class Target:
    node: str
    run: bool  # False: left alone, `why` says why
    why: str  # the findings it fixes, or why it is skipped
    evidence: tuple[str, ...] = ()


def plan(fs: FleetStatus, playbook: str) -> list[Target]:
    wanted = check_playbook(playbook)
    out: list[Target] = []
    for row in sorted(fs.nodes, key=lambda r: r.node):
        out.append(_target(row, wanted))
    return out


def _target(row: NodeRow, wanted: tuple[str, ...]) -> Target:
    if row.state == "not-reporting":
        why = "no report" if row.age_s is None else "its report is stale"
        return Target(row.node, False, f"{why}: nothing says what it needs")
    fixes = [
        f
        for f in row.findings
        if isinstance(f.get("remediation"), dict) and f["remediation"].get("playbook") in wanted
    ]
    if not fixes:
        return Target(row.node, False, "its diagnosis names no finding this playbook fixes")
    ids = list(dict.fromkeys(str(f.get("id")) for f in fixes))
    evidence = tuple(
        f"{f.get('id')}: {e}"
        for f in fixes
        if f.get("root_cause", True)
        for e in (f.get("evidence") or [])[:3]
    )
    return Target(row.node, True, "fixes " + ", ".join(ids), evidence)


def job_name(playbook: str, node: str, run_id: str) -> str:
    """DNS-1123, at most 63 characters, unique per run and node."""
    tag = hashlib.sha256(f"{run_id}/{node}".encode()).hexdigest()[:6]
    base = re.sub(r"[^a-z0-9-]", "-", f"ciliumtui-{playbook}-{node}".lower())
    return f"{base[: 63 - len(tag) - 1].rstrip('-')}-{tag}"


def run_label(run_id: str) -> str:
    """A label value for the run id (<= 63 characters, alphanumerics at both ends)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", run_id)[-63:].strip("-_.")


def job_object(
    playbook: str,
    node: str,
    run_id: str,
    namespace: str,
    image: str,
    timeout_s: int,
) -> dict[str, Any]:
    """One Job, pinned to `node`: `ciliumtui run PLAYBOOK --yes` there (init container),
    then `ciliumtui publish --once`, so the node's NodeDiagnosis shows the result."""
    labels = {
        LABEL_APP: APP,
        "app.kubernetes.io/component": "fleet-run",
        RUN_LABEL: run_label(run_id),
        NODE_LABEL: node,
        PLAYBOOK_LABEL: playbook,
    }
    env = node_env() + [
        # The node's journal and backups live on the node, beside a local run's.
        {"name": "CILIUMTUI_STATE_DIR", "value": f"{HOST_ROOT}/var/lib/ciliumtui"},
    ]
    common = ["--host-root", HOST_ROOT, "--node", "$(NODE_NAME)"]
    security = {"privileged": True, "runAsUser": 0}
    mounts = [{"name": "host", "mountPath": HOST_ROOT, "mountPropagation": "HostToContainer"}]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(playbook, node, run_id),
            "namespace": namespace,
            "labels": labels,
            "annotations": {"ciliumtui.io/run-id": run_id},
        },
        "spec": {
            "backoffLimit": 0,  # a failed playbook is a result, not something to retry
            "activeDeadlineSeconds": int(timeout_s),
            "ttlSecondsAfterFinished": JOB_TTL,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeName": node,  # pinned: no scheduler involved
                    "hostNetwork": True,
                    "hostPID": True,
                    "dnsPolicy": "Default",
                    "restartPolicy": "Never",
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": SERVICE_ACCOUNT,
                    "tolerations": [{"operator": "Exists"}],
                    "initContainers": [
                        {
                            "name": "run",
                            "image": image,
                            "args": ["run", playbook, "--yes", *common],
                            "env": env,
                            "securityContext": security,
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                            "volumeMounts": mounts,
                        }
                    ],
                    "containers": [
                        {
                            "name": "publish",
                            "image": image,
                            "args": ["publish", "--once", *common, "--read-only"],
                            "env": env,
                            "securityContext": security,
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": [{"name": "host", "hostPath": {"path": "/", "type": "Directory"}}],
                },
            },
        },
    }


def render_plan(targets: list[Target], playbook: str, budget: int, image: str) -> str:
    go = [t for t in targets if t.run]
    lines = [
        f"fleet run {playbook} --dry-run: {len(go)} of {len(targets)} nodes, "
        f"at most {budget} at a time (nothing is created)"
    ]
    for t in targets:
        if t.run:
            lines.append(f"  {t.node}: run {playbook} — {t.why}")
            lines += [f"      {e}" for e in t.evidence[:6]]
            lines.append(
                f"      Job pinned to {t.node}: {image} ciliumtui run {playbook} --yes "
                f"--host-root {HOST_ROOT} --node {t.node}; then publish --once"
            )
        else:
            lines.append(f"  {t.node}: skip — {t.why}")
    waves = [go[i : i + budget] for i in range(0, len(go), budget)]
    for i, wave in enumerate(waves, 1):
        lines.append(f"  wave {i}: {', '.join(t.node for t in wave)}")
    return "\n".join(lines) + "\n"
