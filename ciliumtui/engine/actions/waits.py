"""Waits that explain themselves (issue 13.3): the pod.wait-ready style steps.

While waiting they report progress through ctx.out — elapsed / limit and, per pod,
its phase, restarts and the reason its container is not running (CrashLoopBackOff,
the last exit). When the waited-for pod crash-loops, or when the wait times out,
they diagnose (ciliumtui.collect + ciliumtui.checks, the same as `diagnose`) and
name the findings that explain why — the root causes behind the finding about
that pod (`Finding.explained_by`, the checks' causal relation) — and the playbook
to run instead. A crash-looping pod whose failure a finding explains ends the wait
at once: waiting out the limit would change nothing (a new agent crash-loops over
the same debris).

`view()`, `progress_line()`, `root_causes()` and `explanation()` are pure; `Waiter`
runs the loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...model import Finding
from .base import ActionContext

# The findings that describe a waited-for pod's failure, by its selector: their
# causes are what the wait reports. Anything else: the pods-failing finding.
SYMPTOMS: dict[str, tuple[str, ...]] = {
    "k8s-app=cilium": ("cilium-agent-not-ready", "cilium-agent-unhealthy", "cilium-agent-missing"),
    "k8s-app=kube-dns": ("coredns-not-ready",),
    "io.cilium/app=operator": ("cilium-operator-unavailable",),
}
DEFAULT_SYMPTOMS = ("pods-failing-on-node",)
PROGRESS_EVERY = 15.0  # seconds between "still waiting" lines when nothing changes
# Seconds a diagnosis inside a wait may take: playbooks give a wait step ~20 s more than
# its own limit, so the explanation of a timeout still fits in the step.
DIAGNOSE_LIMIT = 15.0
EVIDENCE_SHOWN = 3


def symptoms_for(selector: str | None) -> tuple[str, ...]:
    """The findings about the pods a label selector picks ("a=b,c=d": any term)."""
    for term in (selector or "").replace(" ", "").split(","):
        if term in SYMPTOMS:
            return SYMPTOMS[term]
    return DEFAULT_SYMPTOMS


@dataclass(frozen=True)
class PodView:
    ref: str  # namespace/name
    node: str
    phase: str
    ready: bool
    restarts: int
    reason: str | None  # why a container is not running: CrashLoopBackOff, ContainerCreating …
    last: str | None  # its last termination: "Error, exit 1"
    terminating: bool = False

    @property
    def crashing(self) -> bool:
        """Crash-looping: back-off, or it restarted after failing."""
        return self.reason == "CrashLoopBackOff" or (
            self.restarts > 0 and not self.ready and self.last is not None
        )

    def state(self) -> str:
        """Why it is not running, in a few words: "CrashLoopBackOff, 2 restarts, last: Error, exit 1"."""
        parts = [self.reason or self.phase]
        if self.restarts:
            parts.append(f"{self.restarts} restart{'s' if self.restarts != 1 else ''}")
        if self.last:
            parts.append(f"last: {self.last}")
        return ", ".join(parts)

    def describe(self) -> str:
        parts = [self.ref.split("/", 1)[-1], self.phase]
        if self.terminating:
            parts.append("terminating")
        elif self.ready:
            parts.append("Ready")
        else:
            parts.append("not Ready")
        if self.restarts:
            parts.append(f"{self.restarts} restart{'s' if self.restarts != 1 else ''}")
        if self.reason:
            parts.append(self.reason)
        if self.last:
            parts.append(f"last: {self.last}")
        return ", ".join(parts)


def _pod_ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def view(pod: dict[str, Any]) -> PodView:
    """What a wait reports about one pod (from its JSON, as the apiserver gives it)."""
    meta, st = pod.get("metadata") or {}, pod.get("status") or {}
    statuses = [*(st.get("initContainerStatuses") or []), *(st.get("containerStatuses") or [])]
    reasons: list[str] = []
    last = None
    restarts = 0
    for cs in statuses:
        restarts = max(restarts, int(cs.get("restartCount") or 0))
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        term = state.get("terminated") or {}
        if waiting.get("reason"):
            reasons.append(str(waiting["reason"]))
        elif term and term.get("exitCode") not in (0, None):
            reasons.append(str(term.get("reason") or "Error"))
        prev = (cs.get("lastState") or {}).get("terminated") or {}
        if prev and prev.get("exitCode") not in (0, None):
            last = f"{prev.get('reason') or 'terminated'}, exit {prev.get('exitCode')}"
    # the reason that matters most: a back-off, else the first that is not mere init
    reason = (
        "CrashLoopBackOff"
        if "CrashLoopBackOff" in reasons
        else next((r for r in reasons if r != "PodInitializing"), reasons[0] if reasons else None)
    )
    return PodView(
        ref=f"{meta.get('namespace')}/{meta.get('name')}",
        node=str((pod.get("spec") or {}).get("nodeName") or "?"),
        phase=str(st.get("phase") or "Pending"),
        ready=_pod_ready(pod) and not meta.get("deletionTimestamp"),
        restarts=restarts,
        reason=reason,
        last=last,
        terminating=bool(meta.get("deletionTimestamp")),
    )


def progress_line(elapsed: float, limit: float, what: str, pods: Sequence[PodView]) -> str:
    shown = "; ".join(p.describe() for p in pods[:4]) or "no pod yet"
    more = f" (+{len(pods) - 4} more)" if len(pods) > 4 else ""
    return f"{elapsed:.0f}s/{limit:g}s waiting for {what}: {shown}{more}"


def root_causes(findings: Sequence[Finding], symptoms: Sequence[str]) -> list[Finding]:
    """The root causes behind the symptom findings present, following explained_by
    (the checks' causal relation) to findings nothing explains. A symptom nothing
    explains has no named cause: [] (restarting again might still help)."""
    by_id = {f.id: f for f in findings}
    out: dict[str, Finding] = {}

    def walk(fid: str, seen: frozenset[str]) -> None:
        f = by_id.get(fid)
        if f is None or fid in seen:
            return
        if not f.explained_by:
            out.setdefault(fid, f)
            return
        for parent in f.explained_by:
            walk(parent, seen | {fid})

    for sid in symptoms:
        f = by_id.get(sid)
        if f is not None:
            for parent in f.explained_by:
                walk(parent, frozenset({sid}))
    return list(out.values())


def explanation(findings: Sequence[Finding], symptoms: Sequence[str]) -> tuple[str, list[str]]:
    """(one line for the step's message, detail lines) naming the causes and the
    playbook to run instead; ("", lines) when nothing explains the failure."""
    roots = root_causes(findings, symptoms)
    symptom = next((f for f in findings if f.id in symptoms), None)
    lines: list[str] = []
    if not roots:
        if symptom is not None:
            lines.append(f"{symptom.id}: {symptom.title}; no other finding explains it")
            lines += [f"  {e}" for e in symptom.evidence[-EVIDENCE_SHOWN:]]
        else:
            lines.append("the diagnosis names no cause")
        return "", lines
    playbooks = list(dict.fromkeys(f.playbook for f in roots if f.playbook))
    for f in roots:
        fix = f"→ playbook {f.playbook}" if f.playbook else "(no playbook: see its evidence)"
        lines.append(f"explained by {f.id}: {f.title} {fix}")
        lines += [f"  {e}" for e in f.evidence[:EVIDENCE_SHOWN]]
    logs = [e for e in symptom.evidence if "log" in e.lower()] if symptom is not None else []
    if symptom is not None and logs:
        lines.append(f"{symptom.id}:")
        lines += [f"  {e}" for e in logs[-EVIDENCE_SHOWN:]]
    ids = ", ".join(f.id for f in roots)
    if playbooks:
        runs = " then ".join(f"`ciliumtui run {p}`" for p in playbooks)
        return f"explained by {ids} — run {runs} instead", lines
    return f"explained by {ids} (no playbook fixes it: see its evidence)", lines


async def diagnose(ctx: ActionContext) -> list[Finding] | None:
    """The whole diagnosis, as `diagnose` takes it; None when it could not be made in time."""
    from ...checks import run_checks
    from ...collect import collect

    try:
        snap = await asyncio.wait_for(collect(ctx.opts), DIAGNOSE_LIMIT)
    except Exception as exc:  # a wait must still end with its own answer
        ctx.out(f"(could not diagnose: {type(exc).__name__}: {exc})")
        return None
    return run_checks(snap)


ListFn = Callable[[], Awaitable[list[dict[str, Any]]]]
PauseFn = Callable[[float], Awaitable[None]]


@dataclass
class WaitOutcome:
    ok: bool
    pod: dict[str, Any] | None = None  # the pod that became Ready (ok)
    message: str = ""
    findings: list[Finding] | None = None  # the diagnosis, when one was made
    early: bool = False  # stopped before the limit: a finding explains the crash


@dataclass
class Waiter:
    """Wait until `done(pods)` returns a pod, reporting as it goes (see the module doc).

    symptoms: the finding ids about the waited-for pod (their causes are reported);
    empty: no diagnosis (e.g. another node's agent, which this node's probes cannot see).
    """

    ctx: ActionContext
    what: str
    timeout: float
    list_pods: ListFn
    done: Callable[[list[dict[str, Any]]], dict[str, Any] | None]
    pause: PauseFn
    symptoms: Sequence[str] = ()
    _last: tuple[Any, ...] = field(default=(), init=False)
    _said: float = field(default=0.0, init=False)

    def _report(self, elapsed: float, views: list[PodView]) -> None:
        sig = tuple((v.ref, v.phase, v.ready, v.restarts, v.reason) for v in views)
        now = time.monotonic()
        if sig != self._last or now - self._said >= PROGRESS_EVERY:
            self.ctx.out(progress_line(elapsed, self.timeout, self.what, views))
            self._last, self._said = sig, now

    async def _explain(self, head: str, *, early: bool) -> WaitOutcome | None:
        findings = await diagnose(self.ctx) if self.symptoms else None
        if findings is None:
            return None if early else WaitOutcome(False, message=head)
        why, lines = explanation(findings, self.symptoms)
        if early and not why:
            for line in lines:
                self.ctx.out(line)
            return None  # crash-looping, but nothing names why: keep waiting
        for line in lines:
            self.ctx.out(line)
        return WaitOutcome(
            False, message=f"{head}: {why}" if why else head, findings=findings, early=early
        )

    async def run(self) -> WaitOutcome:
        start = time.monotonic()
        diagnosed_crash = False
        while True:
            pods = await self.list_pods()
            ready = self.done(pods)
            elapsed = time.monotonic() - start
            views = [view(p) for p in pods]
            if ready is not None:
                self.ctx.out(f"{elapsed:.0f}s: {view(ready).ref} is Ready")
                return WaitOutcome(True, pod=ready)
            self._report(elapsed, views)
            crashing = [v for v in views if v.crashing and not v.terminating]
            if crashing and not diagnosed_crash and self.symptoms:
                diagnosed_crash = True
                pod = crashing[0]
                self.ctx.out(f"{pod.ref} is crash-looping: diagnosing why")
                head = f"{pod.ref.split('/', 1)[-1]} crash-loops ({pod.state()})"
                early = await self._explain(head, early=True)
                if early is not None:
                    return early
            left = self.timeout - (time.monotonic() - start)
            if left <= 0:
                states = (
                    "; ".join(f"{v.ref.split('/', 1)[-1]}: {v.state()}" for v in views) or "no pod"
                )
                head = f"not Ready after {self.timeout:g}s ({states})"
                out = await self._explain(head, early=False)
                assert out is not None
                return out
            await self.pause(min(left, 30.0))
