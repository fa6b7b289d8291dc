"""Node probes: links, routes, ip rules, netfilter, host files, the agent.

`collect_node` reads them concurrently through the node's backend (DESIGN §3:
the kernel, or whatever backend start-up chose); each goes through
probe.guarded, so a failing probe leaves its part of NodeState empty and records
why in `probes`. A new probe is one method on NodeBackend (node/backend.py) and
one line below.
"""

from __future__ import annotations

import asyncio

from ..model import (
    AgentState,
    BpfState,
    HostInfo,
    IpRule,
    Link,
    NetfilterDump,
    NodeState,
    ProbeStatus,
    Route,
)
from ..probe import guarded
from .agent import AGENT_TIMEOUT
from .backend import KernelBackend, NodeBackend

NODE_PROBE_TIMEOUT = 20.0  # a hung `ip`/`iptables-save` must not hold the snapshot forever

__all__ = ["KernelBackend", "NodeBackend", "collect_node"]


async def collect_node(backend: NodeBackend, probes: dict[str, ProbeStatus]) -> NodeState:
    b, t = backend, NODE_PROBE_TIMEOUT
    no_dumps: tuple[list[NetfilterDump], str | None] = ([], None)
    no_links: list[Link] = []
    no_routes: list[Route] = []
    no_rules: list[IpRule] = []
    no_rp: dict[str, int] = {}
    no_log: tuple[list[str], str | None] = ([], None)
    # netfilter first: iptables-save of a big rule set is the long pole, start it earliest.
    # Two gathers of at most six, run at once: gather's typed overloads stop at six.
    (
        ((netfilter, kube_backend), links, routes, rules, host),
        (agent, rp, log, bpf),
    ) = await asyncio.gather(
        asyncio.gather(
            guarded(probes, "netfilter", b.netfilter(), no_dumps, timeout=t),
            guarded(probes, "links", b.links(), no_links, timeout=t),
            guarded(probes, "routes", b.routes(), no_routes, timeout=t),
            guarded(probes, "rules", b.rules(), no_rules, timeout=t),
            guarded(probes, "host", b.host(), HostInfo(), timeout=t),
        ),
        asyncio.gather(
            guarded(probes, "agent", b.agent(), AgentState(), timeout=AGENT_TIMEOUT + 1.0),
            guarded(probes, "rp_filter", b.rp_filter(), no_rp, timeout=t),
            guarded(probes, "agent_log", b.agent_log(), no_log, timeout=5),
            guarded(probes, "bpf", b.bpf(), BpfState(), timeout=t),
        ),
    )
    agent.last_log, agent.last_log_path = log
    return NodeState(
        links=links,
        routes=routes,
        rules=rules,
        netfilter=netfilter,
        kube_backend=kube_backend,
        host=host,
        agent=agent,
        rp_filter=rp,
        bpf=bpf,
    )
