"""Where to look: the options every subcommand shares (DESIGN §4)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CiliumtuiError
from .record import record

if TYPE_CHECKING:
    from .node.backend import NodeBackend


@record(frozen=True)
class Options:
    kubeconfig: str | None = None
    context: str | None = None
    node: str | None = None  # None: this host's node name
    netns: str | None = None  # None: the current network namespace
    host_root: str = "/"
    agent_socket: str | None = None  # None: /var/run/cilium/cilium.sock under host_root
    read_only: bool = False
    verbose: int = 0
    timeout: float = 3.0  # apiserver (connect, read) timeout, seconds
    public_name: str = "example.com"  # the public name DNS checks resolve
    # The one way in to the node (DESIGN §3), chosen once at start-up. None: the
    # kernel (`netns`, files under `host_root`); the CLI's `--node-file` and
    # training choose another (ciliumtui.training.recorded).
    backend: NodeBackend | None = None

    @property
    def node_backend(self) -> NodeBackend:
        """What probes read and node actions change."""
        if self.backend is not None:
            return self.backend
        from .node.backend import KernelBackend

        return KernelBackend(self)

    def host_path(self, path: str) -> Path:
        """`path` (absolute, as on the node) read under --host-root."""
        return Path(self.host_root) / path.lstrip("/")

    @property
    def agent_socket_path(self) -> Path:
        if self.agent_socket:
            return Path(self.agent_socket)
        return self.host_path("/var/run/cilium/cilium.sock")

    @property
    def node_name(self) -> str:
        """--node, else the hostname under host-root, else this host's name."""
        if self.node:
            return self.node
        try:
            name = self.host_path("/etc/hostname").read_text().strip()
        except OSError:
            name = ""
        return name or socket.gethostname()

    def validate(self) -> Options:
        """Fail early, in one line, on a host root or netns that does not exist."""
        root = Path(self.host_root)
        if not root.is_dir():
            raise CiliumtuiError(f"--host-root {self.host_root}: not a directory")
        if self.netns is not None:
            netns_path = Path("/run/netns") / self.netns
            if "/" in self.netns or not netns_path.exists():
                raise CiliumtuiError(
                    f"--netns {self.netns}: no such network namespace (see `ip netns list`)"
                )
            if os.geteuid() != 0:
                raise CiliumtuiError(f"--netns {self.netns}: entering a namespace needs root")
        # nan, inf, 1e308 or a negative number reach socket/asyncio timeouts as OverflowError
        # or as "did not answer within nans": say what is wrong with the flag instead.
        if not 0 < self.timeout <= 3600:
            raise CiliumtuiError(
                f"--timeout {self.timeout:g}: must be more than 0 and at most 3600 s"
            )
        return self
