"""The form for a playbook's inputs, before the plan (DESIGN §8: inputs asked for in
a form). One field per input, typed (enum and bool pick from a list), validated
with the engine's own rule (`engine.loader.coerce_input`); defaults come from
what was given, the playbook's default, or the tool's own suggestion (the free
pool `ciliumtui cidr suggest` proposes). Enter on the last field (or the button)
uses the values; esc keeps the old ones.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static

from ciliumtui.engine.loader import coerce_input
from ciliumtui.engine.schema import Input as PlaybookInput
from ciliumtui.engine.schema import Playbook
from ciliumtui.model import Snapshot


def suggest_pool(snapshot: Snapshot) -> str | None:
    """The free private range `ciliumtui cidr suggest` would propose, same size as the pool."""
    from ciliumtui import cidr
    from ciliumtui.checks.address import suggest_pool as suggest

    cluster = snapshot.cluster
    prefix = 16
    if cluster is not None and cluster.config is not None and cluster.config.pool:
        current = cidr.try_net(cluster.config.pool[0])
        if current is not None and current.version == 4:
            prefix = current.prefixlen
    try:
        free = suggest(snapshot, prefix).v4
    except Exception:  # a suggestion is a convenience: never a reason to fail the form
        return None
    return str(free) if free is not None else None


# Inputs whose default is the tool's own suggestion, by name.
SUGGESTIONS = {"pool": suggest_pool}


def initial_value(
    name: str, inp: PlaybookInput, given: dict[str, str], snapshot: Snapshot, node: str
) -> str:
    if name in given:
        return given[name]
    if inp.default is not None:
        value = inp.default
        return str(value).lower() if isinstance(value, bool) else str(value)
    suggest = SUGGESTIONS.get(name)
    if suggest is not None:
        return suggest(snapshot) or ""
    if inp.type == "node":
        return node
    return ""


def check_value(inp: PlaybookInput, raw: str) -> str | None:
    """The engine's verdict on one raw value: None when it is accepted, else why not."""
    if raw == "":
        return "required" if inp.required else None
    try:
        coerce_input(inp, raw)
    except ValueError as exc:
        return str(exc)
    return None


class InputsScreen(ModalScreen[dict[str, str] | None]):
    # The first field (not the app's "*": the fields' scroll area would take the focus).
    AUTO_FOCUS = "#inputs-fields Input, #inputs-fields Select"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, playbook: Playbook, given: dict[str, str], snapshot: Snapshot, node: str
    ) -> None:
        super().__init__()
        self.playbook = playbook
        self.values = {
            name: initial_value(name, inp, given, snapshot, node)
            for name, inp in playbook.inputs.items()
        }

    def compose(self) -> ComposeResult:
        with Vertical(id="inputs-box") as box:
            box.border_title = f"Inputs for {self.playbook.id} — esc cancels"
            with VerticalScroll(id="inputs-fields"):
                for name, inp in self.playbook.inputs.items():
                    label = Text.assemble((name, "bold"), (f"  ({inp.type})", "dim"))
                    if inp.help:
                        label.append(f"  {inp.help}")
                    yield Static(label, classes="input-label")
                    yield self._field(name, inp)
                    yield Static("", id=f"error-{name}", classes="input-error")
            with Horizontal(id="inputs-buttons"):
                yield Button("Cancel", id="inputs-cancel", compact=True)
                yield Button("Use these (enter)", id="inputs-ok", variant="primary", compact=True)

    def _field(self, name: str, inp: PlaybookInput) -> Widget:
        value = self.values[name]
        choices = (
            inp.choices if inp.type == "enum" else ["true", "false"] if inp.type == "bool" else None
        )
        if choices:
            return Select(
                [(c, c) for c in choices],
                value=value if value in choices else choices[0],
                allow_blank=False,
                id=f"field-{name}",
                compact=True,
            )
        placeholder = "required" if inp.required else "empty: none"
        return Input(value=value, placeholder=placeholder, id=f"field-{name}", compact=True)

    def on_mount(self) -> None:
        first = next(iter(self.playbook.inputs), None)
        if first is not None:
            self.query_one(f"#field-{first}").focus()

    def read(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in self.playbook.inputs:
            field = self.query_one(f"#field-{name}")
            if isinstance(field, Select):
                out[name] = str(field.value)
            elif isinstance(field, Input):
                out[name] = field.value.strip()
        return out

    def errors(self, values: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, inp in self.playbook.inputs.items():
            problem = check_value(inp, values.get(name, ""))
            if problem is not None:
                out[name] = problem
        return out

    def _show_errors(self, errors: dict[str, str]) -> None:
        for name in self.playbook.inputs:
            self.query_one(f"#error-{name}", Static).update(
                Text(errors.get(name, ""), style="bold red")
            )

    def on_input_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("field-")
        inp = self.playbook.inputs.get(name)
        if inp is not None:
            problem = check_value(inp, event.value.strip())
            self.query_one(f"#error-{name}", Static).update(Text(problem or "", style="bold red"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        names = list(self.playbook.inputs)
        name = (event.input.id or "").removeprefix("field-")
        if name in names and names.index(name) < len(names) - 1:
            self.query_one(f"#field-{names[names.index(name) + 1]}").focus()
        else:
            self.action_submit()

    def action_submit(self) -> None:
        values = self.read()
        errors = self.errors(values)
        self._show_errors(errors)
        if errors:
            self.query_one(f"#field-{next(iter(errors))}").focus()
            return
        self.dismiss({k: v for k, v in values.items() if v != ""})

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "inputs-ok":
            self.action_submit()
        else:
            self.action_cancel()
