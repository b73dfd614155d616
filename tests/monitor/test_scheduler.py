"""The probe scheduler, stepped by hand with a manual clock."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from botwatch.clock import ManualClock
from botwatch.monitor.scheduler import ProbeScheduler
from botwatch.probes import Outcome, Probe, ProbeContext, ProbeResult, Status


class CountingProbe(Probe):
    """A probe plug-in for these tests: counts runs, optionally waits on an event."""

    kind = "counting"

    def __init__(self, gate: asyncio.Event | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.runs = 0
        self.gate = gate

    async def check(self, ctx: ProbeContext) -> Outcome:
        self.runs += 1
        if self.gate is not None:
            await self.gate.wait()
        return Outcome(Status.OK, "fine", values={"counting_runs": self.runs})


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    c = ProbeContext(clock=ManualClock())
    yield c
    await c.close()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_probes_run_at_their_interval_and_keep_cadence(ctx: ProbeContext) -> None:
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    fast = CountingProbe(bot="a", name="fast", interval=10)
    slow = CountingProbe(bot="a", name="slow", interval=30)
    results: list[ProbeResult] = []
    sched = ProbeScheduler([fast, slow], ctx, results.append, jitter=0.0, rng=random.Random(1))
    # Two probes spread over at most 2/50 s: both due almost at once.
    clock.advance(0.04)
    assert sched.tick() == 2
    await settle()
    assert [r.check for r in results] == ["fast", "slow"] or [r.check for r in results] == [
        "slow",
        "fast",
    ]
    for _ in range(6):
        clock.advance(10)
        sched.tick()
        await settle()
    assert fast.runs == 7
    assert slow.runs == 3
    assert all(r.status is Status.OK for r in results)
    assert results[0].samples[-1].name == "counting_runs"


async def test_a_probe_still_running_is_not_started_twice(ctx: ProbeContext) -> None:
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    gate = asyncio.Event()
    p = CountingProbe(gate, bot="a", name="slow", interval=5, timeout=1000)
    sched = ProbeScheduler([p], ctx, lambda r: None, jitter=0.0)
    clock.advance(1)
    assert sched.tick() == 1
    await settle()
    clock.advance(5)
    assert sched.tick() == 0
    assert sched.skipped == 1 and sched.running == 1
    gate.set()
    await sched.drain()
    clock.advance(5)
    assert sched.tick() == 1
    await sched.drain()
    assert p.runs == 2


async def test_missed_runs_after_a_stall_are_skipped_not_bunched(ctx: ProbeContext) -> None:
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    p = CountingProbe(bot="a", name="x", interval=10)
    sched = ProbeScheduler([p], ctx, lambda r: None, jitter=0.0)
    clock.advance(1)
    sched.tick()
    await sched.drain()
    clock.advance(1000)  # the machine was suspended
    assert sched.tick() == 1
    await sched.drain()
    assert sched.tick() == 0
    assert sched.due_in() == pytest.approx(10)


async def test_jitter_spreads_runs_within_bounds(ctx: ProbeContext) -> None:
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    probes = [CountingProbe(bot="a", name=str(i), interval=30) for i in range(200)]
    sched = ProbeScheduler(probes, ctx, lambda r: None, jitter=0.2, rng=random.Random(7))
    clock.advance(4)  # 200 probes at 50/s: all first runs within 4 s
    assert sched.tick() == 200
    await sched.drain()
    dues = sorted(due for due, _ in sched.schedule())
    start = clock.monotonic() - 4
    # Next runs fall within interval ± jitter/2 of their first due time.
    assert dues[0] >= start + 30 - 3 and dues[-1] <= start + 4 + 30 + 3
    assert dues[-1] - dues[0] > 2  # actually spread, not bunched


async def test_result_handler_errors_do_not_stop_the_scheduler(ctx: ProbeContext) -> None:
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    p = CountingProbe(bot="a", name="x", interval=1)

    def broken(r: ProbeResult) -> None:
        raise RuntimeError("handler bug")

    sched = ProbeScheduler([p], ctx, broken, jitter=0.0)
    for _ in range(3):
        clock.advance(1)
        sched.tick()
        await sched.drain()
    assert p.runs == 3 and sched.completed == 3


async def test_run_stops_on_event_and_drains(ctx: ProbeContext) -> None:
    p = CountingProbe(bot="a", name="x", interval=0.01)
    real = ProbeContext()
    try:
        stop = asyncio.Event()

        def count(r: ProbeResult) -> None:
            if p.runs >= 3:
                stop.set()

        sched = ProbeScheduler([p], real, count, jitter=0.0)
        task = asyncio.create_task(sched.run(stop))
        await task
        assert sched.running == 0
        assert len(sched.lateness) >= 3
    finally:
        await real.close()
