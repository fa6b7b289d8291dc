"""Can the cluster be asked at all? (`apiserver-unreachable`)"""

from __future__ import annotations

from ..model import Finding, Snapshot
from .catalogue import finding


def apiserver_unreachable(snap: Snapshot) -> list[Finding]:
    cl = snap.cluster
    if cl is None or cl.reachable:  # None: a node-only snapshot, the cluster was not asked
        return []
    ev: list[str] = []
    where = cl.server or "the API server"
    ev.append(f"{where}: {cl.error or 'no answer'}")
    if cl.kubeconfig:
        ev.append(f"kubeconfig {cl.kubeconfig}" + (f", context {cl.context}" if cl.context else ""))
    else:
        ev.append(
            "no usable kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config, /etc/rancher/k3s/k3s.yaml)"
        )
    for name, st in snap.probes.items():
        if name.startswith("cluster") and not st.ok and st.error:
            ev.append(f"probe {name} failed after {st.ms:.0f} ms: {st.error}")
            break
    return [finding("apiserver-unreachable", ev)]


CHECKS = [apiserver_unreachable]
