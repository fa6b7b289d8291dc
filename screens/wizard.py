"""The wizard: runs one playbook through the engine, step by step.

Inputs first (a form, when the playbook asks for something without a default),
then the steps with their risk and state, each step's plan (the exact
commands), live output, the confirmation modal for mutating steps, the result
and the next step. A running step shows its elapsed time against its limit —
for a wait, also what it waits on — and `a` aborts it. After a declined (or
failed) step, `s` resumes the same run from that step. The engine — not this
screen — enforces dry-run, read-only, backups and the journal.

The runner works on its own loop in a daemon thread (actions may block: netlink,
iptables-restore), reporting events back with call_soon_threadsafe; a
confirmation is asked on the UI loop and its answer handed back to the runner.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import time
from collections.abc import Callable
from typing import Any

from ciliumtui.screens.confirm import ConfirmScreen
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Footer, RichLog, Static

from ciliumtui.engine.events import ConfirmRequest, Event, RunResult, plan_line
from ciliumtui.engine.schema import Playbook, Step
from ciliumtui.model import Finding
from ciliumtui.sources import in_daemon_thread
from ciliumtui.tui.commands import plan_script
from ciliumtui.tui.control import control
from ciliumtui.widgets.command_line import CommandLine, PromptBar
from ciliumtui.widgets.steps import STATUS_STYLE, StepsPanel, step_row

NEXT_STEP = {
    "diagnose": "cleanup",
    "cleanup": "verify",
    "cleanup-node": "verify",
    "restart": "verify",
    "k3s-stop-hook": "verify",
    "pod-cidr-change": "verify",
}
RESUMABLE = ("declined", "failed", "aborted")

# (playbook, opts, inputs, *, dry_run, confirm, on_event, resume) -> an object with `async run()`.
RunnerFactory = Callable[..., Any]


def default_runner_factory(
    playbook: Any,
    opts: Any,
    inputs: dict[str, Any],
    *,
    dry_run: bool,
    confirm: Any,
    on_event: Any,
    resume: str | None = None,
) -> Any:
    from ciliumtui.engine.runner import Runner

    return Runner(
        playbook,
        opts,
        inputs,
        dry_run=dry_run,
        assume_yes=False,
        confirm=confirm,
        on_event=on_event,
        resume=resume,
    )


def next_step_hint(playbook_id: str, status: str, dry_run: bool) -> tuple[str, str | None]:
    """(what to do next, playbook to offer) after a run ended with `status`."""
    if status == "planned" or (dry_run and status == "ok"):
        return (
            f"Dry run done: nothing changed. Run it for real with :run {playbook_id}.",
            playbook_id,
        )
    if status == "ok":
        nxt = NEXT_STEP.get(playbook_id)
        if nxt:
            return f"Done. Next: {nxt} (press x).", nxt
        return "Done. Check the dashboard's findings (esc).", None
    if status == "declined":
        return "Stopped: you declined a step; nothing after it ran. s resumes from it.", None
    if status == "aborted":
        return "Aborted. s resumes from the aborted step; :journal has the record.", None
    if status == "refused":
        return "Refused: read-only mode or confirmation needed; nothing was changed.", None
    return "Failed: see the failed step above (s retries from it; :journal has it all).", None


def waits_for(step: Step) -> str | None:
    """What a waiting step waits on, in words (None: the step does not wait)."""
    from ciliumtui.engine.actions.base import REGISTRY

    action = REGISTRY.get(step.action)
    if action is None or not getattr(action, "waits", False):
        return None
    p = step.params
    what = p.get("selector") or p.get("name") or p.get("pod") or "the pod"
    where = f" in {p['namespace']}" if p.get("namespace") else ""
    return f"{what}{where} to be Ready"


def step_limit(step: Step) -> float:
    """The longest a step may take: its own timeout, or a wait's `timeout` if shorter."""
    limit = step.timeout
    raw = step.params.get("timeout")
    if isinstance(raw, (int, float)) and raw > 0:
        limit = min(limit, float(raw))
    return limit


