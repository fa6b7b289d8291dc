"""`ciliumtui fleet manifest`: what to `kubectl apply -f -` (pure; DESIGN §10).

Namespace, ServiceAccount, the publisher's least-privilege ClusterRole + Role
(kube-system objects by name), the fleet runner's ClusterRole + Role (jobs and
leases only there; bound to the group `ciliumtui:fleet-runners`), the
NodeDiagnosis CRD and the publisher DaemonSet.

The DaemonSet needs no CNI (hostNetwork), so it starts on a node whose Cilium is
broken; it is not privileged: it reads the host through read-only hostPath
mounts of exactly the paths the probes read (HOST_MOUNTS, under --host-root
/host) and holds only the capabilities they need (CAPABILITIES).
"""

from __future__ import annotations

from typing import Any

import yaml

from .. import __version__
from . import (
    API_VERSION,
    APP,
    CONDITION,
    CRD_NAME,
    DEFAULT_INTERVAL,
    GROUP,
    KIND,
    LABEL_APP,
    NAMESPACE,
    PLURAL,
    SHORT_NAME,
    SINGULAR,
    VERSION,
)
from .incluster import ENV as IN_CLUSTER_ENV

DEFAULT_IMAGE = f"ciliumtui:{__version__}"
SERVICE_ACCOUNT = "ciliumtui"
PUBLISHER = "ciliumtui-publisher"
RUNNER = "ciliumtui-fleet-runner"
RUNNER_GROUP = "ciliumtui:fleet-runners"
HOST_ROOT = "/host"

# Why each capability (nothing else; everything is dropped first):
#   NET_ADMIN  iptables-save of both backends (nft netlink, legacy getsockopt),
#              BPF_PROG_QUERY on the cgroup root and tcx devices
#   NET_RAW    iptables-legacy-save opens a raw socket
#   SYS_ADMIN  the BPF probe walks programs and links by id
#              (BPF_PROG_GET_NEXT_ID / *_GET_FD_BY_ID): CAP_BPF + CAP_PERFMON do
#              not cover those commands, the kernel asks for CAP_SYS_ADMIN
CAPABILITIES = ("NET_ADMIN", "NET_RAW", "SYS_ADMIN")

# (volume, host path, hostPath type, also mounted at, why). Every path is mounted
# read-only at /host<path>. DirectoryOrCreate only where an empty directory reads
# exactly like an absent one for every probe (k3s is detected by /etc/rancher/k3s,
# systemd by /run/systemd/system: neither is created).
HOST_MOUNTS: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    ("hostname", "/etc/hostname", "File", (), "the node's hostname"),
    ("resolv-conf", "/etc/resolv.conf", "File", (), "the node's resolvers"),
    ("cni", "/etc/cni/net.d", "DirectoryOrCreate", (), "CNI configs"),
    ("rancher", "/etc/rancher", "DirectoryOrCreate", (), "k3s config.yaml, config.yaml.d"),
    (
        "k3s-cni",
        "/var/lib/rancher/k3s/agent/etc/cni/net.d",
        "DirectoryOrCreate",
        (),
        "k3s's own CNI dir",
    ),
    ("units", "/etc/systemd/system", "DirectoryOrCreate", (), "k3s unit and drop-ins"),
    ("run-systemd", "/run/systemd", "DirectoryOrCreate", (), "runtime units, resolved's upstreams"),
    ("usr", "/usr", "Directory", (), "unit and sysctl.d dirs, the stop hook's binary"),
    ("lib", "/lib", "Directory", (), "unit and sysctl.d dirs"),
    ("bin", "/bin", "Directory", (), "the stop hook's binary"),
    ("sbin", "/sbin", "Directory", (), "the stop hook's binary"),
    ("sysctl-d", "/etc/sysctl.d", "DirectoryOrCreate", (), "rp_filter settings"),
    ("run-sysctl-d", "/run/sysctl.d", "DirectoryOrCreate", (), "rp_filter settings"),
    ("sysctl-conf", "/etc/sysctl.conf", "FileOrCreate", (), "rp_filter settings"),
    (
        "run-cilium",
        "/run/cilium",
        "DirectoryOrCreate",
        ("/host/var/run/cilium",),
        "agent pidfile, API socket, socket-LB cgroup",
    ),
    ("run-flannel", "/run/flannel", "DirectoryOrCreate", (), "flannel's subnet.env"),
    ("pod-logs", "/var/log/pods", "DirectoryOrCreate", (), "the agent's previous log"),
    # Also at /sys/fs/bpf itself, so the container's /proc/mounts shows the bpffs there.
    ("bpffs", "/sys/fs/bpf", "Directory", ("/sys/fs/bpf",), "Cilium's pins"),
    ("proc", "/proc", "Directory", (), "kernel release, mounts"),
)
# Mount points below which the host mounts more later (cgroupv2 under /run/cilium,
# pins on bpffs): those need HostToContainer propagation to be seen.
PROPAGATED = ("run-cilium", "bpffs")


