"""The k9s-style prompt: `:` for commands, `/` for a filter on the focused table."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label

COMMANDS_HELP = [
    (":run PLAYBOOK [k=v]", "open the wizard for a playbook (cleanup, restart, verify, ...)"),
    (":dry-run PLAYBOOK", "the same, showing the plan without changing anything"),
    (":diagnose", "re-probe everything and show the findings"),
    (":refresh", "re-probe everything"),
    (":theme NAME", "switch theme (ansi-dark, ansi-light, nord, ...)"),
    (":journal", "past wizard runs"),
    (":help", "this help"),
    (":q", "quit"),
]


class CommandLine(Input):
    """Hidden until `:` or `/`; enter submits, escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    class Run(Message):
        def __init__(self, mode: str, value: str) -> None:
            super().__init__()
            self.mode = mode
            self.value = value

    class FilterEdited(Message):
        def __init__(self, value: str) -> None:
            super().__init__()
            self.value = value

    class Closed(Message):
        def __init__(self, mode: str) -> None:
            super().__init__()
            self.mode = mode

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, compact=True)
        self.mode = ":"

    def open(self, mode: str, value: str = "") -> None:
        self.mode = mode
        self.value = value
        self.placeholder = (
            "run cleanup | diagnose | theme NAME | journal | q"
            if mode == ":"
            else "text to keep rows matching"
        )
        if isinstance(self.parent, PromptBar):
            self.parent.open(mode)
        self.focus()

    def close(self) -> None:
        if isinstance(self.parent, PromptBar):
            self.parent.display = False

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.mode == "/":
            self.post_message(self.FilterEdited(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Run(self.mode, event.value.strip()))
        self.close()

    def action_cancel(self) -> None:
        self.post_message(self.Closed(self.mode))
        self.close()


class PromptBar(Horizontal):
    """The bottom line holding the mode marker and the CommandLine; hidden when idle."""

    DEFAULT_CSS = """
    PromptBar { height: 1; display: none; }
    PromptBar > Label { width: 2; }
    PromptBar > CommandLine { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Label(":", id="prompt-mode")
        yield CommandLine(id="command-line")

    def open(self, mode: str) -> None:
        self.query_one("#prompt-mode", Label).update(mode)
        self.display = True
