"""Training: the scenario's briefing, shown when the session starts."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


def briefing_text(scenario: dict, mode_line: str) -> Text:
    t = Text()
    t.append(f"{scenario.get('title', scenario.get('id'))}\n", style="bold")
    t.append(f"{mode_line}\n\n", style="cyan")
    t.append(str(scenario.get("briefing", "")).strip() + "\n\n")
    n = len(scenario.get("hints") or [])
    t.append(f"h: next hint ({n} available, each one counts)   ctrl+g: give up   ", style="dim")
    t.append("Run the verify playbook (:run verify) when you think the node is fixed.", style="dim")
    return t


class BriefingScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    BriefingScreen { align: center middle; }
    #briefing-box { width: 90; height: auto; max-height: 90%; border: round $accent; padding: 1 2; }
    #briefing-box Button { margin-top: 1; }
    """
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Start"),
        Binding("enter", "app.pop_screen", "Start"),
    ]

    def __init__(self, scenario: dict, mode_line: str) -> None:
        super().__init__()
        self.scenario = scenario
        self.mode_line = mode_line

    def compose(self) -> ComposeResult:
        with Vertical(id="briefing-box") as box:
            box.border_title = "Training briefing"
            yield Static(briefing_text(self.scenario, self.mode_line), id="briefing-text")
            yield Button("Start", id="briefing-start", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.app.pop_screen()
