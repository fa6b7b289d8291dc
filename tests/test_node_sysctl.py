"""rp_filter: sysctl files in systemd-sysctl's order, live values read in the node's netns."""

from __future__ import annotations

import subprocess
import time

import pytest

from ciliumtui.errors import CiliumtuiError
from ciliumtui.node.sysctl import (
    apply_order,
    effective_rp_filter,
    normalize_key,
    parse_sysctl_text,
    read_rp_filter,
    read_sysctl_files,
)

HARDENING = "# CIS 3.3.7\nnet.ipv4.conf.all.rp_filter = 1\nnet.ipv4.conf.default.rp_filter=1\n"
CILIUM_OVERRIDE = (
    "-net.ipv4.conf.lxc*.rp_filter = 0\n"
    "-net.ipv4.conf.cilium_*.rp_filter = 0\n"
    "net.ipv4.conf.all.rp_filter = 0\n"
)


def write(root, path, text):
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def settings(root):
    return [(s.file, s.key, s.value) for s in read_sysctl_files(str(root))]


def test_no_sysctl_files_no_settings(tmp_path):
    assert read_sysctl_files(str(tmp_path)) == []


def test_a_hardening_file_after_ciliums_override_wins(tmp_path):
    """Cilium's 99-zzz-override sorts before a 99-zzzz hardening file in /usr/lib:
    the list is in the order applied, so its last `all` entry is the one in force."""
    write(tmp_path, "/etc/sysctl.d/99-zzz-override_cilium.conf", CILIUM_OVERRIDE)
    write(tmp_path, "/usr/lib/sysctl.d/99-zzzz-hardening.conf", HARDENING)
    write(tmp_path, "/usr/lib/sysctl.d/50-default.conf", "net.ipv4.conf.default.rp_filter = 2\n")
    write(tmp_path, "/etc/sysctl.d/10-other.conf", "vm.swappiness = 10\n")
    got = settings(tmp_path)
    assert got == [
        ("/usr/lib/sysctl.d/50-default.conf", "net.ipv4.conf.default.rp_filter", "2"),
        ("/etc/sysctl.d/99-zzz-override_cilium.conf", "net.ipv4.conf.lxc*.rp_filter", "0"),
        ("/etc/sysctl.d/99-zzz-override_cilium.conf", "net.ipv4.conf.cilium_*.rp_filter", "0"),
        ("/etc/sysctl.d/99-zzz-override_cilium.conf", "net.ipv4.conf.all.rp_filter", "0"),
        ("/usr/lib/sysctl.d/99-zzzz-hardening.conf", "net.ipv4.conf.all.rp_filter", "1"),
        ("/usr/lib/sysctl.d/99-zzzz-hardening.conf", "net.ipv4.conf.default.rp_filter", "1"),
    ]
    assert [v for f, k, v in got if k == "net.ipv4.conf.all.rp_filter"][-1] == "1"


def test_etc_overrides_a_same_named_vendor_file_and_dev_null_masks(tmp_path):
    write(tmp_path, "/usr/lib/sysctl.d/50-rp.conf", "net.ipv4.conf.all.rp_filter = 1\n")
    write(tmp_path, "/etc/sysctl.d/50-rp.conf", "net.ipv4.conf.all.rp_filter = 2\n")
    write(tmp_path, "/lib/sysctl.d/60-masked.conf", "net.ipv4.conf.all.rp_filter = 1\n")
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/null").write_text("")
    (tmp_path / "etc/sysctl.d/60-masked.conf").symlink_to("/dev/null")
    assert settings(tmp_path) == [("/etc/sysctl.d/50-rp.conf", "net.ipv4.conf.all.rp_filter", "2")]


def test_etc_sysctl_conf_through_the_distro_link_and_without_it(tmp_path):
    write(tmp_path, "/etc/sysctl.conf", "net.ipv4.conf.all.rp_filter=1\n")
    write(tmp_path, "/etc/sysctl.d/zz-late.conf", "net.ipv4.conf.all.rp_filter=0\n")
    # without the link procps' `sysctl --system` applies /etc/sysctl.conf last
    assert [f for f, _, _ in settings(tmp_path)] == [
        "/etc/sysctl.d/zz-late.conf",
        "/etc/sysctl.conf",
    ]
    (tmp_path / "etc/sysctl.d/99-sysctl.conf").symlink_to("../sysctl.conf")
    assert [f for f, _, _ in settings(tmp_path)] == [
        "/etc/sysctl.conf",
        "/etc/sysctl.d/zz-late.conf",
    ]


