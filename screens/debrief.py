"""Training: the debrief (solved?, time, time to root cause, hints, risky steps, expert path)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ciliumtui.training.score import Debrief


def debrief_text(debrief: Debrief) -> Text:
    t = Text()
    lines = debrief.lines()
    t.append(lines[0] + "\n\n", style="bold")
    for line in lines[1:]:
        style = ""
        if line.startswith("Solved:"):
            style = "bold green" if debrief.solved else "bold red"
        elif line.startswith("  - "):
            style = "yellow"
        t.append(line + "\n", style=style)
    return t


class DebriefScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("q", "quit", "Quit")]

    def __init__(self, debrief: Debrief) -> None:
        super().__init__()
        self.debrief = debrief

    def compose(self) -> ComposeResult:
        with Vertical(id="debrief-box") as box:
            box.border_title = "Debrief"
            with VerticalScroll(classes="modal-scroll"):
                yield Static(debrief_text(self.debrief), id="debrief-text")
            yield Button("Quit (q)", id="debrief-quit", variant="primary", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_quit()

    def action_quit(self) -> None:
        self.app.exit(0 if self.debrief.solved else 1)
