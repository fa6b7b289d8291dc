"""iptables-save parsing, Cilium ownership of rules, and which backend kube uses."""

from __future__ import annotations

import os
from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ciliumtui.errors import CiliumtuiError
from ciliumtui.node import netfilter
from ciliumtui.node.netfilter import kube_backend, parse_rule, parse_save

SAMPLE = files("ciliumtui.assets").joinpath("samples/iptables-save-k3s-cilium-node.txt").read_text()


def test_reference_dump_parses_into_tables_chains_and_rules():
    dump = parse_save(SAMPLE, "nft", 4)
    assert [t.name for t in dump.tables] == ["raw", "mangle", "nat", "filter"]
    assert dump.rule_count == sum(1 for line in SAMPLE.splitlines() if line.startswith("-A "))
    assert dump.cilium_rule_count == sum(
        1 for line in SAMPLE.splitlines() if line.startswith("-A ") and "CILIUM_" in line
    )
    assert len(dump.cilium_chains) == 10
    nat = next(t for t in dump.tables if t.name == "nat")
    masq = next(r for r in nat.rules if r.comment == "cilium masquerade non-cluster")
    assert masq.chain == "CILIUM_POST_nat" and masq.target == "MASQUERADE" and masq.cilium
    kube = [r for t in dump.tables for r in t.rules if r.chain.startswith("KUBE-")]
    assert kube and not any(r.cilium for r in kube)
    policies = {c.name: c.policy for c in nat.chains}
    assert policies["PREROUTING"] == "ACCEPT" and policies["CILIUM_PRE_nat"] is None


def test_a_comment_mentioning_cilium_does_not_make_a_rule_ciliums():
    line = '-A INPUT -p tcp -m comment --comment "cilium said: -j CILIUM_INPUT" -j ACCEPT'
    rule = parse_rule("INPUT", line)
    assert rule.target == "ACCEPT" and rule.comment == "cilium said: -j CILIUM_INPUT"
    assert not rule.cilium


def test_rules_in_or_jumping_to_old_cilium_chains_are_ciliums():
    assert parse_rule("OLD_CILIUM_INPUT", "-A OLD_CILIUM_INPUT -j ACCEPT").cilium
    assert parse_rule("INPUT", "-A INPUT -g CILIUM_INPUT").cilium
    assert not parse_rule("INPUT", "-A INPUT -j CILIUMX").cilium


@given(
    comment=st.text(
        alphabet=st.characters(blacklist_characters='"\\\n\r', blacklist_categories=("Cs", "Cc")),
        min_size=1,
        max_size=60,
    ),
    target=st.sampled_from(["ACCEPT", "DROP", "CILIUM_INPUT", "KUBE-SERVICES", "USER-X"]),
)
def test_comment_and_target_survive_any_comment_text(comment, target):
    rule = parse_rule(
        "INPUT", f'-A INPUT -s 10.0.0.0/8 -m comment --comment "{comment}" -j {target}'
    )
    assert rule.comment == comment
    assert rule.target == target
    assert rule.cilium == target.startswith("CILIUM_")


def test_unquoted_comment_and_no_target():
    rule = parse_rule("FORWARD", "-A FORWARD -m comment --comment single-word")
    assert rule.comment == "single-word" and rule.target is None


def _dump(backend, chains, table="mangle"):
    text = f"*{table}\n" + "".join(f":{c} - [0:0]\n" for c in chains) + "COMMIT\n"
    return parse_save(text, backend, 4)


def test_kube_backend_follows_the_iptables_wrapper_order():
    hint_legacy = _dump("legacy", ["KUBE-IPTABLES-HINT"])
    many_nft = _dump("nft", [f"KUBE-SVC-{i}" for i in range(5)], "nat")
    assert kube_backend([many_nft, hint_legacy]) == "legacy"  # the hint beats chain counts
    assert kube_backend([_dump("nft", ["KUBE-PROXY-CANARY"]), hint_legacy]) == "nft"
    assert kube_backend([_dump("legacy", ["KUBE-KUBELET-CANARY"], "filter"), many_nft]) == "legacy"
    assert kube_backend([many_nft, _dump("legacy", ["KUBE-SVC-1"], "nat")]) == "nft"
    assert kube_backend([_dump("nft", ["CILIUM_INPUT"], "filter")]) is None
    assert kube_backend([]) is None


def test_feeding_in_odd_chunks_gives_the_same_dump():
    whole = parse_save(SAMPLE, "nft", 4)
    parser = netfilter.SaveParser("nft", 4)
    for i in range(0, len(SAMPLE), 37):  # splits lines (and comments) mid-way
        parser.feed(SAMPLE[i : i + 37])
    assert parser.close() == whole


def test_escaped_quote_in_comment():
    rule = parse_rule("INPUT", r'-A INPUT -m comment --comment "say \"hi\" -j X" -j DROP')
    assert rule.comment == 'say "hi" -j X' and rule.target == "DROP"


def test_iptables_nft_warning_line_is_ignored():
    text = (
        "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n" + SAMPLE
    )
    assert parse_save(text, "nft", 4).rule_count == parse_save(SAMPLE, "nft", 4).rule_count


def no_tables(monkeypatch) -> None:
    """The backend holds no tables: what these tests ask about, whoever runs them (the
    host's own table list is root-only, and what it holds is the host's business)."""
    monkeypatch.setattr(netfilter, "_tables_here", lambda backend, family: [])


async def test_missing_binary_is_unavailable_not_an_error(monkeypatch):
    no_tables(monkeypatch)
    monkeypatch.setitem(netfilter.SAVE_BINARIES, ("legacy", 6), "ip6tables-nosuch-save")
    dump = await netfilter.save("legacy", 6, None)
    assert dump.available is False and "command not found" in dump.error
    assert dump.tables == []


async def test_no_readable_dump_fails_the_probe(monkeypatch):
    no_tables(monkeypatch)
    for key in list(netfilter.SAVE_BINARIES):
        monkeypatch.setitem(netfilter.SAVE_BINARIES, key, "nosuch-save")
    with pytest.raises(CiliumtuiError) as err:
        await netfilter.probe_netfilter(None)
    assert str(err.value) == "nosuch-save: command not found"


async def test_a_wedged_save_times_out_and_is_killed(tmp_path, monkeypatch):
    script = tmp_path / "wedged-save"
    pidfile = tmp_path / "pid"
    script.write_text(f"#!/bin/sh\necho $$ > {pidfile}\necho '*filter'\nexec sleep 30\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setitem(netfilter.SAVE_BINARIES, ("nft", 4), "wedged-save")
    monkeypatch.setattr(netfilter, "SAVE_TIMEOUT", 0.3)
    dump = await netfilter.save("nft", 4, None)
    assert dump.error == "wedged-save: timed out after 0.3s" and dump.tables == []
    pid = int(pidfile.read_text())
    assert not os.path.exists(f"/proc/{pid}")  # killed and reaped, not left running
