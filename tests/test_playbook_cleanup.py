"""Cleanup end to end on a Cilium node built in a network namespace (root)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cilium_node as cn
import pytest

from ciliumtui.engine.journal import read_journal
from ciliumtui.engine.loader import load_playbook, resolve_inputs
from ciliumtui.engine.runner import Runner
from ciliumtui.options import Options

pytestmark = pytest.mark.root
COMBOS = [(b, f) for b in ("legacy", "nft") for f in (4, 6)]


@pytest.fixture
def node(make_netns, tmp_path, monkeypatch):
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(tmp_path / "state"))
    ns, pod_ns = make_netns("pb"), make_netns("pb")
    cn.build(ns, pod_ns)
    return ns


def state(ns: str) -> dict:
    return {
        "links": sorted(cn.links(ns)),
        "rules": cn.ip_rules(ns),
        # Every table, but the kernel's IPv6 link-local routes: the local route of a new
        # link's fe80:: address appears when DAD ends, ~1 s after the link came up, so a
        # state read right after cn.build() may not have it yet (a CI run saw exactly that).
        "routes": [
            r
            for r in cn.routes(ns, "all")
            if not str(r.get("dst", "")).startswith(("fe80", "ff00"))
        ],
        "ipt": {k: cn.normalized(cn.save(ns, *k)) for k in COMBOS},
    }


async def run(ns: str, playbook: str, **kw) -> tuple:
    opts = Options(netns=ns, node="k3s-node1", read_only=kw.pop("read_only", False))
    pb = load_playbook(playbook)
    events = []
    runner = Runner(pb, opts, resolve_inputs(pb, {}, "k3s-node1"), on_event=events.append, **kw)
    return await runner.run(), events


async def test_cleanup_removes_exactly_cilium_state_and_backup_restores_it(node, tmp_path):
    before = {k: cn.save(node, *k) for k in COMBOS}
    before_routes_100 = cn.routes(node, "100")
    result, _ = await run(node, "cleanup-node", assume_yes=True)
    assert result.status == "ok", result
    assert result.exit_code == 0

    links = cn.links(node)
    assert not [n for n in links if n in cn.CILIUM_LINKS]
    for decoy in cn.DECOY_LINKS:
        assert decoy in links, f"decoy {decoy} was deleted"
    assert links["vethd0c4e1"].get("master") == "docker0"
    rules = cn.ip_rules(node)
    assert not [r for r in rules if r.get("table") == "2004"]
    assert [r for r in rules if r.get("table") == "100"], "the user's fwmark rule was removed"
    assert not [r for r in cn.routes(node, "all") if r.get("table") == "2004"]
    assert cn.routes(node, "100") == before_routes_100
    assert any(r["dst"] == "10.5.0.0/24" for r in cn.routes(node))

    for key in COMBOS:
        after = cn.save(node, *key)
        assert not re.search(r"(^:|-A |-j )(OLD_)?CILIUM_", after, re.M), after
        if key[1] == 4:
            assert ":MY_CILIUM_X" in after and ":CILIUMX" in after and ":USER-FW" in after
        assert cn.normalized(after) == cn.without_cilium(before[key]), key
        assert "allow cilium health checks" in after or key[1] == 6
        assert '--comment "cilium: user note" -j USER6' in after or key[1] == 4

    # The backup holds the original tables; restoring it brings them back.
    backup = Path(result.backups["purge-iptables"])
    for b, f in COMBOS:
        assert cn.normalized((backup / f"iptables-{b}-v{f}.rules").read_text()) == cn.normalized(
            before[(b, f)]
        )
    pb_file = tmp_path / "restore.yaml"
    pb_file.write_text(
        "id: restore-ipt\nsteps:\n  - id: restore\n    action: netfilter.restore\n"
        f"    params: {{dir: {backup}}}\n    risk: high\n"
    )
    result2, _ = await run(node, str(pb_file), assume_yes=True)
    assert result2.status == "ok", result2
    for key in COMBOS:
        assert cn.normalized(cn.save(node, *key)) == cn.normalized(before[key]), key


async def test_dry_run_and_read_only_change_nothing(node):
    before = state(node)
    result, events = await run(node, "cleanup-node", dry_run=True)
    assert result.status == "planned" and result.exit_code == 0
    planned = [e for e in events if e.kind == "step_planned"]
    # cleanup-bpf and cni-cleanup have nothing to do here: skipped, never planned
    assert [e.step_id for e in planned] == ["delete-links", "purge-iptables", "cleanup-ip-rules"]
    # Honest plans: the commands that run, as a shell takes them (issue 13 item 4).
    links_batch, delete, _check, *_notes = planned[0].plan
    group = delete.split()[-1]
    assert links_batch.startswith(f"ip -n {node} -force -batch - <<'EOF'\n")
    assert f"link set cilium_host group {group}\n" in links_batch
    assert delete == f"ip -n {node} link delete group {group}"
    nft = [x for x in planned[1].plan if x.startswith(f"ip netns exec {node} iptables-nft-")]
    assert nft and nft[0].startswith(
        f"ip netns exec {node} iptables-nft-restore --noflush -w <<'EOF'\n*"
    )
    assert "\n-X CILIUM_INPUT\n" in nft[0] and nft[0].endswith("\nCOMMIT\nEOF")
    assert planned[2].plan == [
        f"ip -n {node} -4 -force -batch - <<'EOF'\n"
        "rule del priority 9 fwmark 0x200/0xf00 table 2004\nroute flush table 2004\nEOF"
    ]
    assert state(node) == before

    result, events = await run(node, "cleanup-node", read_only=True, assume_yes=True)
    assert result.status == "refused" and result.exit_code == 3
    assert set(result.steps.values()) == {"refused"}
    assert state(node) == before


async def test_failure_rolls_back_iptables_in_reverse_order(node, tmp_path):
    before = {k: cn.normalized(cn.save(node, *k)) for k in COMBOS}
    pb_file = tmp_path / "fails.yaml"
    pb_file.write_text("""
