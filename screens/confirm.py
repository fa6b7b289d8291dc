"""The confirmation modal: what will run, where, and how risky it is.

Cancel has the focus when it opens (k9s #146/#961: Enter must never confirm by
accident). For destructive steps the node name must be typed before Confirm
enables. Escape cancels.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

RISK_STYLE = {"destructive": "bold red", "high": "red", "low": "yellow", "read": "green"}


class ConfirmScreen(ModalScreen[bool]):
    AUTO_FOCUS = "#cancel"  # never the first focusable by accident
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        plan: list[str],
        *,
        risk: str = "low",
        node: str = "?",
        context: str | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.plan = plan
        self.risk = risk
        self.node = node
        self.context = context
        self.needs_typing = risk == "destructive"

    def compose(self) -> ComposeResult:
        head = Text()
        head.append(f"{self.title_text}\n", style="bold")
        head.append(f"node {self.node}  context {self.context or '?'}  risk ")
        head.append(self.risk, style=RISK_STYLE.get(self.risk, ""))
        with Vertical(id="confirm-box") as box:
            box.border_title = "Confirm"
            yield Static(head, id="confirm-head")
            with VerticalScroll(id="confirm-plan"):
                yield Static(Text("\n".join(self.plan) or "(no commands)"), id="confirm-plan-text")
            if self.needs_typing:
                yield Static(f"Destructive: type the node name ({self.node}) to enable Confirm.")
                yield Input(placeholder=self.node, id="confirm-node")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(
                    "Confirm", id="confirm-ok", variant="error", disabled=self.needs_typing
                )

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm-ok", Button).disabled = event.value.strip() != self.node

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter in the name field confirms only when the name matches.
        if event.value.strip() == self.node:
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-ok")

    def action_cancel(self) -> None:
        self.dismiss(False)
