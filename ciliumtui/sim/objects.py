"""A scenario's `cluster` section turned into real Kubernetes objects.

Shapes follow what a k3s cluster running Cilium (Helm chart) really returns, so the
cluster probes parse the same fields they would on a real node. Pod builders are
public because the controller uses them to recreate pods.

Names of generated pods ("cilium-x7k2p") come from a seeded random so a scenario
always produces the same cluster.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import random
import string
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import CiliumtuiError  # noqa: E402
from . import resources as R

KUBE_SYSTEM = "kube-system"
CILIUM_INIT_CONTAINERS = (
    "config",
    "mount-cgroup",
    "apply-sysctl-overwrites",
    "mount-bpf-fs",
    "clean-cilium-state",
    "install-cni-binaries",
)
_ALNUM = string.ascii_lowercase + string.digits
# When the simulated cluster was born: two days ago, on the hour (ages read "2d").
_BOOT = (datetime.now(timezone.utc) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


@functools.lru_cache(maxsize=64)
def ts(minutes: float = 0) -> str:
    return (_BOOT + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_ts() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def uid_for(*parts: str) -> str:
    """A stable uid, so ownerReferences can point at objects before they are stored."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "ciliumtui-sim/" + "/".join(parts)))


_PAIRS = [a + b for a in _ALNUM for b in _ALNUM]


