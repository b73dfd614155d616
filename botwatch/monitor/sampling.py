"""The sampler loop: every bot's process tree, every ``sample_interval``.

Finding and sampling processes is blocking psutil work, so each round runs in the probe
thread pool; one slow ``/proc`` read never stalls the event loop. A bot whose process
is not found is simply skipped this round — the process probe is what reports that.
"""

from __future__ import annotations

__all__ = ["SamplerLoop"]

import logging

from botwatch.clock import Clock, SystemClock
from botwatch.config import LoadedConfig
from botwatch.errors import BotwatchError
from botwatch.probes import ProbeContext
from botwatch.sampler import Located, Sampler, can_locate, find_process, is_alive
from botwatch.series import Sample

log = logging.getLogger("botwatch.sampler")


class SamplerLoop:
    """Samples each locatable bot's process tree when due; ``tick()`` is one round."""

    def __init__(
        self, loaded: LoadedConfig, ctx: ProbeContext, *, clock: Clock | None = None
    ) -> None:
        self.loaded = loaded
        self.ctx = ctx
        self.clock = clock or SystemClock()
        self.interval = loaded.config.defaults.sample_interval
        self.sampler = Sampler(self.clock)
        self.bots = [name for name, spec in loaded.config.bots.items() if can_locate(spec)]
        self._next = 0.0
        self.rounds = 0
        # The process found last time is reused while it lives: a `match` lookup scans
        # every process on the host, too costly to repeat for 200 bots every 15 s.
        self._found: dict[str, Located] = {}

    def due_in(self) -> float:
        """Seconds until the next round (a large number when nothing is sampled)."""
        if not self.bots:
            return 3600.0
        return max(0.0, self._next - self.clock.monotonic())

    async def tick(self) -> list[Sample]:
        """Sample every bot if a round is due; returns the samples taken (maybe none)."""
        if not self.bots or self.clock.monotonic() < self._next:
            return []
        self._next = self.clock.monotonic() + self.interval
        self.rounds += 1
        return await self.ctx.to_thread(self._round)

    def _round(self) -> list[Sample]:
        out: list[Sample] = []
        for bot in self.bots:
            spec = self.loaded.config.bots[bot]
            found = self._found.get(bot)
            try:
                # Pidfiles are cheap to re-read and may name a new pid; scans are not.
                if found is None or found.how == "pidfile" or not is_alive(found.process):
                    found = self._found[bot] = find_process(spec, self.loaded)
                out.extend(self.sampler.to_samples(bot, self.sampler.sample(bot, found.process)))
            except BotwatchError as e:
                self._found.pop(bot, None)
                log.debug("not sampling %s: %s", bot, e)
        return out
