"""Command palette (ctrl+p): every entry of the command table, searchable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .commands import CommandHost, PaletteEntry, palette_entries


class CiliumtuiCommands(Provider):
    def _entries(self) -> list[tuple[PaletteEntry, partial[None]]]:
        host = cast(CommandHost, self.app)
        return [(e, partial(host.execute_command, e.line)) for e in palette_entries(host)]

    async def discover(self) -> AsyncIterator[DiscoveryHit]:
        for entry, run in self._entries():
            yield DiscoveryHit(entry.name, run, help=entry.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry, run in self._entries():
            score = matcher.match(entry.name)
            if score > 0:
                yield Hit(score, matcher.highlight(entry.name), run, help=entry.help)