def suffix(rng: random.Random, n: int = 5) -> str:
    """Random [a-z0-9]{n}, like the suffix of a controller-made pod name."""
    if n != 5:
        return "".join(rng.choices(_ALNUM, k=n))
    r = rng.getrandbits(32)  # table lookups: this runs once per pod of a 100k-pod cluster
    return _PAIRS[r % 1296] + _PAIRS[(r // 1296) % 1296] + _ALNUM[(r // 1679616) % 36]


def random_uid(rng: random.Random) -> str:
    """A uuid4-shaped uid from `rng` (reproducible, and 5x faster than uuid.UUID)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def template_hash(template: dict[str, Any]) -> str:
    """Like pod-template-hash / controller-revision-hash: changes with the template."""
    return hashlib.sha256(repr(template).encode()).hexdigest()[:10]


def owner_ref(kind: str, name: str, uid: str, api_version: str = "apps/v1") -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


# ------------------------------------------------------------------- pod status


def _container_status(
    name: str, image: str, state: str, restarts: int, started: str
) -> dict[str, Any]:
    """One containerStatus for state running | not-ready | crashloop | creating | initializing."""
    cs: dict[str, Any] = {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": state == "running",
        "restartCount": restarts,
        "started": state in ("running", "not-ready"),
        "lastState": {},
    }
    if state in ("running", "not-ready"):
        cs["state"] = {"running": {"startedAt": started}}
        cs["containerID"] = f"containerd://{hashlib.sha256((name + started).encode()).hexdigest()}"
    elif state == "crashloop":
        cs["state"] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 5m0s restarting failed container={name}",
            }
        }
        cs["lastState"] = {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": started,
                "finishedAt": started,
            }
        }
    elif state == "creating":
        cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
    else:  # initializing
        cs["state"] = {"waiting": {"reason": "PodInitializing"}}
    return cs


def _init_status(name: str, image: str, done: bool, started: str) -> dict[str, Any]:
    st: dict[str, Any] = {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": done,
        "restartCount": 0,
        "started": False,
        "lastState": {},
    }
    if done:
        st["state"] = {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": started,
                "finishedAt": started,
            }
        }
    else:
        st["state"] = {"waiting": {"reason": "PodInitializing"}}
    return st


def pod_status(
    state: str,
    *,
    containers: list[tuple[str, str]],
    init_containers: list[tuple[str, str]] = (),  # type: ignore[assignment]
    host_ip: str | None,
    pod_ip: str | None,
    restarts: int = 0,
    started: str | None = None,
) -> dict[str, Any]:
    """status of a pod in one of: running | not-ready | crashloop | creating | pending.

    creating = ContainerCreating (CNI not ready); pending = freshly (re)created by a
    controller, init containers still running.
    """
    started = started or ts()
    status = dict(_base_status(state, tuple(containers), tuple(init_containers), restarts, started))
    if host_ip:
        status["hostIP"] = host_ip
        status["hostIPs"] = [{"ip": host_ip}]
    if pod_ip and state != "pending" and state != "creating":
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return status


@functools.lru_cache(maxsize=512)
def _base_status(
    state: str,
    containers: tuple[tuple[str, str], ...],
    init_containers: tuple[tuple[str, str], ...],
    restarts: int,
    started: str,
) -> dict[str, Any]:
    """The address-free part of a pod status. Shared between pods: never mutate it
    (the store's contract: stored objects are replaced, not edited)."""
    ready = state == "running"
    phase = "Pending" if state in ("creating", "pending") else "Running"
    cstate = {"pending": "initializing"}.get(state, state)
    conds = [
        {
            "type": "PodReadyToStartContainers",
            "status": "False" if state in ("creating", "pending") else "True",
        },
        {"type": "Initialized", "status": "False" if state == "pending" else "True"},
        {"type": "Ready", "status": str(ready)},
        {"type": "ContainersReady", "status": str(ready)},
        {"type": "PodScheduled", "status": "True"},
    ]
    for c in conds:
        c["lastProbeTime"] = None
        c["lastTransitionTime"] = started
        if c["type"] in ("Ready", "ContainersReady") and not ready:
            c["reason"] = "ContainersNotReady"
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conds,
        "qosClass": "Burstable",
        "startTime": started,
        "containerStatuses": [
            _container_status(n, img, cstate, restarts, started) for n, img in containers
        ],
    }
    if init_containers:
        status["initContainerStatuses"] = [
            _init_status(n, img, state != "pending", started) for n, img in init_containers
        ]
    return status


def make_pod(
    *,
    name: str,
    namespace: str,
    node: str | None,
    labels: dict[str, str],
    containers: list[tuple[str, str]],
    init_containers: list[tuple[str, str]] = (),  # type: ignore[assignment]
    state: str,
    host_ip: str | None,
    pod_ip: str | None,
    owner: dict[str, Any] | None = None,
    host_network: bool = False,
    annotations: dict[str, str] | None = None,
    restarts: int = 0,
    started: str | None = None,
    ports: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    meta["uid"] = uid_for("pod", namespace, name)
    meta["creationTimestamp"] = started or ts()
    if owner:
        meta["ownerReferences"] = [owner]
        meta["generateName"] = name[: name.rfind("-") + 1]
    if annotations:
        meta["annotations"] = dict(annotations)
    spec: dict[str, Any] = {
        "containers": [
            {"name": n, "image": img, **({"ports": ports[n]} if ports and n in ports else {})}
            for n, img in containers
        ],
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "dnsPolicy": "ClusterFirstWithHostNet" if host_network else "ClusterFirst",
    }
    if init_containers:
        spec["initContainers"] = [{"name": n, "image": img} for n, img in init_containers]
    if node:
        spec["nodeName"] = node
    if host_network:
        spec["hostNetwork"] = True
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": pod_status(
            state,
            containers=containers,
            init_containers=init_containers,
            host_ip=host_ip,
            pod_ip=host_ip if host_network else pod_ip,
            restarts=restarts,
            started=started,
        ),
    }


# ------------------------------------------------------------------ cluster model


def node_ip(node: dict[str, Any]) -> str | None:
    return node.get("internal_ip") or node.get("external_ip")


def cilium_image(version: str) -> str:
    return f"quay.io/cilium/cilium:v{version.lstrip('v')}"


def operator_image(version: str) -> str:
    return f"quay.io/cilium/operator-generic:v{version.lstrip('v')}"


def agent_overrides(scenario: dict[str, Any]) -> dict[str, str]:
    """Per-node `agent:` states given in cluster.nodes."""
    return {
        n["name"]: str(n["agent"]) for n in scenario["cluster"].get("nodes") or [] if n.get("agent")
    }


def agent_state_for(
    scenario: dict[str, Any], node_name: str, overrides: dict[str, str] | None = None
) -> str:
    """ready | not-ready | crashloop | missing for the cilium agent pod on `node_name`."""
    cl = scenario["cluster"]
    if overrides is None:
        overrides = agent_overrides(scenario)
    if node_name in overrides:
        return overrides[node_name]
    if node_name == scenario.get("node_name"):
        return str((cl.get("cilium") or {}).get("agent", "ready"))
    return "ready"


def pod_state_of_agent(agent: str) -> str:
    return {"ready": "running", "not-ready": "not-ready", "crashloop": "crashloop"}.get(
        agent, "running"
    )


def cilium_pod(
    scenario: dict[str, Any],
    node: dict[str, Any],
    ds: dict[str, Any],
    rng: random.Random,
    state: str,
    *,
    restarts: int = 0,
    started: str | None = None,
    revision: str | None = None,
) -> dict[str, Any]:
    version = str(scenario["cluster"]["cilium"]["version"])
    image = cilium_image(version)
    tmpl_labels = ds["spec"]["template"]["metadata"]["labels"]
    revision = revision or template_hash(ds["spec"]["template"])
    labels = {
        **tmpl_labels,
        "controller-revision-hash": revision,
        "pod-template-generation": str(ds["metadata"].get("generation", 1)),
    }
    ip = node_ip(node)
    return make_pod(
        name=f"cilium-{suffix(rng)}",
        namespace=KUBE_SYSTEM,
        node=node["name"],
        labels=labels,
        containers=[("cilium-agent", image)],
        init_containers=[(n, image) for n in CILIUM_INIT_CONTAINERS],
        state=state,
        host_ip=ip,
        pod_ip=ip,
        owner=owner_ref("DaemonSet", ds["metadata"]["name"], ds["metadata"]["uid"]),
        host_network=True,
        annotations=dict(ds["spec"]["template"]["metadata"].get("annotations") or {}),
        restarts=restarts,
        started=started,
    )


def _daemonset(
    name: str, labels: dict[str, str], image: str, container: str, version_label: str
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": name,
            "namespace": KUBE_SYSTEM,
            "uid": uid_for("ds", name),
            "labels": {**labels, "app.kubernetes.io/part-of": version_label},
            "generation": 1,
            "creationTimestamp": ts(),
            "annotations": {"deprecated.daemonset.template.generation": "1"},
        },
        "spec": {
            "selector": {"matchLabels": {"k8s-app": labels["k8s-app"]}},
            "template": {
                "metadata": {"labels": dict(labels), "annotations": {}},
                "spec": {"containers": [{"name": container, "image": image}], "hostNetwork": True},
            },
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
        },
        # Filled by the controller; these four are required by the typed client.
        "status": {
            "currentNumberScheduled": 0,
            "desiredNumberScheduled": 0,
            "numberMisscheduled": 0,
            "numberReady": 0,
        },
    }