def labels(component: str) -> dict[str, str]:
    return {LABEL_APP: APP, "app.kubernetes.io/component": component}


def namespace(ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": ns,
            "labels": {
                LABEL_APP: APP,
                # hostNetwork/hostPath pods (and the privileged fleet Jobs) live here.
                "pod-security.kubernetes.io/enforce": "privileged",
            },
        },
    }


def service_account(ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": SERVICE_ACCOUNT, "namespace": ns, "labels": labels("publisher")},
    }


def _rule(group: str, resources: list[str], verbs: list[str], names: list[str] | None = None):
    rule: dict[str, Any] = {"apiGroups": [group], "resources": resources, "verbs": verbs}
    if names:
        rule["resourceNames"] = names
    return rule


def publisher_cluster_rules() -> list[dict[str, Any]]:
    """What the publisher may do cluster-wide: read what diagnose reads, write its results."""
    return [
        _rule("", ["nodes"], ["get"]),  # this node (diagnose, the condition's previous value)
        _rule("", ["nodes/status"], ["patch"]),  # the CiliumNetworkHealthy condition
        _rule("", ["pods"], ["list"]),  # this node's pods (fieldSelector spec.nodeName)
        _rule("", ["events"], ["create"]),  # when the set of critical ids changes
        _rule(GROUP, [PLURAL], ["get", "create", "patch"]),  # its NodeDiagnosis
        _rule("cilium.io", ["ciliumnodes", "ciliumloadbalancerippools"], ["list"]),
        _rule("metallb.io", ["ipaddresspools"], ["list"]),
    ]


def publisher_system_rules() -> list[dict[str, Any]]:
    """In kube-system, by name: Cilium's and CoreDNS's objects diagnose reads."""
    return [
        _rule("", ["configmaps"], ["get"], ["cilium-config", "coredns"]),
        _rule("", ["services"], ["get"], ["kube-dns"]),
        _rule("", ["pods/log"], ["get"]),  # CoreDNS's previous log (loop detection)
        _rule("apps", ["daemonsets"], ["get"], ["cilium", "kube-proxy"]),
        _rule("apps", ["deployments"], ["get"], ["cilium-operator"]),
    ]


def runner_cluster_rules() -> list[dict[str, Any]]:
    """`fleet status` and `fleet run`: every node and its report."""
    return [
        _rule("", ["nodes"], ["get", "list"]),
        _rule(GROUP, [PLURAL], ["get", "list", "patch"]),
    ]


def runner_namespace_rules() -> list[dict[str, Any]]:
    """`fleet run` only, in the fleet's namespace: its Jobs, their pods, the Lease."""
    return [
        _rule("batch", ["jobs"], ["create", "get", "list", "delete"]),
        _rule("", ["pods"], ["get", "list"]),
        _rule("coordination.k8s.io", ["leases"], ["get", "create", "update"]),
    ]


def _role(kind: str, name: str, rules: list[dict[str, Any]], ns: str | None, comp: str):
    meta: dict[str, Any] = {"name": name, "labels": labels(comp)}
    if ns:
        meta["namespace"] = ns
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "rules": rules,
    }


def _binding(
    kind: str, name: str, role_kind: str, subject: dict[str, Any], ns: str | None, comp: str
):
    meta: dict[str, Any] = {"name": name, "labels": labels(comp)}
    if ns:
        meta["namespace"] = ns
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
        "subjects": [subject],
    }


