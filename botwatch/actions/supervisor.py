"""Keeping managed bots running: restart on exit, with the guardrails pm2 has at best.

A child that exits is restarted at once if it had run for ``min_uptime``; a shorter
run counts as a crash loop and the next start waits ``backoff``, growing 1.5× each
time up to ``backoff_max``. Past ``max_restarts_per_hour`` the supervisor stops trying,
says so loudly (an event, an error in the log, ``managed_gave_up`` = 1, which the
built-in ``RestartBudgetSpent`` rule turns into a critical alert) and leaves the bot
down until someone starts it: it never gives up silently.

Every start, stop and restart is an ``action`` event saying who, what and why.
"""

from __future__ import annotations

__all__ = ["RestartPolicy", "Supervisor"]

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from botwatch.actions.managed import ManagedChild
from botwatch.config.models import RunSpec
from botwatch.errors import ProcessNotFound
from botwatch.series import Event, SampleGroup

log = logging.getLogger("botwatch.actions")

HOUR = 3600.0


@dataclass(frozen=True)
class RestartPolicy:
    """When and how often to restart."""

    autorestart: bool = True
    min_uptime: float = 10.0
    backoff: float = 1.0
    factor: float = 1.5
    backoff_max: float = 60.0
    max_per_hour: int = 10

    @classmethod
    def of(cls, spec: RunSpec) -> RestartPolicy:
        """The policy a bot's ``run:`` asks for."""
        return cls(spec.autorestart, spec.min_uptime, spec.backoff, 1.5, spec.backoff_max,
                   spec.max_restarts_per_hour)  # fmt: skip

    def delay(self, quick_failures: int) -> float:
        """Seconds to wait before the next start after ``quick_failures`` short runs."""
        if quick_failures <= 0:
            return 0.0
        return min(self.backoff_max, self.backoff * self.factor ** (quick_failures - 1))


@dataclass
class _Bot:
    child: ManagedChild
    policy: RestartPolicy
    state: str = "stopped"
    """``starting``, ``running``, ``backoff`` (waiting to restart), ``stopped`` or
    ``gave_up``."""
    restarts: deque[float] = field(default_factory=deque)
    restarts_total: int = 0
    quick_failures: int = 0
    next_start: float = math.inf
    watcher: asyncio.Task[None] | None = None
    labels: dict[str, str] = field(default_factory=dict)


