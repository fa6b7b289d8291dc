"""In-memory Kubernetes objects, a resourceVersion counter and watch fan-out.

Objects are keyed by (group/version/kind, namespace, name); cluster-scoped objects
use namespace "". Pods are also indexed by spec.nodeName, because the one list that
must stay fast on a 100,000-pod cluster is "this node's pods".

Stored dicts are never mutated in place: every change stores a new dict (callers
deep-copy before editing). That lets generated objects share sub-structures and
lets readers hand out stored objects without copying.

Thread-safe: the apiserver's event loop thread and test threads both use it.
Watchers live on an event loop; events reach them with call_soon_threadsafe.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import itertools
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

HISTORY = 20_000  # watch events kept for resuming from a resourceVersion


class Conflict(Exception):
    """The object already exists (409 AlreadyExists)."""


class Gone(Exception):
    """The resourceVersion asked for is older than the kept history (410 Expired)."""


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def gvk_of(obj: dict[str, Any]) -> str:
    return f"{obj['apiVersion']}/{obj['kind']}"


@dataclass
class Event:
    rv: int
    gvk: str
    type: str  # ADDED | MODIFIED | DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None = None  # the previous version (MODIFIED)


@dataclass
class Watcher:
    gvk: str
    namespace: str | None
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)

    def offer(self, ev: Event) -> None:
        if ev.gvk != self.gvk:
            return
        if self.namespace is not None and ev.obj["metadata"].get("namespace", "") != self.namespace:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the watch is over
            self.loop.call_soon_threadsafe(self.queue.put_nowait, ev)


class Store:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        # gvk -> namespace -> name -> object
        self._objs: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        self._pods_by_node: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._rv = itertools.count(1)
        self._last_rv = 0
        self._history: deque[Event] = deque(maxlen=HISTORY)
        self._watchers: list[Watcher] = []
        self._listeners: list[Callable[[Event], None]] = []

    # ------------------------------------------------------------------ reads

    @property
    def resource_version(self) -> int:
        return self._last_rv

    def get(self, gvk: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._objs.get(gvk, {}).get(namespace or "", {}).get(name)

    def list(
        self, gvk: str, namespace: str | None = None, *, node: str | None = None
    ) -> list[dict[str, Any]]:
        """Objects of a kind (in a namespace, on a node for pods), sorted by (namespace, name)."""
        with self._lock:
            if node is not None and gvk == "v1/Pod":
                items = [
                    (key, obj)
                    for key, obj in self._pods_by_node.get(node, {}).items()
                    if namespace is None or key[0] == namespace
                ]
            else:
                by_ns = self._objs.get(gvk, {})
                namespaces = [namespace or ""] if namespace is not None else list(by_ns)
                items = [((ns, n), o) for ns in namespaces for n, o in by_ns.get(ns, {}).items()]
        items.sort(key=lambda kv: kv[0])
        return [o for _, o in items]

    def count(self, gvk: str) -> int:
        with self._lock:
            return sum(len(v) for v in self._objs.get(gvk, {}).values())

    # ----------------------------------------------------------------- writes

    def _index(self, obj: dict[str, Any], gvk: str) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        self._objs.setdefault(gvk, {}).setdefault(ns, {})[meta["name"]] = obj
        if gvk == "v1/Pod":
            node = (obj.get("spec") or {}).get("nodeName")
            if node:
                self._pods_by_node.setdefault(node, {})[(ns, meta["name"])] = obj

    def _unindex(self, obj: dict[str, Any], gvk: str) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        self._objs.get(gvk, {}).get(ns, {}).pop(meta["name"], None)
        if gvk == "v1/Pod":
            node = (obj.get("spec") or {}).get("nodeName")
            if node:
                self._pods_by_node.get(node, {}).pop((ns, meta["name"]), None)

    def _bump(self) -> int:
        self._last_rv = next(self._rv)
        return self._last_rv

    def _emit(self, ev: Event) -> None:
        self._history.append(ev)
        for w in list(self._watchers):
            w.offer(ev)
        for fn in list(self._listeners):
            fn(ev)

    def _stamp(self, obj: dict[str, Any], rv: int) -> dict[str, Any]:
        meta = dict(obj["metadata"])
        meta["resourceVersion"] = str(rv)
        # Not setdefault: building a uuid and a timestamp per object is the cost of bulk loads.
        if "uid" not in meta:
            meta["uid"] = str(uuid.uuid4())
        if "creationTimestamp" not in meta:
            meta["creationTimestamp"] = now_iso()
        if obj.get("kind") != "Namespace" and "namespace" in meta and not meta["namespace"]:
            del meta["namespace"]
        return {**obj, "metadata": meta}

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        gvk = gvk_of(obj)
        meta = obj["metadata"]
        with self._lock:
            if self.get(gvk, meta.get("namespace"), meta["name"]) is not None:
                raise Conflict(meta["name"])
            rv = self._bump()
            stored = self._stamp(obj, rv)
            self._index(stored, gvk)
            self._emit(Event(rv, gvk, "ADDED", stored))
            return stored

    def load(self, objs: Iterable[dict[str, Any]]) -> int:
        """Bulk create without history or events (building a scenario); returns the count."""
        n = 0
        stamp = now_iso()
        with self._lock:
            for obj in objs:
                # Takes ownership of `obj`: stamped in place, no copy (100k-pod clusters).
                meta = obj["metadata"]
                meta["resourceVersion"] = str(self._bump())
                if "uid" not in meta:
                    meta["uid"] = str(uuid.uuid4())
                if "creationTimestamp" not in meta:
                    meta["creationTimestamp"] = stamp
                self._index(obj, f"{obj['apiVersion']}/{obj['kind']}")
                n += 1
        return n

    def update(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace an existing object (or create it); bumps its resourceVersion."""
        gvk = gvk_of(obj)
        meta = obj["metadata"]
        with self._lock:
            old = self.get(gvk, meta.get("namespace"), meta["name"])
            if old is None:
                return self.create(obj)
            rv = self._bump()
            keep = {
                k: old["metadata"][k] for k in ("uid", "creationTimestamp") if k in old["metadata"]
            }
            stored = self._stamp({**obj, "metadata": {**meta, **keep}}, rv)
            self._unindex(old, gvk)
            self._index(stored, gvk)
            self._emit(Event(rv, gvk, "MODIFIED", stored, old))
            return stored

    def delete(self, gvk: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self._lock:
            old = self.get(gvk, namespace, name)
            if old is None:
                return None
            rv = self._bump()
            self._unindex(old, gvk)
            gone = {**old, "metadata": {**old["metadata"], "resourceVersion": str(rv)}}
            self._emit(Event(rv, gvk, "DELETED", gone))
            return gone

    # ---------------------------------------------------------------- watches

    def watch(
        self,
        gvk: str,
        namespace: str | None,
        loop: asyncio.AbstractEventLoop,
        since: int | None,
    ) -> tuple[Watcher, builtins.list[Event]]:  # `list` here is Store.list
        """Register a watcher; also return the events to replay first.

        since=None: synthetic ADDED for every current object, then live events
        (what a real apiserver does for resourceVersion unset or "0").
        since=N: the kept events after N; Gone when N is older than the history.
        """
        w = Watcher(gvk, namespace, loop)
        with self._lock:
            if since is None:
                replay = [Event(self._last_rv, gvk, "ADDED", o) for o in self.list(gvk, namespace)]
            else:
                # Only a full history can have dropped events the watcher needs.
                if len(self._history) == self._history.maxlen and since < self._history[0].rv - 1:
                    raise Gone(f"too old resource version: {since} ({self._history[0].rv - 1})")
                replay = [
                    e
                    for e in self._history
                    if e.rv > since
                    and e.gvk == gvk
                    and (namespace is None or e.obj["metadata"].get("namespace", "") == namespace)
                ]
            self._watchers.append(w)
        return w, replay

    def unwatch(self, w: Watcher) -> None:
        with self._lock:
            if w in self._watchers:
                self._watchers.remove(w)

    def add_listener(self, fn: Callable[[Event], None]) -> None:
        """Call fn(event) synchronously on every change (the controller uses it)."""
        with self._lock:
            self._listeners.append(fn)

    def all_kinds(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._objs))
