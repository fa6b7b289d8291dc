"""A finding's detail: what was seen (evidence), the docs, and the playbook that
fixes it, with the keys to start its wizard (or its dry run)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from ciliumtui.model import Finding
from ciliumtui.widgets.findings import SEVERITY_STYLE


def playbook_outline(playbook_id: str) -> list[str]:
    """The playbook's steps as lines ("step-id  [risk]  title"), when the engine can load it."""
    try:
        from ciliumtui.engine.loader import load_playbook  # type: ignore[import-not-found]

        pb = load_playbook(playbook_id)
    except Exception:
        return []
    lines = []
    for step in getattr(pb, "steps", []) or []:
        risk = getattr(step, "risk", "") or ""
        title = getattr(step, "title", None) or getattr(step, "name", None) or ""
        lines.append(f"{getattr(step, 'id', '?'):<24} [{risk}] {title}".rstrip())
    return lines


def detail_text(finding: Finding) -> Text:
    t = Text()
    t.append(f"{finding.severity.upper()}", style=SEVERITY_STYLE.get(finding.severity, ""))
    t.append(f"  {finding.title}\n", style="bold")
    t.append(f"id: {finding.id}\n\n", style="dim")
    t.append("Evidence\n", style="bold underline")
    for line in finding.evidence or ["(none recorded)"]:
        t.append(f"  • {line}\n")
    t.append("\nDocs\n", style="bold underline")
    t.append(f"  {finding.docs or '(no link)'}\n")
    t.append("\nFix\n", style="bold underline")
    if finding.playbook:
        t.append(f"  playbook: {finding.playbook}\n")
        for line in playbook_outline(finding.playbook):
            t.append(f"    {line}\n", style="dim")
    else:
        t.append("  no playbook fixes this automatically; follow the docs.\n")
    return t


class FindingDetailScreen(Screen[None]):
    AUTO_FOCUS = "#detail-body"  # never the first focusable by accident
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("w", "wizard", "Start wizard"),
        Binding("n", "dry_run", "Dry run"),
    ]

    def __init__(self, finding: Finding, *, read_only: bool) -> None:
        super().__init__()
        self.finding = finding
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-body") as body:
            body.border_title = f"Finding {self.finding.id}"
            yield Static(detail_text(self.finding), id="detail-text")
        with Horizontal(id="detail-buttons"):
            has_pb = bool(self.finding.playbook)
            label = "Start wizard (w)"
            if self.read_only:
                label = "Start wizard — disabled: read-only"
            yield Button(
                label,
                id="start-wizard",
                variant="warning",
                disabled=self.read_only or not has_pb,
                compact=True,
            )
            yield Button("Dry run (n)", id="dry-run", disabled=not has_pb, compact=True)
            yield Button("Back (esc)", id="back", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail-body").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("wizard", "dry_run") and not self.finding.playbook:
            return None
        if action == "wizard" and self.read_only:
            return None
        return True

    def action_wizard(self) -> None:
        if self.finding.playbook:
            self.app.start_wizard(self.finding.playbook, finding=self.finding)  # type: ignore[attr-defined]

    def action_dry_run(self) -> None:
        if self.finding.playbook:
            self.app.start_wizard(self.finding.playbook, finding=self.finding, dry_run=True)  # type: ignore[attr-defined]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start-wizard":
            self.action_wizard()
        elif event.button.id == "dry-run":
            self.action_dry_run()
        elif event.button.id == "back":
            self.app.pop_screen()
