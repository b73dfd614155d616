"""Actions bound to rules: when an alert with an ``action`` fires, act on its bot.

``restart`` and ``start`` go through the supervisor for ``run:`` bots and through the
bot's controller (systemd, pm2, docker, commands) otherwise, and are followed by a
health verification (``botwatch.actions.verify``); ``stop`` stops; ``rotate_logs``
rotates the bot's log files (copy, then truncate) or its managed output; ``run`` runs
a command. Guardrails: one action at a time per bot, a ``cooldown`` per rule and bot
(a rule that keeps firing cannot restart a bot in a loop), and none while a
``pause_actions_during`` time interval (a maintenance window) is on — a firing alert's
action waits for the window to end — and none on a managed bot within its
``min_uptime`` of starting, when a failing check is likely just a bot still booting. Every action is an ``action`` event saying who
(``rule NAME``), what and why; a failed action or verification sets
``action_failed{bot, rule, action}`` to 1, which the built-in ``ActionFailed`` rule
turns into a critical alert, until the alert that caused it resolves.
"""

from __future__ import annotations

__all__ = ["Remediator"]

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from botwatch.actions.controllers import communicate, controller_for
from botwatch.actions.rotate import copytruncate
from botwatch.actions.supervisor import Supervisor
from botwatch.actions.verify import verify_healthy
from botwatch.alerts.state import Alert, AlertState, Transition
from botwatch.alerts.timeintervals import in_interval
from botwatch.clock import Clock
from botwatch.config import LoadedConfig
from botwatch.config.response import ActionSpec
from botwatch.errors import ActionError, BotwatchError
from botwatch.probes import ProbeContext
from botwatch.rules.files import Rule
from botwatch.series import Event, SampleGroup

log = logging.getLogger("botwatch.actions")


@dataclass
class _Due:
    rule: Rule
    action: ActionSpec
    alert: Alert


