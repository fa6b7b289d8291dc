"""The confirmation modal: what will run, where, and how risky it is (DESIGN §7).

Non-destructive steps: Cancel has the focus (k9s #146/#961: Enter must never
confirm by accident). Destructive steps: the node-name field has the focus, its
placeholder reads "type <node>" (it cannot pass for a filled-in value), Confirm
stays disabled until the typed name is accepted — by the engine's own rule,
`ConfirmRequest.accepts` — so Enter confirms only then. Escape cancels.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ciliumtui.engine.events import ConfirmRequest, plan_line

RISK_STYLE = {"destructive": "bold red", "high": "red", "low": "yellow", "read": "green"}


class ConfirmScreen(ModalScreen[bool]):
    # The name field when there is one (it comes first), else Cancel. Not None: that
    # means the app's "*", the plan's scroll area, which then held the focus until
    # on_mount's deferred focus landed (a Pilot play saw the plan focused: keys typed
    # then go nowhere).
    AUTO_FOCUS = "#confirm-node, #cancel"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, request: ConfirmRequest) -> None:
        super().__init__()
        self.request = request
        self.needs_typing = request.type_node_name
        # The focus lands on the field (destructive) or on Cancel, never by accident.
        self.first_focus = "#confirm-node" if self.needs_typing else "#cancel"

    def compose(self) -> ComposeResult:
        req = self.request
        head = Text()
        head.append(f"{req.title} ({req.step_id})\n", style="bold")
        head.append(f"node {req.node}  context {req.context or '?'}  risk ")
        head.append(req.risk, style=RISK_STYLE.get(req.risk, ""))
        if req.unknown_outcome:
            head.append("\nThis step started before and never finished: its outcome is unknown.")
        plan = [req.message, ""] if req.message else []
        plan += [plan_line(line) for line in req.plan]
        with Vertical(id="confirm-box") as box:
            box.border_title = "Confirm — esc cancels"
            yield Static(head, id="confirm-head")
            with VerticalScroll(id="confirm-plan"):
                yield Static(Text("\n".join(plan) or "(no commands)"), id="confirm-plan-text")
            if self.needs_typing:
                yield Static(
                    Text.assemble(
                        ("Destructive. ", "bold red"),
                        f"Type the node name {req.node} to enable Confirm:",
                    ),
                    id="confirm-why",
                )
                yield Input(placeholder=f"type {req.node}", id="confirm-node", compact=True)
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="primary", compact=True)
                yield Button(
                    "Confirm",
                    id="confirm-ok",
                    variant="error",
                    disabled=self.needs_typing,
                    compact=True,
                )

    def on_mount(self) -> None:
        self.query_one(self.first_focus).focus()

    def _accepted(self, value: str) -> bool:
        return self.request.accepts(value)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm-ok", Button).disabled = not self._accepted(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter in the name field confirms only when the engine accepts the name.
        event.stop()
        if self._accepted(event.value):
            self.dismiss(True)
        else:
            self.notify(
                f"That is not the node name: type {self.request.node} (esc cancels).",
                severity="warning",
                timeout=3,
            )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm-ok":
            field = self.query("#confirm-node")
            if field and not self._accepted(self.query_one("#confirm-node", Input).value):
                return
            self.dismiss(True)
        else:
            self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)
