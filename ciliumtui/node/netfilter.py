"""Netfilter: `iptables-save` of both backends (legacy, nft), IPv4 and IPv6.

Cilium's iptables-wrapper puts its rules in whichever backend kube-proxy/kubelet
use, and a node can hold rules in both; so all four dumps are read and parsed,
and which backend holds the KUBE-* chains is worked out the way the wrapper does.
A missing binary is data (available=False), not an error.
"""

from __future__ import annotations

import asyncio
import codecs
import shutil
import subprocess
from collections.abc import Callable
from typing import Literal

from ..errors import CiliumtuiError
from ..model import NetfilterDump, NfChain, NfRule, NfTable
from ..netns import ns_argv
from ..ownership import is_cilium_chain, is_cilium_rule

SAVE_TIMEOUT = 15.0  # 20,000 rules take ~0.2 s; this only catches a wedged binary

Backend = Literal["legacy", "nft"]
SAVE_BINARIES: dict[tuple[Backend, int], str] = {
    ("legacy", 4): "iptables-legacy-save",
    ("nft", 4): "iptables-nft-save",
    ("legacy", 6): "ip6tables-legacy-save",
    ("nft", 6): "ip6tables-nft-save",
}

# The tables iptables (either backend) knows; iptables-nft makes nft tables of these
# names in the ip/ip6 families (a native `table inet x` is not iptables').
IPTABLES_TABLES = frozenset({"filter", "nat", "mangle", "raw", "security"})
_NFPROTO = {4: 2, 6: 10}  # NFPROTO_IPV4, NFPROTO_IPV6


def save_tool(backend: str, family: int) -> str:
    return f"{'iptables' if family == 4 else 'ip6tables'}-{backend}-save"


def restore_tool(backend: str, family: int) -> str:
    return f"{'iptables' if family == 4 else 'ip6tables'}-{backend}-restore"


def _tables_here(backend: str, family: int) -> list[str]:
    """Tables of one backend in the calling thread's network namespace (blocking)."""
    if backend == "legacy":
        # x_tables lists the legacy tables instantiated in this namespace; no file:
        # the ip(6)_tables module is not loaded, so there are none.
        name = "ip_tables_names" if family == 4 else "ip6_tables_names"
        try:
            with open(f"/proc/thread-self/net/{name}") as fh:
                return sorted({x.strip() for x in fh if x.strip()})
        except FileNotFoundError:
            return []
    from pyroute2.nftables.main import NFTables

    nft = NFTables()
    try:
        return sorted(
            {
                str(t.get_attr("NFTA_TABLE_NAME"))
                for t in nft.get_tables()
                if t["nfgen_family"] == _NFPROTO[family]
                and t.get_attr("NFTA_TABLE_NAME") in IPTABLES_TABLES
            }
        )
    finally:
        nft.close()


def _legacy_tables(family: int, netns: str | None) -> list[str]:
    from ..netns import in_netns

    try:
        return in_netns(netns, lambda: _tables_here("legacy", family))
    except Exception:  # cannot tell: let iptables-legacy-save answer
        return ["?"]


def cannot_check(
    backend: str, family: int, netns: str | None, tool: str | None = None
) -> str | None:
    """Why a backend whose save tool is missing cannot be checked; None when it has no tables.

    Cilium's agent brings its own iptables, so a host often lacks one backend's
    tools while that backend holds Cilium's rules: that is never "nothing there".
    The tables are read without the tool (/proc for legacy, nftables netlink for
    nft), so a host that simply does not use a backend is not an error. Blocking.
    """
    from ..netns import in_netns

    tool = tool or save_tool(backend, family)
    try:
        tables = in_netns(netns, lambda: _tables_here(backend, family))
    except Exception as exc:  # netlink refused, no such namespace: cannot tell
        return (
            f"cannot check {backend} IPv{family}: {tool} is not installed and its tables "
            f"could not be listed ({exc})"
        )
    if not tables:
        return None
    return (
        f"cannot check {backend} IPv{family}: {tool} is not installed, but this node has "
        f"{backend} IPv{family} tables ({', '.join(tables)}); install it (package iptables) "
        "and run again"
    )


# Chains the kube-proxy/kubelet canaries (and the iptables-wrapper) look for.
_KUBE_HINTS = ("KUBE-IPTABLES-HINT", "KUBE-PROXY-CANARY")


def _comment(line: str) -> tuple[str | None, int, int]:
    """(comment, start, end) of `--comment X` in a rule line; (None, -1, -1) if none.

    Plain string scanning: a regex here cost more than the rest of the parse.
    """
    i = line.find("--comment ")
    if i < 0:
        return None, -1, -1
    j = i + 10
    if line.startswith('"', j):
        k = line.find('"', j + 1)
        while k > 0 and line[k - 1] == "\\":  # an escaped quote inside the comment
            k = line.find('"', k + 1)
        if k < 0:
            return line[j + 1 :], i, len(line)
        return line[j + 1 : k].replace('\\"', '"'), i, k + 1
    k = line.find(" ", j)
    k = len(line) if k < 0 else k
    return line[j:k], i, k


