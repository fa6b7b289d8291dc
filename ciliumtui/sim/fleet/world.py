"""Many nodes, one simulated cluster (DESIGN §10).

`FleetWorld` (root) builds each node of a small fleet in its own network
namespace — a scenario per node, e.g. two `healthy` and one `post-reboot` —
with its own host root and agent API, and serves one cluster whose Nodes are
those nodes (each with its own address, pod CIDR and agent state). kube-dns
answers inside every node's namespace; the NodeDiagnosis CRD is the one
`fleet manifest` prints; Job pods run on the nodes they are pinned to
(sim.fleet.kubelet). A crash-looping agent comes up on its next restart once
its node has no Cilium debris left (`ip -j link` in that namespace shows no
Cilium link) — what a cleanup-node roll relies on.

`add_reports` fills a generated cluster (`sim generate`) with a
CiliumNetworkHealthy condition and a NodeDiagnosis per node, for scale tests.
"""

from __future__ import annotations

import copy
import json
import subprocess
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...ownership import is_cilium_link
from ..scenario import deep_merge, load_scenario
from .kubelet import NodeHome


@dataclass
class FleetNode:
    name: str
    scenario_id: str
    scenario: dict[str, Any]
    netns: str = ""
    root: Path = Path()


def fleet_scenarios(
    nodes: list[tuple[str, str]],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the cluster's scenario, one scenario per node) for [(node name, scenario id)].

    Node i gets 192.168.1.(21+i)/24 and pod CIDR 10.42.i.0/24; the cluster takes
    healthy.yaml's section, with every node's agent state from its own scenario."""
    base = load_scenario("healthy")
    entries, per_node = [], []
    for i, (name, sid) in enumerate(nodes):
        ip, cidr, host_ip = f"192.168.1.{21 + i}", f"10.42.{i}.0/24", f"10.42.{i}.183"
        own = load_scenario(sid)
        agent = str(((own["cluster"].get("cilium") or {}).get("agent")) or "ready")
        entries.append(
            {"name": name, "internal_ip": ip, "pod_cidr": cidr, "max_pods": 110, "agent": agent}
        )
        peers = [
            {"node_ip": f"192.168.1.{21 + j}", "pod_cidr": f"10.42.{j}.0/24"}
            for j in range(len(nodes))
            if j != i
        ]
        over = {
            "node_name": name,
            "host": {"hostname": name},
            "network": {
                "uplink": {"address": f"{ip}/24"},
                "cilium": {"pod_cidr": cidr, "host_ip": host_ip, "peers": peers},
            },
        }
        sc = deep_merge(own, over)
        sc["cluster"] = copy.deepcopy(base["cluster"])
        per_node.append(sc)
    cluster = copy.deepcopy(base)
    cluster["node_name"] = nodes[0][0]
    cluster["cluster"]["nodes"] = entries
    cluster["cluster"]["pods"] = []  # workloads are not what the fleet looks at
    for sc in per_node:
        sc["cluster"] = cluster["cluster"]
    return cluster, per_node


def cilium_links(netns: str) -> list[str]:
    done = subprocess.run(
        ["ip", "-n", netns, "-j", "link", "show"], capture_output=True, text=True, timeout=10
    )
    if done.returncode != 0:
        return ["?"]  # cannot tell: the agent does not come up
    return [
        str(li.get("ifname"))
        for li in json.loads(done.stdout or "[]")
        if is_cilium_link(str(li.get("ifname")))
    ]


@dataclass
class FleetWorld:
    """Build with `with FleetWorld(tmp, [("node-a", "healthy"), ...]) as world:` (root)."""

    tmp: Path
    spec: list[tuple[str, str]]
    prefix: str = "fl"
    nodes: list[FleetNode] = field(default_factory=list)
    sim: Any = None
    _stack: ExitStack = field(default_factory=ExitStack)

    def __enter__(self) -> FleetWorld:
        from ...fleet.manifest import crd
        from ..agent_api import AgentApiServer
        from ..host_root import build_host_root
        from ..node_builder import build_node
        from ..server import SimCluster

        cluster, per_node = fleet_scenarios(self.spec)
        try:
            for (name, sid), sc in zip(self.spec, per_node, strict=True):
                netns = f"{self.prefix}-{uuid.uuid4().hex[:8]}"
                subprocess.run(["ip", "netns", "add", netns], check=True)
                self._stack.callback(subprocess.run, ["ip", "netns", "del", netns], check=False)
                node = FleetNode(name, sid, sc, netns, self.tmp / f"root-{name}")
                build_node(sc, netns)
                self.nodes.append(node)
            self.sim = self._stack.enter_context(
                SimCluster(cluster, netns=self.nodes[0].netns, tmpdir=self.tmp / "sim")
            )
            for node in self.nodes[1:]:
                self.sim.serve_dns(node.netns)
            for node in self.nodes:
                build_host_root(node.scenario, node.root, kubeconfig=self.sim.kubeconfig)
                mode = str(node.scenario.get("agent_api", "healthy"))
                if mode != "none":
                    sock = node.root / "var/run/cilium/cilium.sock"
                    sock.parent.mkdir(parents=True, exist_ok=True)
                    self._stack.enter_context(AgentApiServer(mode, sock))
                self.sim.jobs.homes[node.name] = NodeHome(node.netns, str(node.root))
            self.sim.store.create(crd())
            self.sim.jobs.on_done.append(self._agent_recovers)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def restart_sim(self, down_for: float = 0.0) -> None:
        """The apiserver goes away (for `down_for` seconds) and comes back on the same
        address, with a fresh store: what a publisher must recover from."""
        import time

        from ...fleet.manifest import crd
        from ..server import SimCluster

        old = self.sim
        homes, hooks, port = dict(old.jobs.homes), list(old.jobs.on_done), old.port
        old.stop()
        time.sleep(down_for)
        self.sim = SimCluster(
            old.scenario, netns=self.nodes[0].netns, tmpdir=self.tmp / "sim", port=port
        )
        self.sim.start()
        self._stack.callback(self.sim.stop)
        for node in self.nodes[1:]:
            self.sim.serve_dns(node.netns)
        self.sim.jobs.homes.update(homes)
        self.sim.jobs.on_done.extend(hooks)
        self.sim.store.create(crd())

    def node(self, name: str) -> FleetNode:
        return next(n for n in self.nodes if n.name == name)

    def flags(self, name: str) -> list[str]:
        """What points `ciliumtui` at node `name` of this world."""
        n = self.node(name)
        return [
            "--kubeconfig",
            self.sim.kubeconfig,
            "--netns",
            n.netns,
            "--host-root",
            str(n.root),
            "--node",
            name,
            "--timeout",
            "2",
        ]

    def _agent_recovers(self, node: str, ok: bool, job: dict[str, Any]) -> None:
        """A crash-looping agent's next restart succeeds once the debris is gone."""
        home = self.sim.jobs.homes.get(node)
        if not ok or home is None or home.netns is None or cilium_links(home.netns):
            return
        entries = self.sim.scenario["cluster"]["nodes"]
        entry = next((e for e in entries if e.get("name") == node), None)
        if entry is None or entry.get("agent", "ready") == "ready":
            return
        entry["agent"] = "ready"
        for pod in self.sim.store.list("v1/Pod", "kube-system", node=node):
            if (pod["metadata"].get("labels") or {}).get("k8s-app") == "cilium":
                self.sim.store.delete("v1/Pod", "kube-system", pod["metadata"]["name"])


# --------------------------------------------------------------- at scale


def generated_status(node: str, broken: bool, generated_at: str, interval_s: int) -> dict[str, Any]:
    """A NodeDiagnosis status as a publisher would write it, for a generated node."""
    probes = {
        name: {"ok": True, "error": None, "ms": 3.2}
        for name in ("apiserver", "node", "cilium-pod", "links", "routes", "netfilter", "dns")
    }
    findings: list[dict[str, Any]] = []
    if broken:
        findings = [
            {
                "id": "stale-cilium-interfaces",
                "severity": "critical",
                "title": "Cilium's network interfaces are left over while no agent runs",
                "evidence": ["4 Cilium links: cilium_host, cilium_net, cilium_vxlan, lxc_health"],
                "remediation": {"playbook": "cleanup", "docs": None},
                "root_cause": True,
                "explained_by": [],
            },
            {
                "id": "cilium-agent-not-ready",
                "severity": "critical",
                "title": "The Cilium agent on this node is not Ready",
                "evidence": [f"kube-system/cilium-{node[-5:]}: CrashLoopBackOff, restarts 17"],
                "remediation": {"playbook": "cleanup", "docs": None},
                "root_cause": False,
                "explained_by": ["stale-cilium-interfaces"],
            },
        ]
    return {
        "schema": 2,
        "tool_version": "0.1.0",
        "generated_at": generated_at,
        "node": node,
        "cilium_version": "1.18.4",
        "findings": findings,
        "probes": probes,
        "interval_s": interval_s,
        "healthy": "False" if broken else "True",
        "root_cause": "stale-cilium-interfaces" if broken else None,
    }


def add_reports(
    sim: Any,
    *,
    broken: Callable[[int, str], bool] = lambda i, _name: i % 10 == 1,
    interval_s: int = 600,
) -> int:
    """Give every Node of `sim` a condition and a NodeDiagnosis (broken(i, name): the
    i-th node has stale Cilium links behind a crash-looping agent)."""
    from ...fleet import objects as FO
    from ...fleet.manifest import crd
    from ...fleet.verdict import verdict

    store = sim.store
    if (
        store.get(
            "apiextensions.k8s.io/v1/CustomResourceDefinition", None, crd()["metadata"]["name"]
        )
        is None
    ):
        store.create(crd())
    now = FO.rfc3339()
    reports, n = [], 0
    for i, node in enumerate(store.list("v1/Node")):
        name = node["metadata"]["name"]
        status = generated_status(name, broken(i, name), now, interval_s)
        cond = FO.condition(verdict(status), now, None)
        conds = [c for c in node["status"].get("conditions") or [] if c.get("type") != cond["type"]]
        store.update({**node, "status": {**node["status"], "conditions": [*conds, cond]}})
        reports.append(FO.nd_object(name, status, node["metadata"].get("uid")))
        n += 1
    store.load(reports)
    return n
