"""Kubeconfig discovery, the client's configuration, and one-line errors over real HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from kube_fake import FakeApiServer, black_hole, free_port, kubeconfig_dict, self_signed_tls
from kube_objects import healthy_cluster

from ciliumtui.cluster import client, collect_cluster
from ciliumtui.cluster.client import (
    api_client,
    describe_api_error,
    find_kubeconfig,
    get_json,
    kube_context,
)
from ciliumtui.errors import CiliumtuiError
from ciliumtui.options import Options


def write_kc(path: Path, server: str = "https://10.0.0.1:6443", context: str = "fake") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kubeconfig_dict(server, context=context)))
    return str(path)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty HOME, no $KUBECONFIG, no in-cluster env, an empty host root."""
    home, root = tmp_path / "home", tmp_path / "root"
    home.mkdir()
    root.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(client, "SA_DIR", str(tmp_path / "no-sa"))
    return home, root


# --------------------------------------------------------------- discovery


def test_explicit_kubeconfig_wins_over_env_home_and_k3s(env, tmp_path, monkeypatch):
    home, root = env
    write_kc(home / ".kube/config")
    write_kc(root / "etc/rancher/k3s/k3s.yaml")
    monkeypatch.setenv("KUBECONFIG", write_kc(tmp_path / "env.yaml"))
    explicit = write_kc(tmp_path / "explicit.yaml")
    assert find_kubeconfig(Options(kubeconfig=explicit, host_root=str(root))).path == explicit


def test_kubeconfig_env_is_a_path_list_first_readable_wins(env, tmp_path, monkeypatch):
    home, root = env
    write_kc(home / ".kube/config")
    second = write_kc(tmp_path / "second.yaml")
    third = write_kc(tmp_path / "third.yaml")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing.yaml'}:{second}:{third}")
    choice = find_kubeconfig(Options(host_root=str(root)))
    assert choice.path == second
    assert "missing.yaml (not found)" in choice.tried[0]


def test_home_config_before_k3s(env):
    home, root = env
    write_kc(home / ".kube/config")
    write_kc(root / "etc/rancher/k3s/k3s.yaml")
    assert find_kubeconfig(Options(host_root=str(root))).path == str(home / ".kube/config")


def test_k3s_kubeconfig_is_read_under_host_root(env, monkeypatch, tmp_path):
    home, root = env
    monkeypatch.setenv(
        "KUBECONFIG", str(tmp_path / "gone.yaml")
    )  # set but unreadable: falls through
    k3s = write_kc(root / "etc/rancher/k3s/k3s.yaml", "https://127.0.0.1:6443", context="default")
    assert find_kubeconfig(Options(host_root=str(root))).path == k3s
    assert kube_context(Options(host_root=str(root))) == ("default", "https://127.0.0.1:6443")


def test_in_cluster_is_last(env, tmp_path, monkeypatch):
    _home, root = env
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("tok")
    monkeypatch.setattr(client, "SA_DIR", str(sa))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.43.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    assert find_kubeconfig(Options(host_root=str(root))).path is None
    assert kube_context(Options(host_root=str(root))) == ("in-cluster", "https://10.43.0.1:443")


def test_kube_context_is_the_one_discovery_for_every_source(env, tmp_path, monkeypatch):
    """The one kube-context function (the engine's confirmations call it too): each
    source in DESIGN §4 order, its current-context, and --context over it."""
    home, root = env
    write_kc(root / "etc/rancher/k3s/k3s.yaml", "https://127.0.0.1:6443", context="default")
    opts = Options(host_root=str(root))
    assert kube_context(opts) == ("default", "https://127.0.0.1:6443")
    write_kc(home / ".kube/config", "https://home:6443", context="home")
    assert kube_context(opts) == ("home", "https://home:6443")
    monkeypatch.setenv("KUBECONFIG", write_kc(tmp_path / "env.yaml", "https://env:6443", "env"))
    assert kube_context(opts) == ("env", "https://env:6443")
    explicit = write_kc(tmp_path / "explicit.yaml", "https://explicit:6443", "explicit")
    assert kube_context(Options(kubeconfig=explicit, host_root=str(root)))[0] == "explicit"
    with pytest.raises(CiliumtuiError, match="no context 'other'"):
        kube_context(Options(kubeconfig=explicit, context="other"))


