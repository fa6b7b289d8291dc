"""Talking to the apiserver: kubeconfig discovery, one client, one-line errors.

`kubernetes` is imported inside the functions, never at module import: the TUI's
first frame must not wait for it (~0.4 s). The playbook engine uses this module
too (pod.delete, ...), so the client is a plain `kubernetes.client.ApiClient`.

Two facts shape this file (reference/tui-and-libraries.md §5):
- urllib3's default retries turn a 1 s timeout into 4 s; `retries = 0` must be
  set on the Configuration BEFORE the ApiClient (and its pool) is created.
- The Configuration has no default request timeout: every request passes
  `request_timeout(opts)` explicitly.
`check_alive` (stdlib only) lets collect_cluster judge a dead apiserver before
the client is imported at all; `kube_context` (no kubernetes import either) is the
one kube-context discovery of the project; exec credential plugins run here, within
the cluster deadline (ciliumtui.cluster.deadline), not in the kubernetes client.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CiliumtuiError
from ..options import Options
from ..record import record
from .deadline import Deadline, SocketRegistry, track_connections

if TYPE_CHECKING:  # pragma: no cover - typing only
    from kubernetes.client import ApiClient

K3S_KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
IN_CLUSTER = "in-cluster"


class GarbageAnswer(ValueError):
    """The apiserver answered 2xx with something that is not a JSON object."""


@record
class KubeconfigChoice:
    """Where the client configuration comes from: a file, or the pod's service account."""

    path: str | None  # None: in-cluster service account
    tried: list[str] = field(default_factory=list)  # "PATH (why skipped)" in discovery order

    @property
    def label(self) -> str:
        return self.path or IN_CLUSTER


def request_timeout(opts: Options) -> tuple[float, float]:
    """(connect, read) seconds, passed explicitly on every request."""
    return (opts.timeout, opts.timeout)


# ------------------------------------------------------------------ discovery


def _readable(path: Path) -> str | None:
    """None when `path` can be read, else why not (for the 'tried' list)."""
    try:
        with path.open("rb"):
            return None
    except FileNotFoundError:
        return "not found"
    except PermissionError:
        return "permission denied"
    except IsADirectoryError:
        return "is a directory"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def _in_cluster_available() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and Path(SA_DIR, "token").is_file()


def find_kubeconfig(opts: Options) -> KubeconfigChoice:
    """DESIGN §4 order: --kubeconfig, $KUBECONFIG, ~/.kube/config, k3s.yaml, in-cluster.

    An explicit --kubeconfig is used or fails; it never silently falls through.
    """
    if opts.kubeconfig:
        why = _readable(Path(opts.kubeconfig))
        if why:
            raise CiliumtuiError(f"cannot read kubeconfig {opts.kubeconfig}: {why}")
        return KubeconfigChoice(opts.kubeconfig, [opts.kubeconfig])
    tried: list[str] = []
    candidates: list[tuple[Path, str]] = []
    env = os.environ.get("KUBECONFIG", "")
    for part in env.split(os.pathsep):
        if part.strip():
            candidates.append((Path(part.strip()), "$KUBECONFIG"))
    candidates.append((Path.home() / ".kube" / "config", "home"))
    candidates.append((opts.host_path(K3S_KUBECONFIG), "k3s"))
    for path, origin in candidates:
        why = _readable(path)
        if why is None:
            tried.append(str(path))
            return KubeconfigChoice(str(path), tried)
        hint = ""
        if origin == "k3s" and why == "permission denied":
            hint = ", k3s writes it 0600: run as root"
        tried.append(f"{path} ({why}{hint})")
    if _in_cluster_available():
        tried.append(IN_CLUSTER)
        return KubeconfigChoice(None, tried)
    tried.append(f"{IN_CLUSTER} (KUBERNETES_SERVICE_HOST unset or no service account token)")
    raise CiliumtuiError("no kubeconfig found; tried " + "; ".join(tried) + " — pass --kubeconfig")


def _load_yaml(path: str) -> dict[str, Any]:
    import yaml

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CiliumtuiError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid syntax"
        raise CiliumtuiError(f"kubeconfig {path}{where}: not valid YAML ({problem})") from None
    if not isinstance(data, dict) or not isinstance(data.get("contexts"), list):
        raise CiliumtuiError(f"kubeconfig {path}: not a kubeconfig (no contexts list)")
    return data


