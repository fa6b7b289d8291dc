"""sysctl.rp-filter: take strict rp_filter off Cilium's devices, now and after a reboot.

The kernel filters a device with max(conf.all.rp_filter, conf.<dev>.rp_filter).
Replies to local pods come in on cilium_host/lxc* from addresses routed via
other devices, so any non-zero effective value drops them (cilium#10645).

The setting chosen, and why it is the safe minimal one:
- Cilium's devices get 0: cilium_* and lxc_health by name, endpoint veths by the
  glob lxc + 5 hex (the glob persists it for devices created later: udev applies
  sysctl.d globs to each new device; `lxc[0-9a-f]…` never matches lxcbr0).
- `conf.all` goes to 0 only when it is non-zero (live, or in the sysctl files
  that apply at boot): a per-device 0 means nothing while all=1.
- Lowering `all` would also loosen every other device, so each non-Cilium device
  whose own value is below the old `all` is pinned to that value first: the
  hardening stays in force everywhere except on Cilium's devices. `default` is
  left alone, so devices created later keep the hardening too.
- The drop-in is named to sort after every other file that sets rp_filter
  (99-zzzz-… after Cilium's own 99-zzz-override_cilium.conf and a hardening
  99-zzz… file), as systemd-sysctl applies files in name order.
Live values are written with `sysctl -w` in the node's netns, pins first and
`all` last, so no device is ever looser than the end state. Everything goes through
the node's backend: the values and sysctl files it reports, its `sysctl -w`
commands (the plan prints them as they run), its host files for the drop-in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import CiliumtuiError
from ...model import SysctlSetting
from ...node.backend import Command, CommandFailed, NodeBackend, shell_text
from ...node.sysctl import effective_rp_filter
from ...ownership import is_cilium_link
from . import hostfiles
from .base import Action, ActionContext, ActionResult, register

DROPIN_DIR = "/etc/sysctl.d"
# In order of preference; the first that sorts after every other rp_filter file is used.
DROPIN_NAMES = (
    "99-zzzz-ciliumtui-rp-filter.conf",
    "zzzz-ciliumtui-rp-filter.conf",
    "~ciliumtui-rp-filter.conf",
)
LXC_GLOB = "lxc" + "[0-9a-f]" * 5 + "*"
NOT_PINNED = ("all", "default", "lo")


def is_cilium_device(dev: str) -> bool:
    return is_cilium_link(dev) or dev.startswith("cilium_")


def rp_key(dev: str) -> str:
    """The sysctl key of a device; a name with dots needs the slash form (sysctl.d(5))."""
    if "." in dev:
        return f"net/ipv4/conf/{dev}/rp_filter"
    return f"net.ipv4.conf.{dev}.rp_filter"


@dataclass
class RpFilterFix:
    live: list[tuple[str, int]] = field(default_factory=list)  # (device, value), in order
    dropin: str | None = None  # node path of the drop-in
    text: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.live and self.dropin is None


def choose_dropin(settings: list[SysctlSetting]) -> str:
    others = [s.file.rsplit("/", 1)[1] for s in settings]
    others = [n for n in others if n not in DROPIN_NAMES]
    for name in DROPIN_NAMES:
        if all(name > other for other in others):
            return f"{DROPIN_DIR}/{name}"
    raise CiliumtuiError(
        f"a sysctl file sorts after every name ciliumtui can choose ({max(others)}): "
        "set rp_filter there"
    )


def _last(settings: list[SysctlSetting], key: str) -> SysctlSetting | None:
    found = [s for s in settings if s.key == key]
    return found[-1] if found else None


def plan_rp_filter(
    rp: dict[str, int], settings: list[SysctlSetting], current: dict[str, str] | None = None
) -> RpFilterFix:
    """What to change (pure): rp = live values in the node's netns, settings = the
    node's sysctl files in apply order, current = existing drop-in texts by node path."""
    cilium = sorted(d for d in rp if is_cilium_device(d))
    strict = [d for d in cilium if effective_rp_filter(rp, d) > 0]
    if not strict:
        return RpFilterFix()
    fix = RpFilterFix()
    all_now = rp.get("all", 0)
    boot_all = _last(settings, "net.ipv4.conf.all.rp_filter")
    all_at_boot = boot_all is not None and boot_all.value.strip() not in ("", "0")
    culprit = f" (set by {boot_all.file})" if boot_all is not None and all_at_boot else ""
    shown = ", ".join(strict[:6]) + (f" and {len(strict) - 6} more" if len(strict) > 6 else "")
    fix.notes.append(
        f"# {shown}: effective rp_filter = max(conf.all={all_now}, conf.<dev>) > 0"
        + (f": conf.all is the culprit{culprit}" if all_now else "")
    )
    pins = []
    if all_now:
        pins = [
            (d, all_now)
            for d in sorted(rp)
            if d not in NOT_PINNED and not is_cilium_device(d) and rp[d] < all_now
        ]
        if pins:
            fix.notes.append(
                f"# {', '.join(d for d, _ in pins[:6])}{' …' if len(pins) > 6 else ''}: "
                f"pinned to {all_now} first, so lowering conf.all loosens only Cilium's devices"
            )
    fix.live = pins + [(d, 0) for d in strict if rp.get(d, 0) > 0]
    if all_now:
        fix.live.append(("all", 0))
    if boot_all is not None and boot_all.file == "/etc/sysctl.conf" and all_at_boot:
        fix.notes.append(
            "# /etc/sysctl.conf sets conf.all and `sysctl --system` applies it after every "
            "sysctl.d file: change it there too"
        )
    fix.dropin = choose_dropin(settings)
    lines = [
        "# Written by ciliumtui (playbook rp-filter-fix). The kernel filters with",
        "# max(conf.all, conf.<dev>): Cilium's devices need 0 in both, or replies to",
        "# local pods are dropped. Other devices keep their filter (pinned below).",
    ]
    lines += [f"-{rp_key(d)} = {v}" for d, v in pins]
    lines += [
        "-net.ipv4.conf.cilium_*.rp_filter = 0",
        "-net.ipv4.conf.lxc_health.rp_filter = 0",
        f"-net.ipv4.conf.{LXC_GLOB}.rp_filter = 0",
    ]
    if all_now or all_at_boot:
        lines.append("net.ipv4.conf.all.rp_filter = 0")
    fix.text = "\n".join(lines) + "\n"
    return fix


