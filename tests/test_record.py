"""@record classes (the model, the probes' records) behave as @dataclass ones do."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from ciliumtui.model import Finding, Link, NfRule, Route, Snapshot


def test_repr_shows_the_fields_in_order_as_a_dataclass_does() -> None:
    rule = NfRule("CILIUM_INPUT", "-A CILIUM_INPUT -j ACCEPT", "ACCEPT")
    assert repr(rule) == (
        "NfRule(chain='CILIUM_INPUT', spec='-A CILIUM_INPUT -j ACCEPT', target='ACCEPT', "
        "comment=None, cilium=False)"
    )
    assert repr(Snapshot("n", "t")).startswith("Snapshot(node_name='n', taken_at='t', schema=1,")


def test_equality_is_by_fields_of_the_same_class() -> None:
    a = Link(name="eth0", index=2, addresses=["10.0.0.1/24"])
    assert a == Link(name="eth0", index=2, addresses=["10.0.0.1/24"])
    assert a != Link(name="eth0", index=2, addresses=["10.0.0.2/24"])
    assert a != Route(dst="eth0")  # another class: never equal
    assert [Finding("x", "info", "t")] == [Finding("x", "info", "t")]
    assert a != dataclasses.replace(a, mtu=1500)


def test_records_are_unhashable_like_mutable_dataclasses() -> None:
    with pytest.raises(TypeError):
        hash(Link(name="eth0", index=2))


def test_records_are_still_dataclasses_for_asdict_and_orjson() -> None:
    route = Route(dst="10.0.0.0/24", dev="eth0")
    assert dataclasses.is_dataclass(route)
    assert dataclasses.asdict(route)["dev"] == "eth0"
    assert orjson.loads(orjson.dumps(route)) == dataclasses.asdict(route)


def test_a_frozen_record_is_immutable_and_hashes_by_value() -> None:
    from ciliumtui.node.backend import Command
    from ciliumtui.options import Options

    a, b = Options(netns="x"), Options(netns="x")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Options(netns="y")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.netns = "z"  # type: ignore[misc]
    assert dataclasses.replace(a, netns="y").netns == "y"
    assert {Command(("ip", "-j", "link")): 1}[Command(("ip", "-j", "link"))] == 1
    assert repr(a).startswith("Options(kubeconfig=None, context=None, node=None, netns='x',")
