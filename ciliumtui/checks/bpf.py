"""Cilium's BPF footprint: programs left attached (and pins left behind) while no
agent runs (`stale-cilium-bpf`), and duplicate attachments beside a live agent.

A node whose agent died keeps forwarding through Cilium's tc/tcx/XDP programs
(cilium/cilium#30609: the node goes dark as soon as the agent stops, fixed only
by `tc filter del`). After a hard reboot the kernel state is gone; after a k3s
stop or a half-done cleanup it is not. With an agent running the programs are
its own — except a second program of the same name on the same hook, which an
agent restart can leave behind (cilium/cilium#44194: stale tcx links, pod and
ClusterIP traffic lost); that shows as a warning line in the evidence of the
datapath symptoms it causes (see `duplicate_lines`).
"""

from __future__ import annotations

from ..model import BpfAttachment, BpfPin, Finding, Snapshot
from ..ownership import BPFFS_ROOTS, is_cilium_bpf_pin, is_cilium_bpf_program
from .catalogue import finding
from .facts import agent_last_words, agent_verdict, cluster_ok, node_path

_SHOW = 10  # attachments listed before "… and N more"
_SHOW_PINS = 5


def cilium_attachments(snap: Snapshot) -> list[BpfAttachment]:
    if snap.node is None:
        return []
    return [
        a for a in snap.node.bpf.attachments if a.cilium or is_cilium_bpf_program(a.program.name)
    ]


def cilium_pins(snap: Snapshot) -> list[BpfPin]:
    if snap.node is None:
        return []
    return [p for p in snap.node.bpf.pins if p.cilium or is_cilium_bpf_pin(node_path(snap, p.path))]


def attachment_line(snap: Snapshot, a: BpfAttachment) -> str:
    """'tc-ingress eth0: cil_from_netdev (prog 42, pref 1 handle 0x1)'."""
    extra = [f"prog {a.program.id}"]
    if a.detail:
        extra.append(a.detail)
    if a.link_pin:
        extra.append(f"held by pinned link {node_path(snap, a.link_pin)}")
    target = node_path(snap, a.target)
    return f"{a.hook} {target}: {a.program.name} ({', '.join(extra)})"


def _attachment_lines(snap: Snapshot, atts: list[BpfAttachment]) -> list[str]:
    """One line per attachment on the node's devices and cgroups; endpoint (lxc*)
    devices grouped per program, since a node can have hundreds."""
    lines = [attachment_line(snap, a) for a in atts if not a.target.startswith("lxc")]
    shown = lines[:_SHOW] + (
        [f"... and {len(lines) - _SHOW} more Cilium programs attached"]
        if len(lines) > _SHOW
        else []
    )
    lxc: dict[tuple[str, str], list[str]] = {}
    for a in atts:
        if a.target.startswith("lxc"):
            lxc.setdefault((a.hook, a.program.name), []).append(a.target)
    for (hook, name), devs in lxc.items():
        names = ", ".join(devs[:3]) + (f" and {len(devs) - 3} more" if len(devs) > 3 else "")
        shown.append(
            f"{hook} {name} on {len(devs)} lxc device{'s' if len(devs) != 1 else ''} ({names})"
        )
    return shown


def _pin_group(path: str) -> str:
    for root in BPFFS_ROOTS:
        if path.startswith(root + "/cilium"):
            return root + "/cilium"
        if path.startswith(root + "/tc/globals/"):
            return root + "/tc/globals"
    return path.rsplit("/", 1)[0]


def _pin_lines(snap: Snapshot, pins: list[BpfPin]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for p in pins:
        path = node_path(snap, p.path)
        if p.kind == "dir":
            continue  # the directories are counted through what they hold
        groups.setdefault(_pin_group(path), []).append(path)
    out = []
    for where, paths in groups.items():
        names = [p[len(where) + 1 :] for p in paths]
        shown = ", ".join(names[:_SHOW_PINS]) + (
            f" and {len(names) - _SHOW_PINS} more" if len(names) > _SHOW_PINS else ""
        )
        why = (
            " (bpf_links among them hold tcx/XDP programs: removing a pin detaches its program)"
            if where.endswith("/cilium")
            else ""
        )
        out.append(
            f"{len(names)} Cilium pin{'s' if len(names) != 1 else ''} under {where}{why}: {shown}"
        )
    if not out and pins:  # only directories: still Cilium's bpffs tree
        out.append(
            f"Cilium's bpffs directories: {', '.join(node_path(snap, p.path) for p in pins[:3])}"
        )
    return out


def stale_cilium_bpf(snap: Snapshot) -> list[Finding]:
    verdict = agent_verdict(snap)
    if verdict is None or verdict.running:
        return []
    atts, pins = cilium_attachments(snap), cilium_pins(snap)
    if not atts and not pins:
        return []
    ev = _attachment_lines(snap, atts)
    ev += _pin_lines(snap, pins)
    assert snap.node is not None
    ev += [f"not read: {e}" for e in snap.node.bpf.errors]
    ev += verdict.evidence
    if cluster_ok(snap) is None:
        ev += agent_last_words(snap)  # cilium-agent-not-ready cannot carry them now
    return [finding("stale-cilium-bpf", ev)]


def duplicate_lines(snap: Snapshot) -> list[str]:
    """While an agent runs: a hook carrying two Cilium programs of one name (the older
    one is stale, cilium#44194). One warning line per hook; empty when none."""
    verdict = agent_verdict(snap)
    if verdict is None or not verdict.running:
        return []
    by_hook: dict[tuple[str, str, str], list[int]] = {}
    for a in cilium_attachments(snap):
        ids = by_hook.setdefault((a.hook, a.target, a.program.name), [])
        if a.program.id not in ids:
            ids.append(a.program.id)
    out = []
    for (hook, target, name), ids in by_hook.items():
        if len(ids) > 1:
            ids = sorted(ids)
            out.append(
                f"warning: {hook} {node_path(snap, target)} carries {len(ids)} Cilium programs "
                f"named {name} (prog {', '.join(map(str, ids))}): all but prog {ids[-1]} are "
                "stale, left by an earlier agent (cilium#44194) — delete this node's cilium "
                "pod so its agent reattaches, or reboot the node"
            )
    return out


CHECKS = [stale_cilium_bpf]
