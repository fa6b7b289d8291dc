"""The playbook engine. It — not the steps — enforces read-only, dry-run, confirmation,
backups, the journal, rate limits and rollback.

Use (the CLI and the TUI wizard):

    from ciliumtui.engine.runner import Runner
    from ciliumtui.engine.events import ConfirmRequest, Event, RunResult

    runner = Runner(playbook, opts, inputs, dry_run=False, assume_yes=False,
                    confirm=my_confirm, on_event=my_on_event, resume=None)
    result: RunResult = await runner.run()

- `inputs`: loader.resolve_inputs(playbook, {"k": "v"}, opts.node_name)
- `confirm(request: ConfirmRequest) -> Awaitable[bool]`: asked before every mutating
  step with risk low/high/destructive. `request.type_node_name` is True for
  destructive steps (the UI must make the operator type `request.node`; Cancel is
  the default) and `request.unknown_outcome` when resuming a step that started but
  never finished. With `assume_yes` nobody is asked. With neither, the first
  mutating step ends the run as "refused" (headless without a TTY).
- `on_event(event: Event)`: called synchronously for every event (events.py lists
  them); keep it quick. The same events, minus step_output, go to the journal.
- `resume`: a run id; refused (CiliumtuiError) when the playbook's sha256 changed.
  Steps that finished are skipped (their captures restored).

Order for a mutating step: when → read-only? refuse → plan → dry-run? emit plan,
stop → rate limit → confirm → backup (destructive: fail closed) → journal
step_started + fsync → run (timeout, retries/until) → captures → step_finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import json
import os
import secrets as pysecrets
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import CiliumtuiError
from ..model import SEVERITY_RANK, Finding
from ..options import Options
from ..probe import one_line
from . import expr as exprmod
from .actions import REGISTRY
from .actions.base import Action, ActionContext, ActionResult
from .events import ConfirmRequest, Event, RunResult
from .journal import Journal, fsync_file, journal_path, read_journal, redact, runs_dir, state_dir
from .schema import Capture, Playbook, Step

ConfirmFn = Callable[[ConfirmRequest], Awaitable[bool]]
OUTPUT_EXCERPT = 20  # lines of output kept in step_finished


def new_run_id(playbook_id: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{playbook_id}-{pysecrets.token_hex(3)}"


def kube_context(opts: Options) -> str | None:
    """The kube context a confirmation shows (--context, else the kubeconfig's current one)."""
    if opts.context:
        return opts.context
    try:  # the same discovery the cluster client uses
        from ..cluster.client import kube_context as discovered

        return discovered(opts)[0]
    except Exception:  # no kubeconfig: fall back to a plain read below
        pass
    import yaml

    candidates = [opts.kubeconfig] if opts.kubeconfig else []
    if not candidates and os.environ.get("KUBECONFIG"):
        candidates = os.environ["KUBECONFIG"].split(os.pathsep)[:1]
    candidates += [
        str(Path.home() / ".kube" / "config"),
        str(opts.host_path("/etc/rancher/k3s/k3s.yaml")),
    ]
    for c in candidates:
        try:
            data = yaml.safe_load(Path(c).read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and data.get("current-context"):
            return str(data["current-context"])
    return None


# ------------------------------------------------------------------- rate limits


def _rate_file() -> Path:
    return state_dir() / "ratelimit.json"


def rate_check(node: str, key: str, max_: int, per: float, now: float | None = None) -> str | None:
    """None when allowed, else a one-line reason. State survives runs (state dir)."""
    now = time.time() if now is None else now
    try:
        data = json.loads(_rate_file().read_text())
    except (OSError, ValueError):
        data = {}
    recent = [t for t in data.get(f"{node}/{key}", []) if now - t < per]
    if len(recent) >= max_:
        wait = per - (now - min(recent))
        return (
            f"rate limit: at most {max_} {key} per {per / 60:g} min on node {node} "
            f"({len(recent)} already); next allowed in {wait / 60:.0f} min"
        )
    return None


def rate_record(node: str, key: str, per: float, now: float | None = None) -> None:
    now = time.time() if now is None else now
    path = _rate_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    k = f"{node}/{key}"
    data[k] = [t for t in data.get(k, []) if now - t < per] + [now]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


# ---------------------------------------------------------------------- captures


def walk_path(data: Any, path: str) -> Any:
    """`a.b[0].c` (a leading `$.` or `data.` is allowed) over dicts and lists."""
    p = path.strip()
    for prefix in ("$.", "data."):
        if p.startswith(prefix):
            p = p[len(prefix) :]
    cur = data
    for part in p.replace("[", ".[").split("."):
        if not part or part == "$":
            continue
        if part.startswith("[") and part.endswith("]"):
            try:
                idx = int(part[1:-1])
            except ValueError:
                return None
            cur = cur[idx] if isinstance(cur, list) and -len(cur) <= idx < len(cur) else None
        else:
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is None:
            return None
    return cur


def capture_value(cap: Capture, result: ActionResult) -> Any:
    if cap.from_:
        return {
            "rc": result.rc,
            "stdout": result.stdout,
            "ok": result.ok,
            "changed": result.changed,
            "message": result.message,
        }[cap.from_]
    if cap.count:
        v = walk_path(result.data, cap.count)
        return len(v) if isinstance(v, (list, dict, str)) else 0
    return walk_path(result.data, cap.path or "")


# ------------------------------------------------------------------------ runner


class _Stop(Exception):
    """Ends the step loop: refused / declined / aborted."""

    def __init__(self, status: str, message: str, step_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.step_id = step_id


class Runner:
    def __init__(
        self,
        playbook: Playbook,
        opts: Options,
        inputs: dict[str, Any],
        *,
        dry_run: bool = False,
        assume_yes: bool = False,
        confirm: ConfirmFn | None = None,
        on_event: Callable[[Event], None] | None = None,
        resume: str | None = None,
    ) -> None:
        self.pb = playbook
        self.opts = opts
        self.inputs = dict(inputs)
        self.dry_run = dry_run
        self.assume_yes = assume_yes
        self.confirm = confirm
        self.on_event = on_event
        self.resume = resume
        self.run_id = resume or new_run_id(playbook.id)
        self.run_dir = runs_dir() / self.run_id
        self.node = opts.node_name
        self.context = kube_context(opts)
        self.vars: dict[str, Any] = {}
        self.findings: list[Finding] = []
        self.statuses: dict[str, str] = {}
        self.backups: dict[str, Path] = {}
        self.completed_mutations: list[Step] = []
        self._seq = 0
        self._secrets = [
            str(v)
            for k, v in self.inputs.items()
            if k in playbook.inputs and playbook.inputs[k].secret and v
        ]
        self._journal: Journal | None = None
        # resume state
        self._done: dict[str, dict[str, Any]] = {}  # step id -> its step_finished record
        self._unknown: set[str] = set()

    # ----------------------------------------------------------------- events

    def _emit(
        self,
        kind: str,
        step: Step | None = None,
        *,
        sync: bool = False,
        journal: bool = True,
        **fields: Any,
    ) -> Event:
        self._seq += 1
        # Redacted before any sink sees it: journal, CLI output and the TUI alike.
        ev = Event(
            kind=kind,
            run_id=self.run_id,
            seq=self._seq,
            ts=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            **redact(fields, self._secrets),
        )
        if step is not None:
            ev.step_id, ev.phase, ev.title = step.id, step.phase, step.label
            ev.action, ev.mutates, ev.risk = step.action, step.mutates, step.risk
        if journal and self._journal is not None:
            self._journal.write(ev.to_dict(), sync=sync)
        if self.on_event is not None:
            # a broken listener must not break the run
            with contextlib.suppress(Exception):
                self.on_event(ev)
        return ev

    # ---------------------------------------------------------------- resume

    def _load_resume(self) -> None:
        path = journal_path(self.run_id)
        records = read_journal(path)
        if not records:
            raise CiliumtuiError(f"--resume {self.run_id}: no journal at {path}")
        start = next((r for r in records if r.get("kind") == "run_started"), None)
        if start is None:
            raise CiliumtuiError(f"--resume {self.run_id}: journal has no run_started record")
        data = start.get("data", {})
        if data.get("playbook") != self.pb.id:
            raise CiliumtuiError(
                f"--resume {self.run_id}: that run is playbook {data.get('playbook')!r}, not {self.pb.id!r}"
            )
        if data.get("sha256") != self.pb.sha256:
            raise CiliumtuiError(
                f"--resume {self.run_id}: playbook {self.pb.id} changed since the run started "
                f"(sha256 {str(data.get('sha256'))[:12]}… → {self.pb.sha256[:12]}…); resume refused, "
                "start a new run"
            )
        for k, v in (data.get("inputs") or {}).items():
            if k not in self.inputs or self.inputs[k] is None:
                self.inputs[k] = v
        started: dict[str, int] = {}
        for r in records:
            sid = r.get("step_id")
            if not sid:
                continue
            if r.get("kind") == "step_started":
                started[sid] = r.get("seq", 0)
                self._done.pop(sid, None)
            elif r.get("kind") == "step_finished":
                # refused/declined/planned say nothing about an earlier, interrupted attempt
                if r.get("status") in ("ok", "failed", "skipped"):
                    started.pop(sid, None)
                if r.get("status") in ("ok", "skipped") and not (r.get("data") or {}).get(
                    "dry_run"
                ):
                    self._done[sid] = r
                else:
                    self._done.pop(sid, None)
            elif r.get("kind") == "backup_saved":
                d = (r.get("data") or {}).get("dir")
                if d and sid not in self.backups:
                    self.backups[sid] = Path(d)
        for sid in started:
            step = self.pb.step(sid)
            if step is not None and step.mutates:
                self._unknown.add(sid)
        self._seq = max((r.get("seq", 0) for r in records), default=0)

    # ------------------------------------------------------------ expressions

    def _scope(self) -> dict[str, Any]:
        return {
            **self.vars,
            "inputs": self.inputs,
            "node": self.node,
            "dry_run": self.dry_run,
            "findings": [f.id for f in self.findings],
            "context": self.context,
            "run_id": self.run_id,
        }

    def _functions(self) -> dict[str, Callable[..., Any]]:
        def finding(fid: str) -> bool:
            return any(f.id == fid for f in self.findings)

        def any_finding(severity: str) -> bool:
            """A finding of this severity or worse."""
            rank = SEVERITY_RANK.get(str(severity))
            if rank is None:
                raise TypeError(f"severity must be critical, warning or info, not {severity!r}")
            return any(SEVERITY_RANK.get(f.severity, 0) >= rank for f in self.findings)

        def length(x: Any) -> int:
            return len(x) if isinstance(x, (list, dict, str, tuple)) else 0

        return {"finding": finding, "any_finding": any_finding, "len": length}

    def _eval(self, e: exprmod.Expr) -> Any:
        return e.evaluate(self._scope(), self._functions())

    def _render(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._render(v) for v in value]
        if exprmod.has_template(value):
            return exprmod.render(value, self._eval)
        return value

    # -------------------------------------------------------------------- run

    def preflight(self) -> None:
        """Refuse up front (CiliumtuiError, exit 3) what could only fail half-way."""
        if self.dry_run or self.opts.read_only or os.geteuid() == 0:
            return
        if not self.opts.node_backend.needs_root:
            return  # a backend that changes no kernel (DESIGN §3)
        if self.opts.host_root != "/" and all(
            s.action == "k3s.hook" for s in self.pb.all_steps() if REGISTRY[s.action].needs_root
        ):
            return  # writing under a fake host root needs no root
        rooted = [s.id for s in self.pb.all_steps() if REGISTRY[s.action].needs_root]
        if rooted:
            raise CiliumtuiError(
                f"playbook {self.pb.id} changes this node (steps {', '.join(rooted)}): "
                "run it as root, or look first with --dry-run"
            )

    async def run(self) -> RunResult:
        self.preflight()
        if self.resume:
            self._load_resume()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._journal = Journal(self.run_dir / "journal.jsonl", self._secrets)
        status, message, failed = "ok", "", None
        try:
            self._emit(
                "run_started",
                sync=True,
                data={
                    "playbook": self.pb.id,
                    "version": self.pb.version,
                    "sha256": self.pb.sha256,
                    "source": self.pb.source,
                    "node": self.node,
                    "context": self.context,
                    "inputs": {
                        k: ("***" if k in self.pb.inputs and self.pb.inputs[k].secret else v)
                        for k, v in self.inputs.items()
                    },
                    "mode": {
                        "dry_run": self.dry_run,
                        "read_only": self.opts.read_only,
                        "assume_yes": self.assume_yes,
                        "resumed": bool(self.resume),
                    },
                    "operator": {
                        "user": _user(),
                        "uid": os.geteuid(),
                        "host": socket.gethostname(),
                    },
                    "netns": self.opts.netns,
                    "host_root": self.opts.host_root,
                },
            )
            # Dry-run and read-only change nothing, so later steps still run (to show the
            # whole picture) whatever failed before them.
            passive = self.dry_run or self.opts.read_only
            refused: str | None = None
            try:
                for step in self.pb.steps:
                    st = await self._step(step)
                    if st == "failed":
                        failed = failed or step.id
                        if passive or step.on_failure == "continue":
                            continue
                        if step.on_failure == "rollback":
                            await self._rollback()
                        status, message = "failed", f"step {step.id} failed"
                        break
                    if st == "refused":
                        refused = refused or step.id
                if refused:
                    status, message = (
                        "refused",
                        f"read-only: step {refused} and every other change refused",
                    )
                elif failed and status == "ok" and not self.dry_run:
                    status, message = "failed", f"step {failed} failed"
            except _Stop as stop:
                status, message, failed = stop.status, str(stop), stop.step_id
            for step in self.pb.always:
                try:
                    st = await self._step(step)
                except _Stop as stop:
                    self.statuses[step.id] = stop.status
                    continue
                if st == "failed" and status == "ok" and not passive:
                    status, message, failed = "failed", f"always step {step.id} failed", step.id
            if self.dry_run and status == "ok":
                status = "planned"
                message = "dry-run: nothing was changed"
        except asyncio.CancelledError:
            self._emit("run_finished", sync=True, status="aborted", message="interrupted")
            self._journal.close()
            raise
        except Exception as exc:  # a bug in the engine itself: a failed run, never a traceback
            status, message = "failed", f"internal error: {type(exc).__name__}: {one_line(exc)}"
        self._emit(
            "run_finished",
            sync=True,
            status=status,
            message=message or None,
            data={"steps": self.statuses, "failed_step": failed},
        )
        self._journal.close()
        return RunResult(
            self.run_id,
            self.pb.id,
            status,
            message,
            dict(self.statuses),
            failed,
            self.run_dir / "journal.jsonl",
            {k: str(v) for k, v in self.backups.items()},
        )

    async def _rollback(self) -> None:
        todo = [s for s in reversed(self.completed_mutations) if s.rollback is not None]
        self._emit("rollback_started", data={"steps": [s.id for s in todo]})
        results = {}
        for s in todo:
            assert s.rollback is not None
            try:
                results[s.rollback.id] = await self._step(s.rollback)
            except _Stop as stop:
                results[s.rollback.id] = stop.status
                break
        self._emit(
            "rollback_finished",
            data={"results": results},
            status="ok" if all(v == "ok" for v in results.values()) else "failed",
        )

    def _finish(self, step: Step, status: str, *, sync: bool = False, **fields: Any) -> str:
        self.statuses[step.id] = status
        self._emit("step_finished", step, status=status, sync=sync, **fields)
        return status

    def _ctx(self, step: Step, params: dict[str, Any]) -> ActionContext:
        ctx = ActionContext(
            opts=self.opts,
            params=params,
            step_id=step.id,
            run_dir=self.run_dir,
            dry_run=self.dry_run,
            findings=self.findings,
            backups=self.backups,
            on_output=lambda line: self._emit("step_output", step, journal=False, message=line),
        )
        return ctx

    async def _step(self, step: Step) -> str:
        # Resume: a step that finished earlier is not run again; its captures come back.
        if step.id in self._done:
            rec = self._done[step.id]
            self.vars.update((rec.get("data") or {}).get("captures") or {})
            for f in (rec.get("data") or {}).get("findings") or []:
                self.findings.append(Finding(f["id"], f["severity"], f.get("title", "")))
            if step.mutates and rec.get("status") == "ok":
                self.completed_mutations.append(step)
            return self._finish(
                step,
                rec.get("status", "ok"),
                message="done in an earlier attempt",
                data={"resumed": True, "captures": (rec.get("data") or {}).get("captures")},
            )
        if step.when is not None:
            try:
                go = self._eval(step.when)
            except exprmod.ExprError as exc:
                return self._finish(step, "failed", message=f"when: {exc}")
            if not go:
                return self._finish(step, "skipped", message=f"when: {step.when.text} is false")
        cls = REGISTRY[step.action]
        try:
            params = self._render(step.params)
        except exprmod.ExprError as exc:
            return self._finish(step, "failed", message=f"params: {exc}")
        from .actions.base import with_defaults

        action = cls()
        ctx = self._ctx(step, with_defaults(cls, params))
        if not step.mutates:
            if (self.dry_run or self.opts.read_only) and cls.waits:
                mode = "dry-run" if self.dry_run else "read-only"
                return self._finish(
                    step, "skipped", message=f"{mode}: nothing changed, nothing to wait for"
                )
            self._emit("step_started", step)
            return await self._execute(step, action, ctx)
        return await self._mutating(step, action, ctx)

    async def _mutating(self, step: Step, action: Action, ctx: ActionContext) -> str:
        if self.opts.read_only:
            return self._finish(
                step, "refused", message="read-only: this step changes the node/cluster"
            )
        try:
            plan = await asyncio.wait_for(action.plan(ctx), step.timeout)
        except Exception as exc:
            return self._finish(step, "failed", message=f"cannot plan: {_err(exc, step)}")
        if self.dry_run:
            self._emit("step_planned", step, plan=plan)
            return self._finish(step, "planned", plan=plan, data={"dry_run": True})
        if step.rate_limit is not None:
            rl = step.rate_limit
            why = rate_check(self.node, rl.key, rl.max, rl.per)
            if why:
                return self._finish(step, "failed", message=why)
        await self._confirm(step, plan)
        if cls_has_backup(action):
            try:
                files = await self._backup(step, action, ctx)
            except Exception as exc:
                if step.risk == "destructive":
                    return self._finish(
                        step,
                        "failed",
                        sync=True,
                        message=f"backup failed, step not run (no backup, no step): {_err(exc, step)}",
                    )
                files = []
                self._emit(
                    "step_output", step, journal=False, message=f"(no backup: {_err(exc, step)})"
                )
            if not files and step.risk == "destructive":
                return self._finish(
                    step,
                    "failed",
                    sync=True,
                    message="backup produced nothing, step not run (no backup, no step)",
                )
        elif step.risk == "destructive":
            return self._finish(
                step,
                "failed",
                message=f"{step.action} cannot back up; a destructive step needs a backup",
            )
        # Write-ahead: the record is on disk before anything changes.
        self._emit("step_started", step, sync=True, plan=plan)
        if step.rate_limit is not None:
            rate_record(self.node, step.rate_limit.key, step.rate_limit.per)
        st = await self._execute(step, action, ctx)
        if st == "ok":
            self.completed_mutations.append(step)
        return st

    async def _confirm(self, step: Step, plan: list[str]) -> None:
        unknown = step.id in self._unknown
        req = ConfirmRequest(
            step_id=step.id,
            title=step.label,
            risk=step.risk,
            plan=plan,
            context=self.context,
            node=self.node,
            type_node_name=step.risk == "destructive",
            unknown_outcome=unknown,
            message=(
                f"step {step.id} started in an earlier attempt but never finished: its outcome "
                "is unknown. Run it again?"
            )
            if unknown
            else "",
        )
        self._emit(
            "confirm_requested",
            step,
            plan=plan,
            data={
                "type_node_name": req.type_node_name,
                "unknown_outcome": unknown,
                "context": self.context,
                "node": self.node,
            },
        )
        if self.assume_yes:
            self._emit("confirm_granted", step, data={"by": "--yes"})
            return
        if self.confirm is None:
            self._finish(step, "refused", message="needs confirmation")
            what = f"its outcome in run {self.run_id} is unknown; " if unknown else ""
            raise _Stop(
                "refused",
                f"step {step.id} ({step.risk}) needs confirmation: {what}"
                "rerun with --yes, or run from a terminal",
                step.id,
            )
        try:
            ok = bool(await self.confirm(req))
        except Exception as exc:
            ok = False
            self._emit(
                "step_output", step, journal=False, message=f"confirmation failed: {one_line(exc)}"
            )
        if not ok:
            self._emit("confirm_declined", step)
            self._finish(step, "declined", message="declined by the operator")
            raise _Stop("declined", f"step {step.id} declined: run stopped", step.id)
        self._emit("confirm_granted", step, data={"by": "operator"})

    async def _backup(self, step: Step, action: Action, ctx: ActionContext) -> list[dict[str, str]]:
        # Never overwrite an earlier attempt's backup: that one holds the original state.
        base = self.run_dir / "backups" / step.id
        d, n = base, 1
        while (d / "MANIFEST.json").exists():
            n += 1
            d = base.with_name(f"{step.id}.attempt{n}")
        ctx.backup_path = d
        paths = await asyncio.wait_for(action.backup(ctx), step.timeout)
        files = []
        for p in paths:
            fsync_file(p)
            files.append({"path": str(p), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()})
        if not files:
            return []
        manifest = d / "MANIFEST.json"
        manifest.write_text(
            json.dumps({"step": step.id, "run": self.run_id, "files": files}, indent=1)
        )
        fsync_file(manifest)
        self.backups.setdefault(step.id, d)
        self._emit("backup_saved", step, sync=True, data={"dir": str(d), "files": files})
        return files

    async def _execute(self, step: Step, action: Action, ctx: ActionContext) -> str:
        # Retrying waits for a change; dry-run and read-only make none.
        attempts = 1 if (self.dry_run or self.opts.read_only) else max(1, step.retry.attempts)
        start = time.perf_counter()
        result = ActionResult(ok=False)
        msg = ""
        for attempt in range(1, attempts + 1):
            try:
                result = await asyncio.wait_for(action.run(ctx), step.timeout)
                msg = result.message
            except asyncio.TimeoutError:
                result, msg = ActionResult(ok=False), f"timed out after {step.timeout:g}s"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure of an action becomes a failed step
                result, msg = ActionResult(ok=False), _err(exc, step)
            if result.findings is not None:
                self.findings[:] = result.findings
            captures = {c.name: capture_value(c, result) for c in step.capture}
            self.vars.update(captures)
            success = result.ok
            if success and step.retry.until is not None:
                try:
                    success = bool(self._eval(step.retry.until))
                except exprmod.ExprError as exc:
                    success, msg = False, f"until: {exc}"
                if not success and not msg:
                    msg = f"until {step.retry.until.text!r} still false"
            if success:
                break
            if attempt < attempts:
                self._emit(
                    "step_output",
                    step,
                    journal=False,
                    message=f"attempt {attempt}/{attempts}: {msg or 'failed'}; retrying in {step.retry.delay:g}s",
                )
                await asyncio.sleep(step.retry.delay)
        ms = round((time.perf_counter() - start) * 1000, 1)
        data: dict[str, Any] = {}
        captures = {c.name: self.vars.get(c.name) for c in step.capture}
        if captures:
            data["captures"] = _jsonable(captures)
        if result.findings is not None:
            data["findings"] = [f.to_json() for f in result.findings]
        if result.changed:
            data["changed"] = True
        return self._finish(
            step,
            "ok" if success else "failed",
            sync=step.mutates,
            rc=result.rc,
            ms=ms,
            attempt=attempt if attempts > 1 else None,
            message=msg or None,
            output=ctx.lines[-OUTPUT_EXCERPT:],
            data=data,
        )


def cls_has_backup(action: Action) -> bool:
    return type(action).backup is not Action.backup


def _err(exc: BaseException, step: Step) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"timed out after {step.timeout:g}s"
    if isinstance(exc, CiliumtuiError):
        return str(exc)
    return f"{type(exc).__name__}: {one_line(exc)}"


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return str(os.geteuid())
