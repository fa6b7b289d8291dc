"""CNI config dirs read under --host-root: every file, its plugins, Cilium's renames."""

from __future__ import annotations

import json
import os

import pytest

from ciliumtui.node.cni import K3S_CNI_DIR, parse_cni_config, read_cni
from ciliumtui.node.host import read_host
from ciliumtui.options import Options
from ciliumtui.ownership import runtime_cni_config
from ciliumtui.sim.host_root import build_host_root
from ciliumtui.sim.scenario import deep_merge, load_scenario

FLANNEL_K3S = {  # what k3s writes into its own CNI dir when flannel is on
    "name": "cbr0",
    "cniVersion": "1.0.0",
    "plugins": [
        {"type": "flannel", "delegate": {"hairpinMode": True, "forceAddress": True}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "bandwidth", "capabilities": {"bandwidth": True}},
    ],
}


def host(tmp_path, overrides=None):
    sc = deep_merge(load_scenario("healthy"), overrides or {})
    build_host_root(sc, tmp_path)
    return read_host(Options(host_root=str(tmp_path)))


def test_healthy_node_has_only_ciliums_config(tmp_path):
    h = host(tmp_path)
    assert h.cni_dirs == ["/etc/cni/net.d", K3S_CNI_DIR]  # k3s: both dirs are read
    [f] = h.cni_files
    assert (f.name, f.dir, f.cilium, f.backup, f.plugins, f.error) == (
        "05-cilium.conflist",
        "/etc/cni/net.d",
        True,
        False,
        ["cilium-cni"],
        None,
    )
    assert runtime_cni_config([x.name for x in h.cni_files]) == "05-cilium.conflist"


def test_without_k3s_only_etc_cni_is_read(tmp_path):
    h = host(tmp_path, {"host": {"k3s": None}})
    assert h.cni_dirs == ["/etc/cni/net.d"]


def test_a_foreign_config_that_wins_and_a_renamed_backup(tmp_path):
    h = host(
        tmp_path,
        {
            "host": {
                "cni_files": [
                    "05-cilium.conflist",
                    "10-flannel.conflist.cilium_bak",
                    {"name": "00-calico.conf", "content": json.dumps({"type": "calico"})},
                    {
                        "name": "10-flannel.conflist",
                        "dir": "k3s",
                        "content": json.dumps(FLANNEL_K3S),
                    },
                ]
            }
        },
    )
    by = {(f.dir, f.name): f for f in h.cni_files}
    assert list(by) == [
        ("/etc/cni/net.d", "00-calico.conf"),
        ("/etc/cni/net.d", "05-cilium.conflist"),
        ("/etc/cni/net.d", "10-flannel.conflist.cilium_bak"),
        (K3S_CNI_DIR, "10-flannel.conflist"),
    ]
    assert by[("/etc/cni/net.d", "00-calico.conf")].plugins == ["calico"]
    bak = by[("/etc/cni/net.d", "10-flannel.conflist.cilium_bak")]
    assert bak.backup and not bak.cilium and bak.plugins == ["flannel", "portmap"]
    assert by[(K3S_CNI_DIR, "10-flannel.conflist")].plugins == ["flannel", "portmap", "bandwidth"]
    etc = [f.name for f in h.cni_files if f.dir == "/etc/cni/net.d"]
    assert runtime_cni_config(etc) == "00-calico.conf"  # sorts before Cilium's: it wins


def test_garbage_is_data_not_a_failure(tmp_path):
    build_host_root(load_scenario("healthy"), tmp_path)
    d = tmp_path / "etc/cni/net.d"
    (d / "01-broken.conflist").write_text('{"plugins": [')
    (d / "02-list.json").write_text("[1, 2]")
    (d / "03-noplugins.conflist").write_text('{"name": "x"}')
    (d / "04-notype.conf").write_text('{"name": "x"}')
    (d / "06-huge.conf").write_bytes(b" " * (2 << 20))
    (d / "07-binary.conf").write_bytes(b"\xff\xfe\x00\x01")
    (d / "08-dangling.conf").symlink_to("/nonexistent/target.conf")
    (d / "09-unreadable.conf").write_text('{"type": "bridge"}')
    (d / "README").write_text("not a config")
    (d / "multus.d").mkdir()
    os.chmod(d / "09-unreadable.conf", 0)
    h = read_host(Options(host_root=str(tmp_path)))
    errors = {f.name: f.error for f in h.cni_files}
    assert errors["01-broken.conflist"].startswith("not JSON")
    assert errors["02-list.json"] == "not a JSON object"
    assert errors["03-noplugins.conflist"] == 'no "plugins" list'
    assert errors["04-notype.conf"] == 'no "type"'
    assert "larger than" in errors["06-huge.conf"]
    assert errors["07-binary.conf"].startswith("not JSON")
    assert errors["08-dangling.conf"].startswith("unreadable")
    assert errors["README"] is None and "multus.d" not in errors
    assert errors["05-cilium.conflist"] is None
    if os.geteuid() != 0:  # root reads a mode-0 file anyway
        assert errors["09-unreadable.conf"].startswith("unreadable")


def test_an_absolute_symlink_is_read_inside_the_host_root(tmp_path):
    build_host_root(load_scenario("healthy"), tmp_path)
    real = tmp_path / "opt/cni/conf/10-bridge.conf"
    real.parent.mkdir(parents=True)
    real.write_text(json.dumps({"type": "bridge"}))
    (tmp_path / "etc/cni/net.d/10-bridge.conf").symlink_to("/opt/cni/conf/10-bridge.conf")
    dirs, files = read_cni(str(tmp_path), k3s=False)
    assert [(f.name, f.plugins) for f in files][1] == ("10-bridge.conf", ["bridge"])


def test_missing_dirs_list_nothing(tmp_path):
    assert read_cni(str(tmp_path), k3s=True) == (["/etc/cni/net.d", K3S_CNI_DIR], [])


@pytest.mark.parametrize(
    ("name", "doc", "plugins"),
    [
        ("05-cilium.conflist", {"plugins": [{"type": "cilium-cni"}]}, ["cilium-cni"]),
        ("10-bridge.conf", {"type": "bridge"}, ["bridge"]),
        ("10-x.json", {"type": "macvlan"}, ["macvlan"]),
        ("10-x.conf", {"plugins": [{"type": "a"}, {"type": "b"}]}, ["a", "b"]),
        ("10-f.conflist.cilium_bak", {"plugins": [{"type": "flannel"}]}, ["flannel"]),
    ],
)
def test_parse_plugins(name, doc, plugins):
    assert parse_cni_config(name, json.dumps(doc)) == (plugins, None)


def test_runtime_config_is_the_first_config_by_name():
    names = ["README", "99-z.conf", "10-flannel.conflist.cilium_bak", "05-cilium.conflist"]
    assert runtime_cni_config(names) == "05-cilium.conflist"
    assert runtime_cni_config(["00-a.json", "05-cilium.conflist"]) == "00-a.json"
    assert runtime_cni_config(["x.cilium_bak", "README"]) is None
