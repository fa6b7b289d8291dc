"""Command palette (ctrl+p): every action of the app, searchable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider


def palette_actions(app: Any) -> list[tuple[str, Callable[[], Any], str]]:
    """(name, callback, help) for every action; built fresh so read-only shows."""
    from ciliumtui.app import playbook_ids

    read_only = app.opts.read_only
    actions: list[tuple[str, Callable[[], Any], str]] = [
        ("Refresh", app.action_refresh_all, "re-probe node, cluster and DNS"),
        ("Diagnose", partial(app.execute_command, "diagnose"), "re-probe and focus the findings"),
        ("Help", app.action_help, "keys and commands"),
        ("Journal", app.show_journal, "past wizard runs"),
        ("Filter focused table", partial(_dashboard_action, app, "filter"), "/ on the dashboard"),
        ("Command mode", app.action_command_mode, ": commands"),
        ("Quit", partial(app.run_action, "quit"), "leave ciliumtui"),
    ]
    for pb in playbook_ids():
        why = " (read-only: dry run only)" if read_only else ""
        actions.append((f"Run playbook {pb}", partial(app.start_wizard, pb), f"wizard{why}"))
        actions.append(
            (
                f"Dry-run playbook {pb}",
                partial(app.start_wizard, pb, dry_run=True),
                "show the plan only",
            )
        )
    for name in sorted(app.available_themes):
        actions.append((f"Theme {name}", partial(setattr, app, "theme", name), "switch theme"))
    for panel in ("findings", "interfaces", "cilium", "routes", "dns"):
        actions.append(
            (f"Focus {panel}", partial(_focus_panel, app, panel), "move focus to the panel")
        )
    return actions


def _dashboard_action(app: Any, action: str) -> None:
    if app.screen is app.dashboard:
        getattr(app.dashboard, f"action_{action}")()


def _focus_panel(app: Any, panel: str) -> None:
    if app.screen is app.dashboard:
        app.dashboard.query_one(f"#{panel} DataTable").focus()


class CiliumtuiCommands(Provider):
    async def discover(self) -> AsyncIterator[DiscoveryHit]:
        for name, callback, help_text in palette_actions(self.app):
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in palette_actions(self.app):
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
