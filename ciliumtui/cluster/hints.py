"""What the node's k3s config tells us about the cluster, without asking the apiserver.

Read through the host probe's parser (ciliumtui.node.host.read_k3s) so both sides
agree on k3s's config-file and flag semantics. k3s's documented defaults apply when
k3s is present and a value is not configured: service CIDR 10.43.0.0/16, cluster DNS
10.43.0.10, domain cluster.local.
"""

from __future__ import annotations

from dataclasses import field

from ..options import Options
from ..record import record

K3S_DEFAULT_SERVICE_CIDR = "10.43.0.0/16"
K3S_DEFAULT_CLUSTER_DNS = "10.43.0.10"


@record
class K3sHints:
    service_cidr: list[str] = field(default_factory=list)
    cluster_domain: str | None = None
    cluster_dns: str | None = None


def k3s_hints(opts: Options) -> K3sHints:
    """Empty when k3s is not on this host (or its files cannot be read)."""
    try:
        from ..node.host import read_k3s
    except ImportError:
        return K3sHints()
    try:
        info = read_k3s(opts)
    except Exception:  # a broken host file must not cost us the cluster view
        return K3sHints()
    if info is None or not info.present:
        return K3sHints()
    return K3sHints(
        service_cidr=list(info.service_cidr) or [K3S_DEFAULT_SERVICE_CIDR],
        cluster_domain=info.cluster_domain or "cluster.local",
        cluster_dns=info.cluster_dns or K3S_DEFAULT_CLUSTER_DNS,
    )
