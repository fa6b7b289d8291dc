"""The one command table: `:` commands, the palette (ctrl+p) and help all read it.

Each `Command` names itself (and its aliases), says how it is used, runs on a
`CommandHost` (the app) and may complete its first argument. `execute` parses a
`:` line, `complete` serves Tab in the `:` line, `palette_entries` the palette,
`COMMANDS` the help screen.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .control import AppControl


class CommandHost(AppControl, Protocol):
    """What commands do with the app, beyond what screens may (AppControl)."""

    @property
    def available_themes(self) -> Iterable[str]: ...

    def set_theme(self, name: str) -> None: ...

    def say(self, message: str, *, error: bool = False) -> None: ...

    def quit_app(self) -> None: ...

    def refresh_all(self) -> None: ...

    def focus_findings(self) -> None: ...

    def show_help(self) -> None: ...

    def show_env(self) -> None: ...

    def screendump(self, path: str | None) -> str: ...

    def focus_panel(self, panel: str) -> bool: ...


def playbook_ids() -> list[str]:
    """Built-in playbook ids: the engine's own list (imported on first use)."""
    from ..engine.loader import builtin_ids

    return builtin_ids()


@dataclass(frozen=True)
class PaletteEntry:
    name: str
    help: str
    line: str  # the `:` line it runs


@dataclass(frozen=True)
class Command:
    name: str
    usage: str  # as help shows it: ":run PLAYBOOK [k=v]"
    help: str
    run: Callable[[CommandHost, str, list[str]], None]  # (host, the word typed, args)
    aliases: tuple[str, ...] = ()
    arguments: Callable[[CommandHost], list[str]] | None = None  # Tab completes these
    palette: Callable[[CommandHost], list[PaletteEntry]] | None = None
    # In the palette as itself (no argument needed)?
    plain: bool = True
    words: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", (self.name, *self.aliases))


# ------------------------------------------------------------------ the commands


def _run(host: CommandHost, word: str, args: list[str]) -> None:
    dry = word != "run" or "--dry-run" in args
    inputs = dict(a.split("=", 1) for a in args if "=" in a and not a.startswith("-"))
    names = [a for a in args if not a.startswith("-") and "=" not in a]
    known = playbook_ids()
    if not names:
        host.say(f"usage: :{word} PLAYBOOK ({', '.join(known) or 'none found'})", error=True)
        return
    if known and names[0] not in known:
        host.say(f"no playbook {names[0]!r}; known: {', '.join(known)}", error=True)
        return
    host.start_wizard(names[0], dry_run=dry, inputs=inputs)


def _run_palette(host: CommandHost) -> list[PaletteEntry]:
    why = " (read-only: dry run only)" if host.opts.read_only else ""
    out: list[PaletteEntry] = []
    for pb in playbook_ids():
        out.append(PaletteEntry(f"Run playbook {pb}", f"wizard{why}", f"run {pb}"))
    return out


def _dry_run_palette(host: CommandHost) -> list[PaletteEntry]:
    return [
        PaletteEntry(f"Dry-run playbook {pb}", "show the plan only", f"dry-run {pb}")
        for pb in playbook_ids()
    ]


def _theme(host: CommandHost, word: str, args: list[str]) -> None:
    themes = sorted(host.available_themes)
    if not args:
        host.say("themes: " + ", ".join(themes))
    elif args[0] in themes:
        host.set_theme(args[0])
    else:
        host.say(f"no theme {args[0]!r}; try :theme with no name for a list", error=True)


def _theme_palette(host: CommandHost) -> list[PaletteEntry]:
    return [
        PaletteEntry(f"Theme {name}", "switch theme", f"theme {name}")
        for name in sorted(host.available_themes)
    ]


def _diagnose(host: CommandHost, word: str, args: list[str]) -> None:
    host.refresh_all()
    host.focus_findings()


def _export(host: CommandHost, word: str, args: list[str]) -> None:
    if not host.current_plan:
        host.say("no plan yet: open a wizard first (:dry-run cleanup shows every step's plan)")
        return
    path = Path(args[0] if args else f"ciliumtui-plan-{host.current_plan_title or 'run'}.sh")
    path.write_text(plan_script(host.current_plan, host.current_plan_title, host))
    os.chmod(path, 0o755)
    host.say(f"plan written to {path.resolve()} ({len(host.current_plan)} lines)")


def plan_script(plan: list[str], title: str, host: AppControl) -> str:
    """The plan as a shell script: notes stay comments, commands run as shown."""
    lines = [
        "#!/bin/sh",
        f"# ciliumtui plan: {title or '?'} on node {host.opts.node_name}",
        "# Review before running: these are the exact commands the wizard shows.",
        "set -eu",
        "",
    ]
    lines += plan
    return "\n".join(lines) + "\n"


PANELS = ("findings", "interfaces", "cilium", "routes", "dns", "address-space")


