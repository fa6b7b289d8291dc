"""`ciliumtui fleet run PLAYBOOK`: the roll (DESIGN §10).

Read the fleet; choose the targets from their NodeDiagnosis (jobs.plan); take
the Lease; launch one Job per target, at most the budget at a time; poll the
run's Jobs (one list per second, by the run's label); a node whose Job failed
keeps its slot, so once `budget` nodes failed nothing more is launched; wait for
the Jobs in flight; say which nodes were done, failed and not started; release
the Lease. Each node's result is written into its NodeDiagnosis
(`status.last_run`), beside the fresh diagnosis its Job published. The run is
journalled as a playbook run is (engine.journal: run_started, one step per node,
run_finished), so `ciliumtui report RUN_ID` tells it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..engine.events import Event
from ..engine.journal import Journal, journal_path
from ..options import Options
from . import kube as K
from . import objects as O
from .jobs import RUN_LABEL, Target, job_object, run_label
from .lease import Lease, identity

if TYPE_CHECKING:  # pragma: no cover
    from kubernetes.client import ApiClient

POLL = 1.0  # seconds between two lists of the run's Jobs


def new_run_id(playbook: str) -> str:
    import secrets

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-fleet-{playbook}-{secrets.token_hex(3)}"


@dataclass
class NodeResult:
    node: str
    job: str
    status: str  # ok | failed
    message: str = ""
    seconds: float = 0.0


@dataclass
class RollResult:
    run_id: str
    done: list[str] = field(default_factory=list)
    failed: list[NodeResult] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)
    skipped: list[Target] = field(default_factory=list)
    stopped: str = ""  # why the roll stopped launching early, if it did

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.not_started else 0


def job_outcome(job: dict[str, Any]) -> tuple[str, str] | None:
    """("ok"|"failed", message) of a finished Job; None while it runs."""
    st = job.get("status") or {}
    for c in st.get("conditions") or []:
        if c.get("status") != "True":
            continue
        if c.get("type") == "Complete":
            return "ok", ""
        if c.get("type") == "Failed":
            return "failed", f"{c.get('reason') or 'Failed'}: {c.get('message') or ''}".strip()
    if st.get("succeeded"):
        return "ok", ""
    return None


def pod_message(pods: list[dict[str, Any]]) -> str:
    """The last line a failed container left (its termination message)."""
    for pod in pods:
        st = pod.get("status") or {}
        for cs in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
            term = (cs.get("state") or {}).get("terminated") or {}
            if term.get("exitCode"):
                lines = [ln for ln in str(term.get("message") or "").splitlines() if ln.strip()]
                last = lines[-1].strip() if lines else ""
                return f"container {cs.get('name')} exit {term['exitCode']}" + (
                    f": {last}" if last else ""
                )
    return ""


class Roll:
    def __init__(
        self,
        api: ApiClient,
        opts: Options,
        playbook: str,
        targets: list[Target],
        budget: int,
        namespace: str,
        image: str,
        job_timeout: int,
        *,
        say: Callable[[str], None] = print,
        run_id: str | None = None,
        context: str | None = None,
    ) -> None:
        self.api, self.opts, self.playbook = api, opts, playbook
        self.targets, self.budget, self.namespace = targets, budget, namespace
        self.image, self.job_timeout, self.say = image, job_timeout, say
        self.run_id = run_id or new_run_id(playbook)
        self.context = context
        self._seq = 0
        self.journal: Journal | None = None

    # ------------------------------------------------------------ journal

    def _record(self, kind: str, **kw: Any) -> None:
        if self.journal is None:
            return
        self._seq += 1
        ev = Event(kind=kind, run_id=self.run_id, seq=self._seq, ts=O.micro_time(), **kw)
        self.journal.write(ev.to_dict(), sync=kind in ("step_started", "run_finished"))

    # ------------------------------------------------------------ the API

    def _d(self) -> K.Deadline:
        return K.Deadline(3 * self.opts.timeout + 1, self.opts.timeout)

    def _create_job(self, node: str) -> str:
        job = job_object(
            self.playbook, node, self.run_id, self.namespace, self.image, self.job_timeout
        )
        K.create(self.api, f"/apis/batch/v1/namespaces/{self.namespace}/jobs", job, self._d())
        return str(job["metadata"]["name"])

    def _jobs(self) -> dict[str, dict[str, Any]]:
        path = f"/apis/batch/v1/namespaces/{self.namespace}/jobs"
        query = [("labelSelector", f"{RUN_LABEL}={run_label(self.run_id)}")]
        out: dict[str, dict[str, Any]] = {}
        for page in K.pages(self.api, path, self._d(), query):
            out.update({str(j["metadata"]["name"]): j for j in page})
        return out

    def _pods_of(self, job: str) -> list[dict[str, Any]]:
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        try:
            pages = K.pages(self.api, path, self._d(), [("labelSelector", f"job-name={job}")])
            return [p for page in pages for p in page]
        except Exception:  # the message is a nicety; the Job's status is the result
            return []

    def _note_result(self, r: NodeResult) -> None:
        """The node's NodeDiagnosis carries the roll's result for that node."""
        last = {
            "playbook": self.playbook,
            "run_id": self.run_id,
            "job": r.job,
            "result": r.status,
            "message": r.message,
            "finished_at": O.rfc3339(),
        }
        try:
            K.merge_patch(self.api, K.nd_path(r.node), {"status": {"last_run": last}}, self._d())
        except Exception as exc:
            self.say(
                f"  {r.node}: could not record the result in its NodeDiagnosis: "
                f"{K.describe(exc, 'patch', 'nodediagnoses')}"
            )

    # ------------------------------------------------------------ the roll

    def run(self) -> RollResult:
        result = RollResult(self.run_id, skipped=[t for t in self.targets if not t.run])
        pending = [t.node for t in self.targets if t.run]
        lease = Lease(self.api, self.namespace, identity(self.run_id), self.opts.timeout)
        lease.acquire()  # LeaseHeld: refused, nothing created, nothing journalled
        self.journal = Journal(journal_path(self.run_id))
        self._record(
            "run_started",
            data={
                "playbook": f"fleet:{self.playbook}",
                "node": f"{len(pending)} nodes",
                "context": self.context,
                "nodes": pending,
                "max_unavailable": self.budget,
                "mode": {"dry_run": False, "read_only": False, "assume_yes": True},
            },
        )
        self.say(
            f"▶ fleet run {self.playbook}: {len(pending)} node{'s' if len(pending) != 1 else ''}, at most {self.budget} at a time"
            f"  run {self.run_id}"
        )
        for t in result.skipped:
            self.say(f"  {t.node}: skipped — {t.why}")
        in_flight: dict[str, tuple[str, float]] = {}  # node -> (job, started)
        deadline_of = self.job_timeout + 60
        try:
            while pending or in_flight:
                while pending and len(in_flight) + len(result.failed) < self.budget:
                    node = pending.pop(0)
                    self._record(
                        "step_started",
                        step_id=node,
                        title=f"{self.playbook} on {node}",
                        mutates=True,
                        risk="destructive",
                    )
                    try:
                        job = self._create_job(node)
                    except Exception as exc:
                        msg = K.describe(exc, "create", "jobs")
                        self._finish(result, NodeResult(node, "", "failed", msg))
                        continue
                    in_flight[node] = (job, time.monotonic())
                    self.say(f"  {node}: job {self.namespace}/{job} started")
                if pending and len(result.failed) >= self.budget:
                    result.stopped = (
                        f"{len(result.failed)} failed: the budget (--max-unavailable "
                        f"{self.budget}) is used up"
                    )
                    result.not_started, pending = pending, []
                    self.say(f"  stopping: {result.stopped}; no more nodes are started")
                if not in_flight:
                    continue
                time.sleep(POLL)
                try:
                    jobs = self._jobs()
                except Exception as exc:
                    self.say(
                        f"  (could not read the Jobs: {K.describe(exc, 'list', 'jobs')}; retrying)"
                    )
                    continue
                for node, (name, started) in list(in_flight.items()):
                    found = jobs.get(name)
                    outcome = (
                        job_outcome(found) if found is not None else ("failed", "the Job is gone")
                    )
                    took = time.monotonic() - started
                    if outcome is None and took > deadline_of:
                        outcome = ("failed", f"no result after {deadline_of} s")
                    if outcome is None:
                        continue
                    status, msg = outcome
                    if status == "failed":
                        msg = pod_message(self._pods_of(name)) or msg
                    del in_flight[node]
                    self._finish(result, NodeResult(node, name, status, msg, took))
        except KeyboardInterrupt:
            result.not_started += pending
            result.stopped = "interrupted: Jobs already started keep running"
            self.say(f"  {result.stopped}: {', '.join(in_flight) or 'none'}")
            result.failed += [
                NodeResult(n, j, "failed", "interrupted") for n, (j, _) in in_flight.items()
            ]
        finally:
            lease.release()
            self._record(
                "run_finished",
                status="ok" if not result.failed and not result.not_started else "failed",
                message=result.stopped or None,
                data={
                    "done": result.done,
                    "failed": [r.node for r in result.failed],
                    "not_started": result.not_started,
                    "skipped": [t.node for t in result.skipped],
                },
            )
            self.journal.close()
        self._summary(result)
        return result

    def _finish(self, result: RollResult, r: NodeResult) -> None:
        if r.status == "ok":
            result.done.append(r.node)
            self.say(f"  {r.node}: ✔ done ({r.seconds:.1f} s)")
        else:
            result.failed.append(r)
            self.say(f"  {r.node}: ✘ failed ({r.seconds:.1f} s): {r.message}")
        self._record(
            "step_finished",
            step_id=r.node,
            title=f"{self.playbook} on {r.node}",
            status=r.status,
            ms=round(r.seconds * 1000, 1),
            message=r.message or None,
            data={"job": r.job},
        )
        if r.job:
            self._note_result(r)

    def _summary(self, r: RollResult) -> None:
        def names(xs: list[str]) -> str:
            return ", ".join(xs) or "-"

        self.say("")
        self.say(
            f"■ {'ok' if r.exit_code == 0 else 'stopped' if r.stopped else 'failed'}"
            + (f": {r.stopped}" if r.stopped else "")
        )
        self.say(f"  done:        {names(r.done)}")
        self.say(f"  failed:      {names([f.node for f in r.failed])}")
        self.say(f"  not started: {names(r.not_started)}")
        if r.skipped:
            self.say(f"  skipped:     {names([t.node for t in r.skipped])}")
        self.say(f"  run id: {r.run_id} (ciliumtui report {r.run_id})")