def _deployment(
    name: str,
    labels: dict[str, str],
    image: str,
    container: str,
    replicas: int,
    selector: dict[str, str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    template = {
        "metadata": {"labels": dict(labels), "annotations": {}},
        "spec": {"containers": [{"name": container, "image": image}]},
    }
    h = template_hash(template)
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": KUBE_SYSTEM,
            "uid": uid_for("deploy", name),
            "labels": dict(labels),
            "generation": 1,
            "creationTimestamp": ts(),
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector}, "template": template},
        "status": {},
    }
    rs_name = f"{name}-{h[:9]}"
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name,
            "namespace": KUBE_SYSTEM,
            "uid": uid_for("rs", KUBE_SYSTEM, rs_name),
            "labels": {**labels, "pod-template-hash": h[:9]},
            "ownerReferences": [owner_ref("Deployment", name, dep["metadata"]["uid"])],
            "generation": 1,
            "creationTimestamp": ts(),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {**selector, "pod-template-hash": h[:9]}},
            "template": {
                **template,
                "metadata": {
                    **template["metadata"],
                    "labels": {**labels, "pod-template-hash": h[:9]},
                },
            },
        },
        "status": {"replicas": replicas},
    }
    return dep, rs


def node_object(scenario: dict[str, Any], n: dict[str, Any], index: int) -> dict[str, Any]:
    name = n["name"]
    kube_version = str(scenario["cluster"].get("kubernetes_version", "v1.31.4+k3s1"))
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "k3s",
    }
    if index == 0:
        labels["node-role.kubernetes.io/control-plane"] = "true"
        labels["node-role.kubernetes.io/master"] = "true"
    addresses = []
    if n.get("internal_ip"):
        addresses.append({"type": "InternalIP", "address": n["internal_ip"]})
    if n.get("external_ip"):
        addresses.append({"type": "ExternalIP", "address": n["external_ip"]})
    addresses.append({"type": "Hostname", "address": name})
    spec: dict[str, Any] = {"providerID": f"k3s://{name}"}
    if n.get("pod_cidr"):
        cidrs = n["pod_cidr"] if isinstance(n["pod_cidr"], list) else [n["pod_cidr"]]
        spec["podCIDR"] = cidrs[0]
        spec["podCIDRs"] = list(cidrs)
    taints = [_taint(t) for t in n.get("taints") or []]
    if taints:
        spec["taints"] = taints
    if n.get("unschedulable"):
        spec["unschedulable"] = True
    pods = str(n.get("max_pods", 110))
    ready = bool(n.get("ready", True))
    kernel = (
        (scenario.get("host") or {}).get("kernel", "6.1.0-18-amd64")
        if name == scenario.get("node_name")
        else "6.1.0-18-amd64"
    )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": uid_for("node", name),
            "labels": labels,
            "creationTimestamp": ts(index),
        },
        "spec": spec,
        "status": {
            "addresses": addresses,
            "allocatable": {
                "cpu": "4",
                "memory": "8029628Ki",
                "pods": pods,
                "ephemeral-storage": "48000000Ki",
            },
            "capacity": {
                "cpu": "4",
                "memory": "8131904Ki",
                "pods": pods,
                "ephemeral-storage": "49000000Ki",
            },
            "conditions": [
                {
                    "type": "MemoryPressure",
                    "status": "False",
                    "reason": "KubeletHasSufficientMemory",
                },
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "KubeletReady" if ready else "KubeletNotReady",
                    "message": "kubelet is posting ready status"
                    if ready
                    else "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
                },
            ],
            "nodeInfo": {
                "architecture": "amd64",
                # required by the typed client (its models reject a NodeSystemInfo without them)
                "bootID": uid_for("boot", name),
                "machineID": uid_for("machine", name).replace("-", ""),
                "systemUUID": uid_for("system", name),
                "containerRuntimeVersion": "containerd://1.7.23-k3s2",
                "kernelVersion": kernel,
                "kubeProxyVersion": kube_version,
                "kubeletVersion": kube_version,
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
            },
        },
    }


