"""Cilium panel: the agent pod, the agent's own API (node-local, works without
the apiserver), the DaemonSet, the operator and the pool configuration."""

from __future__ import annotations

from rich.text import Text

from ..model import ClusterState, NodeState
from .table_panel import Column, Row, TablePanel

OK, WARN, BAD, DIM = "green", "yellow", "red", "dim"
_API_STYLE = {"Ok": OK, "Warning": WARN, "Failure": BAD, "Disabled": DIM}


def _state(text: str, style: str) -> Text:
    return Text(text, style=style)


def cilium_rows(node: NodeState | None, cluster: ClusterState | None) -> list[tuple[str, Row]]:
    rows: list[tuple[str, Row]] = []
    known = cluster if cluster is not None and cluster.reachable else None
    unknown = _state("unknown", DIM)
    why = "apiserver unreachable" if cluster is not None else "waiting for the apiserver"

    # Agent pod (cluster view).
    if known is None:
        rows.append(("pod", ("agent pod", unknown, why)))
    elif known.cilium_pod is None:
        rows.append(("pod", ("agent pod", _state("missing", BAD), "no cilium pod on this node")))
    else:
        pod = known.cilium_pod
        if pod.ready:
            state = _state("Ready", OK)
        else:
            state = _state(pod.reason or pod.phase or "NotReady", BAD)
        detail = f"{pod.name} restarts={pod.restarts}"
        rows.append(("pod", ("agent pod", state, detail)))

    # Agent API (node-local).
    agent = node.agent if node is not None else None
    if agent is None:
        rows.append(("api", ("agent API", unknown, "probing…")))
    elif agent.reachable and agent.health is not None:
        h = agent.health
        state = _state(h.state or "?", _API_STYLE.get(h.state or "", WARN))
        detail = " ".join(x for x in (f"v{h.version}" if h.version else "", h.msg or "") if x)
        rows.append(("api", ("agent API", state, detail)))
    else:
        pid = (
            f"pid {agent.pid} {'alive' if agent.pid_alive else 'dead'}"
            if agent.pid
            else "no pidfile"
        )
        err = agent.error or ("no socket" if not agent.socket_present else "no answer")
        rows.append(("api", ("agent API", _state("down", BAD), f"{err}; {pid}")))

    # DaemonSet, operator, config (cluster view).
    if known is not None:
        ds = known.cilium_daemonset
        if ds is None:
            rows.append(("ds", ("daemonset", _state("missing", BAD), "no cilium DaemonSet")))
        else:
            style = OK if ds.ready >= ds.desired and ds.desired else WARN
            rows.append(
                ("ds", ("daemonset", _state(f"{ds.ready}/{ds.desired}", style), ds.image or ""))
            )
        op = known.operator
        if op is None:
            rows.append(("op", ("operator", _state("missing", WARN), "no cilium-operator")))
        else:
            style = OK if op.available > 0 else BAD
            rows.append(
                ("op", ("operator", _state(f"{op.available}/{op.desired}", style), "available"))
            )
        cfg = known.config
        if cfg is not None:
            pool = " ".join(cfg.pool) or "?"
            mask = f" /{cfg.mask_size} per node" if cfg.mask_size else ""
            rows.append(("pool", ("pool", Text(cfg.ipam or "?"), f"{pool}{mask}")))
            mode = cfg.routing_mode or "?"
            if cfg.tunnel_protocol and mode == "tunnel":
                mode += f"/{cfg.tunnel_protocol}"
            rows.append(
                (
                    "mode",
                    (
                        "routing",
                        Text(mode),
                        f"kube-proxy-replacement={cfg.kube_proxy_replacement or '?'}",
                    ),
                )
            )
    return rows


class CiliumPanel(TablePanel):
    TITLE = "Cilium"
    COLUMNS = (
        Column("Component", "what"),
        Column("State", "state", shrink=10),
        Column("Detail", "detail", shrink=12),
    )

    def show(self, node: NodeState | None, cluster: ClusterState | None) -> None:
        self.set_rows(cilium_rows(node, cluster))
