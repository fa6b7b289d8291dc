"""Container logs for `kubectl logs` against the simulator (GET pods/<name>/log).

Only what a trainee looks at: the cilium agent's start-up lines, and for a
crash-looping agent the fatal line that ends each run. A scenario can replace the
agent's log with `cluster.cilium.log` (text), and a crash-looping CoreDNS's with
`cluster.coredns.log` (e.g. plugin/loop's `[FATAL] … Loop … detected`).
"""

from __future__ import annotations

from typing import Any

_AGENT_START = """\
time="{t}" level=info msg="Memory available for map entries (0.003% of 8222339072B): 20555847B" subsys=config
time="{t}" level=info msg="  --cluster-pool-ipv4-cidr='{pool}'" subsys=daemon
time="{t}" level=info msg="  --routing-mode='{routing}'" subsys=daemon
time="{t}" level=info msg="Cilium {version} go version go1.24.4 linux/amd64" subsys=daemon
time="{t}" level=info msg="Establishing connection to apiserver" host="https://10.43.0.1:443" subsys=k8s-client
time="{t}" level=info msg="Connected to apiserver" subsys=k8s-client
"""
_AGENT_OK = """\
time="{t}" level=info msg="Initializing daemon" subsys=daemon
time="{t}" level=info msg="Daemon initialization completed" bootstrapTime=4.2s subsys=daemon
time="{t}" level=info msg="Launching Cilium health daemon" subsys=daemon
"""
_AGENT_FATAL = """\
time="{t}" level=info msg="Initializing daemon" subsys=daemon
time="{t}" level=error msg="Start hook failed" error="failed to install iptables rules: unable to run 'iptables -t mangle -A CILIUM_PRE_mangle': exit status 1: iptables: Chain already exists." subsys=hive
time="{t}" level=fatal msg="failed to start: failed to install iptables rules" subsys=daemon
"""
_GENERIC = 'time="{t}" level=info msg="started"\n'
_COREDNS = """\
.:53
[INFO] plugin/reload: Running configuration SHA512 = 1b226df79860026c6a52e67daa10d7f0d57ec5b023288ec00c5e05f93523c894564e15b91770d3a07ae1cfbe861d15b37d4a0027e69c546ab112970993a3b03b
CoreDNS-1.12.0
linux/amd64, go1.23.3, 51e11f1
"""


def pod_log(pod: dict[str, Any], scenario: dict[str, Any], *, previous: bool = False) -> str:
    labels = pod["metadata"].get("labels") or {}
    started = (pod.get("status") or {}).get("startTime") or pod["metadata"].get(
        "creationTimestamp", ""
    )
    crashloop = any(
        ((cs.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"
        for cs in (pod.get("status") or {}).get("containerStatuses") or []
    )
    if labels.get("k8s-app") == "kube-dns":
        own = (scenario["cluster"].get("coredns") or {}).get("log")
        # the last run of a crash-looping CoreDNS died with the scenario's words
        return str(own).rstrip("\n") + "\n" if own and crashloop else _COREDNS
    if labels.get("k8s-app") != "cilium":
        return _GENERIC.format(t=started)
    cilium = scenario["cluster"].get("cilium") or {}
    if cilium.get("log"):
        return str(cilium["log"]).rstrip("\n") + "\n"
    config = cilium.get("config") or {}
    head = _AGENT_START.format(
        t=started,
        pool=config.get("cluster-pool-ipv4-cidr", ""),
        routing=config.get("routing-mode", "tunnel"),
        version=str(cilium.get("version", "")).lstrip("v"),
    )
    # A crash-looping container is waiting: its current log is the last run's, like kubelet's.
    return head + (_AGENT_FATAL if crashloop or previous else _AGENT_OK).format(t=started)
