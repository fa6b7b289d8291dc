"""DNS panel: CoreDNS pods and the DNS checks (cluster names, then a public name)."""

from __future__ import annotations

from rich.text import Text

from ..model import ClusterState, DnsState
from .table_panel import Column, Row, TablePanel


def dns_rows(cluster: ClusterState | None, dns: DnsState | None) -> list[tuple[str, Row]]:
    rows: list[tuple[str, Row]] = []
    if cluster is not None and cluster.reachable:
        if not cluster.coredns_pods:
            rows.append(("coredns", ("coredns", Text("no pods", style="red"), "", "")))
        for pod in cluster.coredns_pods:
            state = (
                Text("Ready", style="green")
                if pod.ready
                else Text(pod.reason or "NotReady", style="red")
            )
            rows.append((f"pod/{pod.name}", (pod.name, state, "", pod.ip or "")))
    for check in dns.checks if dns else []:
        if check.ok:
            result = Text(f"{check.rcode} {check.answers[0]}", style="green")
        elif check.rcode:
            result = Text(check.rcode, style="red")
        else:
            result = Text(check.error or "no answer", style="red")
        ms = f"{check.ms:.0f} ms" if check.ms is not None else ""
        label = f"{check.kind}: {check.qname}"
        rows.append(
            (
                f"{check.qname}|{check.server}|{check.via}",
                (label, result, ms, f"{check.via} {check.server}"),
            )
        )
    return rows


class DnsPanel(TablePanel):
    TITLE = "CoreDNS / DNS"
    COLUMNS = (
        Column("Check", "check", shrink=14),
        Column("Result", "result", shrink=10),
        Column("Time", "ms"),
        Column("Via", "via", shrink=12),
    )

    def show(self, cluster: ClusterState | None, dns: DnsState | None) -> None:
        self.set_rows(dns_rows(cluster, dns))