def _target(line: str) -> str | None:
    # iptables-save prints the target last (only its own options follow), so the
    # last " -j "/" -g " is the real one even if a comment before it contains one.
    i = max(line.rfind(" -j "), line.rfind(" -g "))
    if i < 0:
        return None
    end = line.find(" ", i + 4)
    return line[i + 4 :] if end < 0 else line[i + 4 : end]


def parse_rule(chain: str, line: str, _owned: dict[str, bool] | None = None) -> NfRule:
    """One `-A CHAIN ...` line -> NfRule (target, comment, Cilium ownership)."""
    comment, start, end = _comment(line)
    if comment is not None and " -j " not in line[end:] and " -g " not in line[end:]:
        # The target can only hide inside the comment if nothing follows it: look outside it.
        target = _target(line[:start] + line[end:])
    else:
        target = _target(line)
    if _owned is None:
        cilium = is_cilium_rule(chain, target)
    else:
        # Memoised ownership per chain/target name: 20,000 rules use a few hundred names.
        known = _owned.get(chain)
        if known is None:
            known = _owned[chain] = is_cilium_chain(chain)
        if not known and target is not None:
            known = _owned.get(target)
            if known is None:
                known = _owned[target] = is_cilium_chain(target)
        cilium = known
    return NfRule(chain=chain, spec=line, target=target, comment=comment, cilium=cilium)


class SaveParser:
    """Incremental `iptables-save` parser: feed() text as it arrives, close() for the dump.

    Parsing while the save binary is still printing keeps a 20,000-rule dump's
    parse off the critical path. Runs of rule lines go to scan_rules (the C scan,
    _savescan.c, when the install built it; else _scan_rules); the few lines it
    leaves (tables, chains, COMMIT, odd quoting or blanks) are handled here.
    """

    def __init__(self, backend: Backend, family: int) -> None:
        self.dump = NetfilterDump(backend=backend, family=family)
        self._table: NfTable | None = None
        self._owned: dict[str, bool] = {}
        self._tail = ""

    def feed(self, text: str) -> None:
        if self._tail:
            text = self._tail + text
        cut = text.rfind("\n")
        if cut < 0:
            self._tail = text
            return
        self._tail = text[cut + 1 :]
        self._lines(text[:cut].split("\n"))

    def close(self) -> NetfilterDump:
        if self._tail:
            self._lines([self._tail])
            self._tail = ""
        return self.dump

    def _lines(self, lines: list[str]) -> None:
        table = self._table
        i, n = 0, len(lines)
        while i < n:
            if table is not None:  # the run of plain rule lines: the hot path
                i = scan_rules(lines, i, table.rules, NfRule, self._owned, is_cilium_chain)
                if i >= n:
                    break
            line = lines[i]
            i += 1
            if line[:1] == " " or line[-1:] in (" ", "\r"):
                line = line.strip()
            if not line or line[0] == "#":
                continue
            head = line[0]
            if head == "-":
                if table is not None and line.startswith(("-A ", "-I ")):
                    sp = line.find(" ", 3)
                    chain = line[3:sp] if sp > 0 else line[3:]
                    table.rules.append(parse_rule(chain, line, self._owned))
            elif head == ":":
                if table is None:
                    continue
                parts = line[1:].split()
                name = parts[0]
                policy = parts[1] if len(parts) > 1 and parts[1] != "-" else None
                table.chains.append(NfChain(name=name, policy=policy, cilium=is_cilium_chain(name)))
            elif head == "*":
                table = NfTable(name=line[1:])
                self.dump.tables.append(table)
            elif line == "COMMIT":
                table = None
        self._table = table


def _scan_rules(
    lines: list[str],
    start: int,
    rules: list[NfRule],
    rule: type[NfRule],
    owned: dict[str, bool],
    is_cilium: Callable[[str], bool],
) -> int:
    """Append an NfRule per plain `-A`/`-I` line from lines[start]; skip empty, `#`
    and other `-` lines; return the index of the first line left to SaveParser._lines
    (a table/chain/COMMIT line, blanks around it, a comment with an escaped or missing
    quote; _savescan.c also leaves a line with a character above U+00FF).

    The reference for ciliumtui/node/_savescan.c, which does the same in C (20,000
    rules: parse_save 51-57 ms with this scan, 14-17 ms with that one) and is used
    when it was built.
    """
    known = owned.get
    add = rules.append
    for i in range(start, len(lines)):
        line = lines[i]
        if not line:
            continue
        head = line[0]
        if head == " " or line[-1] in " \r":
            return i
        if head == "#":
            continue
        if head != "-":
            return i
        if len(line) < 3 or line[1] not in "AI" or line[2] != " ":
            continue
        sp = line.find(" ", 3)
        chain = line[3:sp] if sp > 0 else line[3:]
        # Bounded finds, never slices of the line: ~30% of the parse (20,000 rules).
        c = line.find("--comment ")
        if c < 0:
            comment = None
            t = line.rfind(" -j ")
            g = line.rfind(" -g ")
        else:
            j = c + 10
            if line.startswith('"', j):
                k = line.find('"', j + 1)
                if k < 0 or line[k - 1] == "\\":
                    return i  # an escaped or missing quote: _comment
                comment, end = line[j + 1 : k], k + 1
            else:
                end = line.find(" ", j)
                end = len(line) if end < 0 else end
                comment = line[j:end]
            # The target follows the comment match; if nothing does, it came before
            # it: never read a target out of the comment text.
            t = line.rfind(" -j ", end)
            g = line.rfind(" -g ", end)
            if t < 0 and g < 0:
                t = line.rfind(" -j ", 0, c)
                g = line.rfind(" -g ", 0, c)
        if g > t:
            t = g
        if t < 0:
            target = None
        else:
            e = line.find(" ", t + 4)
            target = line[t + 4 :] if e < 0 else line[t + 4 : e]
        cilium = known(chain)
        if cilium is None:
            cilium = owned[chain] = is_cilium(chain)
        if not cilium and target is not None:
            cilium = known(target)
            if cilium is None:
                cilium = owned[target] = is_cilium(target)
        add(rule(chain, line, target, comment, cilium))
    return len(lines)


