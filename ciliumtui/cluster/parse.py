"""Raw Kubernetes JSON → model dataclasses. Pure functions, no I/O.

Inputs are the dicts the apiserver returns (camelCase, as `kubectl get -o json`
shows them); anything missing or oddly typed degrades to None/empty rather than
raising, because a half-broken cluster is exactly what we are looking at.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ..model import (
    CiliumConfig,
    CiliumNodeInfo,
    ContainerInfo,
    LbPool,
    NodeInfo,
    PodInfo,
    ServiceInfo,
    Taint,
    WorkloadInfo,
)

Obj = dict[str, Any]

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
_VERSION_RE = re.compile(r"^v?(\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.\-]+)?)$")


def _d(obj: Any, *keys: str) -> Any:
    """obj[k1][k2]... or None when any level is missing or not a dict."""
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _condition(obj: Obj, kind: str) -> bool | None:
    for c in _list(_d(obj, "status", "conditions")):
        if isinstance(c, dict) and c.get("type") == kind:
            return c.get("status") == "True"
    return None


def parse_node(obj: Obj) -> NodeInfo:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    cidrs = [str(c) for c in _list(spec.get("podCIDRs"))]
    if not cidrs and spec.get("podCIDR"):
        cidrs = [str(spec["podCIDR"])]
    return NodeInfo(
        name=str(_d(obj, "metadata", "name") or ""),
        addresses=[
            (str(a.get("type")), str(a.get("address")))
            for a in _list(status.get("addresses"))
            if isinstance(a, dict) and a.get("address")
        ],
        taints=[
            Taint(str(t.get("key")), t.get("value"), t.get("effect"))
            for t in _list(spec.get("taints"))
            if isinstance(t, dict) and t.get("key")
        ],
        pod_cidrs=cidrs,
        allocatable_pods=_int(_d(status, "allocatable", "pods")),
        kubelet_version=_d(status, "nodeInfo", "kubeletVersion"),
        ready=_condition(obj, "Ready"),
    )


def _container(spec: Obj, status: Obj | None) -> ContainerInfo:
    c = ContainerInfo(name=str(spec.get("name") or (status or {}).get("name") or ""))
    c.image = (status or {}).get("image") or spec.get("image")
    if not status:
        return c
    # The status image can be the resolved digest form; the spec keeps the tag we parse.
    c.image = spec.get("image") or status.get("image")
    c.ready = bool(status.get("ready"))
    c.restarts = _int(status.get("restartCount")) or 0
    state = status.get("state") or {}
    for name in ("running", "waiting", "terminated"):
        if isinstance(state.get(name), dict):
            c.state = name
            c.reason = state[name].get("reason") or ("Running" if name == "running" else None)
            c.exit_code = _int(state[name].get("exitCode"))
            break
    last = status.get("lastState") or {}
    term = last.get("terminated")
    if isinstance(term, dict):
        c.last_reason = term.get("reason")
        c.last_exit_code = _int(term.get("exitCode"))
    return c


def _containers(specs: Any, statuses: Any) -> list[ContainerInfo]:
    by_name = {s.get("name"): s for s in _list(statuses) if isinstance(s, dict)}
    out = [
        _container(s, by_name.pop(s.get("name"), None)) for s in _list(specs) if isinstance(s, dict)
    ]
    # statuses without a spec entry (should not happen) are still shown
    out.extend(_container({}, s) for s in by_name.values())
    return out


def parse_pod(obj: Obj) -> PodInfo:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    owners = [o for o in _list(meta.get("ownerReferences")) if isinstance(o, dict)]
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    annotations = meta.get("annotations") or {}
    ports = [
        (str(p.get("name") or ""), int(p["containerPort"]), str(p.get("protocol") or "TCP"))
        for c in _list(spec.get("containers"))
        if isinstance(c, dict)
        for p in _list(c.get("ports"))
        if isinstance(p, dict) and _int(p.get("containerPort")) is not None
    ]
    return PodInfo(
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        node=spec.get("nodeName"),
        phase=status.get("phase"),
        ready=bool(_condition(obj, "Ready")),
        ip=status.get("podIP"),
        host_network=bool(spec.get("hostNetwork")),
        owner_kind=owner.get("kind") if owner else None,
        owner_name=owner.get("name") if owner else None,
        mirror=MIRROR_ANNOTATION in annotations,
        deleting=bool(meta.get("deletionTimestamp")),
        containers=_containers(spec.get("containers"), status.get("containerStatuses")),
        init_containers=_containers(
            spec.get("initContainers"), status.get("initContainerStatuses")
        ),
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        ports=ports,
    )


def _first_image(obj: Obj, prefer: str | None = None) -> str | None:
    containers = [
        c for c in _list(_d(obj, "spec", "template", "spec", "containers")) if isinstance(c, dict)
    ]
    chosen = next(
        (c for c in containers if c.get("name") == prefer), containers[0] if containers else None
    )
    return chosen.get("image") if chosen else None


def parse_daemonset(obj: Obj) -> WorkloadInfo:
    status = obj.get("status") or {}
    return WorkloadInfo(
        kind="DaemonSet",
        name=str(_d(obj, "metadata", "name") or ""),
        namespace=str(_d(obj, "metadata", "namespace") or ""),
        desired=_int(status.get("desiredNumberScheduled")) or 0,
        ready=_int(status.get("numberReady")) or 0,
        available=_int(status.get("numberAvailable")) or 0,
        image=_first_image(obj, "cilium-agent"),
    )


def parse_deployment(obj: Obj) -> WorkloadInfo:
    status = obj.get("status") or {}
    replicas = _d(obj, "spec", "replicas")
    return WorkloadInfo(
        kind="Deployment",
        name=str(_d(obj, "metadata", "name") or ""),
        namespace=str(_d(obj, "metadata", "namespace") or ""),
        desired=1 if replicas is None else (_int(replicas) or 0),  # the API default is 1
        ready=_int(status.get("readyReplicas")) or 0,
        available=_int(status.get("availableReplicas")) or 0,
        image=_first_image(obj),
    )


def version_from_image(image: str | None) -> str | None:
    """'quay.io/cilium/cilium:v1.18.4@sha256:…' → '1.18.4'; a digest-only image → None."""
    if not image:
        return None
    ref = image.split("@", 1)[0]
    name_tag = ref.rsplit("/", 1)[-1]  # a registry port ("host:5000/...") is not a tag
    if ":" not in name_tag:
        return None
    m = _VERSION_RE.match(name_tag.rsplit(":", 1)[1])
    return m.group(1) if m else None


def _bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() in ("true", "1", "yes")


def _cidr_list(value: str | None) -> list[str]:
    """The chart writes a list as space separated ("10.0.0.0/16 10.1.0.0/16"); people
    write commas too."""
    return [p for p in re.split(r"[\s,]+", value or "") if p]


def parse_cilium_config(data: dict[str, Any] | None) -> CiliumConfig:
    """The cilium-config ConfigMap's data (string values)."""
    raw = {str(k): str(v) for k, v in (data or {}).items()}
    routing = raw.get("routing-mode")
    tunnel = raw.get("tunnel-protocol")
    legacy_tunnel = raw.get("tunnel")  # before 1.14: tunnel: vxlan|geneve|disabled
    if routing is None and legacy_tunnel is not None:
        routing = "native" if legacy_tunnel == "disabled" else "tunnel"
    if tunnel is None and legacy_tunnel not in (None, "disabled"):
        tunnel = legacy_tunnel
    return CiliumConfig(
        ipam=raw.get("ipam"),
        pool=_cidr_list(raw.get("cluster-pool-ipv4-cidr")),
        mask_size=_int(raw.get("cluster-pool-ipv4-mask-size")),
        # Read whether or not enable-ipv6 is on: the checks decide what an unused v6 pool
        # means (the chart writes the key only with ipv6.enabled).
        pool_v6=_cidr_list(raw.get("cluster-pool-ipv6-cidr")),
        mask_size_v6=_int(raw.get("cluster-pool-ipv6-mask-size")),
        routing_mode=routing,
        tunnel_protocol=tunnel,
        kube_proxy_replacement=raw.get("kube-proxy-replacement"),
        enable_ipv4=_bool(raw.get("enable-ipv4"), True),
        enable_ipv6=_bool(raw.get("enable-ipv6"), False),
        raw=raw,
    )