id: purge-then-fail
steps:
  - id: purge
    action: netfilter.purge
    risk: destructive
    rollback: {action: netfilter.restore, params: {backup_of: purge}}
  - id: breaks
    action: shell
    params: {argv: ["false"]}
    risk: low
    on_failure: rollback
""")
    result, events = await run(node, str(pb_file), assume_yes=True)
    assert result.status == "failed" and result.exit_code == 1
    assert result.steps["breaks"] == "failed"
    assert result.steps["purge-rollback"] == "ok"
    kinds = [e.kind for e in events]
    assert kinds.index("rollback_started") < kinds.index("rollback_finished")
    for key in COMBOS:
        assert cn.normalized(cn.save(node, *key)) == before[key]


def _argv(ns: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ciliumtui",
        "run",
        "cleanup-node",
        "--yes",
        "--netns",
        ns,
        "--node",
        "k3s-node1",
        *extra,
    ]


def _cli(ns: str, *extra: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        _argv(ns, *extra),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _journal_records(state: Path) -> int:
    files = list((state / "runs").glob("*/journal.jsonl")) if (state / "runs").exists() else []
    return sum(len(f.read_text().splitlines()) for f in files)


def test_sigkill_at_random_points_then_resume_completes(make_netns, tmp_path):
    seed = int(os.environ.get("PB_SEED", time.time_ns()))
    rnd = random.Random(seed)
    for attempt in range(4):
        ns, pod_ns = make_netns("pb"), make_netns("pb")
        cn.build(ns, pod_ns, extra_lxc=40)
        before = {k: cn.save(ns, *k) for k in COMBOS}
        state = tmp_path / f"state{attempt}"
        env = {**os.environ, "CILIUMTUI_STATE_DIR": str(state)}
        proc = _cli(ns, env=env)
        # Kill once the journal holds a random number of records (a run writes ~16),
        # plus a few random ms: the kill lands inside steps, between them, anywhere.
        point = rnd.randint(1, 15)
        deadline = time.monotonic() + 20
        while (
            proc.poll() is None and _journal_records(state) < point and time.monotonic() < deadline
        ):
            time.sleep(0.002)
        time.sleep(rnd.uniform(0, 0.03))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        where = f"seed {seed}, attempt {attempt}, killed after {_journal_records(state)} records"
        runs = sorted((state / "runs").glob("*")) if (state / "runs").exists() else []
        journaled = runs and read_journal(runs[-1] / "journal.jsonl")
        extra = ["--resume", runs[-1].name] if journaled else []
        print(where, extra)
        # (Not `_cli(...).args`: that starts a second, concurrent run, which the node's
        # lock now refuses.)
        done = subprocess.run(_argv(ns, *extra), env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{where}: {done.stdout}\n{done.stderr}"
        links = cn.links(ns)
        assert not [n for n in links if n in cn.CILIUM_LINKS or n.startswith("lxc1000")], where
        for decoy in cn.DECOY_LINKS:
            assert decoy in links, where
        for key in COMBOS:
            assert cn.normalized(cn.save(ns, *key)) == cn.without_cilium(before[key]), (where, key)
        # The first backup holds the original tables, matches its manifest, and was never
        # overwritten by the resumed attempt (that one writes purge-iptables.attemptN).
        backups = sorted((state / "runs").glob("*/backups/purge-iptables"))
        assert backups, f"{where}: no iptables backup"
        manifest = json.loads((backups[0] / "MANIFEST.json").read_text())
        for f in manifest["files"]:
            assert hashlib.sha256(Path(f["path"]).read_bytes()).hexdigest() == f["sha256"], where
        for b, f in COMBOS:
            saved = (backups[0] / f"iptables-{b}-v{f}.rules").read_text()
            assert cn.normalized(saved) == cn.normalized(before[(b, f)]), (where, b, f)


# ------------------------------------------- property: random node mixes (root)

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

CILIUM_LINK_NAMES = ["cilium_vxlan", "lxc_health", "lxc0a1b2", "lxc0123456789ab", "lxcfeedbeef0001"]
LOOKALIKE_LINKS = ["lxcbr0", "lxc12345678", "cilium-host", "lxcABCDEF", "lxc0123456789ag"]
# (rule, is Cilium's): `not` rules and other marks/tables never are.
IP_RULES = [
    ("priority 9 fwmark 0x200/0xf00 lookup 2004", True),
    ("priority 50 not fwmark 0x200/0xf00 lookup 2004", False),
    ("priority 51 fwmark 0x100/0xf00 lookup 2004", False),
    ("priority 52 fwmark 0x200/0xf00 lookup 100", False),
    ("priority 53 not from 10.0.0.0/8 lookup 2005", False),
]
TABLES = ["2004", "2005", "100", "2006"]
COMMENTS = [b"caf\xe9 ssh", b"\xe9" * 255, b"cilium: looks like it", b"-j CILIUM_INPUT", b"plain"]


@st.composite
def node_mixes(draw):
    links = draw(st.lists(st.sampled_from(CILIUM_LINK_NAMES + LOOKALIKE_LINKS), unique=True))
    rules = draw(st.lists(st.sampled_from(IP_RULES), unique=True))
    routes = draw(
        st.lists(st.tuples(st.sampled_from(TABLES), st.integers(1, 200)), unique=True, max_size=8)
    )
    named = draw(st.sampled_from([{}, {"2004": "cilium", "2005": "cilium2", "100": "user"}]))
    ipt = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["INPUT", "FORWARD", "CILIUM_INPUT", "CILIUMX"]),
                st.sampled_from(["ACCEPT", "CILIUM_INPUT", "CILIUMX", "RETURN"]),
                st.sampled_from(COMMENTS),
            ),
            max_size=12,
        )
    )
    return links, rules, routes, named, ipt


def _ipt_text(rules) -> bytes:
    lines = [b"*filter", b":INPUT ACCEPT [0:0]", b":FORWARD ACCEPT [0:0]", b":OUTPUT ACCEPT [0:0]"]
    lines += [b":CILIUM_INPUT - [0:0]", b":CILIUMX - [0:0]"]
    for chain, target, comment in rules:
        if chain == target or (chain == "CILIUM_INPUT" and target == "CILIUMX"):
            target = "RETURN"  # no loops
        if chain.startswith("CILIUM") and target == "CILIUM_INPUT":
            target = "ACCEPT"
        lines.append(
            f"-A {chain} -m comment --comment ".encode()
            + b'"'
            + comment
            + f'" -j {target}'.encode()
        )
    return b"\n".join([*lines, b"COMMIT"]) + b"\n"


def _theirs(line: bytes) -> bool:
    """Not Cilium's, decided independently: chain and target read after the comment."""
    head, _, tail = line.partition(b" -j ")
    chain = head.split()[1] if line.startswith(b"-A ") else b""
    target = line.rsplit(b" -j ", 1)[-1] if b" -j " in line else b""
    del tail
    return not (chain.startswith(b"CILIUM_") or target.startswith(b"CILIUM_"))