try:
    from ._savescan import scan_rules
except ImportError:  # not compiled (no C compiler at install): the same, in Python
    scan_rules = _scan_rules


def parse_save(text: str, backend: Backend, family: int) -> NetfilterDump:
    """Parse `iptables-save` output into tables, chains and rules."""
    parser = SaveParser(backend, family)
    parser.feed(text)
    return parser.close()


async def _stream_prefetched(proc: subprocess.Popen[bytes], parser: SaveParser) -> tuple[int, str]:
    """Read a save the CLI started early (ciliumtui.prefetch), parsing as it prints."""
    assert proc.stdout is not None and proc.stderr is not None
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), proc.stdout
    )
    err_task = asyncio.ensure_future(asyncio.to_thread(proc.stderr.read))
    try:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := await reader.read(1 << 18):
            parser.feed(decoder.decode(chunk))
        parser.feed(decoder.decode(b"", final=True))
        err = await err_task
        return await asyncio.to_thread(proc.wait), err.decode(errors="replace")
    finally:
        transport.close()
        if proc.poll() is None:  # cancelled (timeout): never leave the save running
            proc.kill()
            await asyncio.to_thread(proc.wait)


async def _stream_save(argv: list[str], parser: SaveParser) -> tuple[int, str]:
    from ..prefetch import take

    early = take(argv)
    if early is not None:
        return await _stream_prefetched(early, parser)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=1 << 20,  # fewer, larger reads of a multi-megabyte dump
    )
    assert proc.stdout is not None and proc.stderr is not None
    err_task = asyncio.ensure_future(proc.stderr.read())
    try:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := await proc.stdout.read(1 << 18):
            parser.feed(decoder.decode(chunk))
        parser.feed(decoder.decode(b"", final=True))
        err = await err_task
        return await proc.wait(), err.decode(errors="replace")
    finally:
        if proc.returncode is None:  # cancelled (timeout): never leave the save running
            proc.kill()
            err_task.cancel()
            await proc.wait()


async def save(backend: Backend, family: int, netns: str | None) -> NetfilterDump:
    """Run one `*-save` binary (in netns) and parse it as it prints; never raises."""
    binary = SAVE_BINARIES[(backend, family)]
    # Looked up here, not inferred from `ip netns exec`'s error (which also says
    # "No such file" when the namespace is missing).
    if shutil.which(binary) is None:
        why = await asyncio.to_thread(cannot_check, backend, family, netns, binary)
        return NetfilterDump(
            backend, family, available=False, error=why or f"{binary}: command not found"
        )
    if backend == "legacy" and not await asyncio.to_thread(_legacy_tables, family, netns):
        # What iptables-legacy-save would print: nothing. Reading the namespace's table
        # list costs ~0.3 ms; `ip netns exec … iptables-legacy-save` ~10 ms per family.
        return NetfilterDump(backend, family)
    parser = SaveParser(backend, family)
    try:
        rc, err = await asyncio.wait_for(
            _stream_save(ns_argv(netns, [binary]), parser), SAVE_TIMEOUT
        )
    except asyncio.TimeoutError:
        return NetfilterDump(backend, family, error=f"{binary}: timed out after {SAVE_TIMEOUT:g}s")
    except OSError as exc:
        return NetfilterDump(backend, family, error=f"{binary}: {exc.strerror or exc}")
    if rc != 0:
        why = err.strip().splitlines()[0] if err.strip() else f"exit {rc}"
        return NetfilterDump(backend, family, error=f"{binary}: {why}")
    return parser.close()


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

    Raises (so the probe is reported as failed) only when no dump could be read at all.
    """
    dumps = list(
        await asyncio.gather(*(save(backend, family, netns) for (backend, family) in SAVE_BINARIES))
    )
    if not any(d.available and d.error is None for d in dumps):
        errors = [d.error for d in dumps if d.error]
        raise CiliumtuiError(errors[0] if errors else "no iptables-save binary found")
    return dumps, kube_backend(dumps)
