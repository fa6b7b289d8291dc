"""`ciliumtui publish`: a read-only diagnose of this node, published through the API.

One cycle:
1. diagnose (the snapshot, checks and JSON of `ciliumtui diagnose`; node-local
   reads first, so a node whose Cilium is broken still has a result). When the
   diagnose itself could not reach the apiserver there is nothing to publish to:
   the cycle fails and is retried.
2. compare with what the apiserver holds (read once at start, after a failure,
   and before anything is written, a heartbeat too — someone else, e.g. a fleet
   Job or `kubectl delete nd`, may have written since, or the apiserver may have
   been restored from a backup without this publisher seeing a failure);
3. write only what changed: the NodeDiagnosis (create or merge patch), the
   condition (strategic merge patch of nodes/status), an Event when the set of
   critical ids changed; when nothing changed, one heartbeat (the condition's
   lastHeartbeatTime) per interval. At the default 600 s interval that is 6
   writes per node per hour (benchmarks/bench_fleet.py counts them).

A cycle's requests share one deadline (`kube.Deadline`), run in a daemon thread
that is abandoned at the deadline. Failures back off exponentially with jitter
(1 s doubling up to min(interval, 60 s), each delay drawn from [½, 1] of it), so
thousands of publishers coming back after an apiserver outage do not arrive in
step; nothing here raises out of the loop, so it never crash-loops.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import CiliumtuiError
from ..options import Options
from . import ND_PATH
from . import kube as K
from . import objects as O
from .verdict import Verdict, digest, verdict

if TYPE_CHECKING:  # pragma: no cover
    from kubernetes.client import ApiClient

BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
HEARTBEAT_FRACTION = 0.8  # a heartbeat is due this far into the interval (sleeps are jittered)


class NothingToPublishTo(CiliumtuiError):
    """The diagnose found the apiserver unreachable: a result we cannot (and must not) write."""


@dataclass
class Known:
    """What the apiserver holds for this node, as last read or written."""

    node_uid: str | None
    condition: dict[str, Any] | None
    nd_status: dict[str, Any] | None  # None: no NodeDiagnosis yet
    nd_digest: str | None
    criticals: frozenset[str] | None
    last_heartbeat: float  # Publisher.clock() of the condition's lastHeartbeatTime


@dataclass
class Outcome:
    verdict: Verdict
    wrote: list[str]  # "nodediagnosis", "condition", "heartbeat", "event"


def _beat(condition: dict[str, Any] | None) -> Any:
    return (condition or {}).get("lastHeartbeatTime")


def backoff(failures: int, interval: float, rng: random.Random) -> float:
    cap = max(1.0, min(interval or BACKOFF_CAP, BACKOFF_CAP))
    return min(cap, BACKOFF_BASE * 2 ** max(0, failures - 1)) * rng.uniform(0.5, 1.0)


def diagnose(opts: Options) -> tuple[dict[str, Any], str | None]:
    """(the diagnose JSON, None) or (an error result, its one line)."""
    from ..checks import run_checks
    from ..commands.diagnose import take_snapshot, to_json

    now = O.rfc3339()
    try:
        snap = take_snapshot(opts)
        findings = run_checks(snap)
    except CiliumtuiError as exc:
        return O.error_result(opts.node_name, str(exc), now), str(exc)
    except Exception as exc:  # a probe bug must not stop the node from reporting
        line = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return O.error_result(opts.node_name, line, now), line
    unreachable = next((f for f in findings if f.id == "apiserver-unreachable"), None)
    if unreachable is not None:
        why = next(iter(unreachable.evidence), "apiserver unreachable")
        raise NothingToPublishTo(f"apiserver unreachable from this node: {why}")
    # generated_at is schema 2's; a schema 1 to_json() lacks it, and fleet status needs it.
    return {"generated_at": now, **to_json(snap, findings)}, None


class Publisher:
    def __init__(
        self,
        opts: Options,
        interval: int,
        *,
        log: Callable[[str], None] | None = None,
        diagnose_fn: Callable[[Options], tuple[dict[str, Any], str | None]] = diagnose,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.opts = opts
        self.node = opts.node_name
        self.interval = int(interval)  # 0: --once
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.diagnose_fn = diagnose_fn
        self.rng = rng or random.Random()
        self.known: Known | None = None
        self.clock = clock  # when heartbeats are due (benchmarks run an hour in seconds)
        # Budget for one cycle's writes: up to five requests, each bounded by --timeout.
        self.write_budget = 5 * opts.timeout + 1

    # ------------------------------------------------------------------ reads

    def _read(self, api: ApiClient, d: K.Deadline) -> Known:
        node = K.get_node(api, self.node, d)
        if node is None:
            raise CiliumtuiError(f"no Node named {self.node} in the cluster (see --node)")
        nd = K.get_nd(api, self.node, d)
        cond = O.condition_of(node)
        beat = O.parse_time((cond or {}).get("lastHeartbeatTime"))
        age = (datetime.now(timezone.utc) - beat).total_seconds() if beat else float("inf")
        status = (nd or {}).get("status") if nd else None
        status = status if isinstance(status, dict) else ({} if nd else None)
        return Known(
            node_uid=(node.get("metadata") or {}).get("uid"),
            condition=cond,
            nd_status=status,
            nd_digest=digest(status) if status is not None else None,
            criticals=O.critical_ids(status),
            last_heartbeat=self.clock() - age,
        )

    # ----------------------------------------------------------------- writes

    def _write_nd(self, api: ApiClient, known: Known, status: dict[str, Any], d: K.Deadline):
        if known.nd_status is not None:
            try:
                K.merge_patch(
                    api, K.nd_path(self.node), O.nd_status_patch(known.nd_status, status), d
                )
                return
            except Exception as exc:
                if K.status_of(exc) != 404:
                    raise
        try:
            K.create(api, ND_PATH, O.nd_object(self.node, status, known.node_uid), d)
        except Exception as exc:
            if K.status_of(exc) == 409:  # created meanwhile (a fleet Job): patch it
                K.merge_patch(api, K.nd_path(self.node), O.nd_status_patch({}, status), d)
            elif K.status_of(exc) == 404:
                raise CiliumtuiError(
                    "the NodeDiagnosis CRD is not installed: "
                    "`ciliumtui fleet manifest | kubectl apply -f -`"
                ) from None
            else:
                raise

    def _due(self, known: Known) -> bool:
        """A heartbeat is due (always, for --once)."""
        return (self.clock() - known.last_heartbeat) >= HEARTBEAT_FRACTION * self.interval

    def _publish(self, api: ApiClient, result: dict[str, Any], error: str | None) -> Outcome:
        d = K.Deadline(self.write_budget, self.opts.timeout)
        fresh = self.known is None
        known = self.known or self._read(api, d)
        v = verdict(result, error)
        status = O.nd_status(result, self.interval, v)
        now = O.rfc3339()
        dg = digest(status)
        cond = O.condition(v, now, known.condition)
        if not fresh and (
            dg != known.nd_digest or O.condition_changed(known.condition, cond) or self._due(known)
        ):
            # Any write (a heartbeat too) first compares with what is really there: the
            # report may have been deleted, or the apiserver restored from a backup,
            # without this publisher ever seeing a failure. Two GETs per interval.
            mine = known
            known = self._read(api, d)
            if _beat(known.condition) == _beat(mine.condition):
                known.last_heartbeat = mine.last_heartbeat  # our own beat: our clock knows
            cond = O.condition(v, now, known.condition)
        wrote: list[str] = []
        nd_changed = dg != known.nd_digest
        cond_changed = O.condition_changed(known.condition, cond)
        due = self._due(known)
        if cond_changed or due:
            try:
                K.patch_node_status(api, self.node, O.condition_patch(cond), d)
            except Exception as exc:
                if K.status_of(exc) == 404:
                    raise CiliumtuiError(f"no Node named {self.node} in the cluster") from None
                raise
            wrote.append("condition" if cond_changed else "heartbeat")
            known.condition, known.last_heartbeat = cond, self.clock()
        if nd_changed:
            self._write_nd(api, known, status, d)
            wrote.append("nodediagnosis")
            known.nd_status, known.nd_digest = status, dg
        after = O.critical_ids(status)
        if after is not None and after != (known.criticals or frozenset()):
            if known.criticals is not None or after:
                ev = O.event(self.node, known.node_uid, known.criticals, after, v)
                K.create(api, "/api/v1/namespaces/default/events", ev, d)
                wrote.append("event")
            known.criticals = after
        self.known = known
        return Outcome(v, wrote)

    # ------------------------------------------------------------------ cycle

    def cycle(self) -> Outcome:
        """Diagnose and publish once; raises (one line) when it could not publish."""
        from ..cluster.client import api_client

        try:
            result, error = self.diagnose_fn(self.opts)
            api = api_client(self.opts)  # a new client (and token read) every cycle
        except CiliumtuiError:
            # The apiserver (or its config) failed us: what it holds may have changed
            # meanwhile (restored from a backup, a new cluster). Read it again first.
            self.known = None
            raise
        try:
            return K.within(
                self.write_budget + 1, lambda: self._publish(api, result, error), "publish"
            )
        except CiliumtuiError:
            self.known = None
            raise
        except Exception as exc:
            self.known = None  # read the apiserver again before the next write
            raise CiliumtuiError(K.describe(exc, "publish to", "the apiserver")) from None
        finally:
            api.close()

    def _say(self, out: Outcome) -> None:
        v = out.verdict
        what = ", ".join(out.wrote) or "nothing (unchanged)"
        if out.wrote and out.wrote != ["heartbeat"] or self.opts.verbose:
            self.log(f"publish {self.node}: {v.status} {v.reason} — wrote {what}")

    def once(self) -> int:
        out = self.cycle()
        self._say(out)
        return 0

    def forever(self, stop: threading.Event) -> int:
        failures = 0
        while not stop.is_set():
            try:
                self._say(self.cycle())
                failures = 0
                delay = self.interval * self.rng.uniform(0.9, 1.1)
            except Exception as exc:  # never out of the loop: a publisher must not crash-loop
                failures += 1
                delay = backoff(failures, self.interval, self.rng)
                line = (
                    str(exc) if isinstance(exc, CiliumtuiError) else K.describe(exc, "publish", "")
                )
                self.log(f"publish {self.node}: {line}; retrying in {delay:.1f} s")
            stop.wait(delay)
        return 0
