"""Host facts read under --host-root: kernel, mounts, resolv.conf, CNI files, k3s."""

from __future__ import annotations

import os

from ciliumtui.node.agent import read_pid
from ciliumtui.node.host import parse_exec_flags, read_host
from ciliumtui.options import Options
from ciliumtui.sim.host_root import build_host_root
from ciliumtui.sim.scenario import deep_merge, load_scenario


def host_for(tmp_path, overrides=None):
    sc = load_scenario("healthy")
    if overrides:
        sc = deep_merge(sc, overrides)
    build_host_root(sc, tmp_path)
    return read_host(Options(host_root=str(tmp_path)))


def test_healthy_host_root(tmp_path):
    h = host_for(tmp_path)
    assert (h.hostname, h.kernel) == ("k3s-node1", "6.1.0-18-amd64")
    assert h.bpffs_mounted and "/sys/fs/cgroup" in h.cgroup2_mounts
    assert h.nameservers == ["192.168.1.1"]
    assert [(f.name, f.cilium, f.backup) for f in h.cni_files] == [
        ("05-cilium.conflist", True, False)
    ]
    k = h.k3s
    assert k is not None and k.present
    assert k.unit_file == str(tmp_path / "etc/systemd/system/k3s.service")
    assert k.kubeconfig == str(tmp_path / "etc/rancher/k3s/k3s.yaml")
    assert (k.flannel_backend, k.cluster_cidr, k.service_cidr, k.cluster_dns) == (
        "none",
        ["10.42.0.0/16"],
        ["10.43.0.0/16"],
        "10.43.0.10",
    )
    assert k.disable_network_policy and not k.disable_kube_proxy and k.stop_hook


def test_stop_hook_drop_in_is_detected(tmp_path):
    assert host_for(tmp_path, {"host": {"k3s": {"stop_hook": True}}}).k3s.stop_hook


def test_stop_hook_in_the_unit_itself(tmp_path):
    host_for(tmp_path)
    unit = tmp_path / "etc/systemd/system/k3s.service"
    unit.write_text(unit.read_text() + "ExecStopPost=/bin/sh -c 'ip link delete cilium_host'\n")
    assert read_host(Options(host_root=str(tmp_path))).k3s.stop_hook


def test_an_unrelated_stop_command_is_not_a_hook(tmp_path):
    host_for(tmp_path, {"host": {"k3s": {"stop_hook": False}}})
    unit = tmp_path / "etc/systemd/system/k3s.service"
    unit.write_text(unit.read_text() + "ExecStopPost=/usr/local/bin/k3s-killall.sh\n")
    assert not read_host(Options(host_root=str(tmp_path))).k3s.stop_hook


def test_execstart_flags_override_the_config_file(tmp_path):
    h = host_for(
        tmp_path,
        {
            "host": {
                "k3s": {
                    "exec_flags": [
                        "--disable-kube-proxy",
                        "--cluster-cidr=10.52.0.0/16",
                        "--kubelet-arg=max-pods=250",
                    ]
                }
            }
        },
    )
    assert h.k3s.disable_kube_proxy and h.k3s.cluster_cidr == ["10.52.0.0/16"]
    assert h.k3s.max_pods == 250 and h.k3s.flannel_backend == "none"


def test_config_drop_ins_merge_in_order(tmp_path):
    host_for(tmp_path)
    d = tmp_path / "etc/rancher/k3s/config.yaml.d"
    d.mkdir()
    (d / "10-dns.yaml").write_text("cluster-dns: 10.53.0.10\nkubelet-arg: [max-pods=50]\n")
    (d / "20-more.yaml").write_text('kubelet-arg+: ["v=2"]\ncluster-domain: corp.local\n')
    k = read_host(Options(host_root=str(tmp_path))).k3s
    assert k.cluster_dns == "10.53.0.10" and k.max_pods == 50 and k.cluster_domain == "corp.local"


def test_exec_flags_parsing_quoting_and_booleans():
    flags = parse_exec_flags(
        "/usr/local/bin/k3s server '--flannel-backend=none' --disable-network-policy "
        "--service-cidr 10.96.0.0/12 --disable traefik --disable servicelb"
    )
    assert flags == {
        "flannel-backend": "none",
        "disable-network-policy": "true",
        "service-cidr": "10.96.0.0/12",
        "disable": ["traefik", "servicelb"],
    }


def test_no_k3s_no_bpffs_and_a_cni_backup(tmp_path):
    h = host_for(
        tmp_path,
        {
            "host": {
                "k3s": None,
                "bpffs": False,
                "cni_files": ["05-cilium.conflist", "10-flannel.conflist.cilium_bak"],
            }
        },
    )
    assert h.k3s is None and not h.bpffs_mounted
    backup = [f for f in h.cni_files if f.backup]
    assert [f.name for f in backup] == ["10-flannel.conflist.cilium_bak"] and not backup[0].cilium