class Remediator:
    """Rule-bound actions; ``observe()`` what fired, ``tick()`` to act."""

    def __init__(
        self,
        loaded: LoadedConfig,
        supervisor: Supervisor,
        ctx: ProbeContext,
        *,
        clock: Clock,
        on_event: Callable[[Event], None],
        emit: Callable[[list[SampleGroup]], None],
    ) -> None:
        self.loaded = loaded
        self.supervisor = supervisor
        self.ctx = ctx
        self.clock = clock
        self.on_event = on_event
        self.emit = emit
        self.due: dict[tuple[str, str], _Due] = {}
        """Actions waiting to run, by (rule, alert fingerprint)."""
        self.last_run: dict[tuple[str, str], float] = {}
        """When each (rule, bot) last acted: the cooldown's clock."""
        self.failed: dict[tuple[str, str, str], float] = {}
        """``action_failed`` per (bot, rule, action)."""
        self.tasks: dict[str, asyncio.Task[None]] = {}
        cfg = loaded.config
        self._pause = [t for t in cfg.time_intervals if t.name in cfg.alerting.pause_actions_during]
        self._was_paused = False

    # ---- feeding ----------------------------------------------------------------------

    def observe(
        self, transitions: Iterable[Transition], rule_of: Callable[[Alert], Rule | None]
    ) -> None:
        """Queue the action of every alert that fired; forget those that resolved."""
        for t in transitions:
            a = t.alert
            if t.after is AlertState.FIRING:
                rule = rule_of(a)
                if rule is not None and rule.action is not None and "bot" in a.labels:
                    self.due[(rule.name, a.fingerprint)] = _Due(rule, rule.action, a)
            elif t.after is AlertState.RESOLVED:
                self.due.pop((a.rule, a.fingerprint), None)
                bot = a.labels.get("bot")
                cleared = [k for k, v in self.failed.items() if k[:2] == (bot, a.rule) and v]
                for key in cleared:
                    self.failed[key] = 0.0
                if cleared:
                    self.emit(self.samples(t.at))

    # ---- stepping ---------------------------------------------------------------------

    def paused(self, now: float) -> bool:
        """Whether a ``pause_actions_during`` interval is on."""
        tz = self.loaded.config.timezone
        return any(in_interval(t, now, tz) for t in self._pause)

    def tick(self, now: float) -> None:
        """Start the due actions (each bot's in turn, past their cooldown)."""
        if not self.due:
            return
        paused = self.paused(now)
        if paused != self._was_paused:
            self._was_paused = paused
            log.warning("rule actions %s (pause_actions_during)",
                        "paused" if paused else "resumed")  # fmt: skip
        if paused:
            return
        for key, d in list(self.due.items()):
            bot = d.alert.labels["bot"]
            if bot in self.tasks and not self.tasks[bot].done():
                continue  # one action at a time per bot: this one waits its turn
            if self.supervisor.starting(bot, now):
                continue  # just (re)started: its endpoints may not be up yet
            del self.due[key]
            last = self.last_run.get((d.rule.name, bot))
            if last is not None and now - last < d.action.cooldown:
                log.info("%s: %s by %s skipped: last done %.0fs ago (cooldown %.0fs)",
                         bot, d.action.do, d.rule.name, now - last, d.action.cooldown)  # fmt: skip
                continue
            self.last_run[(d.rule.name, bot)] = now
            self.tasks[bot] = asyncio.create_task(self._run(bot, d), name=f"{bot}-action")

    async def wait(self) -> None:
        """Wait for running actions (and their verifications)."""
        for task in list(self.tasks.values()):
            await task

    def samples(self, now: float) -> list[SampleGroup]:
        """``action_failed`` for every (bot, rule, action) that acted and failed once."""
        return [
            SampleGroup({"bot": bot, "rule": rule, "action": action}, now, {"action_failed": v})
            for (bot, rule, action), v in self.failed.items()
        ]

    # ---- acting -----------------------------------------------------------------------

    async def _run(self, bot: str, d: _Due) -> None:
        action, rule = d.action, d.rule
        by = f"rule {rule.name}"
        why = d.alert.annotations.get("summary") or f"{rule.name} fired"
        key = (bot, rule.name, action.do)
        try:
            done = await self.perform(bot, action, by=by, why=why, alert=d.alert)
        except BotwatchError as e:
            log.error("%s: %s by %s failed: %s", bot, action.do, rule.name, e)
            self._event(bot, action.do, by, why, error=str(e))
            self._failed(key, True)
            return
        if action.do not in ("restart", "start"):
            self._failed(key, False)
            return
        verdict = await verify_healthy(self.loaded, bot, self.ctx, timeout=action.verify)
        what = f"after {action.do}: {verdict.reason}"
        log.log(logging.INFO if verdict.healthy else logging.ERROR, "%s %s", bot, what)
        self._event(bot, "verify", by, what, healthy=verdict.healthy, waited=verdict.waited,
                    after=action.do, done=done)  # fmt: skip
        self._failed(key, not verdict.healthy)

    def _failed(self, key: tuple[str, str, str], failed: bool) -> None:
        before = self.failed.get(key)
        self.failed[key] = 1.0 if failed else 0.0
        if failed or before:
            self.emit(self.samples(self.clock.time()))

    async def perform(
        self, bot: str, action: ActionSpec, *, by: str, why: str, alert: Alert | None = None
    ) -> str:
        """Carry out ``action`` on ``bot`` and record it; what was done. Raises
        ``ActionError`` (or another ``BotwatchError``) when it fails."""
        spec = self.loaded.config.bots[bot]
        do = action.do
        if do in ("restart", "stop", "start"):
            if bot in self.supervisor.bots:  # the supervisor records its own event
                await getattr(self.supervisor, do)(bot, by=by, why=why)
                return f"{do} (managed)"
            controller = controller_for(bot, spec)
            if controller is None:
                raise ActionError(f"{bot}: botwatch has no way to {do} it (give it run: or "
                                  "process: systemd, pm2, docker or commands)")  # fmt: skip
            out = await getattr(controller, do)()
            self._event(bot, do, by, why, via=controller.kind, output=out.strip()[-500:])
            return f"{do} via {controller.kind}"
        if do == "rotate_logs":
            rotated = await asyncio.to_thread(self._rotate, bot, action.keep)
            text = ", ".join(f"{p} ({n} bytes)" for p, n in rotated) or "nothing to rotate"
            self._event(bot, "rotate_logs", by, why, rotated=[p for p, _ in rotated])
            return f"rotated {text}"
        assert do == "run" and action.command is not None
        code, out = await self._command(bot, action, why, alert)
        self._event(bot, "run", by, why, command=action.command, code=code, output=out[-500:])
        if code != 0:
            raise ActionError(f"{bot}: `{action.command}` exited with code {code}: "
                              f"{out.strip()[-300:]}")  # fmt: skip
        return f"ran {action.command}"

    def _rotate(self, bot: str, keep: int) -> list[tuple[str, int]]:
        from botwatch.probes.logfile import log_file_paths

        out: list[tuple[str, int]] = []
        managed = self.supervisor.bots.get(bot)
        if managed is not None:
            n = managed.child.rotate_output()
            if n:
                out.append((str(managed.child.output_path), n))
        for p in map(Path, log_file_paths(self.loaded, self.loaded.config.bots[bot])):
            if p.is_file() and p.stat().st_size > 0:
                out.append((str(p), copytruncate(p, keep)))
        return out

    async def _command(
        self, bot: str, action: ActionSpec, why: str, alert: Alert | None
    ) -> tuple[int, str]:
        assert action.command is not None
        env = {**os.environ, "BOTWATCH_BOT": bot, "BOTWATCH_REASON": why}
        if alert is not None:
            env["BOTWATCH_ALERT"] = alert.rule
            env["BOTWATCH_VALUE"] = "" if alert.value != alert.value else f"{alert.value:g}"
        proc = await asyncio.create_subprocess_shell(
            action.command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env=env, cwd=str(self.loaded.base), start_new_session=True,
        )  # fmt: skip
        code, out, _ = await communicate(proc, action.timeout, f"{bot}: `{action.command}`")
        return code, out.decode("utf-8", "replace")

    def _event(self, bot: str, action: str, by: str, why: str, **data: object) -> None:
        message = f"{action} {bot} by {by}: {why}"
        self.on_event(Event("action", self.clock.time(), bot, message,
                            {"action": action, "by": by, "why": why, **data}))  # fmt: skip
