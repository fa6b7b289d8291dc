"""The controller loop: what kubelet, the DaemonSet/ReplicaSet controllers, the
garbage collector and the Cilium operator would do, reduced to what troubleshooting
touches.

- A deleted pod owned by a DaemonSet or ReplicaSet is replaced at once by a new pod
  (new name, Pending) that turns Ready after `cluster.restart_delay` seconds — or
  crash-loops when the scenario says so (the cilium agent's state comes from the
  scenario, possibly changed by `on_fix`).
- A DaemonSet/Deployment whose pod template changed (`kubectl rollout restart`)
  gets all its pods replaced.
- Deleting an owner deletes its dependents (ownerReferences).
- A deleted CiliumNode is recreated by the "operator" with the next free
  /mask-size block of the *current* cilium-config pool — how the pod-CIDR change
  story is fixed.
- Pods stuck in ContainerCreating start once their node's agent is Ready again.
- CrashLoopBackOff is retried: this node's crash-looping agent and the CoreDNS pods
  are restarted every few seconds (as kubelet does, with a shorter back-off), and
  come up once what killed them is gone — CoreDNS once the `coredns` ConfigMap's
  Corefile no longer forwards to a loopback resolver (objects.coredns.forward_loops),
  the agent once the scenario's fix landed (`sim.fix_checks`: e.g. a training node
  whose k3s no longer runs flannel notes `k3s-restart`). A CoreDNS pod that turns
  Ready notes the `coredns-ready` fix event.
- Workload status (DaemonSet/Deployment/ReplicaSet) follows the pods.

Everything runs on the simulator's event loop; store events reach it with
call_soon_threadsafe, so the store lock is never held while reacting.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import ipaddress
import random
from collections.abc import Callable
from typing import Any, Protocol

from . import objects as O
from . import resources as R
from .objects.coredns import corefile_of, corefile_state
from .store import Event, Store, now_iso

POD = R.POD.gvk


class SimLike(Protocol):
    scenario: dict[str, Any]
    store: Store
    netns: str | None  # None: the DNS responder (and so CoreDNS's address) is on loopback
    # fix event -> a check of the world (the node) that says it happened by itself
    fix_checks: dict[str, Callable[[], bool]]

    def _note_fix_event(self, event: str) -> None: ...

    def follow_allocations(self) -> None: ...


def _controller_owner(obj: dict[str, Any]) -> dict[str, Any] | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    refs = obj["metadata"].get("ownerReferences") or []
    return refs[0] if refs else None


def _container_state(pod: dict[str, Any]) -> str:
    """running | not-ready | crashloop | creating | pending, as objects.pod_status names them."""
    st = pod.get("status") or {}
    if st.get("phase") == "Pending":
        for cs in st.get("containerStatuses") or []:
            if (cs.get("state") or {}).get("waiting", {}).get("reason") == "ContainerCreating":
                return "creating"
        return "pending"
    for cs in st.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason") == "CrashLoopBackOff":
            return "crashloop"
        if not cs.get("ready"):
            return "not-ready"
    return "running"


class Controller:
    def __init__(self, sim: SimLike, loop) -> None:
        self.sim = sim
        self.store = sim.store
        self.loop = loop
        self.rng = random.Random()
        self._status_dirty = False
        self._enabled = True
        self.store.add_listener(self._on_event)
        for pod in self.store.list(POD, O.KUBE_SYSTEM):  # crash-looping from the start
            if _container_state(pod) == "crashloop" and self._retried(pod):
                ns, name = pod["metadata"].get("namespace"), pod["metadata"]["name"]
                self._later(
                    max(self.delay, 1.0) * 2, functools.partial(self._crash_again, ns, name)
                )

    # ------------------------------------------------------------ plumbing

    @property
    def delay(self) -> float:
        return float(self.sim.scenario["cluster"].get("restart_delay", 0.3))

    def stop(self) -> None:
        self._enabled = False

    def _on_event(self, ev: Event) -> None:
        # Called under the store lock, from any thread: only schedule.
        if self._enabled:
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                self.loop.call_soon_threadsafe(self._handle, ev)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        def guarded() -> None:
            if self._enabled:
                fn()

        self.loop.call_later(delay, guarded)

    def _handle(self, ev: Event) -> None:
        if not self._enabled:
            return
        kind = ev.obj.get("kind")
        if ev.type == "DELETED":
            self._collect_garbage(ev.obj)
            if kind == "Pod":
                self._pod_deleted(ev.obj)
            elif kind == "CiliumNode":
                self._ciliumnode_deleted(ev.obj)
        elif ev.type == "MODIFIED" and ev.old is not None:
            old_t = (ev.old.get("spec") or {}).get("template")
            new_t = (ev.obj.get("spec") or {}).get("template")
            if kind in ("DaemonSet", "Deployment") and old_t != new_t:
                self._template_changed(ev.obj)
        if (
            kind == "Pod"
            and ev.obj["metadata"].get("namespace") == O.KUBE_SYSTEM
            or kind in ("DaemonSet", "Deployment", "ReplicaSet")
        ):
            self._mark_status_dirty()

    # ------------------------------------------------------------------ GC

    def _collect_garbage(self, owner: dict[str, Any]) -> None:
        uid = owner["metadata"].get("uid")
        kind = owner.get("kind")
        if not uid or kind not in ("DaemonSet", "Deployment", "ReplicaSet", "Node"):
            return
        dependents = {"Deployment": ["apps/v1/ReplicaSet"], "Node": [R.CILIUMNODE.gvk, POD]}.get(
            kind, [POD]
        )
        ns = owner["metadata"].get("namespace")
        for gvk in dependents:
            for obj in self.store.list(gvk, ns if gvk != R.CILIUMNODE.gvk else None):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    self.store.delete(
                        gvk, obj["metadata"].get("namespace"), obj["metadata"]["name"]
                    )

    # ---------------------------------------------------------------- pods

    def _pod_deleted(self, pod: dict[str, Any]) -> None:
        ref = _controller_owner(pod)
        if ref is None or ref.get("kind") not in ("DaemonSet", "ReplicaSet"):
            return  # bare pods and mirror pods are gone for good
        ns = pod["metadata"].get("namespace")
        owner = self.store.get(f"apps/v1/{ref['kind']}", ns, ref["name"])
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return
        node = (pod.get("spec") or {}).get("nodeName")
        if ref["kind"] == "DaemonSet":
            if node and self.store.get(R.NODE.gvk, None, node) is None:
                return
            if self._is_local_agent(owner, node):
                self._run_fix_checks()
                self.sim._note_fix_event("agent-restart")
            self._recreate(pod, owner)
        else:
            self._recreate(pod, owner)

    def _is_local_agent(self, ds: dict[str, Any], node: str | None) -> bool:
        return ds["metadata"]["name"] == "cilium" and node == self.sim.scenario.get("node_name")

    def _scenario_node(self, name: str | None) -> dict[str, Any]:
        for n in O.nodes_of(self.sim.scenario):
            if n.get("name") == name:
                return n
        node = self.store.get(R.NODE.gvk, None, name) if name else None
        ip = None
        if node:
            ip = next(
                (
                    a["address"]
                    for a in node["status"].get("addresses", [])
                    if a["type"] == "InternalIP"
                ),
                None,
            )
        return {"name": name, "internal_ip": ip}

    def _target_state(self, old: dict[str, Any], owner: dict[str, Any]) -> str:
        """What a replacement pod settles into after restart_delay."""
        name = owner["metadata"]["name"]
        node = (old.get("spec") or {}).get("nodeName")
        if owner["kind"] == "DaemonSet" and name == "cilium":
            agent = O.agent_state_for(self.sim.scenario, node or "")
            return O.pod_state_of_agent("ready" if agent == "missing" else agent)
        if name.startswith("coredns"):
            ready = (self.sim.scenario["cluster"].get("coredns") or {}).get("ready", True)
            if isinstance(ready, list):
                ready = ready[0] if ready else True
            return corefile_state(ready, self.corefile(), self.sim.scenario)
        prev = _container_state(old)
        if prev == "crashloop":
            return "crashloop"
        host_network = bool((old.get("spec") or {}).get("hostNetwork"))
        if not host_network and node and not self._agent_ready(node):
            return "creating"  # no CNI on that node: the sandbox cannot get a network
        return "running"

    def corefile(self) -> str:
        """The Corefile CoreDNS reads now: the stored `coredns` ConfigMap's."""
        cm = self.store.get(R.CONFIGMAP.gvk, O.KUBE_SYSTEM, "coredns") or {}
        text = (cm.get("data") or {}).get("Corefile")
        return str(text) if text is not None else corefile_of(self.sim.scenario)

    def _run_fix_checks(self) -> None:
        for event, check in list(self.sim.fix_checks.items()):
            try:
                happened = check()
            except Exception:  # a broken check never stops the controller
                happened = False
            if happened:
                self.sim._note_fix_event(event)

    def _agent_ready(self, node: str) -> bool:
        for pod in self.store.list(POD, O.KUBE_SYSTEM, node=node):
            if (pod["metadata"].get("labels") or {}).get("k8s-app") == "cilium":
                return _container_state(pod) == "running"
        return False

    def _new_pod_from(self, old: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
        node_name = (old.get("spec") or {}).get("nodeName")
        if owner["kind"] == "DaemonSet" and owner["metadata"]["name"] == "cilium":
            return O.cilium_pod(
                self.sim.scenario,
                self._scenario_node(node_name),
                owner,
                self.rng,
                "pending",
                started=now_iso(),
            )
        pod = copy.deepcopy(old)
        meta = pod["metadata"]
        base = meta.get("generateName") or (meta["name"].rsplit("-", 1)[0] + "-")
        template_meta = (owner.get("spec") or {}).get("template", {}).get("metadata") or {}
        meta.update(
            {
                "name": base + O.suffix(self.rng),
                "uid": O.uid_for("pod", meta.get("namespace", ""), base, str(self.rng.random())),
                "creationTimestamp": now_iso(),
                "labels": {**(meta.get("labels") or {}), **(template_meta.get("labels") or {})},
                "annotations": {
                    **(meta.get("annotations") or {}),
                    **(template_meta.get("annotations") or {}),
                },
            }
        )
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(k, None)
        if not meta["annotations"]:
            del meta["annotations"]
        pod["status"] = self._status_like(pod, "pending")
        return pod

    def _status_like(self, pod: dict[str, Any], state: str, restarts: int = 0) -> dict[str, Any]:
        spec = pod.get("spec") or {}
        st = pod.get("status") or {}
        host_ip = st.get("hostIP")
        if host_ip is None:
            node = self._scenario_node(spec.get("nodeName"))
            host_ip = O.node_ip(node)
        pod_ip = st.get("podIP") or pod["metadata"].get("annotations", {}).get(
            "sim.ciliumtui/pod-ip"
        )
        return O.pod_status(
            state,
            containers=[(c["name"], c.get("image", "")) for c in spec.get("containers") or []],
            init_containers=[
                (c["name"], c.get("image", "")) for c in spec.get("initContainers") or []
            ],
            host_ip=host_ip,
            pod_ip=host_ip if spec.get("hostNetwork") else pod_ip,
            restarts=restarts,
            started=now_iso(),
        )

    def _recreate(self, old: dict[str, Any], owner: dict[str, Any]) -> None:
        target = self._target_state(old, owner)
        new = self._new_pod_from(old, owner)
        ip = self._replacement_ip(old)
        stored = self.store.create(new)
        ns, name = stored["metadata"].get("namespace"), stored["metadata"]["name"]
        self._later(self.delay, lambda: self._settle(ns, name, target, ip))

    def _replacement_ip(self, old: dict[str, Any]) -> str | None:
        """The replacement's pod IP: the old one while it is still in its node's pod CIDR
        (CoreDNS must stay where DNS points), else one from the node's current block
        (after a pool change; CoreDNS at the address the scenario now gives it)."""
        ip = (old.get("status") or {}).get("podIP")
        spec = old.get("spec") or {}
        if not ip or spec.get("hostNetwork"):
            return ip
        cidr = self._scenario_node(spec.get("nodeName")).get("pod_cidr")
        try:
            if not isinstance(cidr, str) or ipaddress.ip_address(ip) in ipaddress.ip_network(
                cidr, strict=False
            ):
                return ip
        except ValueError:
            return ip
        if (old["metadata"].get("labels") or {}).get("k8s-app") == "kube-dns":
            if self.sim.netns is None:
                return ip  # CoreDNS is where the loopback responder listens
            ips = (self.sim.scenario["cluster"].get("coredns") or {}).get("ips") or []
            if ips:
                return str(ips[0])
        return self._ip_in(cidr)

    def _settle(self, ns: str | None, name: str, target: str, ip: str | None) -> None:
        pod = self.store.get(POD, ns, name)
        if pod is None:
            return
        restarts = 1 if target == "crashloop" else 0
        status = self._status_like(pod, target, restarts)
        if ip and not (pod.get("spec") or {}).get("hostNetwork") and target != "creating":
            status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
        self.store.update({**pod, "status": status})
        if target == "crashloop":
            self._later(max(self.delay, 1.0), lambda: self._crash_again(ns, name))
        labels = pod["metadata"].get("labels") or {}
        if labels.get("k8s-app") == "cilium" and target == "running":
            self._start_waiting_pods((pod.get("spec") or {}).get("nodeName"))
        if labels.get("k8s-app") == "kube-dns" and target == "running":
            self.sim._note_fix_event("coredns-ready")

    def _retried(self, pod: dict[str, Any]) -> bool:
        """Is this a crash-looping pod whose restarts can succeed (see the module doc)?"""
        labels = pod["metadata"].get("labels") or {}
        if pod["metadata"].get("namespace") != O.KUBE_SYSTEM:
            return False
        if labels.get("k8s-app") == "kube-dns":
            return True
        node = (pod.get("spec") or {}).get("nodeName")
        return labels.get("k8s-app") == "cilium" and node == self.sim.scenario.get("node_name")

    def _crash_again(self, ns: str | None, name: str) -> None:
        """CrashLoopBackOff keeps counting restarts while the pod exists (capped); the
        retried pods (`_retried`) come up once what killed them is gone."""
        pod = self.store.get(POD, ns, name)
        if pod is None or _container_state(pod) != "crashloop":
            return
        restarts = max(
            int(c.get("restartCount", 0)) for c in pod["status"].get("containerStatuses") or [{}]
        )
        retried = self._retried(pod)
        if retried:
            target = self._retry_target(pod)
            if target == "running":
                status = self._status_like(pod, "running", restarts + 1)
                ip = (pod.get("status") or {}).get("podIP")
                if ip:
                    status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
                self.store.update({**pod, "status": status})
                self._settled_running(pod)
                return
        if restarts >= 5 and not retried:
            return
        if restarts < 5:
            status = self._status_like(pod, "crashloop", restarts + 1)
            self.store.update({**pod, "status": status})
        self._later(max(self.delay, 1.0) * 2, lambda: self._crash_again(ns, name))

    def _retry_target(self, pod: dict[str, Any]) -> str:
        """What a retried pod's next restart becomes (the fix checks run first)."""
        ref = _controller_owner(pod)
        kind = (ref or {}).get("kind")
        owner = self.store.get(f"apps/v1/{kind}", O.KUBE_SYSTEM, (ref or {}).get("name", ""))
        if owner is None:
            return "crashloop"
        if owner["kind"] == "DaemonSet":
            self._run_fix_checks()
        return self._target_state(pod, owner)

    def _settled_running(self, pod: dict[str, Any]) -> None:
        labels = pod["metadata"].get("labels") or {}
        if labels.get("k8s-app") == "cilium":
            self._start_waiting_pods((pod.get("spec") or {}).get("nodeName"))
        elif labels.get("k8s-app") == "kube-dns":
            self.sim._note_fix_event("coredns-ready")

    def _start_waiting_pods(self, node: str | None) -> None:
        if not node:
            return
        for pod in self.store.list(POD, None, node=node):
            if _container_state(pod) == "creating":
                ns, name = pod["metadata"].get("namespace"), pod["metadata"]["name"]
                self._later(self.delay, functools.partial(self._start_waiting, ns, name))

    def _start_waiting(self, ns: str | None, name: str) -> None:
        self._settle(ns, name, "running", self._pod_ip_for(ns, name))

    def _pod_ip_for(self, ns: str | None, name: str) -> str | None:
        pod = self.store.get(POD, ns, name)
        if pod is None:
            return None
        node = self._scenario_node((pod.get("spec") or {}).get("nodeName"))
        cidr = node.get("pod_cidr")
        return self._ip_in(cidr) if isinstance(cidr, str) else None

    def _ip_in(self, cidr: str) -> str:
        net = ipaddress.ip_network(cidr, strict=False)
        return str(net.network_address + 100 + self.rng.randrange(1, 100))

    def reconcile_agents(self) -> None:
        """Give every node that should have an agent (scenario state not "missing") a cilium pod."""
        ds = self.store.get(R.DAEMONSET.gvk, O.KUBE_SYSTEM, "cilium")
        if ds is None:
            return
        have = {
            (p.get("spec") or {}).get("nodeName")
            for p in self.store.list(POD, O.KUBE_SYSTEM)
            if (p["metadata"].get("labels") or {}).get("k8s-app") == "cilium"
        }
        overrides = O.agent_overrides(self.sim.scenario)
        for node in self.store.list(R.NODE.gvk):
            name = node["metadata"]["name"]
            if name in have or O.agent_state_for(self.sim.scenario, name, overrides) == "missing":
                continue
            target = O.pod_state_of_agent(O.agent_state_for(self.sim.scenario, name, overrides))
            pod = O.cilium_pod(
                self.sim.scenario,
                self._scenario_node(name),
                ds,
                self.rng,
                "pending",
                started=now_iso(),
            )
            stored = self.store.create(pod)
            ns, pname = stored["metadata"].get("namespace"), stored["metadata"]["name"]
            self._later(self.delay, functools.partial(self._settle, ns, pname, target, None))

    # ------------------------------------------------------------- rollouts

    def _template_changed(self, workload: dict[str, Any]) -> None:
        ns = workload["metadata"].get("namespace")
        if workload["kind"] == "Deployment":
            for rs in self.store.list("apps/v1/ReplicaSet", ns):
                if any(
                    r.get("uid") == workload["metadata"]["uid"]
                    for r in rs["metadata"].get("ownerReferences") or []
                ):
                    spec = copy.deepcopy(rs["spec"])
                    labels = spec["template"]["metadata"].get("labels", {})
                    spec["template"] = copy.deepcopy(workload["spec"]["template"])
                    spec["template"].setdefault("metadata", {})["labels"] = {
                        **spec["template"]["metadata"].get("labels", {}),
                        **{k: v for k, v in labels.items() if k == "pod-template-hash"},
                    }
                    self.store.update({**rs, "spec": spec})
                    self._replace_pods_of(rs)
            return
        self._replace_pods_of(workload)

    def _replace_pods_of(self, owner: dict[str, Any]) -> None:
        uid = owner["metadata"]["uid"]
        for pod in self.store.list(POD, owner["metadata"].get("namespace")):
            ref = _controller_owner(pod)
            if ref is not None and ref.get("uid") == uid:
                self.store.delete(POD, pod["metadata"].get("namespace"), pod["metadata"]["name"])

    # --------------------------------------------------------- cilium operator

    def _ciliumnode_deleted(self, cn: dict[str, Any]) -> None:
        name = cn["metadata"]["name"]
        if self.store.get(R.NODE.gvk, None, name) is None:
            return
        self._later(self.delay, lambda: self._recreate_ciliumnode(name))

    def pool(self) -> tuple[list[str], int]:
        """The pool and mask size from the cilium-config ConfigMap as it is now."""
        cm = self.store.get(R.CONFIGMAP.gvk, O.KUBE_SYSTEM, "cilium-config") or {}
        data = cm.get("data") or {}
        pool = [
            c
            for c in str(data.get("cluster-pool-ipv4-cidr", "10.0.0.0/8")).replace(",", " ").split()
            if c
        ]
        mask = int(data.get("cluster-pool-ipv4-mask-size", 24) or 24)
        return pool, mask

    def next_free_cidr(self) -> str | None:
        pool, mask = self.pool()
        used = []
        for cn in self.store.list(R.CILIUMNODE.gvk):
            for c in ((cn.get("spec") or {}).get("ipam") or {}).get("podCIDRs") or []:
                try:
                    used.append(ipaddress.ip_network(c, strict=False))
                except ValueError:
                    continue
        for block in pool:
            try:
                net = ipaddress.ip_network(block, strict=False)
            except ValueError:
                continue
            if mask < net.prefixlen:
                continue
            for sub in net.subnets(new_prefix=mask):
                if not any(sub.overlaps(u) for u in used):
                    return str(sub)
        return None

    def _recreate_ciliumnode(self, name: str) -> None:
        if self.store.get(R.CILIUMNODE.gvk, None, name) is not None:
            return
        node = self.store.get(R.NODE.gvk, None, name)
        if node is None:
            return
        cidr = self.next_free_cidr()
        ip = next(
            (
                a["address"]
                for a in node["status"].get("addresses", [])
                if a["type"] == "InternalIP"
            ),
            None,
        )
        obj = O.ciliumnode_object(name, node["metadata"]["uid"], ip, [cidr] if cidr else [])
        obj["metadata"]["uid"] = O.uid_for("ciliumnode", name, str(self.rng.random()))
        if cidr is None:
            obj["status"]["ipam"]["operator-status"] = {
                "error": "allocator clusterpool-ipv4 exhausted: no more CIDRs available"
            }
        self.store.create(obj)
        if name == self.sim.scenario.get("node_name"):
            self.sim._note_fix_event("ciliumnode-recreated")
        self.sim.follow_allocations()  # after the fix: this node's addresses move too

    # --------------------------------------------------------------- status

    def _mark_status_dirty(self) -> None:
        if not self._status_dirty:
            self._status_dirty = True
            self.loop.call_soon(self.refresh_status)

    def refresh_status(self) -> None:
        """Recompute DaemonSet/ReplicaSet/Deployment status from their pods."""
        self._status_dirty = False
        pods_by_owner: dict[str, list[dict[str, Any]]] = {}
        for pod in self.store.list(POD, O.KUBE_SYSTEM):
            ref = _controller_owner(pod)
            if ref is not None:
                pods_by_owner.setdefault(ref.get("uid", ""), []).append(pod)
        node_count = self.store.count(R.NODE.gvk)
        for ds in self.store.list(R.DAEMONSET.gvk, O.KUBE_SYSTEM):
            pods = pods_by_owner.get(ds["metadata"]["uid"], [])
            ready = sum(1 for p in pods if _container_state(p) == "running")
            gen = ds["metadata"].get("generation", 1)
            status = {
                "currentNumberScheduled": len(pods),
                "desiredNumberScheduled": node_count,
                "numberAvailable": ready,
                "numberMisscheduled": 0,
                "numberReady": ready,
                "observedGeneration": gen,
                "updatedNumberScheduled": len(pods),
            }
            if node_count - ready:
                status["numberUnavailable"] = node_count - ready
            if ds.get("status") != status:
                self.store.update({**ds, "status": status})
        rs_ready: dict[str, tuple[int, int]] = {}
        for rs in self.store.list(R.REPLICASET.gvk, O.KUBE_SYSTEM):
            pods = pods_by_owner.get(rs["metadata"]["uid"], [])
            ready = sum(1 for p in pods if _container_state(p) == "running")
            rs_ready[rs["metadata"]["uid"]] = (len(pods), ready)
            status = {
                "replicas": len(pods),
                "fullyLabeledReplicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": rs["metadata"].get("generation", 1),
            }
            if rs.get("status") != status:
                self.store.update({**rs, "status": status})
        for dep in self.store.list(R.DEPLOYMENT.gvk, O.KUBE_SYSTEM):
            total = ready = 0
            for rs in self.store.list(R.REPLICASET.gvk, O.KUBE_SYSTEM):
                if any(
                    r.get("uid") == dep["metadata"]["uid"]
                    for r in rs["metadata"].get("ownerReferences") or []
                ):
                    t, r = rs_ready.get(rs["metadata"]["uid"], (0, 0))
                    total, ready = total + t, ready + r
            replicas = int((dep.get("spec") or {}).get("replicas", 1))
            available = ready >= 1 or replicas == 0
            status = {
                "replicas": total,
                "updatedReplicas": total,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": dep["metadata"].get("generation", 1),
                "conditions": [
                    {
                        "type": "Available",
                        "status": "True" if available else "False",
                        "reason": "MinimumReplicasAvailable"
                        if available
                        else "MinimumReplicasUnavailable",
                        "message": "Deployment has minimum availability."
                        if available
                        else "Deployment does not have minimum availability.",
                    },
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                ],
            }
            if ready < total:
                status["unavailableReplicas"] = total - ready
            if not ready:
                status.pop("readyReplicas")
                status.pop("availableReplicas")
            if dep.get("status") != status:
                self.store.update({**dep, "status": status})
