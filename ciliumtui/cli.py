"""Command line (DESIGN §4). Parses arguments and hands off to ciliumtui.commands.*.

Every subcommand module exposes `main(args, opts) -> int` and is imported only
when used, so `ciliumtui --help` and the TUI's first frame stay fast.
Usage errors exit 3 (not argparse's 2, which would read as CRITICAL).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import CiliumtuiError

if TYPE_CHECKING:
    # Imported where used: Options pulls in the model (~30 ms), and a one-shot command
    # starts its slowest node read (ciliumtui.prefetch) before that.
    from .options import Options


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"ciliumtui: error: {message}", file=sys.stderr)
        sys.exit(3)


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("where to look")
    g.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, k3s)"
    )
    g.add_argument("--context", help="kubeconfig context")
    g.add_argument("--node", help="this node's Kubernetes name (default: the hostname)")
    g.add_argument("--netns", help="probe inside this network namespace (ip netns name)")
    g.add_argument("--host-root", default=None, help="read host files under this root (default: /)")
    g.add_argument(
        "--agent-socket", help="cilium agent API socket (default: /var/run/cilium/cilium.sock)"
    )
    g.add_argument("--read-only", action="store_true", default=None, help="never change anything")
    g.add_argument(
        "--timeout", type=float, default=None, help="apiserver timeout in seconds (default 3)"
    )
    g.add_argument(
        "--public-name",
        default=None,
        help="public name the DNS checks resolve (default example.com)",
    )
    g.add_argument(
        "--node-file",
        metavar="PATH",
        default=None,
        help="read and change this recorded node file (NodeState JSON, as `train` writes) "
        "instead of the kernel: node changes are simulated on the file",
    )
    g.add_argument("-v", "--verbose", action="count", default=None)
    return p


class _Commands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """The subcommands, each one's parser built only when argparse picks it.

    Building all of them and their copies of the shared options cost 17 ms of every
    start (gettext looks for a translation file at each help string, and each
    argument makes a HelpFormatter); a command needs its own parser only. `--help`
    still lists every command with its help line.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._builders: dict[str, Callable[[argparse.ArgumentParser], None]] = {}
        self.common: argparse.ArgumentParser | None = None

    def command(
        self, name: str, help: str, build: Callable[[argparse.ArgumentParser], None]
    ) -> None:
        self._choices_actions.append(self._ChoicesPseudoAction(name, (), help))
        self._name_parser_map[name] = None  # type: ignore[assignment]  # a valid choice, built in __call__
        self._builders[name] = build

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        build = self._builders.pop(values[0], None)
        if build is not None:  # added without help: its --help listing entry exists
            del self._name_parser_map[values[0]]  # else add_parser calls it a conflict
            build(self.add_parser(values[0], parents=[self.common] if self.common else []))
        super().__call__(parser, namespace, values, option_string)