def _select_context(path: str, data: dict[str, Any], wanted: str | None) -> tuple[str, str]:
    """(context name, server URL) with a clear error for unknown names."""

    def named(section: str) -> dict[str, dict[str, Any]]:
        items = data.get(section) or []
        return {
            str(i.get("name")): (i.get(section[:-1]) or {})
            for i in items
            if isinstance(i, dict) and i.get("name") is not None
        }

    contexts = named("contexts")
    name = wanted or data.get("current-context")
    if not name:
        raise CiliumtuiError(
            f"kubeconfig {path}: no current-context; pass --context "
            f"(available: {', '.join(contexts) or 'none'})"
        )
    if name not in contexts:
        raise CiliumtuiError(
            f"kubeconfig {path}: no context {name!r} (available: {', '.join(contexts) or 'none'})"
        )
    cluster_name = contexts[name].get("cluster")
    cluster = named("clusters").get(str(cluster_name))
    if cluster is None:
        raise CiliumtuiError(
            f"kubeconfig {path}: context {name!r} names unknown cluster {cluster_name!r}"
        )
    server = cluster.get("server")
    if not server:
        raise CiliumtuiError(f"kubeconfig {path}: cluster {cluster_name!r} has no server")
    return name, str(server)


def kube_context(opts: Options) -> tuple[str, str]:
    """(context name, server URL) the client will use — for headers and confirmations.

    THE kube-context discovery (the engine's confirmations use it too): DESIGN §4
    order (--kubeconfig, $KUBECONFIG's first readable path, ~/.kube/config,
    <host-root>/etc/rancher/k3s/k3s.yaml, in-cluster), --context over the file's
    current-context. Cheap: YAML only, no kubernetes import. The server URL is as
    written (it may carry credentials): pass it through redact_url before showing it.
    Raises CiliumtuiError (one line) when there is no usable kubeconfig or context.
    """
    choice = find_kubeconfig(opts)
    if choice.path is None:
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        host = f"[{host}]" if ":" in host else host
        return IN_CLUSTER, f"https://{host}:{port}"
    return _select_context(choice.path, _load_yaml(choice.path), opts.context)


def api_client(opts: Options, deadline: Deadline | None = None) -> ApiClient:
    """One ApiClient from one Configuration: retries = 0, loaded from the discovered config.

    An exec credential plugin runs within `deadline` (default: the cluster deadline
    from now) and is killed after it. Every connection the client opens is tracked
    (`client_sockets(api).abort()` shuts them down). Raises CiliumtuiError (one
    line) for every kubeconfig problem.
    """
    deadline = deadline or Deadline.for_cluster(opts)
    choice = find_kubeconfig(opts)
    context = IN_CLUSTER
    data: dict[str, Any] = {}
    base = ""
    if choice.path is not None:
        data = _load_yaml(choice.path)
        context, _server = _select_context(choice.path, data, opts.context)
        base = os.path.dirname(os.path.abspath(choice.path))
        # Before the client is imported: a plugin that blocks costs no import either.
        data = with_exec_credentials(data, context, base, choice.label, deadline)

    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException

    cfg = client.Configuration()
    # Before the ApiClient exists: its urllib3 pool copies `retries` at creation.
    cfg.retries = 0
    try:
        if choice.path is None:
            from kubernetes.config.incluster_config import InClusterConfigLoader

            InClusterConfigLoader(
                token_filename=str(Path(SA_DIR, "token")), cert_filename=str(Path(SA_DIR, "ca.crt"))
            ).load_and_set(cfg)
        else:
            from kubernetes.config.kube_config import KubeConfigLoader

            loader = KubeConfigLoader(
                config_dict=data,
                active_context=context,
                # Relative certificate paths resolve next to the kubeconfig, as kubectl does.
                config_base_path=base,
            )
            loader.load_and_set(cfg)
    except CiliumtuiError:
        raise
    except ConfigException as exc:
        raise CiliumtuiError(f"kubeconfig {choice.label}: {_first_line(exc)}") from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise CiliumtuiError(f"kubeconfig {choice.label}: {_first_line(exc)}") from None
    cfg.retries = 0
    api = client.ApiClient(configuration=cfg)
    tagged: Any = api  # our own attributes on the client (not in its type)
    tagged.ciliumtui_sockets = track_connections(api)
    # Where it came from, for the TUI header and confirmations (never the credentials).
    tagged.ciliumtui_kubeconfig = choice.label
    tagged.ciliumtui_context = context
    return api