def _taint(t: Any) -> dict[str, Any]:
    """A taint from {key, value, effect} or "key=value:Effect"."""
    if isinstance(t, dict):
        out = {"key": t["key"], "effect": t.get("effect", "NoSchedule")}
        if t.get("value") is not None:
            out["value"] = str(t["value"])
        return out
    text = str(t)
    key_val, _, effect = text.partition(":")
    key, _, value = key_val.partition("=")
    out = {"key": key, "effect": effect or "NoSchedule"}
    if value:
        out["value"] = value
    return out


def ciliumnode_object(
    name: str, node_uid: str, internal_ip: str | None, pod_cidrs: list[str]
) -> dict[str, Any]:
    addresses = [{"ip": internal_ip, "type": "InternalIP"}] if internal_ip else []
    if pod_cidrs:
        net = ipaddress.ip_network(pod_cidrs[0], strict=False)
        # cilium_host takes an address inside the node's CIDR.
        addresses.append(
            {
                "ip": str(net.network_address + min(183, net.num_addresses - 2)),
                "type": "CiliumInternalIP",
            }
        )
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNode",
        "metadata": {
            "name": name,
            "uid": uid_for("ciliumnode", name, *pod_cidrs),
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}
            ],
            "generation": 1,
        },
        "spec": {
            "addresses": addresses,
            "ipam": {"podCIDRs": list(pod_cidrs), "pools": {}},
            "health": {},
        },
        "status": {"ipam": {"operator-status": {}}},
    }


def _service(
    name: str,
    namespace: str,
    cluster_ip: str,
    ports: list[dict[str, Any]],
    labels: dict[str, str],
    selector: dict[str, str] | None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "ClusterIP",
        "clusterIP": cluster_ip,
        "clusterIPs": [cluster_ip],
        "ports": ports,
        "ipFamilies": ["IPv4"],
        "sessionAffinity": "None",
    }
    if selector:
        spec["selector"] = selector
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid_for("svc", namespace, name),
            "labels": labels,
            "creationTimestamp": ts(),
        },
        "spec": spec,
        "status": {"loadBalancer": {}},
    }


