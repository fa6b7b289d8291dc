"""Pod watches: the apiserver tells us when a pod on this node (or a CoreDNS /
cilium-operator pod anywhere) changes, so the TUI re-reads the cluster at once
instead of on its next 10 s poll.

`PodWatch(opts, spec).events()` is a blocking generator (run it in a thread): it
lists once for a resourceVersion (one item, raw JSON), yields `SYNCED`, then
streams `kubernetes.watch.Watch` events as small `PodEvent` tuples. The server
ends each watch after `timeout_seconds` (the client read timeout is larger, per
reference §5); it then re-watches from the last resourceVersion, re-listing on
410 Gone. Any other error yields one `ERROR` event and ends the generator — the
caller restarts it with backoff. `stop()` (any thread) ends it promptly: it shuts
the watch socket down.

Raw JSON all the way (deserialize=False, no CoreV1Api): importing the typed API
alone costs ~1 s, and pydantic models for every event are not needed to decide
"re-read now".
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..errors import CiliumtuiError
from ..options import Options
from .client import api_client, describe_api_error, get_json

SYNCED = "SYNCED"  # listed and watching: anything before this may have been missed
ERROR = "ERROR"  # the watch ended; `detail` says why (one line)
WATCH_SECONDS = 60  # server-side timeoutSeconds of one watch request


class PodEvent(NamedTuple):
    type: str  # ADDED | MODIFIED | DELETED | SYNCED | ERROR
    namespace: str
    name: str
    detail: str  # the pod's phase ("Running", "Pending"…, "deleting"); the error for ERROR


@dataclass(frozen=True)
class PodWatchSpec:
    """One watched pod set: a path and selectors (never the whole cluster)."""

    name: str
    path: str
    field_selector: str | None = None
    label_selector: str | None = None


def pod_watch_specs(opts: Options) -> list[PodWatchSpec]:
    """This node's pods (all namespaces: the agent pod is one of them), plus the
    CoreDNS and cilium-operator pods, which usually run on other nodes."""
    system = "/api/v1/namespaces/kube-system/pods"
    return [
        PodWatchSpec("node-pods", "/api/v1/pods", field_selector=f"spec.nodeName={opts.node_name}"),
        PodWatchSpec("coredns-pods", system, label_selector="k8s-app=kube-dns"),
        PodWatchSpec("operator-pods", system, label_selector="io.cilium/app=operator"),
    ]


class _Gone(Exception):
    """The resourceVersion we watch from is too old: list again."""


def _event(raw: dict[str, Any]) -> PodEvent | None:
    obj = raw.get("object")
    if not isinstance(obj, dict):
        return None
    meta = obj.get("metadata") or {}
    phase = "deleting" if meta.get("deletionTimestamp") else (obj.get("status") or {}).get("phase")
    return PodEvent(
        str(raw.get("type")), str(meta.get("namespace") or ""), str(meta.get("name")), phase or ""
    )


class PodWatch:
    """One pod watch against the apiserver of `opts`; `events()` blocks, `stop()` ends it."""

    def __init__(
        self, opts: Options, spec: PodWatchSpec, *, timeout_seconds: int = WATCH_SECONDS
    ) -> None:
        self.opts = opts
        self.spec = spec
        self.timeout_seconds = timeout_seconds
        self._stopped = threading.Event()
        self._watch: Any = None
        self._lock = threading.Lock()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            watch = self._watch
        if watch is not None:
            watch.stop()  # shuts the socket down: a blocked read returns

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def events(self) -> Iterator[PodEvent]:
        api = None
        try:
            api = api_client(self.opts)
            rv = self._list(api)
            yield PodEvent(SYNCED, "", "", self.spec.name)
            while not self.stopped:
                try:
                    for event in self._watch_once(api, rv):
                        if event.type == "BOOKMARK":
                            rv = event.detail
                            continue
                        rv = event.detail or rv
                        yield event.pod
                        if self.stopped:
                            return
                except _Gone:
                    rv = self._list(api)
                    yield PodEvent(SYNCED, "", "", self.spec.name)
        except Exception as exc:
            if not self.stopped:
                yield PodEvent(ERROR, "", "", _describe(exc, self.spec))
        finally:
            if api is not None:
                api.close()

    # ----------------------------------------------------------------- internals

    def _list(self, api: Any) -> str:
        """The current resourceVersion of the pod set (one item fetched, not the list)."""
        from .client import request_timeout

        query: list[tuple[str, Any]] = [("limit", 1)]
        query += self._selectors()
        page = get_json(api, self.spec.path, query, timeout=request_timeout(self.opts))
        return str((page.get("metadata") or {}).get("resourceVersion") or "")

    def _selectors(self) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        if self.spec.field_selector:
            out.append(("fieldSelector", self.spec.field_selector))
        if self.spec.label_selector:
            out.append(("labelSelector", self.spec.label_selector))
        return out

    def _watch_once(self, api: Any, rv: str) -> Iterator[_Raw]:
        """One watch request, from `rv`, until the server ends it (timeout_seconds)."""
        from kubernetes import watch

        w = watch.Watch()
        with self._lock:
            self._watch = w
        if self.stopped:  # stop() ran before the Watch existed
            return
        try:
            stream = w.stream(
                partial_request(api, self.spec.path, self._selectors()),
                resource_version=rv,
                allow_watch_bookmarks=True,
                timeout_seconds=self.timeout_seconds,
                _request_timeout=(self.opts.timeout, self.timeout_seconds + 5),
                deserialize=False,
            )
            for raw in stream:
                kind = raw.get("type")
                obj = raw.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Gone()
                    raise CiliumtuiError(
                        f"pod watch ({self.spec.name}) failed: {obj.get('reason')}:"
                        f" {obj.get('message')}"
                    )
                version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
                if kind == "BOOKMARK":
                    yield _Raw("BOOKMARK", None, version)
                    continue
                pod = _event(raw)
                if pod is not None:
                    yield _Raw(str(kind), pod, version)
        finally:
            with self._lock:
                self._watch = None


class _Raw(NamedTuple):
    type: str
    pod: Any
    detail: str  # the resourceVersion


def partial_request(api: Any, path: str, selectors: list[tuple[str, Any]]) -> Any:
    """A list function for Watch.stream that speaks raw HTTP (no typed CoreV1Api)."""
    from kubernetes.client.exceptions import ApiException

    names = {
        "watch": "watch",
        "resource_version": "resourceVersion",
        "allow_watch_bookmarks": "allowWatchBookmarks",
        "timeout_seconds": "timeoutSeconds",
    }

    def list_pods(**kwargs: Any) -> Any:
        query = list(selectors)
        for key, wire in names.items():
            value = kwargs.get(key)
            if value not in (None, ""):
                query.append((wire, str(value).lower() if isinstance(value, bool) else value))
        method, url, headers, _body, _post = api.param_serialize(
            method="GET",
            resource_path=path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        resp = api.call_api(
            method, url, header_params=headers, _request_timeout=kwargs.get("_request_timeout")
        )
        if not 200 <= resp.status <= 299:
            resp.read()
            raise ApiException(http_resp=resp)
        return resp.response  # the raw urllib3 response Watch.stream reads line by line

    return list_pods


def _describe(exc: BaseException, spec: PodWatchSpec) -> str:
    if isinstance(exc, CiliumtuiError):
        return str(exc)
    return describe_api_error(exc, "watch", f"pods ({spec.name})")


__all__ = [
    "ERROR",
    "SYNCED",
    "WATCH_SECONDS",
    "PodEvent",
    "PodWatch",
    "PodWatchSpec",
    "pod_watch_specs",
]
