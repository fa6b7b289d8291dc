"""The Job controller and the kubelet for Job pods (batch/v1), simulated.

A Job gets one pod (per try, up to backoffLimit + 1) on its template's nodeName.
That pod's containers — init containers first, in order, then the containers —
run as real processes when its node has a *home* (`homes[node]`: the network
namespace and host root the node was built in, DESIGN §10):

    ciliumtui ARGS   →   sys.executable -m ciliumtui ARGS --netns NS --kubeconfig SIM

with `/host` (the pod's hostPath mount of the node's /) rewritten to the home's
host root in arguments and environment values, `$(VAR)` expanded from the
container's env (fieldRef spec.nodeName included). A node without a home answers
from its generated state (`simulate(node, args) -> (exit code, output)`; by default
every container succeeds). Then the pod ends Succeeded/Failed (a failed
container's last output lines are its termination message, as with
terminationMessagePolicy FallbackToLogsOnError), the Job gets `succeeded`/`failed`
and its Complete/Failed condition, activeDeadlineSeconds is enforced, and
ttlSecondsAfterFinished deletes the Job and its pods.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .. import resources as R
from ..store import Event, Store, now_iso

JOB = R.JOB.gvk
POD = R.POD.gvk
HOST_MOUNT = "/host"
LOG_ANNOTATION = "sim.ciliumtui/log"
MESSAGE_LIMIT = 4096  # bytes, the kubelet's termination message limit

Simulate = Callable[[str, list[str]], tuple[int, str]]


@dataclass(frozen=True)
class NodeHome:
    """Where a simulated node really is: its network namespace and host root."""

    netns: str | None
    host_root: str


class SimLike(Protocol):
    store: Store
    kubeconfig: str


def _generated(node: str, args: list[str]) -> tuple[int, str]:
    return 0, f"simulated node {node}: {' '.join(args)}: nothing to run here\n"


def _expand(text: str, env: dict[str, str]) -> str:
    return re.sub(
        r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), text
    )


def _at_home(text: str, home: NodeHome) -> str:
    if text == HOST_MOUNT or text.startswith(HOST_MOUNT + "/"):
        return home.host_root.rstrip("/") + text[len(HOST_MOUNT) :]
    return text


def job_pod_log(pod: dict[str, Any]) -> str | None:
    """What a Job pod's containers printed (for `kubectl logs`), when it ran here."""
    return ((pod.get("metadata") or {}).get("annotations") or {}).get(LOG_ANNOTATION)


