"""`?` help: the keys that work on the screen you came from (disabled ones say
why), then the `:` commands."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ciliumtui.tui.commands import COMMANDS
from ciliumtui.tui.control import control

EXTRA_KEYS = [
    ("tab / shift+tab", "next / previous panel"),
    ("enter", "open the selected finding"),
    ("y", "copy the selected finding's evidence and command (OSC 52)"),
    (": then tab", "complete a command or its argument"),
    ("ctrl+p", "command palette: every command"),
    ("esc", "back / clear the filter"),
    ("ctrl+c / q", "quit (asks only while a change is running)"),
]


def help_text(screen: Screen[object], read_only: bool) -> Text:
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
    for command in COMMANDS:
        t.append(f"  {command.usage:<20}", style="bold")
        t.append(f"{command.help}\n")
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

    def __init__(self, below: Screen[object]) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Help — esc to close"
            yield Static(help_text(self.below, control(self.app).opts.read_only), id="help-text")
