"""Training: the debrief (solved?, time, time to root cause, hints, risky steps, expert path)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


def debrief_text(debrief) -> Text:  # a ciliumtui.training.score.Debrief
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
    DEFAULT_CSS = """
    DebriefScreen { align: center middle; }
    #debrief-box { width: 90; height: auto; max-height: 90%; border: round $success; padding: 1 2; }
    #debrief-box Button { margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("q", "quit", "Quit")]

    def __init__(self, debrief) -> None:
        super().__init__()
        self.debrief = debrief

    def compose(self) -> ComposeResult:
        with Vertical(id="debrief-box") as box:
            box.border_title = "Debrief"
            yield Static(debrief_text(self.debrief), id="debrief-text")
            yield Button("Quit (q)", id="debrief-quit", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_quit()

    def action_quit(self) -> None:
        self.app.exit(0 if self.debrief.solved else 1)
