"""Host prerequisites: kernel version and the BPF filesystem."""

from __future__ import annotations

from ..model import Finding, Snapshot
from .catalogue import finding
from .facts import version_tuple


def kernel_minimum(cilium_version: str | None) -> tuple[int, int]:
    """5.4 for Cilium < 1.18; 5.10 for 1.18+ — and when the version is unknown (be strict)."""
    v = version_tuple(cilium_version)
    return (5, 4) if v is not None and v < (1, 18) else (5, 10)


def kernel_too_old(snap: Snapshot) -> list[Finding]:
    if snap.node is None or not snap.node.host.kernel:
        return []
    release = snap.node.host.kernel
    have = version_tuple(release)
    if have is None:
        return []
    # RHEL 8 backports the BPF features onto 4.18 (Cilium's docs accept 4.18 on RHEL 8.6+).
    if ".el8" in release and have >= (4, 18):
        return []
    need = kernel_minimum(snap.cilium_version)
    if have >= need:
        return []
    version = snap.cilium_version
    why = f"Cilium {version}" if version else "Cilium 1.18+ (version unknown)"
    return [
        finding(
            "kernel-too-old",
            [f"kernel {release} < {need[0]}.{need[1]} required by {why}"],
        )
    ]


def bpffs_not_mounted(snap: Snapshot) -> list[Finding]:
    host = snap.node.host if snap.node else None
    # The kernel release and the mounts are read from the same /proc; no kernel
    # means the host probe did not run, so the mount table is unknown.
    if host is None or not host.kernel or host.bpffs_mounted:
        return []
    return [
        finding(
            "bpffs-not-mounted",
            [
                "no 'bpf' filesystem mounted at /sys/fs/bpf (/proc/mounts)",
                "persist it with the fstab line: bpffs /sys/fs/bpf bpf defaults 0 0",
            ],
        )
    ]


CHECKS = [kernel_too_old, bpffs_not_mounted]