def _lb_pool(pool: dict[str, Any]) -> dict[str, Any]:
    kind = pool.get("kind", "IPAddressPool")
    cidrs = [str(c) for c in pool.get("cidrs") or []]
    if kind == "CiliumLoadBalancerIPPool":
        blocks = []
        for c in cidrs:
            if "-" in c:
                start, _, stop = c.partition("-")
                blocks.append({"start": start.strip(), "stop": stop.strip()})
            else:
                blocks.append({"cidr": c})
        return {
            "apiVersion": R.CILIUM_LB_POOL.group_version,
            "kind": kind,
            "metadata": {"name": pool["name"], "generation": 1},
            "spec": {"blocks": blocks, "disabled": False},
        }
    return {
        "apiVersion": R.METALLB_POOL.group_version,
        "kind": "IPAddressPool",
        "metadata": {
            "name": pool["name"],
            "namespace": pool.get("namespace", "metallb-system"),
            "generation": 1,
        },
        "spec": {"addresses": cidrs, "autoAssign": True},
    }


def nodes_of(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    return list(scenario["cluster"].get("nodes") or [])


def this_node(scenario: dict[str, Any]) -> dict[str, Any] | None:
    for n in nodes_of(scenario):
        if n.get("name") == scenario.get("node_name"):
            return n
    return None


def _pick_node(scenario: dict[str, Any], ip: str | None) -> dict[str, Any] | None:
    """The node whose pod CIDR holds `ip`, else this node, else the first."""
    nodes = nodes_of(scenario)
    if ip:
        addr = ipaddress.ip_address(ip)
        for n in nodes:
            cidr = n.get("pod_cidr")
            if isinstance(cidr, str) and addr in ipaddress.ip_network(cidr, strict=False):
                return n
    return this_node(scenario) or (nodes[0] if nodes else None)


def workload_pod(
    scenario: dict[str, Any],
    spec: dict[str, Any],
    index: int,
    owners: dict[tuple[str, str, str], dict[str, Any]],
) -> dict[str, Any]:
    """A pod from the scenario's `pods:` list (owner "ReplicaSet/x", "DaemonSet/x", "none")."""
    ns = spec.get("namespace", "default")
    node_name = spec.get("node") or scenario.get("node_name")
    node = next((n for n in nodes_of(scenario) if n.get("name") == node_name), None) or {
        "name": node_name
    }
    mirror = bool(spec.get("mirror"))
    host_network = bool(spec.get("host_network") or mirror)
    owner = None
    owner_text = str(spec.get("owner") or "none")
    annotations: dict[str, str] = {}
    if mirror:
        owner = {
            "apiVersion": "v1",
            "kind": "Node",
            "name": node_name,
            "uid": uid_for("node", node_name),
            "controller": True,
        }
        annotations["kubernetes.io/config.mirror"] = hashlib.md5(spec["name"].encode()).hexdigest()
        annotations["kubernetes.io/config.source"] = "file"
    elif owner_text.lower() != "none" and "/" in owner_text:
        kind, _, oname = owner_text.partition("/")
        o = owners.get((kind, ns, oname))
        if o is not None:
            owner = owner_ref(kind, oname, o["metadata"]["uid"])
    raw_state = str(spec.get("state", "running")).lower()
    state = _POD_STATES.get(raw_state)
    if state is None:
        # A typo here would silently make a broken scenario healthy.
        raise CiliumtuiError(
            f"pod {ns}/{spec['name']}: unknown state {spec.get('state')!r} "
            f"(one of: {', '.join(sorted(_POD_STATES))})"
        )
    ip = spec.get("ip")
    if ip is None and not host_network and isinstance(node.get("pod_cidr"), str):
        net = ipaddress.ip_network(node["pod_cidr"], strict=False)
        ip = str(net.network_address + 100 + index)
    app = spec["name"].rsplit("-", 2)[0] if owner_text.startswith("ReplicaSet/") else spec["name"]
    labels = dict(spec.get("labels") or {"app": app})
    restarts = int(spec.get("restarts", 23 if state == "crashloop" else 0))
    return make_pod(
        name=spec["name"],
        namespace=ns,
        node=node_name,
        labels=labels,
        containers=[(spec.get("container", app), spec.get("image", f"registry.example/{app}:1.0"))],
        state=state,
        host_ip=node_ip(node),
        pod_ip=ip,
        owner=owner,
        host_network=host_network,
        annotations=annotations,
        restarts=restarts,
    )


_POD_STATES = {
    "running": "running",
    "containercreating": "creating",
    "creating": "creating",
    "crashloopbackoff": "crashloop",
    "crashloop": "crashloop",
    "not-ready": "not-ready",
    "pending": "pending",
}


def _workload_owners(scenario: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """ReplicaSets / DaemonSets named by `pods[].owner`, one object each."""
    owners: dict[tuple[str, str, str], dict[str, Any]] = {}
    counts: dict[tuple[str, str, str], int] = {}
    for p in scenario["cluster"].get("pods") or []:
        text = str(p.get("owner") or "none")
        if p.get("mirror") or "/" not in text:
            continue
        kind, _, name = text.partition("/")
        key = (kind, p.get("namespace", "default"), name)
        counts[key] = counts.get(key, 0) + 1
    for (kind, ns, name), n in counts.items():
        if kind not in ("ReplicaSet", "DaemonSet", "StatefulSet", "Job"):
            continue
        api = "batch/v1" if kind == "Job" else "apps/v1"
        app = name.rsplit("-", 1)[0] if kind == "ReplicaSet" else name
        spec: dict[str, Any] = {
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": app, "image": f"registry.example/{app}:1.0"}]},
            },
        }
        if kind == "ReplicaSet":
            spec["replicas"] = n
        owners[(kind, ns, name)] = {
            "apiVersion": api,
            "kind": kind,
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": uid_for(kind, ns, name),
                "labels": {"app": app},
                "generation": 1,
                "creationTimestamp": ts(),
            },
            "spec": spec,
            "status": _owner_status(kind, n),
        }
    return owners


