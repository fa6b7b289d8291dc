"""A password in the kubeconfig's server URL never leaves the process (issue 11 item 6).

`https://user:pass@host` is legal in a kubeconfig; before, the password showed in
diagnose text and JSON, the snapshot, run journals and reports. Every sink passes
text through ciliumtui.redact.redact_url; these tests grep the secret out of every
output and every file a run writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kube_fake import FakeApiServer, black_hole, kubeconfig_dict
from kube_objects import healthy_cluster
from sim_helpers import node_world

from ciliumtui.cluster import collect_cluster
from ciliumtui.engine.journal import Journal, read_journal, redact
from ciliumtui.options import Options
from ciliumtui.redact import redact_url
from ciliumtui.report import render_report

SECRET = "Pa55w0rd-in-the-url"
USERINFO = f"alice:{SECRET}@"


def with_userinfo(src: str, dst: Path) -> str:
    """`src` whose cluster server URL carries alice's password."""
    cfg = yaml.safe_load(Path(src).read_text())
    for cluster in cfg["clusters"]:
        scheme, rest = cluster["cluster"]["server"].split("://", 1)
        cluster["cluster"]["server"] = f"{scheme}://{USERINFO}{rest}"
    dst.write_text(yaml.safe_dump(cfg))
    return str(dst)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://alice:pw@10.0.0.1:6443", "https://***@10.0.0.1:6443"),
        ("https://token@[fd00::1]:6443/api", "https://***@[fd00::1]:6443/api"),
        ("http://a:p@ss@h:1/p?q=u@v", "http://***@h:1/p?q=u@v"),  # an unescaped @ in the password
        (
            "server 'https://u:p@h' and socks5://x:y@proxy:1080",
            "server 'https://***@h' and socks5://***@proxy:1080",
        ),
        ("https://10.0.0.1:6443/api?watch=1", "https://10.0.0.1:6443/api?watch=1"),
        ("mail alice@example.com", "mail alice@example.com"),
    ],
)
def test_redact_url(text, expected):
    assert redact_url(text) == expected


def test_the_journal_and_the_report_redact_urls(tmp_path):
    url = f"https://{USERINFO}10.0.0.1:6443"
    journal = Journal(tmp_path / "journal.jsonl")
    journal.write(
        {"kind": "step_finished", "message": f"GET {url}/version", "data": {"server": url}}
    )
    journal.close()
    body = (tmp_path / "journal.jsonl").read_text()
    assert SECRET not in body and "https://***@10.0.0.1:6443" in body
    records = read_journal(tmp_path / "journal.jsonl")
    records.append({"kind": "run_finished", "status": "failed", "message": url})  # unredacted
    assert SECRET not in render_report(records, "run-1")
    assert SECRET not in json.dumps(redact({"nested": [{"text": url}]}))


async def test_the_cluster_state_never_holds_the_password(tmp_path):
    with FakeApiServer(healthy_cluster()) as srv:
        kc = with_userinfo(srv.kubeconfig(tmp_path), tmp_path / "kc.yaml")
        state = await collect_cluster(Options(kubeconfig=kc, node="k3s-node1"), {})
    assert state.reachable and state.server == f"http://***@127.0.0.1:{srv.port}"
    with black_hole() as port:
        kc = tmp_path / "bh.yaml"
        kc.write_text(yaml.safe_dump(kubeconfig_dict(f"http://{USERINFO}127.0.0.1:{port}")))
        probes: dict = {}
        state = await collect_cluster(Options(kubeconfig=str(kc), timeout=0.5), probes)
    assert not state.reachable and state.server == f"http://***@127.0.0.1:{port}"
    assert SECRET not in repr(state) and SECRET not in repr(probes)


@pytest.mark.root
def test_no_output_and_no_file_holds_the_password(tmp_path):
    """diagnose (text and JSON), snapshot JSON, a playbook run's journal and its report."""
    state = tmp_path / "state"
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CILIUMTUI_STATE_DIR": str(state)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ciliumtui", *args],
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
            stdin=subprocess.DEVNULL,
        )

    outputs: list[str] = []
    with node_world("healthy", tmp_path, prefix="rd") as w:
        flags = w.flags()
        flags[flags.index("--kubeconfig") + 1] = with_userinfo(w.kubeconfig, tmp_path / "kc.yaml")
        for args in (["diagnose"], ["diagnose", "--json"], ["snapshot", "--json"]):
            res = cli(*args, *flags)
            assert res.returncode in (0, 1), res.stderr[-2000:]
            outputs += [res.stdout, res.stderr]
        snap = json.loads(outputs[-2])
        assert snap["cluster"]["reachable"] and snap["cluster"]["server"].startswith("http://***@")
        run = cli("run", "verify", "--yes", *flags)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        report = tmp_path / "incident.md"
        rep = cli("report", "--out", str(report), *flags)
        assert rep.returncode == 0, rep.stderr
        outputs += [run.stdout, run.stderr, rep.stdout, rep.stderr]
    files = [p for p in state.rglob("*") if p.is_file()] + [report]
    assert any(p.name == "journal.jsonl" for p in files)
    for text in outputs:
        assert SECRET not in text
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
