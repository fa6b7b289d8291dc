"""The iptables-save rule scan in C (ciliumtui/node/_savescan.c) against its Python
reference (netfilter._scan_rules): the same dump from any text, real dumps included.

The install compiles the C scan (setup.py); CI fails, rather than skips, when it
is missing, so a broken build cannot pass unnoticed.
"""

from __future__ import annotations

import os
from importlib.resources import files

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ciliumtui.model import NetfilterDump
from ciliumtui.node import netfilter

try:
    from ciliumtui.node import _savescan
except ImportError:  # pragma: no cover - a build without a C compiler
    if os.environ.get("CI"):
        raise  # CI installs with gcc: a missing extension is a broken build
    pytest.skip("the C scan is not built (no C compiler at install)", allow_module_level=True)


def parse(text: str, scan: object) -> NetfilterDump:
    parser = netfilter.SaveParser("nft", 4)
    saved = netfilter.scan_rules
    netfilter.scan_rules = scan  # type: ignore[assignment]
    try:
        parser.feed(text)
        return parser.close()
    finally:
        netfilter.scan_rules = saved


def both(text: str) -> tuple[NetfilterDump, NetfilterDump]:
    return parse(text, _savescan.scan_rules), parse(text, netfilter._scan_rules)


def test_the_installed_parser_uses_the_c_scan():
    assert netfilter.scan_rules is _savescan.scan_rules


CHAINS = st.sampled_from(
    ["INPUT", "FORWARD", "CILIUM_FORWARD", "OLD_CILIUM_POST_nat", "KUBE-SERVICES", "café", "链"]
)
WORDS = st.text(alphabet='ab -"\\jgé→\r\x00', max_size=12)
PARTS = st.one_of(
    st.just("-s 10.0.0.1/32"),
    st.builds(lambda t: f'-m comment --comment "{t}"', WORDS),
    st.builds(lambda t: f"-m comment --comment {t}", WORDS),
    st.builds(lambda c: f"-j {c}", CHAINS),
    st.builds(lambda c: f"-g {c}", CHAINS),
    st.just("-j"),
    st.just("--to-ports 8080"),
    WORDS,
)
RULES = st.builds(
    lambda verb, chain, parts: (
        f"{verb} {chain} {' '.join(parts)}".rstrip(" ") if parts else f"{verb} {chain}"
    ),
    st.sampled_from(["-A", "-I"]),
    CHAINS,
    st.lists(PARTS, max_size=5),
)
LINES = st.one_of(
    RULES,
    RULES.map(lambda r: f"  {r}"),
    RULES.map(lambda r: f"{r} "),
    RULES.map(lambda r: f"{r}\r"),
    st.sampled_from(["*filter", "*nat", "COMMIT", "# Generated", "", "-", "-A", "-AX", "-N X"]),
    CHAINS.map(lambda c: f":{c} ACCEPT [0:0]"),
    CHAINS.map(lambda c: f":{c} - [0:0]"),
    WORDS,
)


@settings(max_examples=400)
@given(st.lists(LINES, max_size=30))
def test_c_and_python_scans_give_the_same_dump_from_any_text(lines):
    c, py = both("\n".join(lines))
    assert c == py
    assert [t.rules for t in c.tables] == [t.rules for t in py.tables]


def test_the_reference_dump_parses_the_same():
    text = (
        files("ciliumtui.assets").joinpath("samples/iptables-save-k3s-cilium-node.txt").read_text()
    )
    c, py = both(text)
    assert c == py and sum(len(t.rules) for t in c.tables) > 10


def test_a_big_generated_dump_parses_the_same():
    lines = ["*filter", ":CILIUM_FORWARD - [0:0]", ":KUBE-SERVICES - [0:0]"]
    lines += [
        f'-A CILIUM_FORWARD -s 10.0.{i // 256}.{i % 256}/32 -m comment --comment "cilium: {i}"'
        " -j ACCEPT"
        for i in range(3000)
    ]
    lines += [f"-A KUBE-SERVICES -d 10.43.0.{i % 256}/32 -j KUBE-SVC-{i % 7}" for i in range(3000)]
    lines.append("COMMIT")
    c, py = both("\n".join(lines) + "\n")
    assert c == py
    assert [r.cilium for r in c.tables[0].rules].count(True) == 3000


def test_lines_the_c_scan_leaves_are_parsed_by_python():
    # An escaped quote, blanks around a rule, a character above U+00FF: each is left
    # to SaveParser._lines, and the rule still comes out whole.
    text = "\n".join(
        [
            "*filter",
            r'-A INPUT -m comment --comment "say \"hi\"" -j ACCEPT',
            "  -A INPUT -j DROP  ",
            '-A INPUT -m comment --comment "→ cilium" -j CILIUM_INPUT',
            "COMMIT",
        ]
    )
    rules = parse(text, _savescan.scan_rules).tables[0].rules
    assert [(r.comment, r.target, r.cilium) for r in rules] == [
        ('say "hi"', "ACCEPT", False),
        (None, "DROP", False),
        ("→ cilium", "CILIUM_INPUT", True),
    ]
    assert rules[1].spec == "-A INPUT -j DROP"


def test_an_ownership_rule_that_raises_is_an_error_not_a_crash():
    def boom(name: str) -> bool:
        raise ValueError(name)

    with pytest.raises(ValueError, match="INPUT"):
        _savescan.scan_rules(["-A INPUT -j X"], 0, [], netfilter.NfRule, {}, boom)
