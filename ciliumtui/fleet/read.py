"""Reading the fleet: every Node (with a label selector) and every NodeDiagnosis,
paged, reduced page by page, under one deadline (`fleet status`, `fleet run`,
the TUI's `:fleet` view)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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


def _nodes(api: ApiClient, d: K.Deadline, selector: str | None) -> list[NodeFacts]:
    query = [("labelSelector", selector)] if selector else []
    try:
        return [node_facts(o) for page in K.pages(api, "/api/v1/nodes", d, query) for o in page]
    except CiliumtuiError:
        raise
    except Exception as exc:
        raise CiliumtuiError(K.describe(exc, "list", "nodes")) from None


def _reports(api: ApiClient, d: K.Deadline) -> list[ReportFacts] | None:
    """Every NodeDiagnosis, reduced; None when the CRD is not installed."""
    try:
        return [report_facts(o) for page in K.pages(api, ND_PATH, d) for o in page]
    except CiliumtuiError:
        raise
    except Exception as exc:
        if K.status_of(exc) == 404:
            return None
        raise CiliumtuiError(K.describe(exc, "list", "nodediagnoses")) from None


def read_with(api: ApiClient, opts: Options, selector: str | None) -> FleetRead:
    """Both lists at once (two threads: while one page is parsed here the apiserver
    serialises the other's), each page reduced as it arrives."""
    d = K.Deadline(deadline_for(opts), opts.timeout)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ciliumtui-fleet-read") as pool:
        nodes_f = pool.submit(_nodes, api, d, selector)
        reports_f = pool.submit(_reports, api, d)
        nodes = nodes_f.result()
        reports = reports_f.result()
    wanted = {n.name for n in nodes}
    mine = [r for r in reports or [] if r.name in wanted]
    return FleetRead(nodes, mine, reports is None)


def read_fleet(opts: Options, selector: str | None = None) -> FleetRead:
    """Raises CiliumtuiError (one line) when the fleet cannot be read."""
    from ..cluster.client import api_client

    api = api_client(opts)
    try:
        return K.within(deadline_for(opts) + 1, lambda: read_with(api, opts, selector), "read")
    finally:
        api.close()
