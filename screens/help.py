"""`?` help: the keys that work on the screen you came from (disabled ones say
why), then the `:` commands."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ciliumtui.widgets.command_line import COMMANDS_HELP

EXTRA_KEYS = [
    ("tab / shift+tab", "next / previous panel"),
    ("enter", "open the selected finding"),
    ("ctrl+p", "command palette: every action"),
    ("esc", "back / clear the filter"),
]


def help_text(screen: Screen, read_only: bool) -> Text:
    t = Text()
    t.append("Keys on this screen\n", style="bold")
    seen: set[str] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        # Only the keys the footer shows (not every scroll key of the focused widget).
        if not binding.show or not binding.description or binding.description in seen:
            continue
        seen.add(binding.description)
        shown = screen.app.get_key_display(binding)
        t.append(f"  {shown:<16}", style="bold")
        t.append(binding.description)
        if not active.enabled:
            why = "read-only mode" if read_only else "not available here"
            t.append(f"  (disabled: {why})", style="yellow")
        t.append("\n")
    for key, what in EXTRA_KEYS:
        t.append(f"  {key:<16}", style="bold")
        t.append(f"{what}\n")
    t.append("\nCommands (type : first)\n", style="bold")
    for cmd, what in COMMANDS_HELP:
        t.append(f"  {cmd:<20}", style="bold")
        t.append(f"{what}\n")
    if read_only:
        t.append(
            "\nRead-only: started with --read-only; nothing on this node will be changed.\n",
            style="yellow",
        )
    return t


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("question_mark", "app.pop_screen", "Back", show=False),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self, below: Screen) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Help — esc to close"
            yield Static(help_text(self.below, self.app.opts.read_only), id="help-text")  # type: ignore[attr-defined]
