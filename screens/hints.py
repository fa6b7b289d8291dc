"""Training: the hints revealed so far (each `h` reveals one more)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ciliumtui.training.session import TrainingSession


def hints_text(hints: list[str], shown: int) -> Text:
    t = Text()
    for i, hint in enumerate(hints[:shown], start=1):
        t.append(f"{i}. ", style="bold")
        t.append(f"{hint}\n")
    if shown >= len(hints):
        t.append("\nNo more hints.", style="dim")
    else:
        t.append(f"\n{len(hints) - shown} more: press h again.", style="dim")
    return t


class HintsScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("h", "more", "Next hint"),
    ]

    def __init__(self, session: TrainingSession) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        with Vertical(id="hints-box") as box:
            box.border_title = "Hints"
            with VerticalScroll(classes="modal-scroll"):
                yield Static(
                    hints_text(self.session.hints, self.session.hints_used), id="hints-text"
                )

    def action_more(self) -> None:
        self.session.next_hint()
        self.query_one("#hints-text", Static).update(
            hints_text(self.session.hints, self.session.hints_used)
        )
