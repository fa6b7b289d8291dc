"""The Lease `ciliumtui-fleet` (coordination.k8s.io/v1): one fleet run at a time.

Acquire: create it, or take it over when its holder let it expire (renewTime +
leaseDurationSeconds in the past) with a replace carrying the resourceVersion
read, so two runs racing for an expired lease cannot both win (409). A renewer
thread keeps it fresh while the run goes on; release clears the holder.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import CiliumtuiError
from . import LEASE_NAME
from . import kube as K
from . import objects as O

if TYPE_CHECKING:  # pragma: no cover
    from kubernetes.client import ApiClient

DURATION = 60  # seconds; renewed every DURATION / 3


class LeaseHeld(CiliumtuiError):
    """Another fleet run holds the lease (exit 3, one line naming the holder)."""


def identity(run_id: str) -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry (a container): the uid will do
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()} run {run_id}"


def lease_path(namespace: str) -> str:
    return f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE_NAME}"


def _held_by(obj: dict[str, Any], now: datetime) -> tuple[str, float] | None:
    """(holder, seconds since renewal) when someone holds it now; None when free."""
    spec = obj.get("spec") or {}
    holder = spec.get("holderIdentity")
    renewed = O.parse_time(spec.get("renewTime")) or O.parse_time(spec.get("acquireTime"))
    if not holder or renewed is None:
        return None
    age = (now - renewed).total_seconds()
    if age > float(spec.get("leaseDurationSeconds") or DURATION):
        return None
    return str(holder), age


class Lease:
    def __init__(self, api: ApiClient, namespace: str, holder: str, timeout: float) -> None:
        self.api, self.namespace, self.holder, self.timeout = api, namespace, holder, timeout
        self.obj: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: str | None = None  # why renewing failed, if it did

    def _d(self) -> K.Deadline:
        return K.Deadline(3 * self.timeout + 1, self.timeout)

    def _spec(self, transitions: int, acquired: str | None = None) -> dict[str, Any]:
        now = O.micro_time()
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": DURATION,
            "acquireTime": acquired or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def acquire(self) -> None:
        path = lease_path(self.namespace)
        d = self._d()
        try:
            cur = K.get_optional(self.api, path, d)
            if cur is None:
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": LEASE_NAME, "namespace": self.namespace},
                    "spec": self._spec(0),
                }
                self.obj = K.create(self.api, path.rsplit("/", 1)[0], body, d)
            else:
                held = _held_by(cur, datetime.now(timezone.utc))
                if held is not None and held[0] != self.holder:
                    raise LeaseHeld(self._refusal(*held))
                spec = cur.get("spec") or {}
                body = {**cur, "spec": self._spec(int(spec.get("leaseTransitions") or 0) + 1)}
                self.obj = K.replace(self.api, path, body, d)
        except CiliumtuiError:
            raise
        except Exception as exc:
            if K.status_of(exc) in (409,):  # another run got there first
                try:
                    cur = K.get_optional(self.api, path, self._d()) or {}
                except Exception:
                    cur = {}
                held = _held_by(cur, datetime.now(timezone.utc)) or ("another fleet run", 0.0)
                raise LeaseHeld(self._refusal(*held)) from None
            if K.status_of(exc) == 404:
                raise CiliumtuiError(
                    f"namespace {self.namespace} not found: apply `ciliumtui fleet manifest` first"
                ) from None
            raise CiliumtuiError(
                K.describe(exc, "take", f"lease {self.namespace}/{LEASE_NAME}")
            ) from None
        self._thread = threading.Thread(target=self._renew, name="ciliumtui-lease", daemon=True)
        self._thread.start()

    def _refusal(self, holder: str, age: float) -> str:
        return (
            f"fleet run refused: lease {self.namespace}/{LEASE_NAME} is held by {holder} "
            f"(renewed {age:.0f}s ago); one fleet run at a time"
        )

    def _renew(self) -> None:
        path = lease_path(self.namespace)
        while not self._stop.wait(DURATION / 3):
            try:
                cur = self.obj or {}
                spec = cur.get("spec") or {}
                body = {**cur, "spec": {**spec, "renewTime": O.micro_time()}}
                self.obj = K.replace(self.api, path, body, self._d())
                self.lost = None
            except Exception as exc:  # keep trying; the run reports it at the end
                self.lost = K.describe(exc, "renew", f"lease {self.namespace}/{LEASE_NAME}")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 1)
        if self.obj is None:
            return
        path = lease_path(self.namespace)
        try:
            cur = K.get_optional(self.api, path, self._d())
            if cur and (cur.get("spec") or {}).get("holderIdentity") == self.holder:
                spec = {**(cur.get("spec") or {}), "holderIdentity": None, "renewTime": None}
                K.replace(
                    self.api,
                    path,
                    {**cur, "spec": {k: v for k, v in spec.items() if v is not None}},
                    self._d(),
                )
        except Exception:  # an unreleased lease expires by itself after DURATION
            pass
        self.obj = None