class JobRunner:
    def __init__(self, sim: SimLike, loop: Any) -> None:
        self.sim = sim
        self.store = sim.store
        self.loop = loop
        self.homes: dict[str, NodeHome] = {}
        self.simulate: Simulate = _generated
        # Called (node, ok, job) after each Job finished, from the pod's thread.
        self.on_done: list[Callable[[str, bool, dict[str, Any]], None]] = []
        self.ran: list[tuple[str, list[str]]] = []  # (node, argv) of every real process
        self._enabled = True
        self.store.add_listener(self._on_event)

    def stop(self) -> None:
        self._enabled = False

    def _on_event(self, ev: Event) -> None:
        if not self._enabled or ev.gvk != JOB:
            return
        ns, name = ev.obj["metadata"].get("namespace"), ev.obj["metadata"]["name"]
        if ev.type == "ADDED":
            with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
                self.loop.call_soon_threadsafe(self._start, ns, name)
        elif ev.type == "DELETED":
            uid = ev.obj["metadata"].get("uid")
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._collect, ns, uid)

    def _collect(self, ns: str | None, uid: str | None) -> None:
        for pod in self.store.list(POD, ns):
            if any(r.get("uid") == uid for r in pod["metadata"].get("ownerReferences") or []):
                self.store.delete(POD, ns, pod["metadata"]["name"])

    # ------------------------------------------------------------- status

    def _job_status(self, ns: str | None, name: str, **status: Any) -> dict[str, Any] | None:
        job = self.store.get(JOB, ns, name)
        if job is None:
            return None
        merged = {**(job.get("status") or {}), **status}
        return self.store.update(
            {**job, "status": {k: v for k, v in merged.items() if v is not None}}
        )

    def _pod_status(
        self, ns: str | None, name: str, status: dict[str, Any], log: str | None = None
    ):
        pod = self.store.get(POD, ns, name)
        if pod is None:
            return
        meta = pod["metadata"]
        if log is not None:
            meta = {**meta, "annotations": {**(meta.get("annotations") or {}), LOG_ANNOTATION: log}}
        self.store.update({**pod, "metadata": meta, "status": status})

    @staticmethod
    def _container_status(c: dict[str, Any], state: dict[str, Any], ready: bool = False):
        return {
            "name": c.get("name", "main"),
            "image": c.get("image", ""),
            "imageID": "",
            "ready": ready,
            "restartCount": 0,
            "started": "running" in state,
            "state": state,
        }

    # ---------------------------------------------------------------- run

    def _start(self, ns: str | None, name: str) -> None:
        job = self.store.get(JOB, ns, name)
        if job is None or (job.get("status") or {}).get("startTime"):
            return
        self._job_status(ns, name, startTime=now_iso(), active=1, ready=0)
        threading.Thread(
            target=self._run_job, args=(ns, name), name=f"sim-job-{name}", daemon=True
        ).start()

    def _make_pod(self, job: dict[str, Any]) -> dict[str, Any]:
        meta = job["metadata"]
        template = (job.get("spec") or {}).get("template") or {}
        uid = meta.get("uid", "")
        labels = {
            **((template.get("metadata") or {}).get("labels") or {}),
            "job-name": meta["name"],
            "batch.kubernetes.io/job-name": meta["name"],
            "controller-uid": uid,
            "batch.kubernetes.io/controller-uid": uid,
        }
        spec = dict(template.get("spec") or {})
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{secrets.token_hex(3)[:5]}",
                "namespace": meta.get("namespace"),
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }

    def _argv(
        self, c: dict[str, Any], node: str, home: NodeHome
    ) -> tuple[list[str], dict[str, str]]:
        env: dict[str, str] = {}
        for e in c.get("env") or []:
            ref = ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            value = node if ref == "spec.nodeName" else str(e.get("value", ""))
            env[str(e["name"])] = _at_home(_expand(value, env), home)
        command = [str(x) for x in c.get("command") or ["ciliumtui"]]
        args = [_at_home(_expand(str(a), env), home) for a in c.get("args") or []]
        if os.path.basename(command[0]) != "ciliumtui":
            raise ValueError(f"the simulated kubelet runs ciliumtui only, not {command[0]}")
        argv = [sys.executable, "-m", "ciliumtui", *command[1:], *args]
        if home.netns:
            argv += ["--netns", home.netns]
        argv += ["--kubeconfig", self.sim.kubeconfig]
        env.pop("CILIUMTUI_IN_CLUSTER", None)  # the simulator's kubeconfig is given instead
        env.pop("TMPDIR", None)
        return argv, env

    def _run_container(
        self, c: dict[str, Any], node: str, deadline: float | None
    ) -> tuple[int, str]:
        home = self.homes.get(node)
        if home is None:
            return self.simulate(node, [str(a) for a in c.get("args") or []])
        try:
            argv, env = self._argv(c, node, home)
        except ValueError as exc:
            return 126, f"{exc}\n"
        self.ran.append((node, argv))
        timeout = None if deadline is None else max(0.1, deadline - time.monotonic())
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout if isinstance(exc.stdout, str) else ""
            return -9, out + "\n(killed: the Job's activeDeadlineSeconds passed)\n"
        return done.returncode, done.stdout + done.stderr

    def _run_job(self, ns: str | None, name: str) -> None:
        job = self.store.get(JOB, ns, name)
        if job is None:
            return
        spec = job.get("spec") or {}
        tries = int(spec.get("backoffLimit", 6)) + 1
        limit = spec.get("activeDeadlineSeconds")
        deadline = time.monotonic() + float(limit) if limit else None
        ok, reason, failed = False, "BackoffLimitExceeded", 0
        for _ in range(tries):
            ok, reason = self._run_pod(job, deadline)
            if ok or reason == "DeadlineExceeded":
                break
            failed += 1
            self._job_status(ns, name, failed=failed)
        now = now_iso()
        if ok:
            conds = [
                {
                    "type": "SuccessCriteriaMet",
                    "status": "True",
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                    "reason": "CompletionsReached",
                    "message": "Reached expected number of succeeded pods",
                },
                {
                    "type": "Complete",
                    "status": "True",
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                    "reason": "CompletionsReached",
                    "message": "Reached expected number of succeeded pods",
                },
            ]
            final = self._job_status(
                ns, name, active=None, ready=0, succeeded=1, completionTime=now, conditions=conds
            )
        else:
            message = (
                "Job was active longer than specified deadline"
                if reason == "DeadlineExceeded"
                else "Job has reached the specified backoff limit"
            )
            conds = [
                {
                    "type": "FailureTarget",
                    "status": "True",
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                    "reason": reason,
                    "message": message,
                },
                {
                    "type": "Failed",
                    "status": "True",
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                    "reason": reason,
                    "message": message,
                },
            ]
            final = self._job_status(
                ns, name, active=None, ready=0, failed=max(failed, 1), conditions=conds
            )
        node = str((spec.get("template") or {}).get("spec", {}).get("nodeName") or "")
        for fn in list(self.on_done):
            fn(node, ok, final or job)
        ttl = spec.get("ttlSecondsAfterFinished")
        if ttl is not None and self._enabled:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(
                    lambda: self.loop.call_later(float(ttl), lambda: self._expire(ns, name))
                )

    def _expire(self, ns: str | None, name: str) -> None:
        if self._enabled:
            self.store.delete(JOB, ns, name)

    def _run_pod(self, job: dict[str, Any], deadline: float | None) -> tuple[bool, str]:
        pod = self.store.create(self._make_pod(job))
        ns, pname = pod["metadata"].get("namespace"), pod["metadata"]["name"]
        spec = pod.get("spec") or {}
        node = str(spec.get("nodeName") or "")
        inits = list(spec.get("initContainers") or [])
        mains = list(spec.get("containers") or [])
        host_ip = self._host_ip(node)
        base: dict[str, Any] = {
            "hostIP": host_ip,
            "podIP": host_ip,
            "startTime": now_iso(),
            "qosClass": "BestEffort",
        }
        done_inits: list[dict[str, Any]] = []
        log: list[str] = []
        for i, c in enumerate(inits + mains):
            is_init = i < len(inits)
            running = self._container_status(c, {"running": {"startedAt": now_iso()}}, not is_init)
            status: dict[str, Any] = {**base, "phase": "Pending" if is_init else "Running"}
            if is_init:
                status["initContainerStatuses"] = done_inits + [running]
            else:
                status["initContainerStatuses"] = done_inits
                status["containerStatuses"] = [running]
            self._pod_status(ns, pname, status)
            self._job_status(
                pod["metadata"]["namespace"], job["metadata"]["name"], ready=int(not is_init)
            )
            started = now_iso()
            rc, out = self._run_container(c, node, deadline)
            log.append(out)
            term: dict[str, Any] = {
                "exitCode": rc if rc >= 0 else 137,
                "reason": "Completed" if rc == 0 else "Error",
                "startedAt": started,
                "finishedAt": now_iso(),
            }
            if rc != 0:
                term["message"] = out.encode()[-MESSAGE_LIMIT:].decode(errors="ignore")
            finished = self._container_status(c, {"terminated": term})
            if is_init:
                done_inits.append(finished)
            if rc != 0 or (deadline is not None and time.monotonic() > deadline):
                final = {**base, "phase": "Failed", "initContainerStatuses": done_inits}
                if not is_init:
                    final["containerStatuses"] = [finished]
                self._pod_status(ns, pname, final, "".join(log))
                late = deadline is not None and time.monotonic() > deadline
                return False, "DeadlineExceeded" if late else "BackoffLimitExceeded"
            if i == len(inits) + len(mains) - 1:
                final = {
                    **base,
                    "phase": "Succeeded",
                    "initContainerStatuses": done_inits,
                    "containerStatuses": [finished],
                }
                self._pod_status(ns, pname, final, "".join(log))
        return True, ""

    def _host_ip(self, node: str) -> str | None:
        obj = self.store.get(R.NODE.gvk, None, node) if node else None
        for a in ((obj or {}).get("status") or {}).get("addresses") or []:
            if a.get("type") == "InternalIP":
                return str(a.get("address"))
        return None
