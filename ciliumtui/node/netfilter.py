"""Netfilter: `iptables-save` of both backends (legacy, nft), IPv4 and IPv6.

Cilium's iptables-wrapper puts its rules in whichever backend kube-proxy/kubelet
use, and a node can hold rules in both; so all four dumps are read and parsed,
and which backend holds the KUBE-* chains is worked out the way the wrapper does.
A missing binary is data (available=False), not an error.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from typing import Literal

from ..errors import CiliumtuiError
from ..model import NetfilterDump, NfChain, NfRule, NfTable
from ..netns import run
from ..ownership import is_cilium_chain, is_cilium_rule

SAVE_TIMEOUT = 15.0  # 20,000 rules take ~0.2 s; this only catches a wedged binary

Backend = Literal["legacy", "nft"]
SAVE_BINARIES: dict[tuple[Backend, int], str] = {
    ("legacy", 4): "iptables-legacy-save",
    ("nft", 4): "iptables-nft-save",
    ("legacy", 6): "ip6tables-legacy-save",
    ("nft", 6): "ip6tables-nft-save",
}

_COMMENT_RE = re.compile(r'-m comment --comment (?:"((?:[^"\\]|\\.)*)"|(\S+))')
_TARGET_RE = re.compile(r" -[jg] (\S+)")
# Chains the kube-proxy/kubelet canaries (and the iptables-wrapper) look for.
_KUBE_HINTS = ("KUBE-IPTABLES-HINT", "KUBE-PROXY-CANARY")


def parse_rule(chain: str, line: str) -> NfRule:
    """One `-A CHAIN ...` line -> NfRule (target, comment, Cilium ownership)."""
    comment = None
    rest = line
    if "--comment" in line:
        m = _COMMENT_RE.search(line)
        if m:
            comment = m.group(1) if m.group(1) is not None else m.group(2)
            comment = comment.replace('\\"', '"')
            # The comment is free text: drop it before looking for " -j X" inside it.
            rest = line[: m.start()] + line[m.end() :]
    m = _TARGET_RE.search(rest)
    target = m.group(1) if m else None
    return NfRule(
        chain=chain,
        spec=line,
        target=target,
        comment=comment,
        cilium=is_cilium_rule(chain, target),
    )


def parse_save(text: str, backend: Backend, family: int) -> NetfilterDump:
    """Parse `iptables-save` output into tables, chains and rules."""
    dump = NetfilterDump(backend=backend, family=family)
    table: NfTable | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        head = line[0]
        if head == "-":
            if table is None or not line.startswith(("-A ", "-I ")):
                continue
            chain = line.split(" ", 2)[1]
            table.rules.append(parse_rule(chain, line))
        elif head == ":":
            if table is None:
                continue
            parts = line[1:].split()
            name = parts[0]
            policy = parts[1] if len(parts) > 1 and parts[1] != "-" else None
            table.chains.append(NfChain(name=name, policy=policy, cilium=is_cilium_chain(name)))
        elif head == "*":
            table = NfTable(name=line[1:])
            dump.tables.append(table)
        elif line == "COMMIT":
            table = None
    return dump


async def save(backend: Backend, family: int, netns: str | None) -> NetfilterDump:
    """Run one `*-save` binary (in netns) and parse it; never raises."""
    binary = SAVE_BINARIES[(backend, family)]
    # Looked up here, not inferred from `ip netns exec`'s error (which also says
    # "No such file" when the namespace is missing).
    if shutil.which(binary) is None:
        return NetfilterDump(backend, family, available=False, error=f"{binary}: command not found")
    try:
        done = await run([binary], netns=netns, timeout=SAVE_TIMEOUT)
    except CiliumtuiError as exc:
        return NetfilterDump(backend, family, error=str(exc))
    if done.rc != 0:
        why = done.stderr.strip().splitlines()[0] if done.stderr.strip() else f"exit {done.rc}"
        return NetfilterDump(backend, family, error=f"{binary}: {why}")
    return parse_save(done.stdout, backend, family)


def _chain_names(dump: NetfilterDump, table: str | None = None) -> set[str]:
    return {c.name for t in dump.tables if table is None or t.name == table for c in t.chains}


def kube_backend(dumps: list[NetfilterDump]) -> str | None:
    """Where kube-proxy/kubelet keep their rules ("legacy"/"nft"), as iptables-wrapper decides.

    Hint/proxy canary in mangle (nft first, then legacy), then the kubelet canary,
    then whichever backend holds more KUBE-* chains; None when there are none.
    """
    by_backend: dict[str, list[NetfilterDump]] = {"nft": [], "legacy": []}
    for d in sorted(dumps, key=lambda d: d.family):  # IPv4 decides before IPv6
        by_backend[d.backend].append(d)

    def has(backend: str, names: tuple[str, ...], table: str | None) -> bool:
        return any(_chain_names(d, table) & set(names) for d in by_backend[backend])

    for backend in ("nft", "legacy"):
        if has(backend, _KUBE_HINTS, "mangle"):
            return backend
    for backend in ("nft", "legacy"):
        if has(backend, ("KUBE-KUBELET-CANARY",), None):
            return backend
    counts = {
        b: sum(1 for d in ds for n in _chain_names(d) if n.startswith("KUBE-"))
        for b, ds in by_backend.items()
    }
    best = max(counts, key=lambda b: counts[b])
    return best if counts[best] else None


async def probe_netfilter(netns: str | None) -> tuple[list[NetfilterDump], str | None]:
    """All four dumps, concurrently, plus the kube backend.

    Raises (so the probe is recorded as failed) only when no dump could be read at all.
    """
    dumps = list(
        await asyncio.gather(*(save(backend, family, netns) for (backend, family) in SAVE_BINARIES))
    )
    if not any(d.available and d.error is None for d in dumps):
        errors = [d.error for d in dumps if d.error]
        raise CiliumtuiError(errors[0] if errors else "no iptables-save binary found")
    return dumps, kube_backend(dumps)