def test_kube_context_is_cheap_it_never_imports_kubernetes(tmp_path):
    kc = write_kc(tmp_path / "kc.yaml", "https://10.0.0.1:6443", context="cheap")
    code = (
        "import sys\n"
        "from ciliumtui.cluster.client import kube_context\n"
        "from ciliumtui.options import Options\n"
        f"print(kube_context(Options(kubeconfig={kc!r}))[0])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["cheap", "[]"]


def test_no_kubeconfig_names_every_path_tried(env):
    home, root = env
    with pytest.raises(CiliumtuiError) as err:
        find_kubeconfig(Options(host_root=str(root)))
    msg = str(err.value)
    assert "\n" not in msg
    assert "no kubeconfig found" in msg
    assert str(home / ".kube/config") in msg
    assert str(root / "etc/rancher/k3s/k3s.yaml") in msg
    assert "in-cluster" in msg and "--kubeconfig" in msg


def test_in_cluster_service_account_against_a_real_tls_server(env, tmp_path, monkeypatch):
    """The pod's service account: token sent as Bearer, CA from ca.crt verifies the server."""
    _home, root = env
    ctx, cert = self_signed_tls(tmp_path)
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    (sa / "ca.crt").write_bytes(cert.read_bytes())
    monkeypatch.setattr(client, "SA_DIR", str(sa))
    with FakeApiServer(healthy_cluster(), tls=ctx) as srv:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(srv.port))
        api = api_client(Options(host_root=str(root), timeout=2))
        assert get_json(api, "/version", timeout=(2, 2))["gitVersion"] == "v1.31.4+k3s1"
        api.close()
    # the client writes "bearer"; the apiserver matches the scheme case-insensitively
    assert srv.auth_headers[-1].lower() == "bearer sa-token"


# ------------------------------------------------------ broken kubeconfigs


def test_missing_explicit_kubeconfig_is_one_line(tmp_path):
    with pytest.raises(CiliumtuiError, match=r"^cannot read kubeconfig .*nope.yaml: not found$"):
        api_client(Options(kubeconfig=str(tmp_path / "nope.yaml")))


def test_unreadable_kubeconfig_is_one_line(tmp_path):
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(CiliumtuiError, match=r"cannot read kubeconfig .*dir.yaml: is a directory"):
        api_client(Options(kubeconfig=str(tmp_path / "dir.yaml")))


def test_bad_yaml_names_file_and_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("apiVersion: v1\nclusters:\n  - name: x\n   bad: [\n")
    with pytest.raises(CiliumtuiError) as err:
        api_client(Options(kubeconfig=str(p)))
    assert str(err.value).startswith(f"kubeconfig {p}:")
    assert "not valid YAML" in str(err.value) and "\n" not in str(err.value)


def test_not_a_kubeconfig(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- just\n- a list\n")
    with pytest.raises(CiliumtuiError, match="not a kubeconfig"):
        api_client(Options(kubeconfig=str(p)))


def test_unknown_context_lists_the_available_ones(tmp_path):
    kc = write_kc(tmp_path / "kc.yaml", context="prod")
    with pytest.raises(CiliumtuiError, match=r"no context 'staging' \(available: prod\)"):
        api_client(Options(kubeconfig=kc, context="staging"))


def test_missing_client_cert_file_is_one_line(tmp_path):
    data = kubeconfig_dict("https://127.0.0.1:6443")
    data["users"][0]["user"] = {"client-certificate": "missing.crt", "client-key": "missing.key"}
    p = tmp_path / "kc.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(CiliumtuiError) as err:
        api_client(Options(kubeconfig=str(p)))
    assert str(err.value).startswith(f"kubeconfig {p}: ") and "\n" not in str(err.value)


async def test_broken_kubeconfig_makes_the_cluster_unreachable_not_a_crash(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("{{{")
    probes: dict = {}
    state = await collect_cluster(Options(kubeconfig=str(p), timeout=1), probes)
    assert state.reachable is False
    assert state.error and "not valid YAML" in state.error
    assert probes["apiserver"].ok is False and probes["apiserver"].error == state.error
    assert set(probes) == {"apiserver"}


# ------------------------------------------------------------ the client


def test_client_has_zero_retries_in_its_connection_pool(tmp_path):
    """retries=0 must reach urllib3's pool (set after creation it is ignored: 4x timeouts)."""
    api = api_client(Options(kubeconfig=write_kc(tmp_path / "kc.yaml")))
    assert api.configuration.retries == 0
    assert api.rest_client.pool_manager.connection_pool_kw["retries"].total == 0
    assert api.configuration.host == "https://10.0.0.1:6443"
    assert api.ciliumtui_context == "fake"


def test_a_hung_apiserver_costs_one_timeout_not_four(tmp_path):
    with FakeApiServer() as srv:
        srv.fault = "hang"
        api = api_client(Options(kubeconfig=srv.kubeconfig(tmp_path), timeout=0.5))
        start = time.perf_counter()
        with pytest.raises(Exception) as err:
            get_json(api, "/version", timeout=(0.5, 0.5))
        elapsed = time.perf_counter() - start
        api.close()
    # default urllib3 retries would take ~2 s here
    assert elapsed < 1.5
    assert describe_api_error(err.value, "get", "/version").endswith(
        "did not answer in time (get /version): timed out"
    )


# ---------------------------------------------------- errors, one line each


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("401", "unauthorized (401): the apiserver rejected the kubeconfig's credentials"),
        (
            "403",
            "forbidden: cannot list pods in kube-system (RBAC: user system:serviceaccount:default:viewer)",
        ),
        ("500", "apiserver error 500 to list pods in kube-system: etcdserver: request timed out"),
        (
            "garbage",
            "garbage answer from the apiserver to list pods in kube-system: not JSON ('<html>",
        ),
        ("reset", "connection reset by the apiserver 127.0.0.1:"),
        ("hang", "did not answer in time (list pods in kube-system): timed out"),
    ],
)
def test_http_faults_become_one_actionable_line(tmp_path, fault, expected):
    with FakeApiServer(healthy_cluster()) as srv:
        srv.fault = fault
        api = api_client(Options(kubeconfig=srv.kubeconfig(tmp_path), timeout=0.5))
        with pytest.raises(Exception) as err:
            get_json(api, "/api/v1/namespaces/kube-system/pods", timeout=(0.5, 0.5))
        api.close()
    msg = describe_api_error(err.value, "list", "pods in kube-system")
    assert expected in msg
    assert "\n" not in msg and "t0ken" not in msg


