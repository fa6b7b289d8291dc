"""A yes/no question (quit while a change runs, give up a training scenario):
Cancel has the focus, esc answers no."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class AskScreen(ModalScreen[bool]):
    AUTO_FOCUS = "#ask-no"
    BINDINGS = [Binding("escape", "no", "Cancel")]

    def __init__(self, title: str, text: str, *, yes: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-box") as box:
            box.border_title = self.title_text
            yield Static(self.text, id="ask-text")
            with Horizontal(id="ask-buttons"):
                yield Button("Cancel", id="ask-no", variant="primary", compact=True)
                yield Button(self.yes, id="ask-yes", variant="error", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "ask-yes")

    def action_no(self) -> None:
        self.dismiss(False)