def live_argv(dev: str, value: int) -> list[str]:
    return ["sysctl", "-w", f"{rp_key(dev)}={value}"]


def live_command(dev: str, value: int) -> Command:
    return Command(tuple(live_argv(dev, value)))  # in the node's netns: its sysctls


def _shown(backend: NodeBackend, dev: str, value: int) -> str:
    return shell_text(backend.argv(live_command(dev, value)))


@register
class RpFilterFixAction(Action):
    name = "sysctl.rp-filter"
    summary = (
        "rp_filter 0 on Cilium's devices (and conf.all when it is the culprit, pinning the "
        "other devices' filter): a sysctl drop-in that sorts last, applied in the node's netns"
    )
    mutates = True
    needs_root = True
    default_risk = "high"
    params = {}

    async def _fix(self, ctx: ActionContext) -> tuple[RpFilterFix, dict[str, int]]:
        rp = await ctx.backend.rp_filter()
        settings = (await ctx.backend.host()).sysctl_files
        return plan_rp_filter(rp, settings), rp

    async def plan(self, ctx: ActionContext) -> list[str]:
        fix, _ = await self._fix(ctx)
        if fix.empty:
            return []
        assert fix.dropin is not None
        lines = list(fix.notes)
        if hostfiles.read(ctx, fix.dropin) != fix.text:
            if not hostfiles.host_file(ctx, DROPIN_DIR).is_dir():
                lines.append(f"mkdir -p -- {hostfiles.shown(ctx, DROPIN_DIR)}")
            lines.append(f"cat > {hostfiles.shown(ctx, fix.dropin)} <<'EOF'")
            lines += fix.text.splitlines()
            lines.append("EOF")
        lines += [_shown(ctx.backend, d, v) for d, v in fix.live]
        return lines + ctx.backend.plan_notes()

    async def backup(self, ctx: ActionContext) -> list[Path]:
        fix, rp = await self._fix(ctx)
        ctx.backup_dir.mkdir(parents=True, exist_ok=True)
        before = ctx.backup_dir / "rp_filter-before.json"
        before.write_text(json.dumps(rp, indent=1, sort_keys=True))
        out = [before]
        undo = [_shown(ctx.backend, d, rp.get(d, 0)) for d, _ in reversed(fix.live)]
        if fix.dropin is not None:
            old = hostfiles.read(ctx, fix.dropin)
            saved = ctx.backup_dir / (
                fix.dropin.rsplit("/", 1)[1] + (".orig" if old else ".absent")
            )
            saved.write_text(old or "")
            out.append(saved)
            where = hostfiles.shown(ctx, fix.dropin)
            undo.append(f"cp -- {saved} {where}" if old is not None else f"rm -f -- {where}")
        script = ctx.backup_dir / "undo.sh"
        script.write_text("#!/bin/sh\n# undo of sysctl.rp-filter\n" + "\n".join(undo) + "\n")
        out.append(script)
        return out

    async def run(self, ctx: ActionContext) -> ActionResult:
        fix, _ = await self._fix(ctx)
        for line in fix.notes:
            ctx.out(line)
        if fix.empty:
            ctx.out("no Cilium device has a strict rp_filter: nothing to do")
            return ActionResult(ok=True, rc=0, changed=False)
        assert fix.dropin is not None
        if hostfiles.read(ctx, fix.dropin) != fix.text:
            hostfiles.write(ctx, fix.dropin, fix.text)
            ctx.out(f"wrote {fix.dropin}")
        for dev, value in fix.live:
            try:
                out = await ctx.backend.run(live_command(dev, value), timeout=10)
            except CommandFailed as exc:
                return ActionResult(ok=False, rc=exc.rc, changed=True, message=str(exc))
            ctx.out(out.decode(errors="replace").strip() or f"{rp_key(dev)} = {value}")
        return ActionResult(
            ok=True,
            rc=0,
            changed=True,
            data={"dropin": fix.dropin, "set": [f"{d}={v}" for d, v in fix.live]},
        )
