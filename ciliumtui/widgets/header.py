"""The header line: kube context, node, Cilium version and the mode (read-only,
dry-run) — the operator must always see where they are and what can change."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


def header_text(
    context: str | None,
    node: str,
    version: str | None,
    *,
    read_only: bool,
    dry_run: bool,
    cluster: str,
) -> Text:
    t = Text()
    t.append(" ciliumtui ", style="bold reverse")
    t.append(f" ctx {context or '?'} ")
    t.append("│", style="dim")
    t.append(f" node {node} ")
    t.append("│", style="dim")
    t.append(f" cilium {version or '?'} ")
    t.append("│", style="dim")
    t.append(f" {cluster} ")
    if read_only:
        t.append(" READ-ONLY ", style="bold black on yellow")
    if dry_run:
        t.append(" DRY-RUN ", style="bold black on cyan")
    return t


class StatusHeader(Widget):
    DEFAULT_CSS = "StatusHeader { height: 1; }"

    context: reactive[str | None] = reactive(None)
    node: reactive[str] = reactive("?")
    version: reactive[str | None] = reactive(None)
    read_only: reactive[bool] = reactive(False)
    dry_run: reactive[bool] = reactive(False)
    cluster: reactive[str] = reactive("apiserver: connecting…")

    def render(self) -> Text:
        return header_text(
            self.context,
            self.node,
            self.version,
            read_only=self.read_only,
            dry_run=self.dry_run,
            cluster=self.cluster,
        )
