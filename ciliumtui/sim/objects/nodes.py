"""Nodes: one v1 Node per `cluster.nodes` entry, as k3s registers them."""

from __future__ import annotations

from typing import Any

from .meta import BuildContext, Obj, ts, uid_for


def build(ctx: BuildContext) -> list[Obj]:
    return [node_object(ctx.scenario, n, i) for i, n in enumerate(ctx.nodes)]


def node_object(scenario: dict[str, Any], n: dict[str, Any], index: int) -> Obj:
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