def rbac(ns: str) -> list[dict[str, Any]]:
    sa = {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": ns}
    group = {"kind": "Group", "name": RUNNER_GROUP, "apiGroup": "rbac.authorization.k8s.io"}
    return [
        _role("ClusterRole", PUBLISHER, publisher_cluster_rules(), None, "publisher"),
        _binding("ClusterRoleBinding", PUBLISHER, "ClusterRole", sa, None, "publisher"),
        _role("Role", PUBLISHER, publisher_system_rules(), "kube-system", "publisher"),
        _binding("RoleBinding", PUBLISHER, "Role", sa, "kube-system", "publisher"),
        _role("ClusterRole", RUNNER, runner_cluster_rules(), None, "fleet-runner"),
        _binding("ClusterRoleBinding", RUNNER, "ClusterRole", group, None, "fleet-runner"),
        _role("Role", RUNNER, runner_namespace_rules(), ns, "fleet-runner"),
        _binding("RoleBinding", RUNNER, "Role", group, ns, "fleet-runner"),
    ]


PRINTER_COLUMNS = [
    {
        "name": "Healthy",
        "type": "string",
        "jsonPath": ".status.healthy",
        "description": f"the Node's {CONDITION} condition",
    },
    {
        "name": "Root Cause",
        "type": "string",
        "jsonPath": ".status.root_cause",
        "description": "the first root-cause finding id",
    },
    {
        "name": "Reported",
        "type": "date",
        "jsonPath": ".status.generated_at",
        "priority": 1,
        "description": "when this result was produced",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def crd() -> dict[str, Any]:
    """NodeDiagnosis: cluster-scoped, named after the node; `status` is the diagnose
    JSON (DESIGN §4) plus interval_s, healthy and root_cause. No status subresource:
    the publisher writes the object with its status in one request."""
    finding = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "id": {"type": "string"},
            "severity": {"type": "string", "enum": ["critical", "warning", "info"]},
            "title": {"type": "string"},
            "evidence": {"type": "array", "items": {"type": "string"}},
            "root_cause": {"type": "boolean"},
            "explained_by": {"type": "array", "items": {"type": "string"}},
        },
    }
    status = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "schema": {"type": "integer"},
            "tool_version": {"type": "string"},
            "generated_at": {"type": "string", "format": "date-time"},
            "node": {"type": "string"},
            "cilium_version": {"type": "string", "nullable": True},
            "error": {"type": "string", "nullable": True},
            "interval_s": {"type": "integer", "minimum": 0},
            "healthy": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "root_cause": {"type": "string", "nullable": True},
            "findings": {"type": "array", "items": finding},
            "probes": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "last_run": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {LABEL_APP: APP}},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": [SHORT_NAME],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": f"{KIND}: `ciliumtui diagnose --json` of one node",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "status": status,
                            },
                        }
                    },
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }


def _volumes() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes, mounts = [], []
    for name, path, kind, extra, _why in HOST_MOUNTS:
        volumes.append({"name": name, "hostPath": {"path": path, "type": kind}})
        for where in (HOST_ROOT + path, *extra):
            m: dict[str, Any] = {"name": name, "mountPath": where, "readOnly": True}
            if name in PROPAGATED:
                m["mountPropagation"] = "HostToContainer"
            mounts.append(m)
    # Writable scratch under a read-only root: the in-cluster kubeconfig, and the
    # bundle image's PEX_ROOT (it unpacks there: disk, not memory).
    volumes.append({"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}})
    mounts.append({"name": "tmp", "mountPath": "/tmp"})
    return volumes, mounts


def node_env() -> list[dict[str, Any]]:
    return [
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": IN_CLUSTER_ENV, "value": "1"},
        {"name": "TMPDIR", "value": "/tmp"},
    ]


def daemonset(ns: str, image: str, interval: int = DEFAULT_INTERVAL) -> dict[str, Any]:
    volumes, mounts = _volumes()
    container = {
        "name": "publish",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "publish",
            "--interval",
            str(interval),
            "--host-root",
            HOST_ROOT,
            "--node",
            "$(NODE_NAME)",
            "--read-only",
        ],
        "env": node_env(),
        "securityContext": {
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsUser": 0,
            "capabilities": {"drop": ["ALL"], "add": list(CAPABILITIES)},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {
            "requests": {"cpu": "10m", "memory": "64Mi"},
            "limits": {"memory": "256Mi"},
        },
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": APP, "namespace": ns, "labels": labels("publisher")},
        "spec": {
            "selector": {"matchLabels": labels("publisher")},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {
                "metadata": {"labels": labels("publisher")},
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    # No CNI needed: it starts on a node whose Cilium is broken.
                    "hostNetwork": True,
                    "hostPID": True,
                    # The node's own resolvers: cluster DNS may be what is broken.
                    "dnsPolicy": "Default",
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],
                    "terminationGracePeriodSeconds": 10,
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def objects(ns: str = NAMESPACE, image: str = DEFAULT_IMAGE) -> list[dict[str, Any]]:
    return [
        namespace(ns),
        service_account(ns),
        *rbac(ns),
        crd(),
        daemonset(ns, image),
    ]


def render(ns: str = NAMESPACE, image: str = DEFAULT_IMAGE) -> str:
    head = (
        f"# ciliumtui {__version__} fleet (DESIGN §10): kubectl apply -f -\n"
        f"# NodeDiagnosis {API_VERSION} (kubectl get nd), condition {CONDITION} on each Node.\n"
        f"# `fleet status` / `fleet run` need the {RUNNER} roles: add yourself to the\n"
        f"# group {RUNNER_GROUP} or bind them to your user.\n"
    )
    docs = [
        yaml.safe_dump(o, sort_keys=False, default_flow_style=False) for o in objects(ns, image)
    ]
    return head + "---\n" + "---\n".join(docs)