def _focus(host: CommandHost, word: str, args: list[str]) -> None:
    if not args or args[0] not in PANELS:
        host.say(f"usage: :focus PANEL ({', '.join(PANELS)})", error=True)
    elif not host.focus_panel(args[0]):
        host.say("panels are on the dashboard (esc to go back)", error=True)


def _focus_palette(host: CommandHost) -> list[PaletteEntry]:
    return [PaletteEntry(f"Focus {p}", "move focus to the panel", f"focus {p}") for p in PANELS]


def _fleet(host: CommandHost, word: str, args: list[str]) -> None:
    # A label selector may hold spaces ("tier in (a, b)"): the rest of the line is it.
    host.show_fleet(" ".join(args) or None)


def _screendump(host: CommandHost, word: str, args: list[str]) -> None:
    path = host.screendump(args[0] if args else None)
    host.say(f"screen saved to {path}")


COMMANDS: list[Command] = [
    Command(
        "run",
        ":run PLAYBOOK [k=v]",
        "open the wizard for a playbook",
        _run,
        arguments=lambda host: playbook_ids(),
        palette=_run_palette,
        plain=False,
    ),
    Command(
        "dry-run",
        ":dry-run PLAYBOOK",
        "the same, showing the plan without changing anything",
        _run,
        aliases=("dryrun",),
        arguments=lambda host: playbook_ids(),
        palette=_dry_run_palette,
        plain=False,
    ),
    Command(
        "diagnose", ":diagnose", "re-probe everything, focus the findings", _diagnose, ("diag",)
    ),
    Command("refresh", ":refresh", "re-probe everything", lambda h, w, a: h.refresh_all(), ("r",)),
    Command("journal", ":journal", "past wizard runs", lambda h, w, a: h.show_journal()),
    Command(
        "fleet",
        ":fleet [SELECTOR]",
        "every node's report (NodeDiagnosis), by root cause",
        _fleet,
        ("nodes",),
    ),
    Command(
        "export",
        ":export [FILE]",
        "write the current plan as a shell script",
        _export,
    ),
    Command(
        "screendump",
        ":screendump [FILE]",
        "save the screen as an SVG",
        _screendump,
        ("sd",),
    ),
    Command(
        "focus",
        ":focus PANEL",
        "move the focus to a dashboard panel",
        _focus,
        arguments=lambda host: list(PANELS),
        palette=_focus_palette,
        plain=False,
    ),
    Command("env", ":env", "kubeconfig, context and flags in use", lambda h, w, a: h.show_env()),
    Command(
        "theme",
        ":theme NAME",
        "switch theme (ansi-dark, ansi-light, nord, ...)",
        _theme,
        arguments=lambda host: sorted(host.available_themes),
        palette=_theme_palette,
        plain=False,
    ),
    Command("help", ":help", "keys and commands", lambda h, w, a: h.show_help(), ("h", "?")),
    Command("quit", ":q", "quit", lambda h, w, a: h.quit_app(), ("q", "q!", "exit")),
]


def find(word: str) -> Command | None:
    word = word.lower()
    return next((c for c in COMMANDS if word in c.words), None)


def execute(host: CommandHost, line: str) -> None:
    """Run one `:` line; an unknown command says so instead of failing silently."""
    words = line.split()
    if not words:
        return
    command = find(words[0])
    if command is None:
        host.say(f"unknown command :{words[0]} (try :help, or Tab to complete)", error=True)
        return
    command.run(host, words[0].lower(), words[1:])


def _common_prefix(words: list[str]) -> str:
    return os.path.commonprefix(words) if words else ""


def complete(host: CommandHost, line: str) -> tuple[str, list[str]]:
    """Tab in the `:` line: (the completed line, the candidates when several match).

    The first word completes to a command; the second to that command's arguments
    (playbook ids, theme names)."""
    words = line.split()
    ends_with_space = line.endswith(" ")
    if not words or (len(words) == 1 and not ends_with_space):
        typed = words[0].lower() if words else ""
        names = sorted({w for c in COMMANDS for w in c.words if w.startswith(typed) and len(w) > 1})
        if len(names) == 1:
            return names[0] + " ", []
        return (_common_prefix(names) or typed), names
    command = find(words[0])
    if command is None or command.arguments is None:
        return line, []
    typed = "" if ends_with_space else words[-1]
    done = words[1:] if ends_with_space else words[1:-1]
    if done:  # only the first argument completes
        return line, []
    options = [a for a in command.arguments(host) if a.startswith(typed)]
    head = words[0] + " "
    if len(options) == 1:
        return head + options[0] + " ", []
    return head + (_common_prefix(options) or typed), options


def palette_entries(host: CommandHost) -> list[PaletteEntry]:
    """Every command for the palette: plain commands as themselves, the others expanded."""
    out: list[PaletteEntry] = []
    for command in COMMANDS:
        if command.plain:
            out.append(PaletteEntry(command.name.capitalize(), command.help, command.name))
        if command.palette is not None:
            out += command.palette(host)
    return out
