"""Run as a pod: talk to the apiserver with the pod's service account, nothing else.

The kubeconfig discovery of DESIGN §4 puts in-cluster last, after the host's
k3s.yaml — which the DaemonSet can see under --host-root on a k3s server, with
the cluster admin's credentials. The fleet's pods set CILIUMTUI_IN_CLUSTER=1, and
the fleet commands then point --kubeconfig at a kubeconfig naming the service
account's token file and CA (written to $TMPDIR, an emptyDir in the pod), so the
least-privilege ClusterRole is what they run with. The token is read from its
file by every new client, so a rotated (bound) token is picked up.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import yaml

from ..cluster.client import SA_DIR
from ..errors import CiliumtuiError
from ..options import Options

ENV = "CILIUMTUI_IN_CLUSTER"


def service_account_kubeconfig(sa_dir: str = SA_DIR) -> str:
    """Write the kubeconfig; returns its path. One line on what is missing."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    token, ca = Path(sa_dir, "token"), Path(sa_dir, "ca.crt")
    if not host or not token.is_file():
        raise CiliumtuiError(
            f"{ENV}=1 but no service account here (KUBERNETES_SERVICE_HOST or {token} missing)"
        )
    host = f"[{host}]" if ":" in host else host
    cluster: dict[str, str] = {"server": f"https://{host}:{port}"}
    if ca.is_file():
        cluster["certificate-authority"] = str(ca)
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "in-cluster", "cluster": cluster}],
        "users": [{"name": "service-account", "user": {"tokenFile": str(token)}}],
        "contexts": [
            {"name": "in-cluster", "context": {"cluster": "in-cluster", "user": "service-account"}}
        ],
        "current-context": "in-cluster",
    }
    fd, path = tempfile.mkstemp(prefix="ciliumtui-", suffix=".kubeconfig")
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(doc, fh)
    return path


def pod_options(opts: Options) -> Options:
    """`opts` with the service account's kubeconfig when running as a fleet pod."""
    if os.environ.get(ENV) != "1" or opts.kubeconfig:
        return opts
    return dataclasses.replace(opts, kubeconfig=service_account_kubeconfig())
