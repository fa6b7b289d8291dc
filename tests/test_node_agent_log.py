"""The agent's last words from the kubelet's CRI logs under --host-root."""

from __future__ import annotations

import os
import time

from ciliumtui.node.agent_log import (
    is_error_message,
    last_error_lines,
    parse_cri,
    read_agent_log,
)
from ciliumtui.sim.host_root import cri_log_text, write_agent_logs

FATAL = (
    'time="2024-05-01T10:00:03Z" level=fatal msg="failed to start: daemon creation failed: '
    'unable to setup device manager: listen udp 0.0.0.0:8472: bind: address already in use" '
    "subsys=daemon"
)
STARTING = [
    'time="2024-05-01T10:00:00Z" level=info msg="Cilium 1.16.4 ... go version go1.22" subsys=daemon',
    'time="2024-05-01T10:00:01Z" level=warning msg="Unable to get node resource" subsys=k8s',
    'time="2024-05-01T10:00:02Z" level=error msg="Unable to create vxlan device" error="file exists" subsys=datapath',
]


def test_crash_looping_agent_last_words_not_the_init_containers(tmp_path):
    write_agent_logs(
        tmp_path,
        [STARTING + ['level=fatal msg="old crash"'], STARTING + [FATAL], STARTING + [FATAL]],
    )
    lines, path = read_agent_log(str(tmp_path))
    assert (
        path
        == "/var/log/pods/kube-system_cilium-x7k2p_5b1c2f0e-8a7d-4c3b-9e21-6f0a1b2c3d4e/cilium-agent/2.log"
    )
    assert lines == [STARTING[2], FATAL]
    assert not any("not the agent" in line for line in lines)


def test_newest_restart_is_by_number_not_by_name(tmp_path):
    restarts = [[f'level=error msg="run {n}"'] for n in range(12)]
    write_agent_logs(tmp_path, restarts)
    lines, path = read_agent_log(str(tmp_path))
    assert path.endswith("/cilium-agent/11.log") and lines == ['level=error msg="run 11"']


def test_a_just_restarted_agent_shows_the_previous_runs_words(tmp_path):
    write_agent_logs(tmp_path, [STARTING + [FATAL], STARTING[:1]])
    lines, path = read_agent_log(str(tmp_path))
    assert path.endswith("/cilium-agent/0.log") and lines[-1] == FATAL


def test_a_healthy_agent_has_no_last_words(tmp_path):
    write_agent_logs(tmp_path, [STARTING[:2]])
    lines, path = read_agent_log(str(tmp_path))
    assert lines == [] and path.endswith("/cilium-agent/0.log")


def test_no_pod_logs_at_all(tmp_path):
    assert read_agent_log(str(tmp_path)) == ([], None)
    (tmp_path / "var/log/pods").mkdir(parents=True)
    assert read_agent_log(str(tmp_path)) == ([], None)


def test_the_agent_pod_written_last_wins_and_operator_envoy_are_ignored(tmp_path):
    old = write_agent_logs(tmp_path, [['level=fatal msg="old pod"']], pod="cilium-aaaaa", uid="u1")
    new = write_agent_logs(tmp_path, [['level=fatal msg="new pod"']], pod="cilium-bbbbb", uid="u2")
    past = time.time() - 3600
    os.utime(old / "cilium-agent/0.log", (past, past))
    for pod, container in (
        ("cilium-operator-6d8f-abcde", "cilium-operator"),
        ("cilium-envoy-zzzzz", "cilium-envoy"),
    ):
        d = tmp_path / f"var/log/pods/kube-system_{pod}_u3/{container}"
        d.mkdir(parents=True)
        (d / "0.log").write_text(cri_log_text(['level=fatal msg="not the agent"']))
    lines, path = read_agent_log(str(tmp_path))
    assert lines == ['level=fatal msg="new pod"'] and "cilium-bbbbb" in path
    # the pod name, when known, picks that pod's dir
    lines, path = read_agent_log(str(tmp_path), pod="cilium-aaaaa")
    assert lines == ['level=fatal msg="old pod"'] and "cilium-aaaaa" in path
    assert new.exists()


def test_partial_lines_are_joined_per_stream():
    long = 'level=error msg="' + "x" * 50 + '" subsys=daemon'
    text = cri_log_text([long], split_at=16)
    assert text.count(" P ") == 5  # 82 characters in parts of 16
    assert parse_cri(text) == [long]
    interleaved = (
        "2024-05-01T10:00:00.1Z stderr P level=err\n"
        "2024-05-01T10:00:00.2Z stdout F hello\n"
        "2024-05-01T10:00:00.3Z stderr F or msg=boom\n"
        "2024-05-01T10:00:00.4Z stderr P crashed mid-li\n"
    )
    assert parse_cri(interleaved) == ["hello", "level=error msg=boom", "crashed mid-li"]


def test_error_formats():
    for msg in (
        'time="x" level=fatal msg="boom"',
        'time="x" level=error msg="boom"',
        "time=2025-01-01T00:00:00Z level=ERROR source=x msg=boom",
        '{"level":"error","msg":"boom"}',
        "F0501 10:00:00.123456       1 main.go:42] cannot start",
        "E0501 10:00:00.123456       1 reflector.go:1] failed to list",
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "fatal error: concurrent map writes",
    ):
        assert is_error_message(msg), msg
    for msg in (
        'level=info msg="error count is 0"',
        "level=warning msg=errorish",
        "I0501 10:00:00.123456       1 main.go:42] fine",
        "errors: none",
    ):
        assert not is_error_message(msg), msg
    assert len(last_error_lines(["level=error msg=" + "y" * 1000])[0]) == 400


def test_a_200_mb_log_is_read_by_its_tail(tmp_path):
    pod_dir = write_agent_logs(tmp_path, [[]])
    log = pod_dir / "cilium-agent/0.log"
    noise = cri_log_text(['level=info msg="' + "z" * 200 + '"'] * 2000).encode()
    with open(log, "wb") as f:
        f.write(cri_log_text(['level=error msg="early noise"']).encode())
        f.truncate(200 << 20)  # sparse: 200 MB on paper, no disk used
        f.seek(0, os.SEEK_END)
        f.write(noise + cri_log_text([FATAL]).encode())
    assert log.stat().st_size > 200 << 20
    t0 = time.perf_counter()
    lines, path = read_agent_log(str(tmp_path))
    ms = (time.perf_counter() - t0) * 1000
    assert lines == [FATAL] and ms < 200, ms  # the early line lies outside the tail


def test_garbage_logs_never_raise(tmp_path):
    pod_dir = write_agent_logs(tmp_path, [[], []], init_containers=False)
    (pod_dir / "cilium-agent/1.log").write_bytes(b"\x00\xff" * 1000 + b"\nlevel=fatal msg=raw\n")
    (pod_dir / "cilium-agent/0.log").unlink()
    (pod_dir / "cilium-agent/0.log").symlink_to("0.log")  # a loop
    (pod_dir / "cilium-agent/2.log.20240501-100000.gz").write_bytes(b"\x1f\x8b")
    lines, path = read_agent_log(str(tmp_path))
    assert lines == ["level=fatal msg=raw"] and path.endswith("/1.log")
