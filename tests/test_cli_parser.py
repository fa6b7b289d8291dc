"""The command line as a user meets it: `--help`, each command's options, usage errors.

Each command's parser is built only when it is chosen (cli._Commands), so these
check that nothing a user sees changed with that: the listing, every command's own
`--help`, and the shared options on either side of the command.
"""

from __future__ import annotations

import pytest

from ciliumtui import cli


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as done:
        cli.build_parser().parse_args(argv)
    return int(done.value.code or 0)


def test_help_lists_every_command_with_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["--help"]) == 0
    out = capsys.readouterr().out
    for name, (line, _build) in cli.COMMANDS.items():
        assert any(row.split() == [name, *line.split()] for row in out.splitlines()), name
    assert "--netns NETNS" in out


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["snapshot"], ["--no-cluster", "--json", "--netns NETNS"]),
        (["diagnose"], ["--fail-on {warning,critical}", "--from FILE", "--timeout TIMEOUT"]),
        (["run"], ["--dry-run", "--input K=V", "playbook"]),
        (["fleet", "run"], ["--max-unavailable N|P%", "--job-timeout S", "--kubeconfig"]),
        (["cidr", "suggest"], ["--prefix PREFIX", "--host-root HOST_ROOT"]),
        (["sim", "serve"], ["--kubeconfig-out FILE", "scenario"]),
        (["playbooks", "validate"], ["files"]),
    ],
)
def test_each_command_has_its_own_help(
    argv: list[str], shown: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _exit_code([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: ciliumtui {' '.join(argv)} ")
    for text in shown:
        assert text in out


def test_an_unknown_command_is_one_usage_error_naming_the_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _exit_code(["snapshto"]) == 3
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("ciliumtui: error: argument COMMAND: invalid choice: 'snapshto'")
    assert all(repr(name) in err for name in cli.COMMANDS)


def test_an_unknown_option_of_a_command_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["snapshot", "--yes"]) == 3
    assert "unrecognized arguments: --yes" in capsys.readouterr().err


def test_shared_options_work_before_and_after_the_command() -> None:
    parse = cli.build_parser().parse_args
    assert parse(["--netns", "a", "snapshot", "--json"]).netns == "a"
    assert parse(["snapshot", "--netns", "b"]).netns == "b"
    # A value given before the command is not reset by the command's own default.
    before = parse(["--timeout", "2", "--read-only", "diagnose", "--fail-on", "critical"])
    assert (before.timeout, before.read_only, before.fail_on) == (2.0, True, "critical")
    nested = parse(["--kubeconfig", "k", "fleet", "status", "--json", "-l", "a=b"])
    assert (nested.command, nested.action, nested.kubeconfig, nested.selector) == (
        "fleet",
        "status",
        "k",
        "a=b",
    )
    assert parse([]).command is None  # no command: the dashboard
