"""The kinds the simulated apiserver serves, with what discovery says about them.

A new kind is one Resource here (in BUILTIN, or in CUSTOM when a CRD must exist for
it to be served; `has_status=True` for a status subresource) plus, when scenarios
create objects of it, one builder module in ciliumtui.sim.objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_RW = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = _RW
    has_status: bool = False  # discovery lists a `<plural>/status` subresource

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def gvk(self) -> str:
        """The store key of this kind: "v1/Pod", "apps/v1/DaemonSet"."""
        return f"{self.group_version}/{self.kind}"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def discovery(self) -> dict[str, Any]:
        out = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            out["shortNames"] = list(self.short_names)
        return out


POD = Resource("", "v1", "Pod", "pods", True, ("po",), has_status=True)
NODE = Resource("", "v1", "Node", "nodes", False, ("no",), has_status=True)
NAMESPACE = Resource("", "v1", "Namespace", "namespaces", False, ("ns",), has_status=True)
SERVICE = Resource("", "v1", "Service", "services", True, ("svc",), has_status=True)
CONFIGMAP = Resource("", "v1", "ConfigMap", "configmaps", True, ("cm",))
EVENT = Resource(
    "", "v1", "Event", "events", True, ("ev",)
)  # `kubectl describe` lists them; the fleet's publisher creates them
DAEMONSET = Resource("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), has_status=True)
DEPLOYMENT = Resource("apps", "v1", "Deployment", "deployments", True, ("deploy",), has_status=True)
REPLICASET = Resource("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), has_status=True)
CRD = Resource(
    "apiextensions.k8s.io",
    "v1",
    "CustomResourceDefinition",
    "customresourcedefinitions",
    False,
    ("crd", "crds"),
)
CILIUMNODE = Resource("cilium.io", "v2", "CiliumNode", "ciliumnodes", False, ("cn", "ciliumn"))
CILIUM_LB_POOL = Resource(
    "cilium.io",
    "v2alpha1",
    "CiliumLoadBalancerIPPool",
    "ciliumloadbalancerippools",
    False,
    ("ippools", "ippool", "lbippool", "lbippools"),
)
METALLB_POOL = Resource("metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools", True)
# The fleet (DESIGN §10, ciliumtui.sim.fleet): Jobs, Leases, what `fleet manifest` applies.
JOB = Resource("batch", "v1", "Job", "jobs", True, has_status=True)
LEASE = Resource("coordination.k8s.io", "v1", "Lease", "leases", True)
SERVICEACCOUNT = Resource("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",))
_RBAC = "rbac.authorization.k8s.io"
CLUSTERROLE = Resource(_RBAC, "v1", "ClusterRole", "clusterroles", False)
CLUSTERROLEBINDING = Resource(_RBAC, "v1", "ClusterRoleBinding", "clusterrolebindings", False)
ROLE = Resource(_RBAC, "v1", "Role", "roles", True)
ROLEBINDING = Resource(_RBAC, "v1", "RoleBinding", "rolebindings", True)
NODEDIAGNOSIS = Resource(
    "ciliumtui.io", "v1alpha1", "NodeDiagnosis", "nodediagnoses", False, ("nd",)
)

BUILTIN: tuple[Resource, ...] = (
    POD,
    NODE,
    NAMESPACE,
    SERVICE,
    CONFIGMAP,
    EVENT,
    DAEMONSET,
    DEPLOYMENT,
    REPLICASET,
    CRD,
    JOB,
    LEASE,
    SERVICEACCOUNT,
    CLUSTERROLE,
    CLUSTERROLEBINDING,
    ROLE,
    ROLEBINDING,
)
# Custom kinds: served only while their CustomResourceDefinition exists in the store,
# so an absent CRD gives 404 like a real apiserver.
CUSTOM: tuple[Resource, ...] = (CILIUMNODE, CILIUM_LB_POOL, METALLB_POOL, NODEDIAGNOSIS)

BY_GVK: dict[str, Resource] = {r.gvk: r for r in BUILTIN + CUSTOM}


def crd_name(res: Resource) -> str:
    return f"{res.plural}.{res.group}"


def crd_object(res: Resource) -> dict[str, Any]:
    """A CustomResourceDefinition good enough for discovery and `kubectl get crd`."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": crd_name(res)},
        "spec": {
            "group": res.group,
            "names": {
                "kind": res.kind,
                "listKind": f"{res.kind}List",
                "plural": res.plural,
                "singular": res.singular,
                "shortNames": list(res.short_names),
            },
            "scope": "Namespaced" if res.namespaced else "Cluster",
            "versions": [
                {
                    "name": res.version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
        "status": {"conditions": [{"type": "Established", "status": "True"}]},
    }
