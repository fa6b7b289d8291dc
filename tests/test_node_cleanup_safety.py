"""Cleanup never loses or rewrites anyone else's state (issue 11 items 1, 2, 3, 5, 10).

Each test builds a real Cilium node in a fresh network namespace (root) and runs
`ciliumtui run cleanup-node` as a user would, then reads the kernel back.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import cilium_node as cn
import pytest

pytestmark = pytest.mark.root
COMBOS = [(b, f) for b in ("legacy", "nft") for f in (4, 6)]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "state"
    monkeypatch.setenv("CILIUMTUI_STATE_DIR", str(d))
    return d


@pytest.fixture
def node(make_netns, state: Path) -> str:
    ns, pod_ns = make_netns("sf"), make_netns("sf")
    cn.build(ns, pod_ns)
    return ns


def cleanup(
    ns: str, *extra: str, env: dict | None = None, prefix: tuple = ()
) -> subprocess.CompletedProcess:
    argv = [*prefix, sys.executable, "-m", "ciliumtui", "run", "cleanup-node", "--yes"]
    argv += ["--netns", ns, "--node", "k3s-node1", *extra]
    return subprocess.run(
        argv, env=env or os.environ.copy(), capture_output=True, text=True, timeout=300
    )


def save_bytes(ns: str, backend: str, family: int = 4) -> bytes:
    prefix = "iptables" if family == 4 else "ip6tables"
    argv = ["ip", "netns", "exec", ns, f"{prefix}-{backend}-save"]
    return subprocess.run(argv, capture_output=True, check=True).stdout


def rule_lines(data: bytes) -> list[bytes]:
    return [x for x in data.split(b"\n") if x.startswith(b"-A ")]


def chain_lines(data: bytes) -> list[bytes]:
    return [re.sub(rb" \[\d+:\d+\]$", b"", x) for x in data.split(b"\n") if x.startswith(b":")]


# ------------------------------------------------------- 1. lost updates


def big_ruleset(cilium: int, other: int) -> str:
    chains = [f"CILIUM_FWD_{i}" for i in range(20)]
    lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    lines += [":KUBE-FORWARD - [0:0]", *(f":{c} - [0:0]" for c in chains)]
    lines += [f'-A FORWARD -m comment --comment "cilium-feeder: {c}" -j {c}' for c in chains]
    for j in range(cilium):
        c = chains[j % len(chains)]
        lines.append(
            f'-A {c} -s 10.42.{j // 250 % 250}.{j % 250}/32 -m comment --comment "cilium: ep {j}" -j ACCEPT'
        )
    for j in range(other):
        lines.append(
            f'-A KUBE-FORWARD -d 10.43.{j // 250 % 250}.{j % 250}/32 -m comment --comment "svc {j}" -j ACCEPT'
        )
    return "\n".join([*lines, "COMMIT"]) + "\n"


# The nft writer pauses: iptables-nft-save rereads the whole ruleset whenever its
# generation changed during the dump, so a writer that never stops starves every
# reader, iptables-nft-save itself included (measured: a bare `iptables-nft-save` of
# 20,000 rules did not finish in 60 s against a no-pause `iptables-nft -A` loop).
PAUSE = {"legacy": "0", "nft": "0.2"}
WRITERS = {"legacy": 3, "nft": 1}  # legacy: -w serialises them on the xtables lock


@pytest.mark.parametrize("backend", ["legacy", "nft"])
def test_rules_added_during_cleanup_are_never_lost(make_netns, state, tmp_path, backend) -> None:
    """Another program (`iptables -w -A …` in a loop, as kube-proxy or a person would)
    keeps adding rules while cleanup purges a 20,000-rule table: every rule it added
    is still there afterwards, and so is every other rule that was not Cilium's."""
    ns = make_netns("sf")
    subprocess.run(
        ["ip", "netns", "exec", ns, f"iptables-{backend}-restore"],
        input=big_ruleset(10_000, 10_000), text=True, check=True,
    )  # fmt: skip
    before = save_bytes(ns, backend)
    ok, stop = tmp_path / "added", tmp_path / "stop"
    writers = [
        subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "sh",
                "-c",
                f"i=0; while [ ! -e {stop} ]; do i=$((i+1)); iptables-{backend} -w -A INPUT -m "
                f"comment --comment user-{w}-$i -j ACCEPT && echo {w}-$i >> {ok}; "
                f"sleep {PAUSE[backend]}; done",
            ],
        )  # fmt: skip
        for w in range(WRITERS[backend])
    ]
    try:
        deadline = time.monotonic() + 30
        while (
            not (ok.exists() and len(ok.read_text().split()) >= 5) and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        done = cleanup(ns)
        time.sleep(0.3)  # the writers keep going a little after the run
    finally:
        stop.touch()
        for w in writers:
            w.wait(timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    after = save_bytes(ns, backend)
    added = {f"user-{i}" for i in ok.read_text().split()}
    present = set(re.findall(rb"--comment (user-\d+-\d+)", after))
    assert {x.encode() for x in added} <= present, (
        f"lost: {sorted(added - {p.decode() for p in present})[:20]}"
    )
    assert len(added) >= 5
    # Nothing of Cilium's left; every line that was not Cilium's is still there.
    assert not re.search(rb"(^:|-A |-j )(OLD_)?CILIUM_", after, re.M)
    assert set(rule_lines(before)) - {x for x in rule_lines(before) if b"CILIUM_" in x} <= set(
        rule_lines(after)
    )
    print(f"{backend}: {len(added)} rules added during the run, none lost")


async def test_a_rule_added_between_backup_and_purge_survives(node) -> None:
    """The window the old whole-table restore lost rules in: another program adds a
    rule after the backup was read and before the purge runs. It stays (both backends)."""
    from ciliumtui.engine.loader import load_playbook, resolve_inputs
    from ciliumtui.engine.runner import Runner
    from ciliumtui.options import Options

    def on_event(ev) -> None:
        if ev.kind == "backup_saved" and ev.step_id == "purge-iptables":
            for b in ("legacy", "nft"):
                subprocess.run(
                    ["ip", "netns", "exec", node, f"iptables-{b}", "-w", "-A", "INPUT", "-m",
                     "comment", "--comment", f"added-meanwhile-{b}", "-j", "ACCEPT"],
                    check=True,
                )  # fmt: skip

    pb = load_playbook("cleanup-node")
    runner = Runner(
        pb, Options(netns=node, node="k3s-node1"), resolve_inputs(pb, {}, "k3s-node1"),
        assume_yes=True, on_event=on_event,
    )  # fmt: skip
    result = await runner.run()
    assert result.status == "ok", result
    for b in ("legacy", "nft"):
        assert f"--comment added-meanwhile-{b} -j ACCEPT".encode() in save_bytes(node, b), b


async def test_a_rule_lost_meanwhile_fails_the_step_and_says_which(node, tmp_path) -> None:
    """Between the backup and the purge another program deletes one of its own rules:
    the purge itself keeps it (it never rewrites tables), but the check that every
    non-Cilium line is still there reports it, and the step fails."""
    from ciliumtui.engine.loader import load_playbook, resolve_inputs
    from ciliumtui.engine.runner import Runner
    from ciliumtui.options import Options

    victim = ["-A", "USER-FW", "-s", "10.99.0.0/16", "-j", "DROP"]
    events = []

    def on_event(ev) -> None:
        events.append(ev)
        if ev.kind == "backup_saved" and ev.step_id == "purge-iptables":
            subprocess.run(
                ["ip", "netns", "exec", node, "iptables-nft", "-w", "-D", *victim[1:]], check=True
            )

    pb = load_playbook("cleanup-node")
    runner = Runner(
        pb, Options(netns=node, node="k3s-node1"), resolve_inputs(pb, {}, "k3s-node1"),
        assume_yes=True, on_event=on_event,
    )  # fmt: skip
    result = await runner.run()
    assert result.status == "failed" and result.steps["purge-iptables"] == "failed"
    (msg,) = [
        e.message for e in events if e.kind == "step_finished" and e.step_id == "purge-iptables"
    ]
    assert "nft IPv4 filter: -A USER-FW -s 10.99.0.0/16 -j DROP" in msg and "gone" in msg
    assert not re.search(rb"(^:|-A |-j )(OLD_)?CILIUM_", save_bytes(node, "legacy"), re.M)


# ------------------------------------------------- 2. inverted ip rules


def test_an_inverted_rule_is_never_ciliums_and_the_plan_is_what_runs(node) -> None:
    subprocess.run(
        ["ip", "-n", node, "rule", "add", "priority", "50", "not", "fwmark", "0x200/0xf00",
         "lookup", "2004"], check=True,
    )  # fmt: skip
    dry = cleanup(node, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    plan = dry.stdout[dry.stdout.index("cleanup-ip-rules") :]
    assert "rule del priority 9 fwmark 0x200/0xf00 table 2004\n" in plan
    assert "priority 50" not in plan and " not " not in plan
    done = cleanup(node)
    assert done.returncode == 0, done.stdout + done.stderr
    rules = cn.ip_rules(node)
    assert [r for r in rules if r.get("table") == "2004"] == [
        {"priority": 50, "not": None, "src": "all", "fwmark": "0x200", "fwmask": "0xf00",
         "table": "2004"}
    ]  # fmt: skip
    # What ran is what the plan showed, line for line.
    assert "    ip -4 rule del priority 9 fwmark 0x200/0xf00 table 2004\n" in done.stdout


def test_a_rule_the_kernel_could_confuse_with_ciliums_is_refused(node) -> None:
    """`ip rule del` ignores `not`: with an inverted twin at the same priority, mark and
    table, deleting Cilium's could delete the other one. The step refuses and says so."""
    subprocess.run(
        ["ip", "-n", node, "rule", "add", "priority", "9", "not", "iif", "eth0", "fwmark",
         "0x200/0xf00", "lookup", "2004"], check=True,
    )  # fmt: skip
    done = cleanup(node)
    assert done.returncode != 0
    assert "another rule has the same priority, mark and table" in done.stdout
    assert len([r for r in cn.ip_rules(node) if r.get("table") == "2004"]) == 2  # both kept


# -------------------------------------------- 3. other people's bytes


LATIN1 = b"caf\xe9 ssh"
LONG = b"\xe9" * 200 + b"x" * 55  # 255 bytes: the longest comment iptables takes


def test_foreign_bytes_are_kept_exactly_through_cleanup_backup_and_restore(node, tmp_path) -> None:
    for b in ("legacy", "nft"):
        for comment in (LATIN1, LONG):
            subprocess.run(
                [b"ip", b"netns", b"exec", node.encode(), f"iptables-{b}".encode(), b"-w",
                 b"-A", b"INPUT", b"-m", b"comment", b"--comment", comment, b"-j", b"ACCEPT"],
                check=True,
            )  # fmt: skip
    before = {k: save_bytes(node, *k) for k in COMBOS}
    done = cleanup(node)
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = next((tmp_path / "state" / "runs").iterdir())
    backup = run_dir / "backups" / "purge-iptables"
    for b, f in COMBOS:
        after = save_bytes(node, b, f)
        others = [x for x in rule_lines(before[(b, f)]) if not re.search(rb"(-A |-j )CILIUM_", x)]
        assert others == rule_lines(after), (b, f)  # every other rule, byte for byte, in order
        if f == 4:
            assert b'--comment "' + LATIN1 + b'" -j ACCEPT' in after
            assert b"--comment " + LONG + b" -j ACCEPT" in after or LONG in after
        # The backup is what iptables-save printed, exactly.
        saved = (backup / f"iptables-{b}-v{f}.rules").read_bytes()
        assert rule_lines(saved) == rule_lines(before[(b, f)])
    # Restoring the backup gives the original bytes back.
    pb = tmp_path / "restore.yaml"
    pb.write_text(
        "id: restore-ipt\nsteps:\n  - id: restore\n    action: netfilter.restore\n"
        f"    params: {{dir: {backup}}}\n    risk: high\n"
    )
    back = subprocess.run(
        [sys.executable, "-m", "ciliumtui", "run", str(pb), "--yes", "--netns", node,
         "--node", "k3s-node1"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert back.returncode == 0, back.stdout + back.stderr
    for key in COMBOS:
        again = save_bytes(node, *key)
        assert rule_lines(again) == rule_lines(before[key]), key
        assert chain_lines(again) == chain_lines(before[key]), key


# ------------------------------------------- 5a. tables named in rt_tables


def test_tables_named_in_rt_tables_are_read_as_numbers(node, tmp_path) -> None:
    """With 2004/2005 named in rt_tables, `ip -j` prints the names; cleanup reads
    numbers (`ip -N`) and still removes the rule and the routes. The names live in a
    private mount namespace of the run (the host's rt_tables is never touched)."""
    subprocess.run(
        ["ip", "-n", node, "route", "add", "10.9.0.0/24", "dev", "cilium_host", "table", "2005"],
        check=False,
    )
    rt = tmp_path / "rt_tables"
    rt.write_text(Path("/etc/iproute2/rt_tables").read_text() + "2004\tcilium\n2005\tcilium2\n")
    named = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f'mount --bind {rt} /etc/iproute2/rt_tables && exec "$@"', "sh"]  # fmt: skip
    shown = subprocess.run(
        [*named, "ip", "-n", node, "-j", "rule", "show"], capture_output=True, text=True
    ).stdout
    assert '"table":"cilium"' in shown  # the names are in effect inside the run
    done = cleanup(node, prefix=tuple(named))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rule del priority 9 fwmark 0x200/0xf00 table 2004" in done.stdout
    assert not [r for r in cn.ip_rules(node) if r.get("table") == "2004"]
    left = [r for r in cn.routes(node, "all") if str(r.get("table")) in ("2004", "2005")]
    assert left == []
    assert [r for r in cn.ip_rules(node) if r.get("table") == "100"]  # the decoy stays


# ------------------------------------------------ 5b. a missing backend tool


def _path_without(tmp_path: Path, *missing: str) -> str:
    """A PATH with every tool cleanup uses, except `missing` (symlinks to the real ones)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = ["ip", "sh", "systemctl"] + [
        f"{p}-{b}-{verb}"
        for p in ("iptables", "ip6tables")
        for b in ("legacy", "nft")
        for verb in ("save", "restore")
    ]
    for tool in tools:
        real = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True)
        if tool not in missing and real.stdout.strip():
            (bin_dir / tool).symlink_to(real.stdout.strip())
    return str(bin_dir)


def test_a_backend_that_cannot_be_checked_makes_the_run_fail(node, tmp_path) -> None:
    env = {**os.environ, "PATH": _path_without(tmp_path, "iptables-nft-save", "ip6tables-nft-save")}
    done = cleanup(node, env=env)
    # The engine's preflight refuses before the first change: one line, exit 3.
    assert done.returncode == 3, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "cannot check nft IPv4: iptables-nft-save is not installed" in said
    assert "this node has nft IPv4 tables (filter, mangle, nat, raw)" in said
    # Nothing was purged (the step refused before any change) and the run is not ok.
    assert re.search(rb"(^:|-A |-j )CILIUM_", save_bytes(node, "legacy"), re.M)
    assert "■ ok" not in done.stdout


def test_a_backend_with_no_tables_needs_no_tool(make_netns, state, tmp_path) -> None:
    """A host that simply does not use nft (no tables there) is not an error."""
    ns, pod_ns = make_netns("sf"), make_netns("sf")
    cn.build(ns, pod_ns)
    subprocess.run(
        ["ip", "netns", "exec", ns, "nft", "flush", "ruleset"], check=True
    )  # legacy only
    env = {**os.environ, "PATH": _path_without(tmp_path, "iptables-nft-save", "ip6tables-nft-save")}
    done = cleanup(ns, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not re.search(rb"(^:|-A |-j )(OLD_)?CILIUM_", save_bytes(ns, "legacy"), re.M)


# ------------------------------------------- 10. ip rule and table backups


def test_ip_rule_and_table_backups_restore(node, tmp_path) -> None:
    subprocess.run(
        ["ip", "-n", node, "-6", "route", "add", "local", "::/0", "dev", "lo", "table", "2004"],
        check=True,
    )
    rules_before = [r for r in cn.ip_rules(node) if r.get("table") == "2004"]
    routes_before = [r for r in cn.routes(node, "all") if str(r.get("table")) == "2004"]
    v6_before = subprocess.run(
        ["ip", "-n", node, "-6", "-j", "route", "show", "table", "2004"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    done = cleanup(node)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not [r for r in cn.ip_rules(node) if r.get("table") == "2004"]
    backup = next((tmp_path / "state" / "runs").iterdir()) / "backups" / "cleanup-ip-rules"
    # The documented command puts the IPv4 part back ...
    subprocess.run(
        ["ip", "-n", node, "-4", "-force", "-batch", str(backup / "iproute-v4.batch")], check=True
    )
    assert [r for r in cn.ip_rules(node) if r.get("table") == "2004"] == rules_before
    # ... and the action puts back the rest (and checks all of it is there).
    pb = tmp_path / "restore.yaml"
    pb.write_text(
        "id: restore-ip\nsteps:\n  - id: restore\n    action: iproute.restore\n"
        f"    params: {{dir: {backup}}}\n    risk: high\n"
    )
    back = subprocess.run(
        [sys.executable, "-m", "ciliumtui", "run", str(pb), "--yes", "--netns", node,
         "--node", "k3s-node1"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert back.returncode == 0, back.stdout + back.stderr
    assert [r for r in cn.ip_rules(node) if r.get("table") == "2004"] == rules_before
    assert [r for r in cn.routes(node, "all") if str(r.get("table")) == "2004"] == routes_before
    assert subprocess.run(
        ["ip", "-n", node, "-6", "-j", "route", "show", "table", "2004"],
        capture_output=True, text=True, check=True,
    ).stdout == v6_before  # fmt: skip
