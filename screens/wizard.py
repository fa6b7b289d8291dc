"""The wizard: runs one playbook through the engine, step by step.

Shows the steps with their risk and state, each step's plan (the exact
commands), live output, the confirmation modal for mutating steps (Cancel
focused; destructive steps need the node name typed), the result and the next
step. The engine — not this screen — enforces dry-run, read-only, backups and
the journal.

The runner works on its own loop in a daemon thread (actions may block: netlink,
iptables-restore), reporting events back with call_soon_threadsafe; a
confirmation is asked on the UI loop and its answer handed back to the runner.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Callable
from typing import Any

from ciliumtui.screens.confirm import RISK_STYLE, ConfirmScreen
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, RichLog, Static

from ciliumtui.engine.events import plan_line
from ciliumtui.model import Finding
from ciliumtui.sources import in_daemon_thread

STATUS_STYLE = {
    "pending": "dim",
    "running": "bold yellow",
    "confirm?": "bold magenta",
    "ok": "green",
    "planned": "cyan",
    "skipped": "dim",
    "failed": "bold red",
    "refused": "yellow",
    "declined": "yellow",
}
NEXT_STEP = {
    "diagnose": "cleanup",
    "cleanup": "verify",
    "cleanup-node": "verify",
    "restart": "verify",
    "k3s-stop-hook": "verify",
    "pod-cidr-change": "verify",
}


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# (playbook, opts, inputs, dry_run, confirm, on_event) -> an object with `async run()`.
RunnerFactory = Callable[..., Any]


def default_runner_factory(
    playbook: Any, opts: Any, inputs: dict[str, Any], *, dry_run: bool, confirm: Any, on_event: Any
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
        return "Stopped: you declined a step. Nothing after it ran.", None
    if status == "refused":
        return "Refused: read-only mode or confirmation needed; nothing was changed.", None
    return "Failed: see the failed step above and :journal for the full record.", None


class WizardScreen(Screen[None]):
    AUTO_FOCUS = "#wizard-start"  # never the first focusable by accident
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("s", "start", "Start"),
        Binding("x", "next", "Next playbook"),
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
        self.runner_factory = runner_factory or default_runner_factory
        self.raw_inputs = inputs or {}
        self.playbook: Any = None
        self.state = "ready"  # ready | running | done | error
        self.result: Any = None
        self.next_playbook: str | None = None
        self.events: list[Any] = []

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static(id="wizard-title")
        steps: DataTable[Any] = DataTable(id="wizard-steps", cursor_type="row")
        steps.border_title = "Steps"
        yield steps
        log = RichLog(id="wizard-log", wrap=True, markup=False, highlight=False)
        log.border_title = "Plan and output"
        yield log
        yield Static(id="wizard-status")
        with Horizontal(id="wizard-buttons"):
            yield Button("Start (s)", id="wizard-start", variant="warning", compact=True)
            yield Button("Next", id="wizard-next", disabled=True, compact=True)
            yield Button("Back (esc)", id="wizard-back", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#wizard-steps", DataTable)
        table.add_columns(
            ("Status", "status"),
            ("Risk", "risk"),
            ("Phase", "phase"),
            ("Step", "step"),
            ("Detail", "detail"),
        )
        opts = self.app.opts  # type: ignore[attr-defined]
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
        title.append(f"{self.playbook.title}\n", style="bold")
        cluster = getattr(getattr(self.app, "snapshot", None), "cluster", None)
        context = (cluster.context if cluster else None) or opts.context or "?"
        title.append(f"playbook {self.playbook.id}  node {opts.node_name}  context {context}  ")
        title.append(mode, style="bold cyan" if self.dry_run else "bold yellow")
        self.query_one("#wizard-title", Static).update(title)
        for step in self.playbook.all_steps():
            risk = Text(step.risk, style=RISK_STYLE.get(step.risk, ""))
            table.add_row(
                Text("pending", style="dim"), risk, step.phase, _short(step.label), "", key=step.id
            )
        if self.finding is not None:
            self._log(f"For finding {self.finding.id}: {self.finding.title}", "bold")
        self._status(
            "Press s (or Start) to begin."
            + (" Dry run: read steps run, changes are only planned." if self.dry_run else ""),
            "",
        )
        self.query_one("#wizard-start", Button).focus()

    # ----------------------------------------------------------------- actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            return True if self.state == "ready" else None
        if action == "next":
            return True if self.next_playbook else None
        return True

    def action_start(self) -> None:
        if self.state != "ready" or self.playbook is None:
            return
        self.state = "running"
        self.query_one("#wizard-start", Button).disabled = True
        self.refresh_bindings()
        self._run()

    def action_close(self) -> None:
        if self.state == "running":
            self.notify(
                "A run is in progress; it stops at the next confirmation (Cancel) or when done.",
                severity="warning",
            )
            return
        self.app.pop_screen()

    def action_next(self) -> None:
        if self.next_playbook:
            nxt = self.next_playbook
            self.app.pop_screen()
            self.app.start_wizard(nxt, dry_run=self.dry_run)  # type: ignore[attr-defined]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "wizard-start":
            self.action_start()
        elif event.button.id == "wizard-next":
            self.action_next()
        elif event.button.id == "wizard-back":
            self.action_close()

    # -------------------------------------------------------------------- run

    @work(exclusive=True, group="wizard", exit_on_error=False)
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        opts = self.app.opts  # type: ignore[attr-defined]

        # Callbacks from the runner thread run on the UI loop in this context (Textual's
        # active app lives in a contextvar; a bare call_soon_threadsafe would lose it).
        ctx = contextvars.copy_context()

        def on_event(event: Any) -> None:  # runner thread → UI loop
            loop.call_soon_threadsafe(self._on_event, event, context=ctx)

        async def confirm(request: Any) -> bool:  # runner thread: ask on the UI loop, wait here
            answer: concurrent.futures.Future[bool] = concurrent.futures.Future()
            loop.call_soon_threadsafe(self._ask, request, answer, context=ctx)
            return await asyncio.wrap_future(answer)

        async def go() -> Any:
            from ciliumtui.engine.loader import resolve_inputs

            inputs = resolve_inputs(self.playbook, self.raw_inputs, opts.node_name)
            runner = self.runner_factory(
                self.playbook,
                opts,
                inputs,
                dry_run=self.dry_run,
                confirm=confirm,
                on_event=on_event,
            )
            return await runner.run()

        try:
            result = await in_daemon_thread(go)
        except Exception as exc:
            self.state = "done"
            self._status(f"The run could not start: {exc}", "bold red")
            self.refresh_bindings()
            return
        self._finished(result)

    def _ask(self, request: Any, answer: concurrent.futures.Future[bool]) -> None:
        plan = list(request.plan)
        if getattr(request, "message", ""):
            plan = [request.message, "", *plan]
        screen = ConfirmScreen(
            f"{request.title} ({request.step_id})",
            plan,
            risk=request.risk,
            node=request.node,
            context=request.context,
        )
        self.app.push_screen(screen, callback=lambda ok: answer.set_result(bool(ok)))

    def _finished(self, result: Any) -> None:
        self.state = "done"
        self.result = result
        status = getattr(result, "status", "failed")
        hint, nxt = next_step_hint(self.playbook_id, status, self.dry_run)
        # Running a dry-run "for real" is a deliberate `:run`, never a single key.
        self.next_playbook = nxt if status == "ok" else None
        style = {"ok": "bold green", "planned": "bold cyan"}.get(status, "bold red")
        msg = getattr(result, "message", "") or ""
        self._status(f"Result: {status}{' — ' + msg if msg else ''}\n{hint}", style)
        button = self.query_one("#wizard-next", Button)
        button.disabled = self.next_playbook is None
        if self.next_playbook:
            button.label = f"Next: {self.next_playbook} (x)"
        self.refresh_bindings()
        self.query_one("#wizard-back", Button).focus()

    # ------------------------------------------------------------------ events

    def _on_event(self, ev: Any) -> None:
        self.events.append(ev)
        kind = ev.kind
        if kind == "run_started":
            self._log(f"run {ev.run_id} started", "dim")
        elif kind == "step_started":
            self._set_step(ev, "running")
            self._log(f"▶ {ev.title or ev.step_id}", "bold")
            for line in ev.plan:
                self._log(f"  {plan_line(line)}", "cyan")
        elif kind == "step_planned":
            self._log(f"◇ {ev.title or ev.step_id} — plan (not run):", "bold cyan")
            self._explain(ev.step_id)
            for line in ev.plan:
                self._log(f"  {plan_line(line)}", "cyan")
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
            self._set_step(ev, ev.status or "?", ev.message or "")
            mark = {"ok": "✓", "planned": "◇", "skipped": "–"}.get(ev.status or "", "✗")
            self._log(
                f"{mark} {ev.title or ev.step_id}: {ev.status}{' — ' + ev.message if ev.message else ''}",
                STATUS_STYLE.get(ev.status or "", ""),
            )
            for line in ev.output[-5:] if ev.status == "failed" else []:
                self._log(f"  {line}", "red")
        elif kind in ("rollback_started", "rollback_finished"):
            self._log(f"{kind.replace('_', ' ')} {ev.status or ''}", "bold yellow")
        elif kind == "run_finished":
            self._log(f"run finished: {ev.status}", "bold")

    def _explain(self, step_id: str | None) -> None:
        step = self.playbook.step(step_id) if self.playbook is not None and step_id else None
        if step is not None and step.explain:
            self._log(f"  why: {step.explain}", "italic")

    def _set_step(self, ev: Any, status: str, detail: str | None = None) -> None:
        table = self.query_one("#wizard-steps", DataTable)
        key = ev.step_id
        if key is None:
            return
        cell = Text(status, style=STATUS_STYLE.get(status, ""))
        if key not in table.rows:
            risk = Text(ev.risk or "", style=RISK_STYLE.get(ev.risk or "", ""))
            table.add_row(
                cell, risk, ev.phase or "", _short(ev.title or key), _short(detail or ""), key=key
            )
            return
        table.update_cell(key, "status", cell, update_width=True)
        if detail is not None:
            table.update_cell(key, "detail", _short(detail), update_width=True)
        table.move_cursor(row=table.get_row_index(key))

    def _log(self, line: str, style: str) -> None:
        self.query_one("#wizard-log", RichLog).write(Text(line, style=style))

    def _status(self, text: str, style: str) -> None:
        self.query_one("#wizard-status", Static).update(Text(text, style=style))

    def step_status(self, step_id: str) -> str:
        table = self.query_one("#wizard-steps", DataTable)
        return str(getattr(table.get_cell(step_id, "status"), "plain", ""))