def _owner_status(kind: str, pods: int) -> dict[str, Any]:
    """A settled status with the fields the typed client requires for the kind."""
    if kind == "ReplicaSet":
        return {"replicas": pods, "readyReplicas": pods, "availableReplicas": pods}
    if kind == "DaemonSet":
        return {
            "currentNumberScheduled": pods,
            "desiredNumberScheduled": pods,
            "numberMisscheduled": 0,
            "numberReady": pods,
        }
    return {}


def build_objects(
    scenario: dict[str, Any], *, dns_addr: tuple[str, int] | None = None
) -> list[dict[str, Any]]:
    """Every object of the scenario's cluster.

    dns_addr: where the DNS responder really listens when it is not in a netns;
    the kube-dns Service and the CoreDNS pods then point there (assets/scenarios/README.md).
    """
    from . import generate

    cl = scenario["cluster"]
    if cl.get("scale"):
        generate.expand(scenario)
    rng = random.Random(scenario.get("id", "scenario"))
    out: list[dict[str, Any]] = []
    namespaces = {"default", KUBE_SYSTEM, "kube-public", "kube-node-lease"}
    namespaces.update(p.get("namespace", "default") for p in cl.get("pods") or [])
    nodes = nodes_of(scenario)
    for i, n in enumerate(nodes):
        out.append(node_object(scenario, n, i))
    cilium = cl.get("cilium") or {}
    version = str(cilium.get("version", "1.18.4"))

    # Cilium: config, DaemonSet + one pod per node, operator, CiliumNodes, CRDs.
    out.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "cilium-config",
                "namespace": KUBE_SYSTEM,
                "uid": uid_for("cm", "cilium-config"),
                "creationTimestamp": ts(),
            },
            "data": {str(k): _cm_value(v) for k, v in (cilium.get("config") or {}).items()},
        }
    )
    ds = _daemonset(
        "cilium",
        {"k8s-app": "cilium", "app.kubernetes.io/name": "cilium-agent"},
        cilium_image(version),
        "cilium-agent",
        "cilium",
    )
    ds["spec"]["template"]["spec"]["initContainers"] = [
        {"name": n, "image": cilium_image(version)} for n in CILIUM_INIT_CONTAINERS
    ]
    out.append(ds)
    restarts = int(cilium.get("restarts", 0))
    overrides = agent_overrides(scenario)
    revision = template_hash(ds["spec"]["template"])
    for n in nodes:
        agent = agent_state_for(scenario, n["name"], overrides)
        if agent == "missing":
            continue
        state = pod_state_of_agent(agent)
        r = restarts if restarts else (17 if state == "crashloop" else 0)
        out.append(cilium_pod(scenario, n, ds, rng, state, restarts=r, revision=revision))

    op = cilium.get("operator") or {}
    replicas = int(op.get("replicas", 1))
    available = int(op.get("available", replicas))
    op_labels = {
        "io.cilium/app": "operator",
        "name": "cilium-operator",
        "app.kubernetes.io/name": "cilium-operator",
        "app.kubernetes.io/part-of": "cilium",
    }
    dep, rs = _deployment(
        "cilium-operator",
        op_labels,
        operator_image(version),
        "cilium-operator",
        replicas,
        {"io.cilium/app": "operator", "name": "cilium-operator"},
    )
    out += [dep, rs]
    for i in range(replicas):
        n = nodes[i % len(nodes)] if nodes else {"name": None}
        out.append(
            make_pod(
                name=f"{rs['metadata']['name']}-{suffix(rng)}",
                namespace=KUBE_SYSTEM,
                node=n.get("name"),
                labels=rs["spec"]["template"]["metadata"]["labels"],
                containers=[("cilium-operator", operator_image(version))],
                state="running" if i < available else "crashloop",
                host_ip=node_ip(n),
                pod_ip=node_ip(n),
                owner=owner_ref("ReplicaSet", rs["metadata"]["name"], rs["metadata"]["uid"]),
                host_network=True,
                restarts=0 if i < available else 9,
            )
        )

    ips = {n.get("name"): node_ip(n) for n in nodes}
    for cn in ciliumnodes_of(scenario):
        node_uid = uid_for("node", cn["name"])
        ip = ips.get(cn["name"])
        out.append(ciliumnode_object(cn["name"], node_uid, ip, cn["pod_cidrs"]))
    out.append(R.crd_object(R.CILIUMNODE))
    out.append(R.crd_object(R.CILIUM_LB_POOL))

    pools = cl.get("lb_pools") or []
    if cl.get("metallb") or any(p.get("kind", "IPAddressPool") == "IPAddressPool" for p in pools):
        out.append(R.crd_object(R.METALLB_POOL))
        namespaces.add("metallb-system")
    for p in pools:
        out.append(_lb_pool(p))

    # CoreDNS and the Services DNS probes use.
    out += _coredns(scenario, rng, dns_addr)
    out.append(
        _service(
            "kubernetes",
            "default",
            _first_ip(cl.get("service_cidr", "10.43.0.0/16")),
            [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            {"component": "apiserver", "provider": "kubernetes"},
            None,
        )
    )

    if cl.get("kube_proxy"):
        kube_version = str(cl.get("kubernetes_version", "v1.31.4")).split("+")[0]
        kp = _daemonset(
            "kube-proxy",
            {"k8s-app": "kube-proxy"},
            f"registry.k8s.io/kube-proxy:{kube_version}",
            "kube-proxy",
            "kubernetes",
        )
        out.append(kp)
        for n in nodes:
            out.append(
                make_pod(
                    name=f"kube-proxy-{suffix(rng)}",
                    namespace=KUBE_SYSTEM,
                    node=n["name"],
                    labels={"k8s-app": "kube-proxy"},
                    containers=[("kube-proxy", f"registry.k8s.io/kube-proxy:{kube_version}")],
                    state="running",
                    host_ip=node_ip(n),
                    pod_ip=node_ip(n),
                    owner=owner_ref("DaemonSet", "kube-proxy", kp["metadata"]["uid"]),
                    host_network=True,
                )
            )

    owners = _workload_owners(scenario)
    out += list(owners.values())
    for i, p in enumerate(cl.get("pods") or []):
        out.append(workload_pod(scenario, p, i, owners))
    if cl.get("scale"):
        out.extend(generate.scale_pods(scenario))
        namespaces.update(generate.scale_namespaces(scenario))

    for ns in sorted(namespaces):
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "uid": uid_for("ns", ns),
                    "labels": {"kubernetes.io/metadata.name": ns},
                    "creationTimestamp": ts(),
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
        )
    return out


