"""SimCluster: the simulated cluster of a scenario, served on loopback (assets/scenarios/README.md).

    with SimCluster(load_scenario("healthy"), tmpdir=tmp) as sim:
        sim.kubeconfig, sim.url, sim.dns_addr, sim.mutations, sim.store
        sim.set_fault("hang")

It runs its own event loop in a daemon thread, so sync tests, async tests and the
TUI can all use it the same way (`async with` works too).

`on_fix` (what changes once the trainee has fixed the node): the scenario's
`on_fix` section is deep-merged over the running scenario when its trigger has
happened — `on_fix.trigger` is one of, or a list of (all must happen):
  agent-restart         the cilium pod on this node was deleted/recreated (default)
  ciliumnode-recreated  this node's CiliumNode was deleted and re-allocated
  k3s-restart           k3s restarted without flannel: noted when `fix_checks["k3s-restart"]`
                        (the training env's look at the node) passes at the agent's
                        crash-loop retry or restart
  coredns-ready         a CoreDNS pod turned Ready (its Corefile no longer loops)
  manual                only `sim.apply_on_fix()` applies it (the trainer decides)
Applying it changes what the simulator does from then on: DNS behaviour, the
apiserver fault, the agent state of recreated pods, CoreDNS readiness, the
cilium-config data and Node taints; `on_fix_hooks` callbacks get the new scenario
(e.g. to switch the agent API server's mode).
"""

from __future__ import annotations

import asyncio
import copy
import gc
import ipaddress
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from ..errors import CiliumtuiError
from . import objects as O
from . import resources as R
from .allocation import follow_allocations
from .api import ApiContext, make_app
from .controller import Controller
from .dns_server import Responder
from .faults import FAULTS, FaultState
from .fleet.kubelet import JobRunner
from .scenario import deep_merge, load_scenario
from .store import Store

_SECTIONS = ("cluster", "dns", "faults")
UPSTREAM_DNS = {"cluster_names": "nxdomain", "external_names": "ok"}