class Supervisor:
    """The managed bots of one config; ``tick()`` starts those whose backoff is over."""

    def __init__(
        self,
        bots: Mapping[str, RunSpec],
        *,
        base_dir: Path,
        on_event: Callable[[Event], None] = lambda e: None,
    ) -> None:
        self.on_event = on_event
        self.bots: dict[str, _Bot] = {}
        for name, spec in bots.items():
            output = Path(spec.output) if spec.output else Path(".botwatch/logs") / f"{name}.log"
            cwd = spec.cwd
            if cwd is not None and not Path(cwd).is_absolute():
                cwd = str(base_dir / cwd)
            child = ManagedChild(
                name, spec.command, cwd=cwd, env=spec.env,
                output=output if output.is_absolute() else base_dir / output,
                output_max=spec.output_max, stop_timeout=spec.stop_timeout,
            )  # fmt: skip
            self.bots[name] = _Bot(child, RestartPolicy.of(spec), labels={"bot": name})

    # ---- actions --------------------------------------------------------------------

    async def start(self, name: str, *, by: str = "botwatch", why: str = "start") -> int | None:
        """Start ``name`` (also after it gave up); its pid, or None if it cannot start."""
        bot = self.bots[name]
        if bot.child.running or bot.state == "starting":
            return bot.child.pid
        bot.quick_failures = 0 if bot.state == "gave_up" else bot.quick_failures
        return await self._launch(name, bot, by=by, why=why)

    async def stop(self, name: str, *, by: str = "botwatch", why: str = "stop") -> int | None:
        """Stop ``name`` (SIGTERM, then SIGKILL); no restart follows. Its exit code."""
        bot = self.bots[name]
        bot.state, bot.next_start = "stopped", math.inf
        code = await bot.child.stop()
        self._event(name, "stop", by, why, code=code)
        return code

    async def restart(self, name: str, *, by: str = "botwatch", why: str = "restart") -> int | None:
        """Stop and start ``name`` (one ``restart`` event); the new pid."""
        bot = self.bots[name]
        bot.state, bot.next_start = "stopped", math.inf
        await bot.child.stop()
        return await self._launch(name, bot, by=by, why=why, action="restart")

    async def start_all(self) -> None:
        """Start every managed bot."""
        for name in self.bots:
            await self.start(name, why="botwatch started")

    async def stop_all(self) -> None:
        """Stop every managed bot (at shutdown), in parallel."""
        await asyncio.gather(*(self.stop(n, why="botwatch stopping") for n in self.bots))
        for bot in self.bots.values():
            if bot.watcher is not None:
                bot.watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await bot.watcher
            bot.child.close()

    def starting(self, name: str, now: float) -> bool:
        """Whether managed bot ``name`` started less than its ``min_uptime`` ago (or is
        starting); False for bots it does not manage."""
        bot = self.bots.get(name)
        if bot is None:
            return False
        if bot.state == "starting":
            return True
        started = bot.child.started_at
        return bot.child.running and started is not None and now - started < bot.policy.min_uptime

    # ---- the loop ---------------------------------------------------------------------

    def due_in(self, now: float | None = None) -> float:
        """Seconds until a bot in backoff is due to start."""
        now = time.time() if now is None else now
        return max(0.0, min((b.next_start for b in self.bots.values()), default=math.inf) - now)

    async def tick(self, now: float | None = None) -> None:
        """Start the bots whose backoff is over."""
        now = time.time() if now is None else now
        for name, bot in self.bots.items():
            if bot.state == "backoff" and now >= bot.next_start:
                await self._launch(name, bot, by="supervisor", why="backoff over")

    def samples(self, now: float) -> list[SampleGroup]:
        """``managed_up``, ``managed_restarts_total`` and ``managed_gave_up`` per bot."""
        return [
            SampleGroup(
                bot.labels,
                now,
                {
                    "managed_up": 1.0 if bot.child.running else 0.0,
                    "managed_restarts_total": float(bot.restarts_total),
                    "managed_gave_up": 1.0 if bot.state == "gave_up" else 0.0,
                },
            )
            for bot in self.bots.values()
        ]

    # ---- internals --------------------------------------------------------------------

    async def _launch(
        self, name: str, bot: _Bot, *, by: str, why: str, action: str = "start"
    ) -> int | None:
        # Claimed before the first await: the exit watcher and tick() must never both
        # start the same bot (two instances of one bot is the 409 Conflict we alert on).
        bot.state, bot.next_start = "starting", math.inf
        try:
            pid = await bot.child.start()
        except ProcessNotFound as e:
            log.error("%s", e)
            self._event(name, action, by, why, error=str(e))
            self._exited(name, bot, None)
            return None
        bot.state, bot.next_start = "running", math.inf
        bot.watcher = asyncio.create_task(self._watch(name, bot), name=f"{name}-watch")
        self._event(name, action, by, why, pid=pid)
        return pid

    async def _watch(self, name: str, bot: _Bot) -> None:
        code = await bot.child.wait()
        if bot.state == "running":  # not stopped on purpose
            self._exited(name, bot, code)
            if bot.state == "backoff" and bot.next_start <= time.time():
                await self._launch(name, bot, by="supervisor", why=f"exited with code {code}")

    def _exited(self, name: str, bot: _Bot, code: int | None) -> None:
        now = time.time()
        started = bot.child.started_at
        ran = now - started if started is not None and code is not None else 0.0
        what = f"exited with code {code}" if code is not None else "could not start"
        if not bot.policy.autorestart:
            bot.state = "stopped"
            log.warning("%s %s; autorestart is off", name, what)
            self._event(name, "exit", "supervisor", what, code=code)
            return
        bot.quick_failures = 0 if ran >= bot.policy.min_uptime else bot.quick_failures + 1
        while bot.restarts and bot.restarts[0] <= now - HOUR:
            bot.restarts.popleft()
        if len(bot.restarts) >= bot.policy.max_per_hour:
            bot.state, bot.next_start = "gave_up", math.inf
            log.error("%s %s; %d restarts in the last hour: giving up (start it by hand)",
                      name, what, len(bot.restarts))  # fmt: skip
            self._event(name, "give_up", "supervisor", f"{what}; restart budget spent", code=code)
            return
        delay = bot.policy.delay(bot.quick_failures)
        bot.restarts.append(now)
        bot.restarts_total += 1
        bot.state, bot.next_start = "backoff", now + delay
        log.warning("%s %s after %.1fs; restarting%s", name, what, ran,
                    f" in {delay:.1f}s" if delay else "")  # fmt: skip

    def _event(self, name: str, action: str, by: str, why: str, **data: object) -> None:
        message = f"{action} {name} by {by}: {why}"
        self.on_event(Event("action", time.time(), name, message,
                            {"action": action, "by": by, "why": why, **data}))  # fmt: skip