def test_slash_keys_comments_and_garbage(tmp_path):
    write(
        tmp_path,
        "/etc/sysctl.d/30-mixed.conf",
        "; semicolon comment\n"
        "  # indented comment\n"
        "net/ipv4/conf/eth0.100/rp_filter = 2\n"
        "this line has no equals sign\n"
        "= no key\n"
        "net.ipv4.conf.eth0.rp_filter =\n"
        "net.ipv6.conf.all.forwarding = 1\n",
    )
    (tmp_path / "etc/sysctl.d/40-binary.conf").write_bytes(
        b"\xff\xfe\x00net.ipv4.conf.all.rp_filter"
    )
    (tmp_path / "etc/sysctl.d/50-loop.conf").symlink_to("50-loop.conf")
    (tmp_path / "etc/sysctl.d/notconf.txt").write_text("net.ipv4.conf.all.rp_filter = 1\n")
    assert settings(tmp_path) == [
        ("/etc/sysctl.d/30-mixed.conf", "net.ipv4.conf.eth0.100.rp_filter", "2"),
        ("/etc/sysctl.d/30-mixed.conf", "net.ipv4.conf.eth0.rp_filter", ""),
    ]


def test_pure_helpers():
    assert normalize_key("net/ipv4/conf/eth0.100/rp_filter") == "net.ipv4.conf.eth0.100.rp_filter"
    assert normalize_key(" net.ipv4.conf.all.rp_filter ") == "net.ipv4.conf.all.rp_filter"
    assert parse_sysctl_text("-a.b = 1\n#x=2\n") == [("a.b", "1")]
    listing = {"/usr/lib/sysctl.d": ["10-a.conf", "99-z.conf"], "/etc/sysctl.d": ["10-a.conf"]}
    assert apply_order(listing) == ["/etc/sysctl.d/10-a.conf", "/usr/lib/sysctl.d/99-z.conf"]
    assert effective_rp_filter({"all": 1, "lxc1": 0}, "lxc1") == 1
    assert effective_rp_filter({"all": 0, "lxc1": 2}, "lxc1") == 2
    assert effective_rp_filter({}, "eth0") == 0


# ------------------------------------------------------------ live, in a netns


def sysctl_w(ns, *assignments):
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", *assignments], check=True)


@pytest.mark.root
def test_rp_filter_is_read_in_the_nodes_netns(make_netns):
    ns = make_netns("rp")
    subprocess.run(
        [
            "ip",
            "-n",
            ns,
            "link",
            "add",
            "cilium_host",
            "type",
            "veth",
            "peer",
            "name",
            "cilium_net",
        ],
        check=True,
    )
    subprocess.run(
        ["ip", "-n", ns, "link", "add", "lxc0123456789a", "type", "veth", "peer", "name", "eth9"],
        check=True,
    )
    sysctl_w(
        ns,
        "net.ipv4.conf.all.rp_filter=1",
        "net.ipv4.conf.cilium_host.rp_filter=0",
        "net.ipv4.conf.eth9.rp_filter=2",
    )
    with open("/proc/sys/net/ipv4/conf/all/rp_filter") as f:
        here = int(f.read())
    rp = read_rp_filter(ns)
    assert rp["all"] == 1 and rp["cilium_host"] == 0 and rp["eth9"] == 2
    assert {"default", "lo", "cilium_net", "lxc0123456789a"} <= set(rp)
    assert effective_rp_filter(rp, "cilium_host") == 1  # all=1 overrules the device's 0
    # this namespace's own value is untouched and not what was read
    with open("/proc/sys/net/ipv4/conf/all/rp_filter") as f:
        assert int(f.read()) == here
    sysctl_w(ns, "net.ipv4.conf.all.rp_filter=0")
    assert read_rp_filter(ns)["all"] == 0


@pytest.mark.root
def test_a_missing_netns_is_one_clear_error():
    with pytest.raises(CiliumtuiError, match="cannot enter network namespace no-such-ns-x1"):
        read_rp_filter("no-such-ns-x1")


@pytest.mark.root
def test_rp_filter_on_500_devices_is_fast(make_netns, tmp_path):
    """setns thread vs `ip netns exec … grep`: the probe's method must stay the cheaper one."""
    ns = make_netns("rp500")
    batch = tmp_path / "links.batch"
    batch.write_text("".join(f"link add va{i} type veth peer name vb{i}\n" for i in range(250)))
    subprocess.run(["ip", "-n", ns, "-b", str(batch)], check=True)
    sysctl_w(ns, "net.ipv4.conf.va7.rp_filter=2")

    def best(fn, n=5):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        return min(times)

    rp = read_rp_filter(ns)
    assert len(rp) == 503 and rp["va7"] == 2  # 500 + all, default, lo
    setns_ms = best(lambda: read_rp_filter(ns))
    argv = [
        "ip",
        "netns",
        "exec",
        ns,
        "grep",
        "-r",
        "",
        "--include=rp_filter",
        "/proc/sys/net/ipv4/conf",
    ]
    exec_ms = best(lambda: subprocess.run(argv, capture_output=True, check=True))
    print(
        f"rp_filter, 500 devices: setns thread {setns_ms:.1f} ms, ip netns exec grep {exec_ms:.1f} ms"
    )
    assert setns_ms < exec_ms and setns_ms < 250
