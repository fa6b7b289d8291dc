"""One blocking function per cluster probe: GET raw JSON, parse into the model.

Each raises CiliumtuiError carrying one actionable line (describe_api_error), so
the probe boundary records exactly what the user should read. Only this node's
pods are ever listed (fieldSelector spec.nodeName); lists page with limit/continue.
A missing optional CRD (404) is "absent", not an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import CiliumtuiError
from ..model import (
    CiliumConfig,
    CiliumNodeInfo,
    LbPool,
    NodeInfo,
    PodInfo,
    ServiceInfo,
    WorkloadInfo,
)
from ..options import Options
from . import parse
from .client import describe_api_error, get_json, get_text, list_all, request_timeout

if TYPE_CHECKING:  # pragma: no cover
    from kubernetes.client import ApiClient

NS = "kube-system"
Query = list[tuple[str, Any]]


def _is_404(exc: BaseException) -> bool:
    return getattr(exc, "status", None) == 404 and hasattr(exc, "body")


def fetch(
    api: ApiClient, opts: Options, path: str, verb: str, resource: str, query: Query | None = None
) -> dict[str, Any]:
    try:
        return get_json(api, path, query, timeout=request_timeout(opts))
    except Exception as exc:
        raise CiliumtuiError(describe_api_error(exc, verb, resource)) from None


def fetch_optional(
    api: ApiClient, opts: Options, path: str, verb: str, resource: str, query: Query | None = None
) -> dict[str, Any] | None:
    """Like fetch, but a 404 (object or CRD absent) is None."""
    try:
        return get_json(api, path, query, timeout=request_timeout(opts))
    except Exception as exc:
        if _is_404(exc):
            return None
        raise CiliumtuiError(describe_api_error(exc, verb, resource)) from None


def fetch_list(
    api: ApiClient,
    opts: Options,
    path: str,
    resource: str,
    query: Query | None = None,
    *,
    optional: bool = False,
) -> list[dict[str, Any]] | None:
    try:
        return list_all(api, path, query, timeout=request_timeout(opts))
    except Exception as exc:
        if optional and _is_404(exc):
            return None
        raise CiliumtuiError(describe_api_error(exc, "list", resource)) from None


def _on_node(opts: Options) -> tuple[str, str]:
    return ("fieldSelector", f"spec.nodeName={opts.node_name}")


# ------------------------------------------------------------------- probes


def read_version(api: ApiClient, opts: Options) -> dict[str, Any]:
    """The reachability call: GET /version."""
    return fetch(api, opts, "/version", "get", "/version")


def read_node(api: ApiClient, opts: Options) -> NodeInfo:
    name = opts.node_name
    # --node is user input: a "/" or "?" in it must not change the request path
    path = f"/api/v1/nodes/{quote(name, safe='')}"
    obj = fetch_optional(api, opts, path, "get", f"node {name}")
    if obj is None:
        raise CiliumtuiError(f"node {name} is not in the cluster (wrong name? pass --node)")
    return parse.parse_node(obj)


def _get_system_object(
    api: ApiClient, opts: Options, prefix: str, plural: str, name: str
) -> dict[str, Any] | None:
    """One kube-system object (prefix: "/api/v1", "/apis/apps/v1"); None when absent."""
    path = f"{prefix}/namespaces/{NS}/{plural}/{name}"
    return fetch_optional(api, opts, path, "get", f"{plural} in {NS}")


def _list_system_pods(api: ApiClient, opts: Options, query: Query) -> list[dict[str, Any]] | None:
    return fetch_list(api, opts, f"/api/v1/namespaces/{NS}/pods", f"pods in {NS}", query)


def pick_agent_pod(pods: list[PodInfo]) -> PodInfo | None:
    """The node's agent pod: a live one beats one being deleted (rollouts overlap)."""
    if not pods:
        return None
    return sorted(pods, key=lambda p: (p.deleting, not p.ready))[0]


def read_cilium_pod(api: ApiClient, opts: Options) -> PodInfo | None:
    items = _list_system_pods(api, opts, [("labelSelector", "k8s-app=cilium"), _on_node(opts)])
    return pick_agent_pod([parse.parse_pod(o) for o in items or []])


def read_workloads(
    api: ApiClient, opts: Options
) -> tuple[WorkloadInfo | None, WorkloadInfo | None]:
    """(cilium DaemonSet, cilium-operator Deployment); None when absent."""
    ds = _get_system_object(api, opts, "/apis/apps/v1", "daemonsets", "cilium")
    op = _get_system_object(api, opts, "/apis/apps/v1", "deployments", "cilium-operator")
    return (
        parse.parse_daemonset(ds) if ds else None,
        parse.parse_deployment(op) if op else None,
    )