def client_sockets(api: ApiClient) -> SocketRegistry:
    """The connections of a client made by api_client (abort() ends them all)."""
    tagged: Any = api
    registry: SocketRegistry = tagged.ciliumtui_sockets
    return registry


def client_origin(api: ApiClient) -> tuple[str, str]:
    """(kubeconfig label, context name) a client made by api_client was loaded from."""
    tagged: Any = api
    return str(tagged.ciliumtui_kubeconfig), str(tagged.ciliumtui_context)


# ------------------------------------------------------ exec credential plugins


def _named(data: dict[str, Any], section: str, name: Any) -> dict[str, Any] | None:
    for item in data.get(section) or []:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get(section[:-1])
            return value if isinstance(value, dict) else None
    return None


def with_exec_credentials(
    data: dict[str, Any], context: str, base: str, label: str, deadline: Deadline
) -> dict[str, Any]:
    """`data` with the context's `user.exec` replaced by the credential it produces.

    The kubernetes client runs exec plugins itself, with no timeout (a blocking plugin
    held `diagnose` for its full 60 s) and, on a terminal, with our stdin. Here the
    plugin runs non-interactively within the deadline and is killed after it; its
    failures are one line instead of a log message and a silent anonymous client.
    The client's own order is kept: auth-provider and token win over exec.
    """
    ctx = _named(data, "contexts", context) or {}
    user = _named(data, "users", ctx.get("user"))
    if not user or not isinstance(user.get("exec"), dict):
        return data
    if any(user.get(k) for k in ("auth-provider", "token", "tokenFile")):
        return data
    cluster = _named(data, "clusters", ctx.get("cluster")) or {}
    status = run_exec_plugin(user["exec"], cluster, base, label, deadline)
    cred: dict[str, Any] = {}
    if status.get("token"):
        cred["token"] = str(status["token"])
    elif status.get("clientCertificateData") and status.get("clientKeyData"):
        cred["client-certificate-data"] = _b64(status["clientCertificateData"])
        cred["client-key-data"] = _b64(status["clientKeyData"])
    else:
        raise CiliumtuiError(
            f"kubeconfig {label}: exec credential plugin {_plugin_name(user['exec'])} "
            "returned neither a token nor a client certificate"
        )
    out = dict(data)
    out["users"] = [
        {"name": u.get("name"), "user": cred}
        if isinstance(u, dict) and u.get("name") == ctx.get("user")
        else u
        for u in data.get("users") or []
    ]
    return out


def _b64(text: Any) -> str:
    import base64

    return base64.b64encode(str(text).encode()).decode()


def _plugin_name(exec_cfg: dict[str, Any]) -> str:
    return os.path.basename(str(exec_cfg.get("command") or "?"))


