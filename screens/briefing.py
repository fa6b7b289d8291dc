"""Training: the scenario's briefing, shown when the session starts."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


def reflow(text: str) -> str:
    """A scenario's prose as paragraphs: the YAML's line breaks (written at ~88 columns)
    joined, so the terminal wraps it at its own width; blank lines and list items
    ("- ", indented lines) are kept."""
    out: list[str] = []
    for line in text.strip().splitlines():
        joins = out and out[-1] and line and not line.startswith(("-", " ", "*"))
        if joins:
            out[-1] += " " + line.strip()
        else:
            out.append(line.rstrip())
    return "\n".join(out)


def briefing_text(scenario: dict[str, Any], mode_line: str, env: list[str] | None = None) -> Text:
    t = Text()
    t.append(f"{scenario.get('title', scenario.get('id'))}\n", style="bold")
    t.append(f"{mode_line}\n\n", style="cyan")
    t.append(reflow(str(scenario.get("briefing", ""))) + "\n\n")
    if env:
        t.append("From a second terminal, point ciliumtui or kubectl at this node with:\n", "dim")
        for line in env:
            t.append(f"  {line}\n", "cyan")
        t.append("\n")
    n = len(scenario.get("hints") or [])
    t.append(
        f"h: next hint ({n} available, each one counts) · ctrl+g: give up · :env: flags\n", "dim"
    )
    t.append("Run the verify playbook (:run verify) when you think the node is fixed.", style="dim")
    return t


class BriefingScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Start"),
        Binding("enter", "app.pop_screen", "Start"),
        # A modal keeps the app's keys from the screen below: q quits here as everywhere.
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(
        self, scenario: dict[str, Any], mode_line: str, env: list[str] | None = None
    ) -> None:
        super().__init__()
        self.scenario = scenario
        self.mode_line = mode_line
        self.env = env

    def compose(self) -> ComposeResult:
        with Vertical(id="briefing-box") as box:
            box.border_title = "Training briefing"
            with VerticalScroll(classes="modal-scroll"):
                yield Static(
                    briefing_text(self.scenario, self.mode_line, self.env), id="briefing-text"
                )
            yield Button("Start (enter)", id="briefing-start", variant="primary", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.app.pop_screen()
