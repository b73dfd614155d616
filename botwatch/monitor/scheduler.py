"""The probe scheduler: every probe at its interval, with jitter, bounded concurrency.

A heap of due times drives it. ``tick()`` starts every probe that is due and returns;
``run()`` is just ``tick()`` and a sleep until the next due time, so tests and
benchmarks can step it by hand. Each probe keeps its cadence (next due = last due +
interval ± jitter) rather than drifting by its own run time, and a probe still running
when it is due again is not started twice.
"""

from __future__ import annotations

__all__ = ["ProbeScheduler"]

import asyncio
import contextlib
import heapq
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable

from botwatch.clock import Clock, SystemClock
from botwatch.probes import Probe, ProbeContext, ProbeResult

log = logging.getLogger("botwatch.scheduler")

# First runs are spread at this many probes a second, at most over one interval: a
# 3-bot fleet has its first results within a second, while 10,000 endpoints spread over
# the whole interval and stay spread (each keeps its cadence), so the load is even.
_START_RATE = 50.0


class ProbeScheduler:
    """Runs ``probes`` on schedule and hands each result to ``on_result``."""

    def __init__(
        self,
        probes: Iterable[Probe],
        ctx: ProbeContext,
        on_result: Callable[[ProbeResult], None],
        *,
        clock: Clock | None = None,
        concurrency: int = 100,
        jitter: float = 0.1,
        rng: random.Random | None = None,
        keep_lateness: int = 100_000,
    ) -> None:
        self.ctx = ctx
        self.clock = clock or ctx.clock or SystemClock()
        self.on_result = on_result
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._sem = asyncio.Semaphore(concurrency)
        self._heap: list[tuple[float, int, Probe]] = []
        self._seq = 0
        self._running: set[asyncio.Task[None]] = set()
        self._busy: set[int] = set()
        self.lateness: deque[float] = deque(maxlen=keep_lateness)
        """Seconds between when a probe was due and when its check started."""
        self.started = 0
        self.skipped = 0
        self.completed = 0
        self.add(probes)

    def add(self, probes: Iterable[Probe]) -> None:
        """Schedule more probes; their first runs are spread to limit the start rate."""
        new = list(probes)
        spread = len(new) / _START_RATE
        now = self.clock.monotonic()
        for p in new:
            self._push(now + self._rng.uniform(0, min(spread, p.interval)), p)

    def _push(self, due: float, probe: Probe) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, probe))

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def running(self) -> int:
        """Probes running right now."""
        return len(self._running)

    def schedule(self) -> list[tuple[float, Probe]]:
        """(monotonic due time, probe) for every scheduled probe, soonest first."""
        return [(due, p) for due, _, p in sorted(self._heap)]

    def due_in(self) -> float:
        """Seconds until the next probe is due (0 when one is overdue)."""
        if not self._heap:
            return 3600.0
        return max(0.0, self._heap[0][0] - self.clock.monotonic())

    def tick(self) -> int:
        """Start every probe that is due; returns how many were started."""
        now = self.clock.monotonic()
        n = 0
        while self._heap and self._heap[0][0] <= now:
            due, _, probe = heapq.heappop(self._heap)
            spread = probe.interval * self.jitter
            nxt = due + probe.interval + self._rng.uniform(-spread / 2, spread / 2)
            # After a long stall (suspend, overload) skip the missed runs instead of
            # firing them all at once.
            if nxt <= now:
                nxt = now + probe.interval
            self._push(nxt, probe)
            if id(probe) in self._busy:
                self.skipped += 1
                log.debug("%s/%s still running; skipping this run", probe.bot, probe.name)
                continue
            self._busy.add(id(probe))
            task = asyncio.create_task(
                self._run(probe, due), name=f"probe {probe.bot}/{probe.name}"
            )
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            n += 1
        self.started += n
        return n

    async def _run(self, probe: Probe, due: float) -> None:
        try:
            async with self._sem:
                self.lateness.append(self.clock.monotonic() - due)
                result = await probe.run(self.ctx)
            self.completed += 1
            try:
                self.on_result(result)
            except Exception:
                log.exception("handling the result of %s/%s failed", probe.bot, probe.name)
        finally:
            self._busy.discard(id(probe))

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; then wait for running probes to finish."""
        while not stop.is_set():
            self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(self.due_in(), 0.001))
        await self.drain()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the probes that are running (each is bounded by its own timeout)."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)
