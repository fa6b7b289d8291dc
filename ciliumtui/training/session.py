"""A training session: the env plus what the trainee did (hints, findings opened, give-up).

The runs themselves are read back from the env's journals (its own state dir), so
runs made from a second terminal (`--headless`) count exactly like wizard runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..engine.journal import read_journal
from .env import TrainingEnv
from .score import Debrief, score


class TrainingSession:
    def __init__(self, env: TrainingEnv, clock: Callable[[], float] = time.time) -> None:
        self.env = env
        self.clock = clock
        self.started = clock()
        self.hints_used = 0
        self.opened: list[tuple[str, float]] = []
        self.result: Debrief | None = None
        self._titles: dict[str, str] | None = None

    @property
    def scenario(self) -> dict[str, Any]:
        return self.env.scenario

    @property
    def hints(self) -> list[str]:
        return [str(h) for h in self.scenario.get("hints") or []]

    def next_hint(self) -> str | None:
        """Reveal one more hint (None when all are shown); each one counts."""
        if self.hints_used >= len(self.hints):
            return None
        self.hints_used += 1
        return self.hints[self.hints_used - 1]

    def open_finding(self, finding_id: str) -> None:
        self.opened.append((finding_id, self.clock()))

    def records(self) -> list[dict[str, Any]]:
        """Journal records of this session's runs (this env's host root only)."""
        runs = self.env.state_dir / "runs" if self.env.state_dir else None
        if runs is None or not runs.is_dir():
            return []
        out: list[dict[str, Any]] = []
        for journal in sorted(runs.glob("*/journal.jsonl")):
            recs = read_journal(journal)
            start = next((r for r in recs if r.get("kind") == "run_started"), None)
            if (
                start is None
                or (start.get("data") or {}).get("host_root") != self.env.opts.host_root
            ):
                continue
            out += recs
        return out

    def playbook_titles(self) -> dict[str, str]:
        """{id: title} of the expert path's playbooks (what the debrief names them)."""
        if self._titles is None:
            from ..engine.loader import load_playbook
            from ..errors import CiliumtuiError

            titles: dict[str, str] = {}
            for pb in self.scenario.get("expert_path") or []:
                try:
                    titles[str(pb)] = str(load_playbook(str(pb)).title)
                except CiliumtuiError:
                    continue  # a scenario naming a playbook this build lacks: its id only
            self._titles = titles
        return self._titles

    def current(self, *, gave_up: bool = False) -> Debrief:
        return score(
            self.scenario,
            self.records(),
            started=self.started,
            ended=self.clock(),
            hints_used=self.hints_used,
            opened=self.opened,
            gave_up=gave_up,
            playbook_titles=self.playbook_titles(),
        )

    def verify_passed(self) -> bool:
        """Did a verifying run pass (verify, or a fixing playbook ending with its own
        verify)? Then the session can end with a debrief."""
        return self.current().verified

    def finish(self, *, gave_up: bool = False) -> Debrief:
        """The final debrief (once); a manual-trigger scenario gets its on_fix when solved."""
        if self.result is None:
            self.result = self.current(gave_up=gave_up)
            if self.result.solved:
                self.env.apply_manual_fix()
        return self.result
