"""The TUI in training mode: the normal app plus briefing, hints, give-up and debrief.

A subclass, so the dashboard, wizards and probes are exactly the trainee's real
tools. Hooks: the briefing on mount, `h` next hint, `ctrl+g` give up (after
asking), `:env` the scenario's kubeconfig and flags, findings
opened are noted (time to root cause), and every wizard run is watched: when a
verify run passes, the debrief opens. In recorded mode the probes read the recorded node through its backend and there
are no netlink events (no kernel state to watch).
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding

from ..app import CiliumtuiApp
from ..model import Finding
from .session import TrainingSession


def mode_line(session: TrainingSession) -> str:
    env = session.env
    if env.mode == "netns":
        return f"Mode: netns — a real network namespace ({env.opts.netns}), real iptables"
    # Root, but a namespace tool is missing: say that, not "no root" (choose_node's notice).
    notice = getattr(env, "notice", None)
    why = notice.split(":", 1)[0] if notice else "no root"
    return f"Mode: recorded node — {why}, the node is a recorded file; node changes are simulated"


class TrainingApp(CiliumtuiApp):
    BINDINGS = [
        *CiliumtuiApp.BINDINGS,
        Binding("h", "hint", "Hint"),
        Binding("ctrl+g", "give_up", "Give up"),
    ]

    def __init__(self, session: TrainingSession, **kwargs: Any) -> None:
        opts = session.env.opts
        kwargs.setdefault("runner_factory", self._runner_factory)
        super().__init__(opts, **kwargs)
        self.session = session
        self.title = f"ciliumtui training: {session.scenario.get('id')}"

    def on_mount(self) -> None:
        super().on_mount()
        from ciliumtui.screens.briefing import BriefingScreen

        env = self._source_lines()
        self.push_screen(BriefingScreen(self.session.scenario, mode_line(self.session), env))

    def _source_lines(self) -> list[str]:
        """What the briefing gives a second terminal: one short line to paste."""
        env_file = self.session.env.env_file
        if env_file is None:
            return [f"export KUBECONFIG={self.session.env.opts.kubeconfig}", self._cli_lines()[0]]
        return [f". {env_file}", "ciliumtui diagnose   (or: ciliumtui run PLAYBOOK, kubectl ...)"]

    def _cli_lines(self) -> list[str]:
        env = self.session.env
        return [env.command_line("diagnose"), env.command_line("run", "PLAYBOOK")]

    def env_lines(self) -> list[str]:
        env = self.session.env
        lines = [f"scenario    {self.session.scenario.get('id')}", *super().env_lines()]
        lines += ["", "From a second terminal (same node, same cluster):"]
        if env.env_file is not None:
            lines += [f"  . {env.env_file}", "  or, spelled out:"]
        lines.append(f"  export KUBECONFIG={env.opts.kubeconfig}")
        lines += [f"  {line}" for line in self._cli_lines()]
        for key, value in env.env_vars().items():
            lines.append(f"  export {key}={value}")
        return lines

    def action_hint(self) -> None:
        from ciliumtui.screens.hints import HintsScreen

        if self.session.next_hint() is None and not self.session.hints:
            self.notify("This scenario has no hints.")
            return
        self.push_screen(HintsScreen(self.session))

    def action_give_up(self) -> None:
        """ctrl+g: ask first (Cancel focused); a slip of the finger must not end the session."""
        from ciliumtui.screens.ask import AskScreen

        if self.session.result is not None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._debrief(gave_up=True)

        self.push_screen(
            AskScreen(
                "Give up?",
                "The session ends and the debrief shows the root cause and the solution.",
                yes="Give up",
            ),
            callback=answered,
        )

    def show_finding(self, finding: Finding) -> None:
        self.session.open_finding(finding.id)
        super().show_finding(finding)

    def _runner_factory(
        self,
        playbook: Any,
        opts: Any,
        inputs: dict[str, Any],
        *,
        dry_run: bool,
        confirm: Any,
        on_event: Any,
        resume: str | None = None,
    ) -> Any:
        from ciliumtui.screens.wizard import default_runner_factory

        def watch(event: Any) -> None:  # runner thread
            on_event(event)
            # Any run that ends ok may have verified the fix: `verify` itself, or a fixing
            # playbook whose last step is its own verify (session.verify_passed decides).
            if event.kind == "run_finished" and event.status == "ok" and not dry_run:
                self.call_from_thread(self._verify_finished)

        return default_runner_factory(
            playbook, opts, inputs, dry_run=dry_run, confirm=confirm, on_event=watch, resume=resume
        )

    def _verify_finished(self) -> None:
        if self.session.result is None and self.session.verify_passed():
            self._debrief(gave_up=False)

    def _debrief(self, *, gave_up: bool) -> None:
        from ciliumtui.screens.debrief import DebriefScreen

        debrief = self.session.finish(gave_up=gave_up)
        self.push_screen(DebriefScreen(debrief))


def run_training_tui(session: TrainingSession) -> int:
    app = TrainingApp(session)
    result = app.run()
    return int(result or 0)