def test_connection_refused(tmp_path):
    api = api_client(
        Options(kubeconfig=write_kc(tmp_path / "kc.yaml", f"http://127.0.0.1:{free_port()}"))
    )
    with pytest.raises(Exception) as err:
        get_json(api, "/version", timeout=(1, 1))
    assert describe_api_error(err.value, "get", "/version").startswith(
        "connection refused by the apiserver 127.0.0.1:"
    )


def test_tls_failure_self_signed(tmp_path):
    ctx, _cert = self_signed_tls(tmp_path)
    with FakeApiServer(tls=ctx) as srv:
        api = api_client(Options(kubeconfig=srv.kubeconfig(tmp_path)))
        with pytest.raises(Exception) as err:
            get_json(api, "/version", timeout=(1, 1))
    assert describe_api_error(err.value, "get", "/version") == (
        "TLS failure talking to the apiserver: certificate verify failed (self-signed certificate)"
    )


def test_tls_trusted_with_the_kubeconfig_ca(tmp_path):
    """certificate-authority relative to the kubeconfig's directory, as kubectl resolves it."""
    ctx, cert = self_signed_tls(tmp_path)
    with FakeApiServer(healthy_cluster(), tls=ctx) as srv:
        kc = srv.kubeconfig(tmp_path, **{"certificate-authority": cert.name})
        api = api_client(Options(kubeconfig=kc))
        assert (
            get_json(api, "/api/v1/nodes/k3s-node1", timeout=(1, 1))["metadata"]["name"]
            == "k3s-node1"
        )
        api.close()


def test_https_client_against_plain_http_server(tmp_path):
    with FakeApiServer() as srv:
        api = api_client(
            Options(kubeconfig=write_kc(tmp_path / "kc.yaml", srv.url.replace("http:", "https:")))
        )
        with pytest.raises(Exception) as err:
            get_json(api, "/version", timeout=(1, 1))
    assert "does not speak TLS" in describe_api_error(err.value, "get", "/version")


async def test_black_holed_apiserver_returns_within_timeout(tmp_path):
    """Accepts TCP, never answers: one timeout, then every other probe is skipped."""
    with black_hole() as port:
        kc = write_kc(tmp_path / "kc.yaml", f"http://127.0.0.1:{port}")
        probes: dict = {}
        start = time.perf_counter()
        state = await collect_cluster(Options(kubeconfig=kc, timeout=1.0), probes)
        elapsed = time.perf_counter() - start
    assert elapsed < 2.0
    assert state.reachable is False
    assert (
        state.error
        == f"apiserver 127.0.0.1:{port} did not answer in time (get /version): timed out"
    )


def test_loop_stays_free_while_connecting(tmp_path):
    """The kubernetes import and the blocking GET run in a thread: the loop keeps ticking."""

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        with black_hole() as port:
            kc = write_kc(tmp_path / "kc.yaml", f"http://127.0.0.1:{port}")
            t = asyncio.create_task(ticker())
            await collect_cluster(Options(kubeconfig=kc, timeout=0.6), {})
            t.cancel()
        return ticks

    assert asyncio.run(main()) >= 6


async def test_liveness_check_sends_no_credentials(tmp_path):
    """The unverified liveness GET must not leak the token; the verified client sends it."""
    with FakeApiServer(healthy_cluster()) as srv:
        state = await collect_cluster(
            Options(kubeconfig=srv.kubeconfig(tmp_path), node="k3s-node1"), {}
        )
    assert state.reachable
    assert srv.requests[0][0] == "/version" and srv.auth_headers[0] is None
    assert all(h == "Bearer t0ken-not-for-logs" for h in srv.auth_headers[1:])


def test_liveness_is_skipped_behind_a_proxy(monkeypatch):
    """Only the client knows the proxy path: a black hole here must not be judged directly."""
    monkeypatch.setenv("https_proxy", "http://proxy.invalid:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with black_hole() as port:
        start = time.perf_counter()
        client.check_alive(f"https://10.255.255.1:{port}", 5)
    assert time.perf_counter() - start < 1
