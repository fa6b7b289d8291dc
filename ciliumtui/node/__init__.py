"""Node probes: links, routes, ip rules, netfilter, host files, the agent.

`collect_node` runs them concurrently; each goes through probe.guarded, so a
failing probe leaves its part of NodeState empty and records why in `probes`.
"""

from __future__ import annotations

import asyncio

from ..model import AgentState, BpfState, HostInfo, NodeState, ProbeStatus
from ..options import Options
from ..probe import guarded
from .agent import AGENT_TIMEOUT, probe_agent
from .agent_log import read_agent_log
from .bpf import probe_bpf
from .host import read_host
from .links import probe_links
from .netfilter import probe_netfilter
from .routes import probe_routes
from .rules import probe_rules
from .sysctl import read_rp_filter

NODE_PROBE_TIMEOUT = 20.0  # a hung `ip`/`iptables-save` must not hold the snapshot forever

__all__ = ["collect_node"]


async def collect_node(opts: Options, probes: dict[str, ProbeStatus]) -> NodeState:
    if opts.recorded_node:  # training without root: the node is a JSON file (ciliumtui.training)
        return await _recorded(opts.recorded_node, probes)
    ns = opts.netns
    # netfilter first: iptables-save of a big rule set is the long pole, start it earliest.
    (
        (netfilter, kube_backend),
        links,
        routes,
        rules,
        host,
        agent,
        rp,
        log,
        bpf,
    ) = await asyncio.gather(
        guarded(probes, "netfilter", probe_netfilter(ns), ([], None), timeout=NODE_PROBE_TIMEOUT),
        guarded(probes, "links", probe_links(ns), [], timeout=NODE_PROBE_TIMEOUT),
        guarded(probes, "routes", probe_routes(ns), [], timeout=NODE_PROBE_TIMEOUT),
        guarded(probes, "rules", probe_rules(ns), [], timeout=NODE_PROBE_TIMEOUT),
        guarded(probes, "host", lambda: read_host(opts), HostInfo(), timeout=NODE_PROBE_TIMEOUT),
        guarded(probes, "agent", probe_agent(opts), AgentState(), timeout=AGENT_TIMEOUT + 1.0),
        guarded(probes, "rp_filter", lambda: read_rp_filter(ns), {}, timeout=NODE_PROBE_TIMEOUT),
        guarded(probes, "agent_log", lambda: read_agent_log(opts.host_root), ([], None), timeout=5),
        guarded(
            probes,
            "bpf",
            probe_bpf(ns, opts.host_path("/")),
            BpfState(),
            timeout=NODE_PROBE_TIMEOUT,
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


async def _recorded(path: str, probes: dict[str, ProbeStatus]) -> NodeState:
    from ..training.recorded import load_node

    node = await guarded(probes, "recorded", lambda: load_node(path), None)
    if node is None:  # the error is in probes["recorded"]; the node looks empty
        return NodeState()
    for name in ("netfilter", "links", "routes", "rules", "host", "agent"):
        probes[name] = ProbeStatus(True)
    return node