class SimCluster:
    def __init__(
        self,
        scenario: dict[str, Any] | str | Path,
        netns: str | None = None,
        tmpdir: str | Path | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        if isinstance(scenario, dict) and all(s in scenario for s in _SECTIONS):
            self.scenario = copy.deepcopy(scenario)
        else:
            self.scenario = load_scenario(scenario)
        self.netns = netns
        self._tmpdir_arg = Path(tmpdir) if tmpdir is not None else None
        self._own_tmpdir: Path | None = None
        self.port = port
        self.host = host
        self.store = Store()
        self.faults = FaultState()
        self.ctx = ApiContext(
            self.store,
            self.faults,
            str(self.scenario["cluster"].get("kubernetes_version", "v1.31.4+k3s1")),
        )
        self.ctx.scenario = lambda: self.scenario
        self.kubeconfig: str = ""
        self.url: str = ""
        self.dns_addr: tuple[str, int] = ("", 0)
        self.fixed = False
        self.fix_events: set[str] = set()
        self.on_fix_hooks: list[Callable[[dict[str, Any]], None]] = []
        # fix event -> a check of the world outside the API (the node) that it happened
        self.fix_checks: dict[str, Callable[[], bool]] = {}
        self._fix_lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._responder: Responder | None = None
        self._upstream: Responder | None = None  # the node's nameservers (netns mode)
        self.controller: Controller | None = None
        self.jobs: JobRunner | None = None  # Jobs and their pods (ciliumtui.sim.fleet.kubelet)

    # ----------------------------------------------------------- lifecycle

    def start(self) -> SimCluster:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.run_until_complete(self._astop())
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._astop())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="ciliumtui-sim", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join(5)
            exc = failure[0]
            if isinstance(exc, CiliumtuiError):
                raise exc
            raise CiliumtuiError(f"simulated cluster failed to start: {exc}") from exc
        return self

    async def _astart(self) -> None:
        loop = asyncio.get_running_loop()
        gc_was_enabled = gc.isenabled()
        gc.disable()  # building 100k pods triggers cyclic GC passes that cost more than the build
        try:
            await self._build()
        finally:
            if gc_was_enabled:
                gc.enable()
        if self.store.count(R.POD.gvk) > 10_000:
            gc.freeze()  # later collections skip the (acyclic, long-lived) objects
        self.controller = Controller(self, loop)
        self.controller.refresh_status()
        self.jobs = JobRunner(self, loop)
        fault = (self.scenario.get("faults") or {}).get("apiserver")
        if fault:
            self.set_fault(str(fault))

        self._runner = web.AppRunner(
            make_app(self.ctx), handler_cancellation=True, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            reason = str(exc.strerror or exc).rsplit(": ", 1)[-1]  # aiohttp wraps the errno text
            raise CiliumtuiError(
                f"simulated apiserver cannot listen on {self.host}:{self.port}: {reason}"
            ) from None
        server = site._server  # the bound socket tells the real port when port=0
        sockets = getattr(server, "sockets", None)  # an asyncio.Server (TCPSite)
        sock = sockets[0] if sockets else None
        self.port = sock.getsockname()[1] if sock is not None else self.port
        self.url = f"http://{self.host}:{self.port}"
        self.ctx.address = f"{self.host}:{self.port}"
        self._write_kubeconfig()

    async def _build(self) -> None:
        """Start the DNS responder (its address goes into the objects), then fill the store."""
        cl = self.scenario["cluster"]
        self._responder = Responder(
            self.store,
            lambda: str(self.scenario["cluster"].get("domain", "cluster.local")),
            lambda: self.scenario.get("dns") or {},
        )
        self._responder.synced = False  # until the store is filled, below
        if self.netns is None:
            addrs = await self._responder.start(None, [])
            self.dns_addr = addrs[0]
            objs = O.build_objects(self.scenario, dns_addr=self.dns_addr)
        else:
            coredns_ips = [str(ip) for ip in (cl.get("coredns") or {}).get("ips") or []]
            kube_dns_ip = str(cl.get("kube_dns_ip", "10.43.0.10"))
            dns_netns = self._dns_netns()
            await self._responder.start(dns_netns, [kube_dns_ip, *coredns_ips])
            self.dns_addr = (kube_dns_ip, 53)
            if dns_netns is not None and dns_netns != self.netns:
                await self._start_upstream_resolver(dns_netns, {kube_dns_ip, *coredns_ips})
            objs = O.build_objects(self.scenario)
        self.store.load(objs)
        self._responder.synced = True

    def _dns_netns(self) -> str | None:
        """Where the kube-dns responder listens: the node's upstream namespace when the
        node builder made one (ciliumtui.sim.node_builder), else the given namespace."""
        if self.netns is None:
            return None
        from .node_builder import upstream_netns

        upstream = upstream_netns(self.netns)
        return upstream if Path("/run/netns", upstream).exists() else self.netns

    async def _start_upstream_resolver(self, netns: str, taken: set[str]) -> None:
        """The node's own nameservers (resolv.conf) answer in the upstream namespace
        like a provider's resolver: public names resolve, cluster names do not exist.
        Whether the node reaches them is up to its routes (a pod CIDR over the
        resolver's address swallows it, as on a real node)."""
        host = self.scenario.get("host") or {}
        # systemd-resolved's upstreams answer too: the stub on the node forwards there
        servers = [*(host.get("nameservers") or []), *(host.get("resolved_nameservers") or [])]
        ips = list(dict.fromkeys(str(ip) for ip in servers if str(ip) not in taken))
        if not ips:
            return
        if self._upstream is None:
            self._upstream = Responder(
                self.store,
                lambda: str(self.scenario["cluster"].get("domain", "cluster.local")),
                lambda: UPSTREAM_DNS,
            )
        # A loopback nameserver (systemd-resolved's 127.0.0.53 stub) runs on the node
        # itself and answers as its upstream would.
        stub = [ip for ip in ips if ipaddress.ip_address(ip).is_loopback]
        far = [ip for ip in ips if ip not in stub]
        if far:
            await self._upstream.start(netns, far)
        if stub and self.netns is not None:
            await self._upstream.start(self.netns, stub)

    async def _astop(self) -> None:
        self.faults.closing.set()
        if self.controller is not None:
            self.controller.stop()
        if self.jobs is not None:
            self.jobs.stop()
        if self._runner is not None:  # the apiserver goes first, CoreDNS after it: a
            await self._runner.cleanup()  # diagnose never sees DNS gone but the API up
            self._runner = None
        for responder in (self._responder, self._upstream):
            if responder is not None:
                await responder.close()

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
        self._thread = None
        if self._own_tmpdir is not None:
            shutil.rmtree(self._own_tmpdir, ignore_errors=True)
            self._own_tmpdir = None

    def __enter__(self) -> SimCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> SimCluster:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # ------------------------------------------------------------- helpers

    def _write_kubeconfig(self) -> None:
        if self._tmpdir_arg is not None:
            directory = self._tmpdir_arg
            directory.mkdir(parents=True, exist_ok=True)
        else:
            directory = self._own_tmpdir = Path(tempfile.mkdtemp(prefix="ciliumtui-sim-"))
        path = directory / "sim.kubeconfig"
        path.write_text(kubeconfig_text(self.url))
        self.kubeconfig = str(path)

    @property
    def mutations(self) -> int:
        return self.ctx.mutations

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path?query) of the last requests served (newest last)."""
        return list(self.ctx.requests)

    @property
    def node_name(self) -> str:
        return str(self.scenario.get("node_name", ""))

    def set_fault(self, mode: str | None) -> None:
        if mode is not None and mode not in FAULTS:
            raise CiliumtuiError(f"unknown apiserver fault {mode!r} (known: {', '.join(FAULTS)})")
        self.faults.set(mode)

    def serve_dns(self, netns: str) -> None:
        """Also answer inside `netns` (another node of a multi-node world): kube-dns
        there, and the node's own nameservers in its upstream namespace when the node
        builder made one (as this node's are)."""
        from .node_builder import upstream_netns

        cl = self.scenario["cluster"]
        ips = [str(cl.get("kube_dns_ip", "10.43.0.10"))]
        ips += [str(ip) for ip in (cl.get("coredns") or {}).get("ips") or []]
        if self._loop is None or self._responder is None:
            raise CiliumtuiError("serve_dns: the simulated cluster is not running")
        asyncio.run_coroutine_threadsafe(self._responder.start(netns, ips), self._loop).result(10)
        up = upstream_netns(netns)
        if Path("/run/netns", up).exists():
            asyncio.run_coroutine_threadsafe(
                self._start_upstream_resolver(up, set(ips)), self._loop
            ).result(10)

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run fn on the simulator's loop and return its result (for tests and the trainer)."""
        if self._loop is None:
            return fn()

        async def wrapper() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout)

    # --------------------------------------------------------------- on_fix

    def _fix_triggers(self) -> list[str]:
        on_fix = self.scenario.get("on_fix") or {}
        trig = on_fix.get("trigger", "agent-restart")
        return list(trig) if isinstance(trig, list) else [str(trig)]

    def _note_fix_event(self, event: str) -> None:
        with self._fix_lock:
            self.fix_events.add(event)
            triggers = self._fix_triggers()
            if self.fixed or "manual" in triggers or not self._has_overrides():
                return
            if all(t in self.fix_events for t in triggers):
                self.apply_on_fix()

    def _has_overrides(self) -> bool:
        """Does the fix change anything? A CiliumNode recreation always does: the
        node's addresses follow the new allocation."""
        return "ciliumnode-recreated" in self._fix_triggers() or any(
            k != "trigger" for k in (self.scenario.get("on_fix") or {})
        )

    def apply_on_fix(self) -> bool:
        """Apply the scenario's on_fix overrides (once); True when something was applied.

        The addresses a pool change moves (pod CIDRs, the datapath, CoreDNS) are not
        taken from on_fix but from the CiliumNodes the operator allocated from the
        pool in cilium-config now (ciliumtui.sim.allocation): whatever pool the
        operator chose."""
        with self._fix_lock:
            if self.fixed:
                return False
            overrides = {
                k: v for k, v in (self.scenario.get("on_fix") or {}).items() if k != "trigger"
            }
            self.fixed = True
            if not self._has_overrides():
                return False
            before = self.scenario
            self.scenario = self._followed(deep_merge(self.scenario, overrides))
        if "faults" in overrides:
            self.set_fault((self.scenario.get("faults") or {}).get("apiserver"))
        cluster = overrides.get("cluster") or {}
        config = (cluster.get("cilium") or {}).get("config")
        if config:
            cm = self.store.get(R.CONFIGMAP.gvk, O.KUBE_SYSTEM, "cilium-config")
            if cm is not None:
                data = {
                    **(cm.get("data") or {}),
                    **{str(k): O.cm_value(v) for k, v in config.items()},
                }
                self.store.update({**cm, "data": data})
        self._world_follows(before, force_nodes="nodes" in cluster, force_dns="coredns" in cluster)
        if self.controller is not None and self._loop is not None:
            # e.g. a "missing" agent that the fix brings back gets its pod now
            self._loop.call_soon_threadsafe(self.controller.reconcile_agents)
        for hook in list(self.on_fix_hooks):
            hook(self.scenario)
        return True

    def allocations(self) -> tuple[dict[str, str], str | None]:
        """({node: first podCIDR of its CiliumNode}, cilium-config's pool) as stored now."""
        allocated: dict[str, str] = {}
        for cn in self.store.list(R.CILIUMNODE.gvk):
            cidrs = ((cn.get("spec") or {}).get("ipam") or {}).get("podCIDRs") or []
            if cidrs:
                allocated[cn["metadata"]["name"]] = str(cidrs[0])
        cm = self.store.get(R.CONFIGMAP.gvk, O.KUBE_SYSTEM, "cilium-config") or {}
        pool = (cm.get("data") or {}).get("cluster-pool-ipv4-cidr")
        return allocated, (str(pool) if pool else None)

    def _followed(self, scenario: dict[str, Any]) -> dict[str, Any]:
        allocated, pool = self.allocations()
        return follow_allocations(scenario, allocated, pool)

    def follow_allocations(self) -> None:
        """After the fix, a CiliumNode recreated later moves its node's addresses too."""
        with self._fix_lock:
            if not self.fixed:
                return
            before = self.scenario
            self.scenario = self._followed(before)
        self._world_follows(before)

    def _world_follows(
        self, before: dict[str, Any], *, force_nodes: bool = False, force_dns: bool = False
    ) -> None:
        """Store objects (and the DNS responder) take the scenario's new addresses."""
        old_cl, new_cl = before.get("cluster") or {}, self.scenario.get("cluster") or {}
        if force_nodes or old_cl.get("nodes") != new_cl.get("nodes"):
            for i, n in enumerate(O.nodes_of(self.scenario)):
                old = self.store.get(R.NODE.gvk, None, n["name"])
                fresh = O.node_object(self.scenario, n, i)
                if old is not None:
                    fresh["metadata"]["creationTimestamp"] = old["metadata"].get(
                        "creationTimestamp"
                    )
                self.store.update(fresh)
        old_ips = [str(x) for x in (old_cl.get("coredns") or {}).get("ips") or []]
        new_ips = [str(x) for x in (new_cl.get("coredns") or {}).get("ips") or []]
        if (force_dns or old_ips != new_ips) and self.controller is not None:
            self._refresh_coredns(dict(zip(old_ips, new_ips, strict=False)))  # replicas may differ
        if self.netns is not None and self._responder is not None and self._loop is not None:
            fresh_ips = [ip for ip in new_ips if (ip, 53) not in self._responder.addresses]
            if fresh_ips:
                responder, netns, loop = self._responder, self._dns_netns(), self._loop
                loop.call_soon_threadsafe(
                    lambda: loop.create_task(responder.start(netns, fresh_ips))
                )

    def _refresh_coredns(self, moved: dict[str, str] | None = None) -> None:
        """Existing CoreDNS pods take the readiness (and, after a pool change, the
        address) the fixed scenario gives them."""
        ctl = self.controller
        assert ctl is not None
        for pod in self.store.list(R.POD.gvk, O.KUBE_SYSTEM):
            if (pod["metadata"].get("labels") or {}).get("k8s-app") != "kube-dns":
                continue
            rs = self.store.get(
                R.REPLICASET.gvk, O.KUBE_SYSTEM, pod["metadata"]["ownerReferences"][0]["name"]
            )
            if rs is None:
                continue
            target = ctl._target_state(pod, rs)
            ip = (pod.get("status") or {}).get("podIP")
            ip = (moved or {}).get(str(ip), ip) if ip else ip
            ns, name = O.KUBE_SYSTEM, pod["metadata"]["name"]
            if self._loop is not None:
                self._loop.call_soon_threadsafe(ctl._settle, ns, name, target, ip)


def kubeconfig_text(url: str) -> str:
    """A kubeconfig with context "sim" for an http:// apiserver (no credentials needed)."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sim", "cluster": {"server": url}}],
            "users": [{"name": "sim", "user": {}}],
            "contexts": [
                {
                    "name": "sim",
                    "context": {"cluster": "sim", "user": "sim", "namespace": "default"},
                }
            ],
            "current-context": "sim",
            "preferences": {},
        },
        sort_keys=False,
    )