class WizardScreen(Screen[None]):
    AUTO_FOCUS = "#wizard-start"  # never the first focusable by accident
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("s", "start", "Start"),
        Binding("i", "inputs", "Inputs"),
        Binding("a", "abort", "Abort"),
        Binding("x", "next", "Next"),
        Binding("y", "copy", "Copy plan", show=False),
        Binding("colon", "command", ":Cmd", show=False),
    ]

    def __init__(
        self,
        playbook_id: str,
        *,
        dry_run: bool,
        finding: Finding | None = None,
        runner_factory: RunnerFactory | None = None,
        inputs: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.playbook_id = playbook_id
        self.dry_run = dry_run
        self.finding = finding
        self._runner_factory = runner_factory
        self.raw_inputs: dict[str, str] = dict(inputs or {})
        self.playbook: Playbook | None = None
        self.state = "ready"  # ready | running | done | error
        self.result: RunResult | None = None
        self.resume_run: str | None = None  # the run `s` resumes (after a decline)
        self.next_playbook: str | None = None
        self.events: list[Event] = []
        self.plan: list[str] = []
        self._abort: Callable[[], None] | None = None
        self._running_step: Step | None = None
        self._step_started = 0.0
        self._ticker: Timer | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static(id="wizard-title")
        yield StepsPanel(id="wizard-steps", classes="panel")
        log = RichLog(id="wizard-log", wrap=True, markup=False, highlight=False)
        log.border_title = "Plan and output"
        yield log
        yield Static(id="wizard-wait")
        yield Static(id="wizard-status")
        with Horizontal(id="wizard-buttons"):
            yield Button("Start (s)", id="wizard-start", variant="warning", compact=True)
            yield Button("Inputs (i)", id="wizard-inputs", compact=True)
            yield Button("Next", id="wizard-next", disabled=True, compact=True)
            yield Button("Back (esc)", id="wizard-back", compact=True)
        yield PromptBar(id="prompt")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        ctl = control(self.app)
        self.query_one(CommandLine).completer = ctl.complete_command
        self.query_one("#wizard-wait").display = False
        opts = ctl.opts
        mode = "DRY-RUN (nothing will change)" if self.dry_run else "LIVE (each change asks first)"
        title = Text()
        try:
            from ciliumtui.engine.loader import load_playbook

            self.playbook = load_playbook(self.playbook_id)
        except Exception as exc:  # CiliumtuiError from the loader: show it, do not crash
            self.state = "error"
            self.query_one("#wizard-start", Button).disabled = True
            title.append(f"Playbook {self.playbook_id}", style="bold")
            self.query_one("#wizard-title", Static).update(title)
            self._status(f"Cannot load playbook: {exc}", "bold red")
            return
        pb = self.playbook
        title.append(f"{pb.title}\n", style="bold")
        cluster = ctl.snapshot.cluster
        context = (cluster.context if cluster else None) or opts.context or "?"
        title.append(f"{pb.id} · node {opts.node_name} · ctx {context} · ")
        title.append(mode, style="bold cyan" if self.dry_run else "bold yellow")
        self.query_one("#wizard-title", Static).update(title)
        steps = self.query_one(StepsPanel)
        steps.set_rows(
            (s.id, step_row("pending", s.risk, s.phase, s.label, "")) for s in pb.all_steps()
        )
        self.query_one("#wizard-inputs").display = bool(pb.inputs)
        if self.finding is not None:
            self._log(f"For finding {self.finding.id}: {self.finding.title}", "bold")
        self._ready_status()
        self.query_one("#wizard-start", Button).focus()
        if self._needs_form():
            self.call_after_refresh(self.action_inputs)

    def _ready_status(self) -> None:
        text = "Press s (or Start) to begin."
        if self.dry_run:
            text += " Dry run: read steps run, changes are only planned."
        if self.playbook is not None and self.playbook.inputs:
            shown = ", ".join(f"{k}={v}" for k, v in self.raw_inputs.items()) or "defaults"
            text += f"\nInputs: {shown} (i to change)."
        self._status(text, "")

    def _needs_form(self) -> bool:
        """Ask before the plan when an input has no value the run could use."""
        pb = self.playbook
        if pb is None:
            return False
        return any(
            name not in self.raw_inputs and inp.default is None and inp.type != "node"
            for name, inp in pb.inputs.items()
        )

    # ----------------------------------------------------------------- actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            return True if self.state == "ready" else None
        if action == "inputs":
            pb = self.playbook
            return True if self.state == "ready" and pb is not None and pb.inputs else None
        if action == "abort":
            return True if self.state == "running" else None
        if action == "next":
            return True if self.next_playbook else None
        return True

    def action_inputs(self) -> None:
        if self.state != "ready" or self.playbook is None or not self.playbook.inputs:
            return
        from ciliumtui.screens.inputs import InputsScreen

        def done(values: dict[str, str] | None) -> None:
            if values is not None:
                self.raw_inputs = values
            self._ready_status()

        ctl = control(self.app)
        self.app.push_screen(
            InputsScreen(self.playbook, self.raw_inputs, ctl.snapshot, ctl.opts.node_name),
            callback=done,
        )

    def action_start(self) -> None:
        if self.state != "ready" or self.playbook is None:
            return
        self.state = "running"
        self.query_one("#wizard-start", Button).disabled = True
        self.query_one("#wizard-inputs", Button).disabled = True
        self.refresh_bindings()
        self._run()

    def action_abort(self) -> None:
        if self.state == "running" and self._abort is not None:
            self._log("abort requested: stopping the running step", "bold red")
            self._abort()

    def action_close(self) -> None:
        if self.state == "running":
            self.notify(
                "A run is in progress: a aborts it, or wait for the next confirmation.",
                severity="warning",
            )
            return
        self.app.pop_screen()

    def action_next(self) -> None:
        if self.next_playbook:
            nxt = self.next_playbook
            self.app.pop_screen()
            control(self.app).start_wizard(nxt, dry_run=self.dry_run)

    def action_copy(self) -> None:
        if not self.plan:
            self.notify("No plan yet: press s first (a dry run shows every step's plan).")
            return
        self.app.copy_to_clipboard(plan_script(self.plan, self.playbook_id, control(self.app)))
        self.notify(f"Copied the plan ({len(self.plan)} lines, OSC 52).", timeout=2)

    def action_command(self) -> None:
        self.query_one(CommandLine).open(":")

    def on_command_line_run(self, event: CommandLine.Run) -> None:
        self.query_one("#wizard-start", Button).focus()
        if event.mode == ":":
            control(self.app).execute_command(event.value)

    def on_command_line_closed(self, event: CommandLine.Closed) -> None:
        self.query_one("#wizard-start", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        handler = {
            "wizard-start": self.action_start,
            "wizard-inputs": self.action_inputs,
            "wizard-next": self.action_next,
            "wizard-back": self.action_close,
        }.get(event.button.id or "")
        if handler is not None:
            handler()

    # -------------------------------------------------------------------- run

    @work(exclusive=True, group="wizard", exit_on_error=False)
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        ctl = control(self.app)
        opts = ctl.opts
        playbook = self.playbook
        factory = self._runner_factory or ctl.runner_factory or default_runner_factory
        resume, self.resume_run = self.resume_run, None

        # Callbacks from the runner thread run on the UI loop in this context (Textual's
        # active app lives in a contextvar; a bare call_soon_threadsafe would lose it).
        ctx = contextvars.copy_context()

        def on_event(event: Event) -> None:  # runner thread → UI loop
            loop.call_soon_threadsafe(self._on_event, event, context=ctx)

        async def confirm(request: ConfirmRequest) -> bool:  # runner thread: ask on the UI loop
            answer: concurrent.futures.Future[bool] = concurrent.futures.Future()
            loop.call_soon_threadsafe(self._ask, request, answer, context=ctx)
            return await asyncio.wrap_future(answer)

        async def go() -> RunResult:
            from ciliumtui.engine.loader import resolve_inputs

            assert playbook is not None
            inputs = resolve_inputs(playbook, self.raw_inputs, opts.node_name)
            runner = factory(
                playbook,
                opts,
                inputs,
                dry_run=self.dry_run,
                confirm=confirm,
                on_event=on_event,
                resume=resume,
            )
            runner_loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            assert task is not None

            def abort() -> None:  # UI loop → the runner's loop: cancel the run where it is
                runner_loop.call_soon_threadsafe(task.cancel)

            self._abort = abort
            try:
                result: RunResult = await runner.run()
            except asyncio.CancelledError:
                run_id = str(getattr(runner, "run_id", resume or "?"))
                return RunResult(run_id, playbook.id, "aborted", "aborted by the operator")
            return result

        try:
            result = await in_daemon_thread(go)
        except Exception as exc:
            self.state = "done"
            self._abort = None
            self._status(f"The run could not start: {exc}", "bold red")
            self.refresh_bindings()
            return
        self._finished(result)

    def _ask(self, request: ConfirmRequest, answer: concurrent.futures.Future[bool]) -> None:
        self._stop_ticker()
        self.app.push_screen(
            ConfirmScreen(request), callback=lambda ok: answer.set_result(bool(ok))
        )

    def _finished(self, result: RunResult) -> None:
        self._abort = None
        self._stop_ticker()
        self.result = result
        status = result.status
        hint, nxt = next_step_hint(self.playbook_id, status, self.dry_run)
        # Running a dry-run "for real" is a deliberate `:run`, never a single key.
        self.next_playbook = nxt if status == "ok" else None
        style = {"ok": "bold green", "planned": "bold cyan"}.get(status, "bold red")
        msg = result.message or ""
        self._status(f"Result: {status}{' — ' + msg if msg else ''}\n{hint}", style)
        start = self.query_one("#wizard-start", Button)
        if status in RESUMABLE and not self.dry_run and result.run_id:
            # s picks the same run up again: done steps are skipped, the stopped one asks again.
            self.state = "ready"
            self.resume_run = result.run_id
            step = result.failed_step
            start.label = "Resume (s)"
            if step:
                self._status(
                    f"Result: {status} at {step}{' — ' + msg if msg else ''}\n{hint}", style
                )
            start.disabled = False
            start.focus()
        else:
            self.state = "done"
            self.query_one("#wizard-back", Button).focus()
        button = self.query_one("#wizard-next", Button)
        button.disabled = self.next_playbook is None
        if self.next_playbook:
            button.label = f"Next: {self.next_playbook} (x)"
            button.focus()
        self.refresh_bindings()

    # ------------------------------------------------------------------ events

    def _on_event(self, ev: Event) -> None:
        self.events.append(ev)
        if not self.is_mounted:
            return  # the operator left (e.g. `x` opened the next playbook): nothing to draw
        kind = ev.kind
        if kind == "run_started":
            self._log(
                f"run {ev.run_id} {'resumed' if ev.data.get('mode', {}).get('resumed') else 'started'}",
                "dim",
            )
        elif kind == "step_started":
            self._set_step(ev, "running")
            self._log(f"▶ {ev.title or ev.step_id}", "bold")
            self._add_plan(ev)
            self._start_ticker(ev)
        elif kind == "step_planned":
            self._log(f"◇ {ev.title or ev.step_id} — plan (not run):", "bold cyan")
            self._explain(ev.step_id)
            self._add_plan(ev)
        elif kind == "confirm_requested":
            self._set_step(ev, "confirm?")
            self._explain(ev.step_id)
        elif kind == "confirm_declined":
            self._log(f"✗ declined: {ev.step_id}", "yellow")
        elif kind == "backup_saved":
            self._log(f"  backup saved: {ev.data.get('dir', '')}", "green")
        elif kind == "step_output":
            self._log(f"  {ev.message}", "")
        elif kind == "step_finished":
            self._stop_ticker()
            self._set_step(ev, ev.status or "?", ev.message or "")
            mark = {"ok": "✓", "planned": "◇", "skipped": "–"}.get(ev.status or "", "✗")
            tail = f" — {ev.message}" if ev.message else ""
            self._log(
                f"{mark} {ev.title or ev.step_id}: {ev.status}{tail}",
                STATUS_STYLE.get(ev.status or "", ""),
            )
            for line in ev.output[-5:] if ev.status == "failed" else []:
                self._log(f"  {line}", "red")
        elif kind in ("rollback_started", "rollback_finished"):
            self._log(f"{kind.replace('_', ' ')} {ev.status or ''}", "bold yellow")
        elif kind == "run_finished":
            self._stop_ticker()
            if ev.status == "aborted" and self._running_step is None:
                self._mark_aborted()
            self._log(f"run finished: {ev.status}", "bold")

    def _add_plan(self, ev: Event) -> None:
        for line in ev.plan:
            self._log(f"  {plan_line(line)}", "cyan")
        if ev.plan:
            self.plan += [f"# step {ev.step_id}: {ev.title or ''}".rstrip(), *ev.plan]
            ctl = control(self.app)
            ctl.current_plan = list(self.plan)
            ctl.current_plan_title = self.playbook_id

    def _mark_aborted(self) -> None:
        steps = self.query_one(StepsPanel)
        for key in list(steps._rows):
            if steps.status_of(key) in ("running", "waiting"):
                self._set_row(key, "aborted", "aborted by the operator")

    def _explain(self, step_id: str | None) -> None:
        step = self.playbook.step(step_id) if self.playbook is not None and step_id else None
        if step is not None and step.explain:
            self._log(f"  why: {step.explain}", "italic")

    def _set_row(self, key: str, status: str, detail: str | None) -> None:
        steps = self.query_one(StepsPanel)
        old = steps.row_of(key)
        step = self.playbook.step(key) if self.playbook is not None else None
        risk = step.risk if step else (old[1].plain if old and isinstance(old[1], Text) else "")
        phase = step.phase if step else ""
        title = step.label if step else key
        keep = old[4] if old is not None else ""
        steps.set_step(
            key, step_row(status, risk, phase, title, detail if detail is not None else str(keep))
        )

    def _set_step(self, ev: Event, status: str, detail: str | None = None) -> None:
        if ev.step_id is not None:
            self._set_row(ev.step_id, status, detail)

    # -------------------------------------------------- elapsed / limit / abort

    def _start_ticker(self, ev: Event) -> None:
        step = self.playbook.step(ev.step_id) if self.playbook and ev.step_id else None
        if step is None:
            return
        self._running_step = step
        self._step_started = time.monotonic()
        self.query_one("#wizard-wait").display = True
        self._tick()
        self._ticker = self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        step = self._running_step
        if step is None:
            return
        elapsed = time.monotonic() - self._step_started
        waiting = waits_for(step)
        t = Text()
        if waiting:
            t.append("⏳ waiting on ", style="bold yellow")
            t.append(waiting, style="bold")
        else:
            t.append("▶ running ", style="bold yellow")
            t.append(step.label, style="bold")
        t.append(f"  {elapsed:.0f}s / {step_limit(step):g}s limit", style="yellow")
        t.append("  (a: abort)", style="dim")
        self.query_one("#wizard-wait", Static).update(t)

    def _stop_ticker(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self._running_step = None
        if self.is_mounted:
            self.query_one("#wizard-wait").display = False

    # ---------------------------------------------------------------- helpers

    def _log(self, line: str, style: str) -> None:
        self.query_one("#wizard-log", RichLog).write(Text(line, style=style))

    def _status(self, text: str, style: str) -> None:
        self.query_one("#wizard-status", Static).update(Text(text, style=style))

    def step_status(self, step_id: str) -> str:
        return self.query_one(StepsPanel).status_of(step_id)
