"""Can the cluster be asked at all? (`apiserver-unreachable`)"""

from __future__ import annotations

from ..model import Finding, Snapshot
from .catalogue import finding


def apiserver_unreachable(snap: Snapshot) -> list[Finding]:
    cl = snap.cluster
    if cl is None or cl.reachable:  # None: a node-only snapshot, the cluster was not asked
        return []
    error = cl.error or "no answer"
    ev = [error if not cl.server or cl.server in error else f"{cl.server}: {error}"]
    if cl.kubeconfig:
        ev.append(f"kubeconfig {cl.kubeconfig}" + (f", context {cl.context}" if cl.context else ""))
    for name, st in snap.probes.items():
        if (name == "apiserver" or name.startswith("cluster")) and not st.ok:
            if st.error and st.error != cl.error:
                ev.append(f"probe {name}: {st.error}")
            ev.append(f"gave up after {st.ms / 1000:.1f} s")
            break
    return [finding("apiserver-unreachable", ev)]


CHECKS = [apiserver_unreachable]