def run_exec_plugin(
    exec_cfg: dict[str, Any], cluster: dict[str, Any], base: str, label: str, deadline: Deadline
) -> dict[str, Any]:
    """Run one exec credential plugin (client.authentication.k8s.io) → its `status`."""
    import signal
    import subprocess

    name = _plugin_name(exec_cfg)
    where = f"kubeconfig {label}: exec credential plugin {name}"
    command, api_version = exec_cfg.get("command"), exec_cfg.get("apiVersion")
    if not command or not api_version:
        raise CiliumtuiError(f"kubeconfig {label}: exec needs a command and an apiVersion")
    if exec_cfg.get("interactiveMode") == "Always":
        raise CiliumtuiError(
            f"{where} needs a terminal (interactiveMode: Always); log in with kubectl first"
        )
    spec: dict[str, Any] = {"interactive": False}
    if exec_cfg.get("provideClusterInfo"):
        spec["cluster"] = dict(cluster)
        for ext in cluster.get("extensions") or []:
            if isinstance(ext, dict) and ext.get("name") == "client.authentication.k8s.io/exec":
                spec["cluster"]["config"] = ext.get("extension")
    env = dict(os.environ)
    listed = exec_cfg.get("env")
    items: list[Any] = listed if isinstance(listed, list) else []
    env.update(
        {
            str(e["name"]): str(e.get("value", ""))
            for e in items
            if isinstance(e, dict) and e.get("name")
        }
    )
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"apiVersion": api_version, "kind": "ExecCredential", "spec": spec}
    )
    args = exec_cfg.get("args")
    argv = [str(command), *(str(a) for a in (args if isinstance(args, list) else []))]
    timeout = deadline.inner(deadline.remaining())
    try:
        # Its own session: a plugin that forks (a shell script, a CLI wrapper) dies whole.
        proc = subprocess.Popen(
            argv,
            cwd=base or None,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        hint = exec_cfg.get("installHint")
        why = exc.strerror or str(exc)
        raise CiliumtuiError(
            f"{where} cannot run: {why}" + (f" ({' '.join(str(hint).split())})" if hint else "")
        ) from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.kill()
        # A grandchild that left the session may still hold the pipes: do not wait on it.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=0.5)
        raise CiliumtuiError(
            f"{where} did not finish within {deadline.label}; does it wait for a login?"
        ) from None
    if proc.returncode != 0:
        last = (err.decode(errors="replace").strip().splitlines() or [""])[-1]
        raise CiliumtuiError(
            f"{where} failed (exit {proc.returncode})" + (f": {last[:160]}" if last else "")
        )
    try:
        answer = json.loads(out)
    except ValueError:
        raise CiliumtuiError(f"{where} printed no ExecCredential JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("status"), dict):
        raise CiliumtuiError(f"{where} printed an ExecCredential without a status")
    if answer.get("apiVersion") != api_version:
        raise CiliumtuiError(
            f"{where} answered apiVersion {answer.get('apiVersion')!r}, expected {api_version!r}"
        )
    return answer["status"]


# ----------------------------------------------------------------- liveness


def _proxied(server: str) -> bool:
    """Would the client reach `server` through an environment proxy?"""
    import urllib.request
    from urllib.parse import urlsplit

    proxies = urllib.request.getproxies()
    if not (proxies.get("https") or proxies.get("http") or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(urlsplit(server).hostname or "")


def check_alive(server: str, timeout: float) -> None:
    """Does anything speak HTTP at `server` within `timeout`? Raises CiliumtuiError if not.

    Stdlib only, so it runs before the kubernetes client (~0.5-1 s) is imported: a
    black-holed apiserver then costs one timeout, and never the import.
    It sends no credentials and does not verify TLS — any HTTP status line counts
    as alive; the real client (verified, authenticated) asks next. Skipped (no
    raise) when an environment proxy sits in between: only the client knows that path.
    """
    import socket
    import ssl
    from urllib.parse import urlsplit

    if _proxied(server):
        return
    url = urlsplit(server)
    host = url.hostname or "localhost"
    port = url.port or (443 if url.scheme == "https" else 80)
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            raw.settimeout(timeout)
            conn: socket.socket = raw
            if url.scheme == "https":
                ctx = ssl.create_default_context()
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                conn = ctx.wrap_socket(raw, server_hostname=host)
            conn.sendall(
                f"GET /version HTTP/1.1\r\nHost: {where}\r\nConnection: close\r\n\r\n".encode()
            )
            head = conn.recv(16)
    except TimeoutError:
        raise CiliumtuiError(
            f"apiserver {where} did not answer in time (get /version): timed out"
        ) from None
    except ConnectionRefusedError:
        raise CiliumtuiError(
            f"connection refused by the apiserver {where}: is it (k3s) running?"
        ) from None
    except ConnectionResetError:
        raise CiliumtuiError(f"connection reset by the apiserver {where} (get /version)") from None
    except ssl.SSLError as exc:
        raise CiliumtuiError(_tls_line(str(exc))) from None
    except OSError as exc:
        raise CiliumtuiError(
            f"cannot connect to the apiserver {where}: {exc.strerror or exc}"
        ) from None
    if not head:
        raise CiliumtuiError(
            f"apiserver {where} closed the connection without answering (get /version)"
        )
    if not head.startswith(b"HTTP/"):
        raise CiliumtuiError(f"garbage answer from the apiserver {where} to get /version: not HTTP")


# ----------------------------------------------------------------- requests


def _get(
    api: ApiClient, path: str, query: list[tuple[str, Any]] | None, accept: str, timeout: Any
) -> bytes:
    from kubernetes.client.exceptions import ApiException

    method, url, headers, _body, _post = api.param_serialize(
        method="GET",
        resource_path=path,
        query_params=query or [],
        header_params={"Accept": accept},
        auth_settings=["BearerToken"],
    )
    resp = api.call_api(method, url, header_params=headers, _request_timeout=timeout)
    data = resp.read()
    if not 200 <= resp.status <= 299:
        raise ApiException(http_resp=resp)
    return bytes(data or b"")


def get_json(
    api: ApiClient,
    path: str,
    query: list[tuple[str, Any]] | None = None,
    *,
    timeout: tuple[float, float] | float,
) -> dict[str, Any]:
    """GET `path` as raw JSON (no typed models: 5x faster on big lists).

    Non-2xx raises kubernetes' ApiException (with the Status body); a 2xx that is
    not a JSON object raises GarbageAnswer; transport errors are urllib3's.
    """
    data = _get(api, path, query, "application/json", timeout)
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise GarbageAnswer(_snippet(data)) from None
    if not isinstance(obj, dict):
        raise GarbageAnswer(_snippet(data))
    return obj


def get_text(
    api: ApiClient,
    path: str,
    query: list[tuple[str, Any]] | None = None,
    *,
    timeout: tuple[float, float] | float,
) -> str:
    """GET `path` as text (a container log); errors as get_json's."""
    return _get(api, path, query, "text/plain, */*", timeout).decode("utf-8", "replace")


def list_all(
    api: ApiClient,
    path: str,
    query: list[tuple[str, Any]] | None = None,
    *,
    timeout: tuple[float, float] | float,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Every item of a list, page by page (limit/continue), never one giant answer."""
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        q = list(query or []) + [("limit", limit)]
        if token:
            q.append(("continue", token))
        page = get_json(api, path, q, timeout=timeout)
        got = page.get("items")
        if not isinstance(got, list):
            raise GarbageAnswer(f"no items list in {path}")
        items.extend(i for i in got if isinstance(i, dict))
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return items


# ------------------------------------------------------------------- writes

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"  # lists merge by key


def send_json(
    api: ApiClient,
    method: str,
    path: str,
    body: Any,
    *,
    timeout: tuple[float, float] | float,
    content_type: str = "application/json",
    query: list[tuple[str, Any]] | None = None,
) -> dict[str, Any]:
    """POST/PUT/PATCH/DELETE `body` as JSON to `path`; the answer as raw JSON.

    The write side of get_json, through the same ApiClient (retries 0, explicit
    timeout): non-2xx raises ApiException (its `.status` tells 404/409 apart),
    a 2xx that is not a JSON object raises GarbageAnswer. The content type is
    explicit because the generated patch_* methods guess it from the body.
    """
    from kubernetes.client.exceptions import ApiException

    method, url, headers, _body, _post = api.param_serialize(
        method=method,
        resource_path=path,
        query_params=query or [],
        header_params={"Accept": "application/json", "Content-Type": content_type},
        auth_settings=["BearerToken"],
    )
    # The REST layer serialises the body itself for every */json and *+json type.
    resp = api.call_api(method, url, header_params=headers, body=body, _request_timeout=timeout)
    data = resp.read()
    if not 200 <= resp.status <= 299:
        raise ApiException(http_resp=resp)
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise GarbageAnswer(_snippet(data)) from None
    if not isinstance(obj, dict):
        raise GarbageAnswer(_snippet(data))
    return obj


# ------------------------------------------------------------------- errors


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _snippet(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    text = " ".join((data or "").split())
    return repr(text[:40]) if text else "an empty body"


def _status_message(body: str | None) -> str | None:
    """The `message` of a Kubernetes Status body, when the body is one."""
    try:
        status = json.loads(body or "")
    except (ValueError, TypeError):
        return None
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        return status["message"]
    return None


def _where(exc: BaseException) -> str:
    pool = getattr(exc, "pool", None)
    host, port = getattr(pool, "host", None), getattr(pool, "port", None)
    return f" {host}:{port}" if host else ""


def describe_api_error(exc: BaseException, verb: str, resource: str) -> str:
    """One actionable line for whatever went wrong asking the apiserver to `verb resource`.

    e.g. describe_api_error(e, "list", "pods in kube-system") →
    "forbidden: cannot list pods in kube-system (RBAC: user system:anonymous)".
    """
    if isinstance(exc, CiliumtuiError):
        return str(exc)
    what = f"{verb} {resource}"
    if isinstance(exc, GarbageAnswer):
        return f"garbage answer from the apiserver to {what}: not JSON ({exc})"
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return f"garbage answer from the apiserver to {what}: not JSON"
    # Only loaded when the client was: an error from it implies the import happened.
    api_exc = getattr(sys.modules.get("kubernetes.client.exceptions"), "ApiException", None)
    if api_exc is not None and isinstance(exc, api_exc):
        if exc.status:
            return _describe_status(exc.status, exc.body, verb, resource)
        # status 0: the client wraps TLS failures this way
        return (
            _tls_line(str(exc.reason))
            if "SSL" in str(exc.reason)
            else f"{what} failed: {exc.reason}"
        )
    return _describe_transport(exc, what)


def _describe_status(status: int, body: str | None, verb: str, resource: str) -> str:
    message = _status_message(body)
    what = f"{verb} {resource}"
    if status == 401:
        return "unauthorized (401): the apiserver rejected the kubeconfig's credentials (expired token or certificate?)"
    if status == 403:
        user = re.search(r'User "([^"]+)"', message or "")
        who = f": user {user.group(1)}" if user else ""
        return f"forbidden: cannot {what} (RBAC{who})"
    if status == 404:
        return f"not found: {resource}"
    if status == 429:
        return f"apiserver is throttling requests (429) to {what}"
    detail = f": {message}" if message else ""
    if status >= 500:
        return f"apiserver error {status} to {what}{detail}"
    return f"apiserver refused {what} ({status}){detail}"


def _tls_line(text: str) -> str:
    m = re.search(r"certificate verify failed: ([^()'\"]+)", text)
    if m:
        return f"TLS failure talking to the apiserver: certificate verify failed ({m.group(1).strip()})"
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return (
            "TLS failure talking to the apiserver: the server does not speak TLS (http:// server?)"
        )
    return "TLS failure talking to the apiserver: " + " ".join(text.split())[:120]


def _describe_transport(exc: BaseException, what: str) -> str:
    """urllib3 / socket errors; MaxRetryError wraps the real reason."""
    from urllib3 import exceptions as u3

    where = _where(exc)
    cause: BaseException = exc
    if isinstance(exc, u3.MaxRetryError) and exc.reason is not None:
        cause = exc.reason
        where = where or _where(cause)
    if isinstance(cause, (u3.ReadTimeoutError, TimeoutError)):
        return f"apiserver{where} did not answer in time ({what}): timed out"
    if isinstance(cause, u3.SSLError):
        return _tls_line(str(cause))
    text = str(cause)
    if isinstance(cause, (u3.NewConnectionError, ConnectionRefusedError)):
        if "refused" in text.lower():
            return f"connection refused by the apiserver{where}: is it (k3s) running?"
        if "Name or service not known" in text or "resolution" in text.lower():
            return f"cannot resolve the apiserver host{where}: {' '.join(text.split())[-80:]}"
        return f"cannot connect to the apiserver{where}: {_first_line(cause)[-100:]}"
    # After NewConnectionError on purpose: urllib3 2 makes it a ConnectTimeoutError subclass.
    if isinstance(cause, u3.ConnectTimeoutError):
        return (
            f"could not connect to the apiserver{where} in time ({what}): host down or firewalled?"
        )
    if isinstance(cause, (u3.ProtocolError, ConnectionResetError)):
        if "reset" in text.lower():
            return f"connection reset by the apiserver{where} ({what})"
        return f"apiserver{where} closed the connection mid-answer ({what})"
    if isinstance(cause, (u3.DecodeError, u3.HTTPError)):
        return f"garbage answer from the apiserver{where} to {what}: {_first_line(cause)[:100]}"
    return f"{what} failed: {_first_line(cause)[:160]}"
