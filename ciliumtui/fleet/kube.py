"""The fleet's reads and writes, each one request through ciliumtui.cluster.client
(its one Configuration: retries 0, an explicit timeout on every request).

Errors stay the client's (ApiException with `.status`, urllib3's, GarbageAnswer);
`describe(exc, verb, what)` makes the one line a user reads. `Deadline` caps a
whole sequence of requests (a publish cycle, a status read), not each of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from ..cluster.client import (
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    describe_api_error,
    get_json,
    send_json,
)
from ..errors import CiliumtuiError
from . import ND_PATH

if TYPE_CHECKING:  # pragma: no cover
    from kubernetes.client import ApiClient

T = TypeVar("T")
PAGE = 500  # items per list request: bounds the memory of a 5,000-node read


def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) and hasattr(exc, "body") else None


def describe(exc: BaseException, verb: str, what: str) -> str:
    return describe_api_error(exc, verb, what)


class Deadline:
    """One time budget for a sequence of requests: each gets min(timeout, what is left)."""

    def __init__(self, seconds: float, per_request: float) -> None:
        self.end = time.monotonic() + seconds
        self.per_request = per_request

    def left(self) -> float:
        return self.end - time.monotonic()

    def timeout(self) -> tuple[float, float]:
        left = self.left()
        if left <= 0.05:
            raise CiliumtuiError("the apiserver did not answer in time (deadline passed)")
        t = min(self.per_request, left)
        return (t, t)


def within(seconds: float, fn: Callable[[], T], what: str) -> T:
    """fn() in a daemon thread, abandoned after `seconds` (a server that drips bytes
    can hold one read past its timeout; the caller is never held past the deadline)."""
    box: list[T] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # handed to the caller below
            err.append(exc)

    t = threading.Thread(target=run, name=f"ciliumtui-{what}", daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise CiliumtuiError(f"the apiserver did not answer in time ({what}: {seconds:g} s)")
    if err:
        raise err[0]
    return box[0]


# ------------------------------------------------------------------ reads


def get_optional(api: ApiClient, path: str, d: Deadline) -> dict[str, Any] | None:
    try:
        return get_json(api, path, timeout=d.timeout())
    except Exception as exc:
        if status_of(exc) == 404:
            return None
        raise


def pages(
    api: ApiClient, path: str, d: Deadline, query: list[tuple[str, Any]] | None = None
) -> Iterator[list[dict[str, Any]]]:
    """A list read page by page (limit/continue), so a caller can reduce each page
    to what it needs and let the raw objects go."""
    token = ""
    while True:
        q = list(query or []) + [("limit", PAGE)]
        if token:
            q.append(("continue", token))
        page = get_json(api, path, q, timeout=d.timeout())
        items = page.get("items")
        if not isinstance(items, list):
            raise CiliumtuiError(f"garbage answer from the apiserver to list {path}: no items")
        yield [i for i in items if isinstance(i, dict)]
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return


def node_path(name: str) -> str:
    return f"/api/v1/nodes/{quote(name, safe='')}"


def nd_path(name: str) -> str:
    return f"{ND_PATH}/{quote(name, safe='')}"


def get_node(api: ApiClient, name: str, d: Deadline) -> dict[str, Any] | None:
    return get_optional(api, node_path(name), d)


def get_nd(api: ApiClient, name: str, d: Deadline) -> dict[str, Any] | None:
    """The NodeDiagnosis, or None when it (or its CRD) does not exist."""
    return get_optional(api, nd_path(name), d)


# ------------------------------------------------------------------ writes


def patch_node_status(api: ApiClient, name: str, patch: dict[str, Any], d: Deadline) -> None:
    # Strategic merge: conditions merge by `type`, the kubelet's stay as they are.
    send_json(
        api,
        "PATCH",
        node_path(name) + "/status",
        patch,
        timeout=d.timeout(),
        content_type=STRATEGIC_MERGE_PATCH,
    )


def create(api: ApiClient, path: str, obj: dict[str, Any], d: Deadline) -> dict[str, Any]:
    return send_json(api, "POST", path, obj, timeout=d.timeout())


def merge_patch(api: ApiClient, path: str, patch: dict[str, Any], d: Deadline) -> dict[str, Any]:
    return send_json(api, "PATCH", path, patch, timeout=d.timeout(), content_type=MERGE_PATCH)


def replace(api: ApiClient, path: str, obj: dict[str, Any], d: Deadline) -> dict[str, Any]:
    return send_json(api, "PUT", path, obj, timeout=d.timeout())


def delete(api: ApiClient, path: str, d: Deadline, propagation: str | None = None) -> None:
    body = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if propagation:
        body["propagationPolicy"] = propagation
    try:
        send_json(api, "DELETE", path, body, timeout=d.timeout())
    except Exception as exc:
        if status_of(exc) != 404:
            raise