def read_cilium_config(api: ApiClient, opts: Options) -> CiliumConfig | None:
    obj = _get_system_object(api, opts, "/api/v1", "configmaps", "cilium-config")
    return parse.parse_cilium_config(obj.get("data")) if obj else None


def read_ciliumnodes(api: ApiClient, opts: Options) -> list[CiliumNodeInfo]:
    items = fetch_list(api, opts, "/apis/cilium.io/v2/ciliumnodes", "ciliumnodes", optional=True)
    return [parse.parse_ciliumnode(o) for o in items or []]


def read_coredns(api: ApiClient, opts: Options) -> tuple[ServiceInfo | None, list[PodInfo]]:
    svc = _get_system_object(api, opts, "/api/v1", "services", "kube-dns")
    pods = _list_system_pods(api, opts, [("labelSelector", "k8s-app=kube-dns")])
    return (parse.parse_service(svc) if svc else None, [parse.parse_pod(o) for o in pods or []])


def read_corefile(api: ApiClient, opts: Options) -> str | None:
    """The `Corefile` key of the coredns ConfigMap (k3s, kubeadm); None when absent."""
    obj = _get_system_object(api, opts, "/api/v1", "configmaps", "coredns")
    data = (obj or {}).get("data")
    corefile = data.get("Corefile") if isinstance(data, dict) else None
    return str(corefile) if corefile else None


COREDNS_LOG_LINES = 20  # enough for the fatal line and what led to it (plugin/loop's is last)
COREDNS_LOG_BYTES = 64 * 1024  # a log line can be long; the answer stays small


def crash_looping(pod: PodInfo) -> bool:
    """A pod whose containers keep dying: CrashLoopBackOff, or restarted and not running."""
    return any(
        c.reason == "CrashLoopBackOff" or (c.restarts > 0 and c.state != "running")
        for c in pod.containers
    )


def read_coredns_log(api: ApiClient, opts: Options, pods: list[PodInfo]) -> list[str]:
    """The last lines of the previous run of the first crash-looping CoreDNS pod
    (`kubectl logs --previous --tail`): why it died. [] when none crash-loops or
    there is no previous run (400 from the apiserver) or the pod is gone (404)."""
    pod = next((p for p in pods if crash_looping(p)), None)
    if pod is None:
        return []
    container = next((c.name for c in pod.containers if c.name == "coredns"), None)
    query: Query = [("previous", "true"), ("tailLines", COREDNS_LOG_LINES)]
    query.append(("limitBytes", COREDNS_LOG_BYTES))
    if container:
        query.append(("container", container))
    path = f"/api/v1/namespaces/{NS}/pods/{quote(pod.name, safe='')}/log"
    try:
        text = get_text(api, path, query, timeout=request_timeout(opts))
    except Exception as exc:
        if getattr(exc, "status", None) in (400, 404) and hasattr(exc, "body"):
            return []
        raise CiliumtuiError(
            describe_api_error(exc, "get", f"the previous log of pod {pod.name}")
        ) from None
    return [line.rstrip() for line in text.splitlines() if line.strip()][-COREDNS_LOG_LINES:]


def read_kube_proxy(api: ApiClient, opts: Options) -> bool:
    """A kube-proxy DaemonSet exists, or a kube-proxy pod runs on this node (static pod)."""
    ds = _get_system_object(api, opts, "/apis/apps/v1", "daemonsets", "kube-proxy")
    if ds is not None:
        return True
    pods = _list_system_pods(api, opts, [("labelSelector", "k8s-app=kube-proxy"), _on_node(opts)])
    return bool(pods)


# (path, kind, parser): v2 first; v2alpha1 is read only when v2 is not served (Cilium < 1.18).
_CILIUM_LB = [
    "/apis/cilium.io/v2/ciliumloadbalancerippools",
    "/apis/cilium.io/v2alpha1/ciliumloadbalancerippools",
]


def read_lb_pools(api: ApiClient, opts: Options) -> list[LbPool]:
    pools: list[LbPool] = []
    metallb = fetch_list(
        api,
        opts,
        "/apis/metallb.io/v1beta1/ipaddresspools",
        "ipaddresspools.metallb.io",
        optional=True,
    )
    pools.extend(parse.parse_metallb_pool(o) for o in metallb or [])
    for path in _CILIUM_LB:
        items = fetch_list(api, opts, path, "ciliumloadbalancerippools", optional=True)
        if items is not None:
            pools.extend(parse.parse_cilium_lb_pool(o) for o in items)
            break
    return pools


def read_node_pods(api: ApiClient, opts: Options) -> list[PodInfo]:
    items = fetch_list(
        api, opts, "/api/v1/pods", f"pods on node {opts.node_name}", [_on_node(opts)]
    )
    return [parse.parse_pod(o) for o in items or []]