def _cm_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return " ".join(str(x) for x in v)
    return str(v)


def _first_ip(cidr: str) -> str:
    net = ipaddress.ip_network(str(cidr).split(",")[0].strip(), strict=False)
    return str(net.network_address + 1)


def ciliumnodes_of(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    """[{name, pod_cidrs}] from `cluster.cilium.ciliumnodes` (auto: one per node with its pod_cidr)."""
    spec = (scenario["cluster"].get("cilium") or {}).get("ciliumnodes", "auto")
    if spec == "auto" or spec is None:
        out = []
        for n in nodes_of(scenario):
            cidr = n.get("cilium_pod_cidr", n.get("pod_cidr"))
            cidrs = cidr if isinstance(cidr, list) else ([cidr] if cidr else [])
            out.append({"name": n["name"], "pod_cidrs": [str(c) for c in cidrs]})
        return out
    return [
        {"name": c["name"], "pod_cidrs": [str(x) for x in (c.get("pod_cidrs") or [])]} for c in spec
    ]


def coredns_port(dns_addr: tuple[str, int] | None) -> int:
    return dns_addr[1] if dns_addr else 53


# k3s's own Corefile (its coredns.yaml manifest); `cluster.coredns.corefile` replaces it.
K3S_COREFILE = """\
.:53 {{
    errors
    health
    ready
    kubernetes {domain} in-addr.arpa ip6.arpa {{
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }}
    hosts /etc/coredns/NodeHosts {{
      ttl 60
      reload 15s
      fallthrough
    }}
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
    import /etc/coredns/custom/*.override
}}
import /etc/coredns/custom/*.server
"""


def _coredns_configmap(cd: dict[str, Any], domain: str) -> dict[str, Any]:
    corefile = cd.get("corefile")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "coredns",
            "namespace": KUBE_SYSTEM,
            "uid": uid_for("cm", "coredns"),
            "creationTimestamp": ts(),
        },
        "data": {
            "Corefile": str(corefile) if corefile else K3S_COREFILE.format(domain=domain),
            "NodeHosts": "",
        },
    }


