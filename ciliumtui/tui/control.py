"""What screens may ask of the app: a typed interface instead of duck typing.

Screens hold `control(self.app)` and call only what `AppControl` declares; the
app (ciliumtui.app.CiliumtuiApp) implements it. Tests may hand screens any
object that does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from textual.message import Message

from ..model import Finding, Snapshot
from ..options import Options

if TYPE_CHECKING:
    from textual.app import App


class FindingsChanged(Message):
    """Posted to every screen on the stack after the findings were recomputed."""


class SnapshotChanged(Message):
    """Posted to every screen on the stack after the node or cluster state changed."""


@runtime_checkable
class AppControl(Protocol):
    opts: Options
    dry_run: bool
    runner_factory: Any  # screens.wizard.RunnerFactory | None
    current_plan: list[str]  # the plan lines of the last wizard (for :export)
    current_plan_title: str

    @property
    def snapshot(self) -> Snapshot: ...

    @property
    def findings(self) -> list[Finding]: ...

    def start_wizard(
        self,
        playbook: str,
        *,
        finding: Finding | None = None,
        dry_run: bool = False,
        inputs: dict[str, str] | None = None,
    ) -> None: ...

    def show_finding(self, finding: Finding) -> None: ...

    def show_journal(self) -> None: ...

    def show_fleet(self, selector: str | None = None) -> None: ...

    def execute_command(self, line: str) -> None: ...

    def complete_command(self, line: str) -> tuple[str, list[str]]: ...

    def change_running(self) -> bool: ...

    def env_lines(self) -> list[str]: ...


def control(app: App[Any]) -> AppControl:
    """The app as the interface screens may use (fails loudly on another app)."""
    if not isinstance(app, AppControl):
        raise TypeError(f"{type(app).__name__} does not implement AppControl")
    return app