def _shared() -> argparse.ArgumentParser:
    """The shared options, for the top parser and every command's own.

    They are accepted before and after the subcommand; SUPPRESS keeps a subparser's
    unset default from overwriting a value given before the subcommand.
    """
    common = _common()
    for action in common._actions:
        action.default = argparse.SUPPRESS
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _shared()
    parser = _Parser(
        prog="ciliumtui",
        description="Troubleshoot a Kubernetes node whose Cilium networking is broken. "
        "With no subcommand, opens the live dashboard.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"ciliumtui {__version__}")
    sub = parser.add_subparsers(
        action=_Commands, dest="command", metavar="COMMAND", parser_class=_Parser
    )
    assert isinstance(sub, _Commands)
    sub.common = common
    for name, (help, build) in COMMANDS.items():
        sub.command(name, help, build)
    return parser


def _diagnose(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output (= --format json)")
    p.add_argument(
        "--format",
        choices=["text", "json", "npd", "prom", "junit"],
        default=None,
        help="text (default), json (DESIGN §4), npd (node-problem-detector plugin), "
        "prom (node_exporter textfile), junit",
    )
    p.add_argument("--out", metavar="FILE", help="write here (atomically) instead of stdout")
    p.add_argument(
        "--fail-on",
        choices=["warning", "critical"],
        default="warning",
        help="lowest severity that makes the exit code non-zero (default: warning)",
    )
    p.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE",
        help="diagnose a snapshot saved with `ciliumtui snapshot --json` (no probing)",
    )


def _snapshot(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="JSON, loadable by `diagnose --from`")
    p.add_argument("--no-cluster", action="store_true", help="node probes only")


def _run(p: argparse.ArgumentParser) -> None:
    p.add_argument("playbook", help="playbook id (see `playbooks list`) or a YAML file")
    p.add_argument("--dry-run", action="store_true", help="show the plan; run only read steps")
    p.add_argument("--yes", action="store_true", help="confirm every step (destructive included)")
    p.add_argument("--input", action="append", default=[], metavar="K=V", help="playbook input")
    p.add_argument("--resume", metavar="RUN_ID", help="resume an interrupted run")
    p.add_argument("--json", action="store_true", help="progress events as JSON lines")


def _playbooks(p: argparse.ArgumentParser) -> None:
    pb = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    pb.add_parser("list", help="list the built-in playbooks")
    x = pb.add_parser("show", help="print a playbook's steps")
    x.add_argument("playbook")
    x = pb.add_parser("validate", help="validate playbook files (errors carry file:line)")
    x.add_argument("files", nargs="+")


def _cidr(p: argparse.ArgumentParser) -> None:
    common = _shared()
    cb = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    x = cb.add_parser("check", parents=[common], help="does the pool overlap anything in use?")
    x.add_argument(
        "pool", nargs="*", help="pool CIDRs (default: the configured pool, else 10.0.0.0/8)"
    )
    x.add_argument("--json", action="store_true")
    x = cb.add_parser(
        "suggest", parents=[common], help="propose a free private pool and the helm --set line"
    )
    x.add_argument("--prefix", type=int, default=16, help="size of the proposed pool (default /16)")
    x.add_argument("--json", action="store_true")


def _train(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", nargs="?", help="scenario name (omit to list them)")
    p.add_argument(
        "--headless", action="store_true", help="no TUI: set up, print the briefing, wait"
    )


def _sim(p: argparse.ArgumentParser) -> None:
    sb = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    x = sb.add_parser("serve", help="serve a scenario's cluster on loopback")
    x.add_argument("scenario")
    x.add_argument("--kubeconfig-out", metavar="FILE", help="write a kubeconfig for it here")
    x.add_argument("--port", type=int, default=0, help="apiserver port (default: any free)")
    x.add_argument(
        "--node-netns", metavar="NAME", help="also build the scenario's node in this netns (root)"
    )
    x.add_argument(
        "--host-root-out", metavar="DIR", help="also write the scenario's host files here"
    )
    sb.add_parser("list", help="list the scenarios")
    x = sb.add_parser("generate", help="write a large scenario (scale tests)")
    x.add_argument("--nodes", type=int, default=5000)
    x.add_argument("--pods", type=int, default=100000)
    x.add_argument("--out", required=True)


def _publish(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--once", action="store_true", help="publish one result and exit")
    g.add_argument("--interval", type=int, metavar="S", help="report every S seconds (default 600)")


def _fleet(p: argparse.ArgumentParser) -> None:
    """`fleet manifest|status|run` (DESIGN §10)."""
    common = _shared()
    fb = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    x = fb.add_parser("manifest", parents=[common], help="what to `kubectl apply -f -`")
    x.add_argument("--image", help="the ciliumtui image (default ghcr.io/ciliumtui/ciliumtui:VER)")
    x.add_argument("--namespace", default=None, help="default ciliumtui-system")
    x = fb.add_parser("status", parents=[common], help="every node's report, by root cause")
    x.add_argument("--json", action="store_true", help="machine-readable (DESIGN §10)")
    x.add_argument("-l", "--selector", help="only nodes with these labels")
    x = fb.add_parser("run", parents=[common], help="roll a node playbook across nodes")
    x.add_argument("playbook", help="cleanup-node or k3s-stop-hook")
    x.add_argument("-l", "--selector", help="only nodes with these labels")
    x.add_argument(
        "--max-unavailable", default="1", metavar="N|P%", help="nodes at a time (default 1)"
    )
    x.add_argument("--dry-run", action="store_true", help="show the plan per node; create nothing")
    x.add_argument("--namespace", default=None, help="where the Jobs and the Lease live")
    x.add_argument("--image", help="the image the Jobs run (default: the manifest's)")
    x.add_argument(
        "--job-timeout", type=int, default=900, metavar="S", help="per node (default 900 s)"
    )


def _report(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", nargs="?", help="run id (default: the latest run)")
    p.add_argument("--out", help="write to this file instead of stdout")


# name -> (the line `ciliumtui --help` shows, what adds the command's own arguments)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "diagnose": ("run every check, print findings", _diagnose),
    "snapshot": ("print what the probes see", _snapshot),
    "run": ("run a playbook headless", _run),
    "playbooks": ("list, show or validate playbooks", _playbooks),
    "cidr": ("pod CIDR planning before installing Cilium", _cidr),
    "train": ("training mode on a simulated broken node", _train),
    "sim": ("the simulated cluster", _sim),
    "publish": ("publish this node's diagnosis (fleet)", _publish),
    "fleet": ("every node's diagnosis; rolled fixes", _fleet),
    "report": ("Markdown incident report from the journal", _report),
}


def _options(args: argparse.Namespace) -> Options:
    from .options import Options

    host_root = getattr(args, "host_root", None) or "/"
    backend = None
    node_file = getattr(args, "node_file", None)
    if node_file:  # the one choice of backend (DESIGN §3); default: the kernel
        from .training.recorded import RecordedBackend

        backend = RecordedBackend(node_file, host_root=host_root)
    return Options(
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
        node=getattr(args, "node", None),
        netns=getattr(args, "netns", None),
        host_root=host_root,
        agent_socket=getattr(args, "agent_socket", None),
        read_only=bool(getattr(args, "read_only", False)),
        verbose=getattr(args, "verbose", None) or 0,
        timeout=getattr(args, "timeout", None) or 3.0,
        public_name=getattr(args, "public_name", None) or "example.com",
        backend=backend,
    )


def main(argv: Sequence[str] | None = None) -> int:
    code = _main(argv)
    if argv is None and _exit_now:
        _exit(code)  # the console script / `python -m`: a one-shot command is done
    return code


def _main(argv: Sequence[str] | None) -> int:
    # No cyclic collections while the command's modules load: the collector's passes
    # over the freshly built classes cost ~20 ms of the ~200 ms a snapshot spends
    # importing (`import` of its 36 modules: 187-233 ms with it, 165-195 ms without).
    # A one-shot command keeps it off (_one_shot); the others get it back in _imported.
    gc.disable()
    try:
        return _dispatch(build_parser().parse_args(argv))
    finally:
        gc.enable()


def _imported() -> None:
    """A long-running command's modules are loaded: it gets the collector back."""
    gc.enable()


def _dispatch(args: argparse.Namespace) -> int:
    try:
        if (
            args.command in ONE_SHOT
            and not getattr(args, "node_file", None)
            and not getattr(args, "from_file", None)
        ):
            from .prefetch import start_saves

            # Overlaps the command's imports (ciliumtui.prefetch says why).
            start_saves(getattr(args, "netns", None))
        opts = _options(args)
        if args.command is None:
            opts = opts.validate()
            # Start the node probes before the UI's imports so the first frame has data.
            from .sources import prefetch_node

            prefetch_node(opts)
            from .app import run_tui

            _imported()
            return run_tui(opts)
        module = importlib.import_module(f"ciliumtui.commands.{args.command}")
        if args.command in ONE_SHOT:
            return _one_shot(module, args, opts)
        _imported()
        return int(module.main(args, opts) or 0)
    except CiliumtuiError as exc:
        print(f"ciliumtui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ciliumtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: still one line (and exit 3) unless -v asks for more
        if getattr(args, "verbose", None):
            raise
        print(
            f"ciliumtui: internal error: {type(exc).__name__}: {exc} (-v shows the traceback)",
            file=sys.stderr,
        )
        return 3


# Headless commands that build one big snapshot and exit. A node with 500 links,
# 10,000 routes and 20,000 rules is ~300k objects: the cyclic collector's passes
# over them cost ~10% of the parse, and freeing them one by one at interpreter
# exit 0.1-0.15 s of a 0.7-0.9 s `snapshot --json` (loaded 2-core machine).
ONE_SHOT = frozenset({"snapshot", "diagnose"})
_exit_now = False


def _one_shot(module: ModuleType, args: argparse.Namespace, opts: Options) -> int:
    global _exit_now
    code = int(module.main(args, opts) or 0)  # the collector stays off (_main)
    _exit_now = True
    return code


def _exit(code: int) -> None:
    """Leave without the interpreter's teardown (atexit handlers still run)."""
    import atexit

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, OSError):
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(code)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