def _coredns(
    scenario: dict[str, Any], rng: random.Random, dns_addr: tuple[str, int] | None
) -> list[dict[str, Any]]:
    cl = scenario["cluster"]
    cd = cl.get("coredns") or {}
    replicas = int(cd.get("replicas", 1))
    ready = cd.get("ready", True)
    ips = [str(x) for x in cd.get("ips") or []]
    port = coredns_port(dns_addr)
    labels = {"k8s-app": "kube-dns"}
    image = "rancher/mirrored-coredns-coredns:1.12.0"
    dep, rs = _deployment("coredns", labels, image, "coredns", replicas, labels)
    out = [dep, rs]
    ports = {
        "coredns": [
            {"name": "dns", "containerPort": port, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": port, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
        ]
    }
    for i in range(replicas):
        ip = ips[i] if i < len(ips) else None
        node = _pick_node(scenario, ip) or {"name": None}
        # ready: true | false | "crashloop" | a list per replica
        r = ready[i] if isinstance(ready, list) and i < len(ready) else ready
        state = "running" if r is True else ("crashloop" if str(r) == "crashloop" else "not-ready")
        pod = make_pod(
            name=f"{rs['metadata']['name']}-{suffix(rng)}",
            namespace=KUBE_SYSTEM,
            node=node.get("name"),
            labels=rs["spec"]["template"]["metadata"]["labels"],
            containers=[("coredns", image)],
            state=state,
            host_ip=node_ip(node),
            pod_ip=dns_addr[0] if dns_addr else ip,
            owner=owner_ref("ReplicaSet", rs["metadata"]["name"], rs["metadata"]["uid"]),
            ports=ports,
            restarts=7 if state == "crashloop" else 0,
        )
        out.append(pod)
    out.append(_coredns_configmap(cd, str(cl.get("domain", "cluster.local"))))
    kube_dns_ip = dns_addr[0] if dns_addr else str(cl.get("kube_dns_ip", "10.43.0.10"))
    out.append(
        _service(
            "kube-dns",
            KUBE_SYSTEM,
            kube_dns_ip,
            [
                {"name": "dns", "port": port, "protocol": "UDP", "targetPort": port},
                {"name": "dns-tcp", "port": port, "protocol": "TCP", "targetPort": port},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
            {
                "k8s-app": "kube-dns",
                "kubernetes.io/cluster-service": "true",
                "kubernetes.io/name": "CoreDNS",
            },
            labels,
        )
    )
    return out