@pytest.mark.root
@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a shrink of netns builds takes ages
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mix=node_mixes())
def test_cleanup_removes_exactly_ciliums_objects_of_any_node_mix(make_netns, tmp_path, mix):
    links, rules, routes, named, ipt = mix
    ns, pod_ns = make_netns("pm"), make_netns("pm")
    batch = ["link add cilium_host type veth peer name cilium_net", "link set cilium_host up"]
    for name in links:
        if name.startswith("lxc") and name not in ("lxcbr0", "lxc12345678"):
            batch.append(f"link add {name} type veth peer name p{len(batch)} netns {pod_ns}")
        elif name == "cilium_vxlan":
            batch.append("link add cilium_vxlan type vxlan external dstport 8472")
        else:
            batch.append(f"link add {name} type bridge")
    batch += [f"rule add {r}" for r, _ in rules]
    batch += [f"route add 10.{int(t) % 250}.{n}.0/24 dev lo table {t}" for t, n in routes]
    cn.sh("ip", "-n", ns, "-batch", "-", input="\n".join(batch) + "\n")
    text = _ipt_text(ipt)
    for b in ("legacy", "nft"):
        subprocess.run(["ip", "netns", "exec", ns, f"iptables-{b}-restore"], input=text, check=True)
    before_rules = json.loads(cn.sh("ip", "-N", "-n", ns, "-j", "rule", "show"))
    before_ipt = {b: _save_bytes(ns, b) for b in ("legacy", "nft")}

    prefix: list[str] = []
    if named:
        rt = tmp_path / f"rt_tables-{ns}"
        rt.write_text("".join(f"{n}\t{name}\n" for n, name in named.items()))
        prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                  f'mount --bind {rt} /etc/iproute2/rt_tables && exec "$@"', "sh"]  # fmt: skip
    env = {**os.environ, "CILIUMTUI_STATE_DIR": str(tmp_path / f"state-{ns}")}
    done = subprocess.run(
        [*prefix, *_argv(ns)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr

    left = cn.links(ns)
    assert not [n for n in left if n in ("cilium_host", "cilium_net")]
    for name in links:
        ciliums = name in CILIUM_LINK_NAMES
        assert (name in left) != ciliums, (name, sorted(left))
    after_rules = json.loads(cn.sh("ip", "-N", "-n", ns, "-j", "rule", "show"))
    cilium_rule = {
        "priority": 9,
        "src": "all",
        "fwmark": "0x200",
        "fwmask": "0xf00",
        "table": "2004",
    }
    assert after_rules == [r for r in before_rules if r != cilium_rule]
    tables = {
        str(r.get("table"))
        for r in json.loads(cn.sh("ip", "-N", "-n", ns, "-j", "route", "show", "table", "all"))
    }
    for t, _ in routes:
        assert (t in tables) == (t not in ("2004", "2005")), (t, tables)
    for b in ("legacy", "nft"):
        after = _save_bytes(ns, b)
        theirs = [x for x in before_ipt[b].split(b"\n") if x.startswith(b"-A ") and _theirs(x)]
        assert [x for x in after.split(b"\n") if x.startswith(b"-A ")] == theirs, b


def _save_bytes(ns: str, backend: str) -> bytes:
    argv = ["ip", "netns", "exec", ns, f"iptables-{backend}-save"]
    return subprocess.run(argv, capture_output=True, check=True).stdout
