"""Reading the fleet: every Node (with a label selector) and every NodeDiagnosis,
paged, reduced page by page, under one deadline (`fleet status`, `fleet run`,
the TUI's `:fleet` view)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..errors import CiliumtuiError
from ..options import Options
from . import ND_PATH
from . import kube as K
from .status import FleetStatus, NodeFacts, ReportFacts, fleet_status, node_facts, report_facts

if TYPE_CHECKING:  # pragma: no cover
    from kubernetes.client import ApiClient


@dataclass
class FleetRead:
    nodes: list[NodeFacts]
    reports: list[ReportFacts]
    crd_missing: bool = False

    def status(self, now: datetime | None = None) -> FleetStatus:
        return fleet_status(self.nodes, self.reports, now or datetime.now(timezone.utc))


def deadline_for(opts: Options) -> float:
    # One budget for the whole read; a 5,000-node read is ~20 pages.
    return max(10.0, 10 * opts.timeout)


def read_with(api: ApiClient, opts: Options, selector: str | None) -> FleetRead:
    d = K.Deadline(deadline_for(opts), opts.timeout)
    query = [("labelSelector", selector)] if selector else []
    nodes: list[NodeFacts] = []
    try:
        for page in K.pages(api, "/api/v1/nodes", d, query):
            nodes.extend(node_facts(o) for o in page)
    except CiliumtuiError:
        raise
    except Exception as exc:
        raise CiliumtuiError(K.describe(exc, "list", "nodes")) from None
    reports: list[ReportFacts] = []
    missing = False
    if nodes:
        wanted = {n.name for n in nodes}
        try:
            for page in K.pages(api, ND_PATH, d):
                reports.extend(
                    report_facts(o) for o in page if (o.get("metadata") or {}).get("name") in wanted
                )
        except CiliumtuiError:
            raise
        except Exception as exc:
            if K.status_of(exc) != 404:
                raise CiliumtuiError(K.describe(exc, "list", "nodediagnoses")) from None
            missing = True  # the CRD is not installed: nobody publishes yet
    return FleetRead(nodes, reports, missing)


def read_fleet(opts: Options, selector: str | None = None) -> FleetRead:
    """Raises CiliumtuiError (one line) when the fleet cannot be read."""
    from ..cluster.client import api_client

    api = api_client(opts)
    try:
        return K.within(deadline_for(opts) + 1, lambda: read_with(api, opts, selector), "read")
    finally:
        api.close()
