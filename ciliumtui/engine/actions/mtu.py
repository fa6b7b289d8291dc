"""mtu.detect: the uplink's MTU (the default route's device, as the mtu-mismatch
check reads it), Cilium's devices' MTUs and the `mtu` cilium-config pins, for the
mtu-fix playbook to decide: a pinned value is set to the uplink's (helm value
`mtu`, or the cilium-config key without helm), an unpinned one needs only an
agent restart, which detects the uplink's MTU again.
"""

from __future__ import annotations

from typing import Any

from ...errors import CiliumtuiError
from . import kubeobj
from .base import Action, ActionContext, ActionResult, register


def pinned(value: Any) -> int | None:
    """cilium-config's `mtu` as the agent reads it: 0 or unset means auto-detect."""
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


@register
class MtuDetect(Action):
    name = "mtu.detect"
    summary = "the uplink's MTU, Cilium's device MTUs and the MTU cilium-config pins (if any)"

    async def run(self, ctx: ActionContext) -> ActionResult:
        from ...checks.mtu import cilium_devices, uplink
        from ...collect import collect_node_only
        from ...model import Snapshot

        node = await collect_node_only(ctx.opts, {})
        snap = Snapshot(node_name=ctx.opts.node_name, taken_at="", node=node)
        up = uplink(snap)
        if up is None:
            raise CiliumtuiError("no uplink: no default route through a device with an MTU")
        link, _route = up
        devices = {d.name: d.mtu for d in cilium_devices(snap)}
        config = None
        try:
            _ref, cm = await kubeobj.get(ctx, kubeobj.CONFIGMAP, "kube-system", "cilium-config")
            config = pinned((cm.get("data") or {}).get("mtu"))
        except CiliumtuiError as exc:
            ctx.out(f"(cilium-config not read: {exc})")
        above = sorted(n for n, m in devices.items() if isinstance(m, int) and m > link.mtu)
        ctx.out(f"uplink {link.name}: MTU {link.mtu}")
        if above:
            ctx.out(f"above it: {', '.join(f'{n} {devices[n]}' for n in above[:6])}")
        ctx.out(
            f"cilium-config pins mtu {config}: it is set to {link.mtu}"
            if config
            else "cilium-config pins no mtu: an agent restart detects the uplink's again"
        )
        return ActionResult(
            ok=True,
            data={
                "uplink": link.name,
                "uplink_mtu": link.mtu,
                "devices": devices,
                "above": above,
                "config_mtu": config,
                "pinned": config is not None,
            },
        )