def test_systemd_resolved_stub_reads_the_real_upstreams(tmp_path):
    host_for(tmp_path, {"host": {"nameservers": ["127.0.0.53"]}})
    real = tmp_path / "run/systemd/resolve/resolv.conf"
    real.parent.mkdir(parents=True)
    real.write_text("# upstreams\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n")
    assert read_host(Options(host_root=str(tmp_path))).nameservers == ["10.0.0.2", "10.0.0.3"]


def test_empty_host_root_gives_empty_facts(tmp_path):
    h = read_host(Options(host_root=str(tmp_path)))
    assert h.kernel is None and h.nameservers == [] and h.cni_files == [] and h.k3s is None


def test_pidfile_live_stale_and_absent(tmp_path):
    host_for(tmp_path)  # agent_running: true -> this process's pid
    assert read_pid(Options(host_root=str(tmp_path)))[1:] == (os.getpid(), True)
    stale = tmp_path / "stale"
    build_host_root(
        deep_merge(load_scenario("healthy"), {"host": {"agent_running": "stale"}}), stale
    )
    path, pid, alive = read_pid(Options(host_root=str(stale)))
    assert path and pid and not alive
    gone = tmp_path / "gone"
    build_host_root(deep_merge(load_scenario("healthy"), {"host": {"agent_running": False}}), gone)
    assert read_pid(Options(host_root=str(gone))) == (None, None, False)


def test_k3s_agent_unit_is_found(tmp_path):
    h = host_for(tmp_path, {"host": {"k3s": {"unit": "k3s-agent", "stop_hook": True}}})
    assert h.k3s.unit_file.endswith("etc/systemd/system/k3s-agent.service")
    assert h.k3s.stop_hook


# ------------------------------------------------------------- wave 2: k3s details


def test_healthy_server_role_flannel_source_and_hook_binary(tmp_path):
    k = host_for(tmp_path).k3s
    assert k.role == "server"
    assert (k.flannel_backend, k.flannel_backend_source) == ("none", "config.yaml")
    assert k.stop_hook_binary == "/usr/local/bin/ciliumtui" and k.stop_hook_binary_exists
    assert k.resolv_conf is None


def test_agent_role_from_the_agent_unit(tmp_path):
    host_for(tmp_path, {"host": {"k3s": {"unit": "k3s-agent"}}})
    (tmp_path / "etc/rancher/k3s/config.yaml").write_text("server: https://10.0.0.1:6443\n")
    k = read_host(Options(host_root=str(tmp_path))).k3s
    assert k.role == "agent" and k.flannel_backend is None and k.flannel_backend_source is None


def test_flannel_backend_later_sources_win_and_are_named(tmp_path):
    sc = {
        "host": {
            "k3s": {
                "config_d": {
                    "10-net.yaml": {"flannel-backend": "vxlan"},
                    "20-other.yaml": {"write-kubeconfig-mode": "0600"},
                }
            }
        }
    }
    k = host_for(tmp_path, sc).k3s
    assert (k.flannel_backend, k.flannel_backend_source) == ("vxlan", "config.yaml.d/10-net.yaml")
    k = host_for(
        tmp_path / "b",
        {
            **sc,
            "host": {
                **sc["host"],
                "k3s": {**sc["host"]["k3s"], "exec_flags": ["--flannel-backend=none"]},
            },
        },
    ).k3s
    assert (k.flannel_backend, k.flannel_backend_source) == ("none", "ExecStart")


def test_yaml_and_yml_drop_ins_sort_together(tmp_path):
    host_for(tmp_path)
    d = tmp_path / "etc/rancher/k3s/config.yaml.d"
    d.mkdir()
    (d / "20-b.yml").write_text("flannel-backend: host-gw\n")
    (d / "10-a.yaml").write_text("flannel-backend: wireguard-native\n")
    k = read_host(Options(host_root=str(tmp_path))).k3s
    assert (k.flannel_backend, k.flannel_backend_source) == ("host-gw", "config.yaml.d/20-b.yml")


def test_resolv_conf_from_flag_and_kubelet_arg(tmp_path):
    k = host_for(
        tmp_path, {"host": {"k3s": {"exec_flags": ["--resolv-conf=/etc/k3s-resolv.conf"]}}}
    ).k3s
    assert k.resolv_conf == "/etc/k3s-resolv.conf"
    k = host_for(
        tmp_path / "b",
        {
            "host": {
                "k3s": {
                    "config": {
                        "resolv-conf": "/a.conf",
                        "kubelet-arg": ["resolv-conf=/run/systemd/resolve/resolv.conf"],
                    }
                }
            }
        },
    ).k3s
    assert k.resolv_conf == "/run/systemd/resolve/resolv.conf"  # kubelet-arg is applied last


