"""Interfaces panel: every link with state, MTU and addresses; Cilium's marked."""

from __future__ import annotations

from rich.text import Text

from ..model import Link
from .table_panel import Row, TablePanel

_STATE_STYLE = {"UP": "green", "DOWN": "red", "LOWERLAYERDOWN": "yellow"}


def shown_addresses(addresses: list[str]) -> str:
    """Addresses worth a glance: IPv6 link-local (fe80::/10) is on every link, so left out."""
    return " ".join(a for a in addresses if not a.lower().startswith("fe80:"))


def link_rows(links: list[Link]) -> list[tuple[str, Row]]:
    """One row per link, keyed by name, in ifindex order."""
    rows: list[tuple[str, Row]] = []
    for link in sorted(links, key=lambda x: x.index):
        state = Text(link.state, style=_STATE_STYLE.get(link.state, ""))
        owner = Text("cilium", style="cyan") if link.cilium else Text("")
        rows.append(
            (
                link.name,
                (
                    link.name,
                    state,
                    str(link.mtu or ""),
                    shown_addresses(link.addresses),
                    link.kind or "",
                    owner,
                ),
            )
        )
    return rows


class InterfacesPanel(TablePanel):
    TITLE = "Interfaces"
    COLUMNS = (
        ("Name", "name"),
        ("State", "state"),
        ("MTU", "mtu"),
        ("Addresses", "addresses"),
        ("Kind", "kind"),
        ("Owner", "owner"),
    )

    def show(self, links: list[Link]) -> None:
        self.set_rows(link_rows(links))