def parse_ciliumnode(obj: Obj) -> CiliumNodeInfo:
    return CiliumNodeInfo(
        name=str(_d(obj, "metadata", "name") or ""),
        pod_cidrs=[str(c) for c in _list(_d(obj, "spec", "ipam", "podCIDRs"))],
        addresses=[
            str(a.get("ip"))
            for a in _list(_d(obj, "spec", "addresses"))
            if isinstance(a, dict) and a.get("ip")
        ],
    )


def parse_service(obj: Obj) -> ServiceInfo:
    spec = obj.get("spec") or {}
    ip = spec.get("clusterIP")
    return ServiceInfo(
        name=str(_d(obj, "metadata", "name") or ""),
        namespace=str(_d(obj, "metadata", "namespace") or ""),
        cluster_ip=None if ip in (None, "", "None") else str(ip),
        ports=[
            (str(p.get("name") or ""), int(p["port"]), str(p.get("protocol") or "TCP"))
            for p in _list(spec.get("ports"))
            if isinstance(p, dict) and _int(p.get("port")) is not None
        ],
    )


def range_to_cidrs(text: str) -> list[str]:
    """'10.0.0.0/24' → itself; '192.168.1.240-192.168.1.250' → covering CIDRs; bad → []."""
    text = text.strip()
    try:
        if "-" in text:
            lo, hi = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
            return [str(n) for n in ipaddress.summarize_address_range(lo, hi)]
        return [str(ipaddress.ip_network(text, strict=False))]
    except (ValueError, TypeError):
        return []


def parse_metallb_pool(obj: Obj) -> LbPool:
    cidrs = [c for a in _list(_d(obj, "spec", "addresses")) for c in range_to_cidrs(str(a))]
    return LbPool("IPAddressPool", str(_d(obj, "metadata", "name") or ""), cidrs)


def parse_cilium_lb_pool(obj: Obj) -> LbPool:
    spec = obj.get("spec") or {}
    cidrs: list[str] = []
    # v2alpha1/v2 use blocks; before 1.15 the field was `cidrs`, same item shape.
    for block in _list(spec.get("blocks")) + _list(spec.get("cidrs")):
        if not isinstance(block, dict):
            continue
        if block.get("cidr"):
            cidrs.extend(range_to_cidrs(str(block["cidr"])))
        elif block.get("start"):
            stop = block.get("stop") or block["start"]
            cidrs.extend(range_to_cidrs(f"{block['start']}-{stop}"))
    return LbPool("CiliumLoadBalancerIPPool", str(_d(obj, "metadata", "name") or ""), cidrs)