def test_stop_hook_binary_missing_or_not_executable(tmp_path):
    k = host_for(tmp_path, {"host": {"k3s": {"stop_hook_binary": False}}}).k3s
    assert k.stop_hook and k.stop_hook_binary == "/usr/local/bin/ciliumtui"
    assert not k.stop_hook_binary_exists
    stub = tmp_path / "usr/local/bin/ciliumtui"
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o644)
    assert not read_host(Options(host_root=str(tmp_path))).k3s.stop_hook_binary_exists
    stub.chmod(0o755)
    assert read_host(Options(host_root=str(tmp_path))).k3s.stop_hook_binary_exists


def test_stop_hook_binary_symlink_resolves_inside_the_host_root(tmp_path):
    """An absolute symlink (a venv's console script linked into /usr/local/bin) is followed
    inside the host root, never into this machine's /."""
    k = host_for(tmp_path, {"host": {"k3s": {"stop_hook_binary": False}}})
    link = tmp_path / "usr/local/bin/ciliumtui"
    link.parent.mkdir(parents=True)
    link.symlink_to("/bin/sh")  # exists on this machine, not in the host root
    assert not read_host(Options(host_root=str(tmp_path))).k3s.stop_hook_binary_exists
    target = tmp_path / "opt/ciliumtui/bin/ciliumtui"
    target.parent.mkdir(parents=True)
    target.write_text("#!/bin/sh\n")
    target.chmod(0o755)
    link.unlink()
    link.symlink_to("/opt/ciliumtui/bin/ciliumtui")
    assert read_host(Options(host_root=str(tmp_path))).k3s.stop_hook_binary_exists
    assert k.k3s.stop_hook


def test_stop_hook_in_a_vendor_unit_dir_drop_in_and_reset(tmp_path):
    """The unit in /lib, the hook's drop-in in /etc (where k3s.hook writes it); an empty
    ExecStopPost= in a later drop-in clears the hook, as systemd does."""
    host_for(tmp_path, {"host": {"k3s": {"stop_hook": False}}})
    etc_unit = tmp_path / "etc/systemd/system/k3s.service"
    lib_unit = tmp_path / "lib/systemd/system/k3s.service"
    lib_unit.parent.mkdir(parents=True)
    etc_unit.rename(lib_unit)
    dropin = tmp_path / "etc/systemd/system/k3s.service.d/10-ciliumtui-cleanup.conf"
    dropin.parent.mkdir(parents=True)
    dropin.write_text("[Service]\nExecStopPost=-/bin/true cilium\n")
    (tmp_path / "bin").mkdir(exist_ok=True)
    (tmp_path / "bin/true").write_text("")
    (tmp_path / "bin/true").chmod(0o755)
    k = read_host(Options(host_root=str(tmp_path))).k3s
    assert k.unit_file.endswith("lib/systemd/system/k3s.service") and k.role == "server"
    assert k.stop_hook and k.stop_hook_binary == "/bin/true" and k.stop_hook_binary_exists
    (dropin.parent / "90-reset.conf").write_text("[Service]\nExecStopPost=\n")
    k = read_host(Options(host_root=str(tmp_path))).k3s
    assert not k.stop_hook and k.stop_hook_binary is None


def test_flannel_subnet_env_and_resolved_upstreams(tmp_path):
    h = host_for(tmp_path)
    assert not h.flannel_subnet_env and h.resolved_nameservers == []
    h = host_for(
        tmp_path / "b",
        {"host": {"flannel_subnet_env": True, "resolved_nameservers": ["10.0.0.2", "fd00::1"]}},
    )
    assert h.flannel_subnet_env and h.resolved_nameservers == ["10.0.0.2", "fd00::1"]


def test_garbage_k3s_files_never_raise(tmp_path):
    host_for(tmp_path)
    (tmp_path / "etc/rancher/k3s/config.yaml").write_text("flannel-backend: [unclosed\n")
    d = tmp_path / "etc/rancher/k3s/config.yaml.d"
    d.mkdir()
    (d / "10-binary.yaml").write_bytes(b"\xff\xfe\x00garbage: [")
    (d / "20-loop.yaml").symlink_to("20-loop.yaml")
    unit = tmp_path / "etc/systemd/system/k3s.service"
    unit.write_text(unit.read_text() + 'ExecStopPost="unclosed quote cilium\n')
    k = read_host(Options(host_root=str(tmp_path))).k3s
    assert k.present and k.flannel_backend is None and k.stop_hook
