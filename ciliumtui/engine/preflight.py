"""Before a run's FIRST change: can every step get what it needs? Else refuse (exit 3).

What a step needs is declared on its action (`Action.requires`, `needs_root`,
`host_files_only`); this module only checks it: root, the tools (`ip`, each
selected iptables backend's save and restore), and a live apiserver (a bounded
liveness check through ciliumtui.cluster, once per run). Without it, `run cleanup
--yes` with the apiserver down deleted links, rules and ip rules and then failed at
the pod restart, leaving the node half cleaned and the agent not restarted.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CiliumtuiError
from ..options import Options
from ..probe import one_line
from .actions import REGISTRY
from .actions.base import with_defaults
from .schema import Playbook, Step

IPTABLES_BACKENDS = ("legacy", "nft")
IPTABLES_FAMILIES = (4, 6)


@dataclass
class Kube:
    """What the run knows of its kubeconfig: the context to show, the server to check,
    or why the kubeconfig could not be read (one located line)."""

    context: str | None = None
    server: str | None = None
    error: str | None = None


def kube_of(opts: Options) -> Kube:
    """The cluster's own discovery (ciliumtui.cluster.client.kube_context); never raises."""
    from ..cluster.client import kube_context

    try:
        context, server = kube_context(opts)
    except CiliumtuiError as exc:
        return Kube(opts.context, None, str(exc))
    except (ValueError, OSError, RecursionError) as exc:  # ValueError: not UTF-8, too deep
        return Kube(opts.context, None, _kubeconfig_error(opts, exc))
    return Kube(opts.context or context, server)


def _kubeconfig_error(opts: Options, exc: BaseException) -> str:
    """A located line for a kubeconfig the cluster reader could not read."""
    from ..cluster.client import find_kubeconfig
    from ..safeyaml import read_text

    try:
        path = find_kubeconfig(opts).path
        if path:
            read_text(path, "kubeconfig")  # raises the located error (e.g. not UTF-8)
    except CiliumtuiError as located:
        return f"kubeconfig {located}"
    except Exception:  # the original error below says enough
        pass
    return f"kubeconfig: {type(exc).__name__}: {one_line(exc)}"


def root_refusal(pb: Playbook, opts: Options) -> str | None:
    """Why this playbook cannot change this node without root (None when it can)."""
    if opts.read_only or os.geteuid() == 0:
        return None
    if not opts.node_backend.needs_root:
        return None  # a backend that changes no kernel (DESIGN §3), e.g. a node kept in a file
    rooted = [s for s in _all(pb) if REGISTRY[s.action].needs_root]
    if Path(opts.host_root).resolve() != Path("/") and all(
        REGISTRY[s.action].host_files_only for s in rooted
    ):
        return None  # writing under a fake host root needs no root
    if rooted:
        return (
            f"playbook {pb.id} changes this node (steps {', '.join(s.id for s in rooted)}): "
            "run it as root, or look first with --dry-run"
        )
    return None


def _all(pb: Playbook) -> list[Step]:
    steps = pb.all_steps()
    return steps + [s.undo for s in steps if s.undo is not None]


def tools_needed(step: Step) -> list[tuple[str, str | None, int | None]]:
    """The executables a step's action runs, from its `requires` and params:
    (tool, iptables backend, family) — the backend and family for iptables tools."""
    cls = REGISTRY[step.action]
    out: list[tuple[str, str | None, int | None]] = []
    if "ip" in cls.requires:
        out.append(("ip", None, None))
    if "iptables" in cls.requires:
        params = with_defaults(
            cls, {k: v for k, v in step.params.items() if k not in step.templated}
        )
        backends = params.get("backends") or IPTABLES_BACKENDS
        families = params.get("families") or IPTABLES_FAMILIES
        for b in backends:
            for f in families:
                prefix = "ip6tables" if str(f) == "6" else "iptables"
                fam = 6 if str(f) == "6" else 4
                out += [(f"{prefix}-{b}-save", b, fam), (f"{prefix}-{b}-restore", b, fam)]
    return out


async def tool_missing(
    opts: Options, tool: str, backend: str | None, family: int | None
) -> str | None:
    """Why `tool` is missing where the node's commands run, when the step needs it
    (None: there, or not needed). An iptables backend's tools are needed only where
    that backend has tables: a host that simply does not use one backend is not
    refused (the node's netfilter rule), and the reason names the tables it has."""
    if opts.node_backend.has_tool(tool):
        return None
    if backend is None or family is None:
        return f"{tool} is not installed"
    from ..node.netfilter import cannot_check

    return await asyncio.to_thread(cannot_check, backend, family, opts.netns, tool)


async def apiserver_problem(kube: Kube, opts: Options) -> str | None:
    """None when something speaks HTTP at the apiserver within opts.timeout."""
    from ..cluster.client import check_alive

    if kube.error:
        return f"the apiserver cannot be reached: {kube.error}"
    if not kube.server:
        return "the apiserver cannot be reached: no kubeconfig and not in a cluster"
    try:
        await asyncio.wait_for(
            asyncio.to_thread(check_alive, kube.server, opts.timeout), opts.timeout + 1
        )
    except asyncio.TimeoutError:
        return f"the apiserver {kube.server} did not answer within {opts.timeout:g}s"
    except CiliumtuiError as exc:
        return f"the apiserver is not reachable: {exc}"
    except Exception as exc:  # one line, whatever the socket layer raised
        return f"the apiserver is not reachable: {type(exc).__name__}: {one_line(exc)}"
    return None


async def unmet(pb: Playbook, opts: Options, kube: Kube) -> dict[str, str]:
    """step id -> what it needs and lacks, for every step (and rollback) of the playbook."""
    problems: dict[str, str] = {}
    api: str | None = None
    api_checked = False
    for step in _all(pb):
        why = []
        reasons = {t: await tool_missing(opts, t, b, f) for t, b, f in tools_needed(step)}
        missing = [t for t, reason in reasons.items() if reason]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            why.append(f"{', '.join(missing)} {verb} not installed (not in PATH)")
            # what makes a backend's missing tool matter: the tables it has here
            why += [r for r in dict.fromkeys(reasons.values()) if r and r.startswith("cannot ")]
        if "apiserver" in REGISTRY[step.action].requires:
            if not api_checked:
                api, api_checked = await apiserver_problem(kube, opts), True
            if api:
                why.append(api)
        if why:
            problems[step.id] = "; ".join(why)
    return problems


def refusal(pb: Playbook, problems: dict[str, str]) -> str:
    sid, why = next(iter(problems.items()))
    more = f" (and {len(problems) - 1} more steps)" if len(problems) > 1 else ""
    return (
        f"playbook {pb.id} not started: step {sid} needs what is missing: {why}{more}. "
        "Nothing was changed (see the plan with --dry-run)"
    )
