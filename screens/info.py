"""A text modal (`:env`): esc closes, `y` copies the text (OSC 52)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class InfoScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
        Binding("y", "copy", "Copy"),
    ]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="info-body") as body:
            body.border_title = self.title_text
            yield Static("\n".join(self.lines), id="info-text")

    def action_copy(self) -> None:
        self.app.copy_to_clipboard("\n".join(self.lines))
        self.notify("Copied (OSC 52).", timeout=2)
