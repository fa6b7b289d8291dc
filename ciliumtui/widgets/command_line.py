"""The k9s-style prompt: `:` for commands, `/` for a filter on the focused table."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label


class CommandLine(Input):
    """Hidden until `:` or `/`; enter submits, escape cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

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
        # Tab in `:` mode: line -> (completed line, candidates); the screen hands it in.
        self.completer: Callable[[str], tuple[str, list[str]]] | None = None
        self.candidates: list[str] = []

    def open(self, mode: str, value: str = "") -> None:
        self.mode = mode
        self.value = value
        self.placeholder = (
            "run cleanup | diagnose | journal | env | q   (Tab completes)"
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

    def action_complete(self) -> None:
        """Tab completes commands and their first argument (never moves the focus)."""
        if self.mode != ":" or self.completer is None:
            return
        line, self.candidates = self.completer(self.value)
        self.value = line
        self.cursor_position = len(line)
        if len(self.candidates) > 1:
            self.notify("  ".join(self.candidates), title="Tab", timeout=4)

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
