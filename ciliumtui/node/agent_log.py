"""The Cilium agent's last words, read from the kubelet's pod logs on disk.

`kubectl logs --previous` needs the apiserver AND the kubelet's port 10250 to be
reachable, which is exactly what fails on a broken node. The kubelet keeps the
logs under /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log in
the CRI format `<RFC3339Nano> <stdout|stderr> <P|F> <message>` (P: a partial
line continued by the next entry of that stream). Only the `cilium-agent`
container counts: not the init containers beside it (mount-cgroup,
apply-sysctl-overwrites, clean-cilium-state, install-cni-binaries ...), and not
cilium-operator or cilium-envoy pods, which have no `cilium-agent` container.
"""

from __future__ import annotations

import json
import os
import re

from .hostfs import resolve

POD_LOG_DIR = "/var/log/pods"
AGENT_CONTAINER = "cilium-agent"
# The tail read of one log. A crash-looping agent's fatal line is in its last few
# KiB; 256 KiB reads in ~0.2 ms and bounds a 200 MB log to the same cost.
TAIL_BYTES = 256 << 10
MAX_LINES = 5  # the last few error lines: the fatal one and what led to it
MAX_LINE_CHARS = 400

_CRI = re.compile(r"^(\S+) (stdout|stderr) ([PF]) ?(.*)$")
_LEVEL = re.compile(
    r"""(?:\blevel=|"level"\s*:\s*)"?(fatal|panic|error|crit|critical)\b""", re.IGNORECASE
)
_KLOG = re.compile(r"^[FE]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\] ")
_GO_CRASH = ("panic: ", "fatal error: ")  # the Go runtime's own last words
_RESTART_LOG = re.compile(r"^(\d+)\.log$")


def parse_cri(text: str) -> list[str]:
    """The messages of CRI log text, partial (P) entries joined per stream.

    A line in no known format is kept as it is; docker's json-file lines
    (`{"log": ..., "stream": ...}`) are read too (dockershim-era kubelets).
    """
    out: list[str] = []
    partial: dict[str, str] = {}
    for line in text.splitlines():
        m = _CRI.match(line)
        if m:
            _, stream, tag, msg = m.groups()
            if tag == "P":
                partial[stream] = partial.get(stream, "") + msg
                continue
            out.append(partial.pop(stream, "") + msg)
            continue
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                doc = None
            if isinstance(doc, dict) and isinstance(doc.get("log"), str):
                out.append(doc["log"].rstrip("\n"))
                continue
        if line.strip():
            out.append(line)
    out += [msg for msg in partial.values() if msg]  # a crash mid-line: still its last words
    return out


def is_error_message(msg: str) -> bool:
    """logrus `level=fatal|error|panic`, slog `level=ERROR`, JSON `"level":"error"`,
    klog `F0102 …`/`E0102 …`, and Go's `panic: …`/`fatal error: …`."""
    return bool(_LEVEL.search(msg) or _KLOG.match(msg)) or msg.startswith(_GO_CRASH)


def last_error_lines(messages: list[str], n: int = MAX_LINES) -> list[str]:
    found = [m for m in messages if is_error_message(m)][-n:]
    return [m if len(m) <= MAX_LINE_CHARS else m[: MAX_LINE_CHARS - 1] + "…" for m in found]


def read_tail(path: os.PathLike[str] | str, limit: int = TAIL_BYTES) -> str:
    """The last `limit` bytes of a file, starting at a line boundary."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - limit)
        f.seek(start)
        data = f.read(limit)
    if start > 0:
        cut = data.find(b"\n")
        data = data[cut + 1 :] if cut != -1 else b""
    return data.decode(errors="replace")


def _restart_logs(host_root: str, container_dir: str) -> list[tuple[int, str, float]]:
    """(restart number, node path, mtime) of each <n>.log, newest restart first."""
    found = []
    try:
        entries = list(os.scandir(resolve(host_root, container_dir)))
    except OSError:
        return []
    for e in entries:
        m = _RESTART_LOG.match(e.name)
        if not m:
            continue  # rotated "0.log.20240101-…" and .gz files are older parts
        try:
            mtime = e.stat().st_mtime
        except OSError:
            continue
        found.append((int(m.group(1)), f"{container_dir}/{e.name}", mtime))
    return sorted(found, reverse=True)


def agent_container_dir(host_root: str, pod: str | None = None) -> str | None:
    """Node path of the cilium-agent container's log dir: of `pod` when given, else of
    the cilium agent pod whose log was written last (the apiserver may be down)."""
    try:
        pods = list(os.scandir(resolve(host_root, POD_LOG_DIR)))
    except OSError:
        return None
    best: tuple[float, str] | None = None
    for entry in pods:
        parts = entry.name.split("_")
        if len(parts) < 3 or (pod is not None and parts[1] != pod):
            continue
        container_dir = f"{POD_LOG_DIR}/{entry.name}/{AGENT_CONTAINER}"
        logs = _restart_logs(host_root, container_dir)
        if not logs:
            continue
        newest = max(mtime for _, _, mtime in logs)
        if best is None or newest > best[0]:
            best = (newest, container_dir)
    return best[1] if best else None


def read_agent_log(host_root: str, pod: str | None = None) -> tuple[list[str], str | None]:
    """(last fatal/error lines, node path of the log they came from).

    The newest <restart>.log first; when it holds no error (the agent just
    restarted and is still starting), the one before it. With no error in either,
    the lines are empty and the path is the newest log's.
    """
    container_dir = agent_container_dir(host_root, pod)
    if container_dir is None:
        return [], None
    logs = _restart_logs(host_root, container_dir)
    for _, path, _ in logs[:2]:
        try:
            text = read_tail(resolve(host_root, path))
        except OSError:
            continue
        lines = last_error_lines(parse_cri(text))
        if lines:
            return lines, path
    return [], logs[0][1] if logs else None
