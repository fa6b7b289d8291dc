"""Loading playbooks: built-ins are valid; every error names file:line:col; never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.resources import files

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ciliumtui.engine.loader import (
    builtin_ids,
    load_playbook,
    parse_input_args,
    resolve_inputs,
    validate_file,
    validate_text,
)
from ciliumtui.errors import CiliumtuiError

WHERE = re.compile(r"^pb\.yaml:(\d+):(\d+): ")
GOOD = """\
id: demo
title: Demo
inputs:
  node: {type: node}
  count: {type: int, default: 2}
  token: {type: string, secret: true}
  mode: {type: enum, choices: [fast, slow], required: true}
steps:
  - id: look
    phase: diagnose
    action: shell.read
    params: {argv: [echo, hi]}
    capture: {out: {from: stdout}}
  - id: change
    action: shell
    params: {argv: [echo, "{{ inputs.node }}"]}
    risk: low
    when: "out != None and inputs.count > 1"
"""


def errors_of(text: str) -> list[str]:
    errs = validate_text(text, "pb.yaml")
    for e in errs:
        assert WHERE.match(e), e
    return errs


def test_every_builtin_playbook_is_valid():
    ids = builtin_ids()
    for expected in (
        "diagnose",
        "cleanup",
        "restart",
        "verify",
        "k3s-stop-hook",
        "pod-cidr-change",
    ):
        assert expected in ids
    for pid in ids:
        assert validate_file(pid) == [], pid
        pb = load_playbook(pid)
        assert pb.id == pid


def test_good_playbook_loads():
    assert errors_of(GOOD) == []


@pytest.mark.parametrize(
    ("old", "new", "line", "col", "message"),
    [
        (
            "    phase: diagnose",
            "    phaze: diagnose",
            10,
            5,
            "unknown key 'phaze' in step 'look' (did you mean 'phase'?)",
        ),
        ("title: Demo", "titel: Demo", 2, 1, "did you mean 'title'?"),
        ("  - id: change", "  - id: look", 14, 9, "duplicate step id 'look' (first at line 9)"),
        (
            "action: shell.read",
            "action: shel.read",
            11,
            13,
            "unknown action 'shel.read' (did you mean 'shell.read'?)",
        ),
        (
            'when: "out != None and inputs.count > 1"',
            'when: "out.__class__"',
            18,
            11,
            "attribute '__class__' not allowed",
        ),
        (
            'when: "out != None and inputs.count > 1"',
            'when: "open(out)"',
            18,
            11,
            "call to 'open' not allowed",
        ),
        (
            'when: "out != None and inputs.count > 1"',
            'when: "outt == 1"',
            18,
            11,
            "unknown name 'outt' in when of step 'change' (did you mean 'out'?)",
        ),
        ("risk: low", "risk: read", 17, 11, "its risk cannot be 'read'"),
        (
            "risk: low",
            "risk: lowish",
            17,
            11,
            "risk of step 'change' must be one of read, low, high, destructive, "
            "got str 'lowish' (did you mean 'low'?)",
        ),
        (
            "{argv: [echo, hi]}",
            "{argv: echo hi}",
            12,
            20,
            "param 'argv' of shell.read must be a list, got str 'echo hi'",
        ),
        (
            "{argv: [echo, hi]}",
            "{argv: [echo], shell: true}",
            12,
            28,
            "unknown key 'shell' in params of shell.read",
        ),
        (
            "count: {type: int, default: 2}",
            "count: {type: int, default: two}",
            5,
            31,
            "default of input 'count'",
        ),
        ("steps:", "steps: 3\nx:", 8, 8, "steps must be a list, got int 3"),
        ("steps:", "steps: 3\nx:", 9, 1, "unknown key 'x' in playbook"),
        ("    risk: low", "    risk: low\n    mutates: false", 18, 14, "says mutates: false"),
        (
            "  - id: look",
            "  - id: Look It",
            9,
            9,
            "id of step #1 of steps must be lower-case letters, digits, '-' and '_'",
        ),
        (
            "action: shell\n",
            "action: shell\n    timeout: forever\n",
            16,
            14,
            "timeout of step 'change' must be a duration (30, '30s', '2m', '1h'), got str 'forever'",
        ),
    ],
)
def test_each_error_names_its_line_and_column(old, new, line, col, message):
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    errs = errors_of(text)
    hit = [e for e in errs if message in e]
    assert hit, errs
    m = WHERE.match(hit[0])
    assert (int(m.group(1)), int(m.group(2))) == (line, col), hit[0]


def test_yaml_syntax_error_has_position():
    errs = errors_of("id: x\nsteps:\n  - id: a\n    action: [shell\n")
    assert len(errs) == 1 and "YAML syntax error" in errs[0]
    assert WHERE.match(errs[0]).group(1) in ("4", "5")


def test_link_delete_refuses_non_cilium_names_at_load():
    text = "id: x\nsteps:\n  - id: a\n    action: link.delete\n    params: {links: [cilium_host, eth0, lxcbr0]}\n"
    errs = errors_of(text)
    assert any("not Cilium's, refused: eth0, lxcbr0" in e for e in errs), errs


def test_load_playbook_errors_are_one_line_ciliumtui_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: x\nsteps:\n  - id: a\n    action: nope\n  - id: a\n    action: shell.read\n"
    )
    with pytest.raises(CiliumtuiError) as exc:
        load_playbook(str(bad))
    msg = str(exc.value)
    assert msg.startswith(f"{bad}:4:13: unknown action 'nope'") and "\n" not in msg
    assert "(+" in msg  # the other errors are counted
    with pytest.raises(CiliumtuiError, match="no such file"):
        load_playbook(str(tmp_path / "missing.yaml"))
    with pytest.raises(
        CiliumtuiError, match="no playbook 'cleanpu' \\(did you mean 'cleanup'\\?\\)"
    ):
        load_playbook("cleanpu")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00id")
    with pytest.raises(CiliumtuiError, match="not UTF-8"):
        load_playbook(str(tmp_path / "bin.yaml"))


def test_inputs_missing_required_wrong_type_and_unknown(tmp_path):
    f = tmp_path / "pb.yaml"
    f.write_text(GOOD)
    pb = load_playbook(str(f))
    with pytest.raises(CiliumtuiError, match="missing required input 'mode'"):
        resolve_inputs(pb, {}, "n1")
    with pytest.raises(CiliumtuiError, match="--input mode: 'medium' is not one of fast, slow"):
        resolve_inputs(pb, {"mode": "medium"}, "n1")
    with pytest.raises(CiliumtuiError, match="--input count: 'x' is not an integer"):
        resolve_inputs(pb, {"mode": "fast", "count": "x"}, "n1")
    with pytest.raises(CiliumtuiError, match="has no input 'nod' \\(did you mean 'node'\\?\\)"):
        resolve_inputs(pb, {"mode": "fast", "nod": "a"}, "n1")
    got = resolve_inputs(pb, {"mode": "fast", "count": "5"}, "n1")
    assert got == {"node": "n1", "count": 5, "token": None, "mode": "fast"}
    with pytest.raises(CiliumtuiError, match="expected KEY=VALUE"):
        parse_input_args(["novalue"])


def test_cli_validate_prints_file_line_col_and_exits_3(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nsteps:\n  - id: a\n    acton: shell.read\n")
    good = files("ciliumtui.playbooks") / "cleanup.yaml"
    res = subprocess.run(
        [sys.executable, "-m", "ciliumtui", "playbooks", "validate", str(bad), str(good)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 3
    assert f"{bad}:4:5: unknown key 'acton' in step 'a' (did you mean 'action'?)" in res.stderr
    assert f"{bad}:3:5: step 'a' needs 'action'" in res.stderr
    assert f"{good}: ok" in res.stdout
    assert "Traceback" not in res.stderr
    res = subprocess.run(
        [sys.executable, "-m", "ciliumtui", "playbooks", "validate", str(good)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0


# ------------------------------------------------------------------------ fuzzing

BUILTIN = (files("ciliumtui.playbooks") / "cleanup.yaml").read_text()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text_never_tracebacks(text):
    errs = validate_text(text, "pb.yaml")
    for e in errs:
        assert WHERE.match(e), e


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_builtin_never_tracebacks(data):
    text = BUILTIN
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        chunk = data.draw(
            st.text(alphabet=":-[]{}\"'\n #&*!|>%@`,?\t0123456789abcxyz_.", max_size=8)
        )
        n = data.draw(st.integers(0, 10))
        if op == "delete":
            text = text[:pos] + text[pos + n :]
        elif op == "insert":
            text = text[:pos] + chunk + text[pos:]
        else:
            text = text[:pos] + chunk + text[pos + len(chunk) :]
    for e in validate_text(text, "pb.yaml"):
        assert WHERE.match(e), e


@pytest.mark.parametrize(
    "text",
    [
        "",
        "---\n...\n",
        "[1, 2]",
        "id: x\nsteps: {}",
        "a: &a [*a]",
        "- - - - -",
        "id: !!python/object:os.system x",
        "id: x\nsteps:\n  - !!binary aGk=\n",
        "{" * 200,
        "id: x\nversion: !!int zz\nsteps: []",
        "\t\tbad",
    ],
)
def test_odd_documents_give_positioned_errors(text):
    errs = errors_of(text)
    assert errs


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzz_load_playbook_raises_only_positioned_ciliumtui_errors(tmp_path, data):
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(BUILTIN.encode()[: len(data)] + data)
    try:
        load_playbook(str(path))
    except CiliumtuiError as exc:
        assert re.match(rf"^{re.escape(str(path))}:\d+:\d+: ", str(exc)), str(exc)
        assert "\n" not in str(exc)


def test_params_are_converted_once_at_load_and_templates_once_rendered(tmp_path):
    # The loader converts (durations become seconds); actions never re-parse them.
    from ciliumtui.engine.actions.base import Param
    from ciliumtui.yamlspec import Invalid

    f = tmp_path / "pb.yaml"
    f.write_text(
        "id: conv\ninputs:\n  wait: {type: string, default: 90s}\nsteps:\n"
        "  - id: a\n    action: pod.wait-ready\n    params: {timeout: 2m}\n"
        "  - id: b\n    action: pod.wait-ready\n    params: {timeout: '{{ inputs.wait }}'}\n"
    )
    pb = load_playbook(str(f))
    assert pb.steps[0].params == {"timeout": 120.0} and pb.steps[0].templated == ()
    assert pb.steps[1].templated == ("timeout",)
    assert pb.steps[0].timeout == 60.0 and pb.inputs["wait"].default == "90s"
    assert Param("duration").convert("90s") == 90.0
    assert Param("int").convert("5") == 5 and Param("bool").convert("true") is True
    assert Param("list", choices=("legacy", "nft")).convert(["nft"]) == ["nft"]
    with pytest.raises(Invalid, match="must be an integer"):
        Param("int").convert("five")
    with pytest.raises(Invalid, match="must be one of legacy, nft"):
        Param("list", choices=("legacy", "nft")).convert(["iptables"])
