"""Probe.run(): the guarantees every probe kind gets for free."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from botwatch.errors import ProbeError
from botwatch.probes import Outcome, Probe, ProbeContext, Status


class Scripted(Probe):
    """A probe plug-in whose check does what the test says."""

    kind = "scripted"

    def __init__(self, action: str, **kw: Any) -> None:
        super().__init__(bot="b", name="s", **kw)
        self.action = action

    async def check(self, ctx: ProbeContext) -> Outcome:
        if self.action == "hang":
            await asyncio.Event().wait()
        if self.action == "bug":
            raise KeyError("oops")
        if self.action == "error":
            raise ProbeError("cannot reach the thing")
        if self.action == "stubborn":  # swallows cancellation, as badly written drivers do
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        if self.action.startswith("sleep"):
            await asyncio.sleep(float(self.action[5:]))
        return Outcome(Status.WARN, "meh", values={"scripted_value": 42})


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    c = ProbeContext()
    yield c
    await c.close()


async def test_values_become_labelled_samples(ctx: ProbeContext) -> None:
    r = await Scripted("ok").run(ctx)
    assert r.status is Status.WARN and r.reason == "meh"
    names = {s.name: s.value for s in r.samples}
    assert names["probe_up"] == 1.0  # warn still counts as up
    assert names["probe_status"] == 1.0
    assert names["scripted_value"] == 42.0
    assert all(s.labels == {"bot": "b", "check": "s"} for s in r.samples)


async def test_a_hanging_check_is_cut_off_by_the_hard_timeout(ctx: ProbeContext) -> None:
    r = await Scripted("hang", timeout=0.05).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == "timed out after 0.05s"
    assert {s.name: s.value for s in r.samples}["probe_up"] == 0.0


async def test_many_checks_each_get_their_own_deadline(ctx: ProbeContext) -> None:
    # One loop timer watches them all: the short ones time out, the rest finish.
    probes = [Scripted("hang", timeout=0.05 + i * 0.01) for i in range(5)]
    probes += [Scripted("sleep0.02", timeout=1.0) for _ in range(5)]
    results = await asyncio.gather(*(p.run(ctx) for p in probes))
    assert [r.status for r in results[:5]] == [Status.CRIT] * 5
    assert results[0].reason == "timed out after 0.05s"
    assert results[4].reason == "timed out after 0.09s"
    assert [r.status for r in results[5:]] == [Status.WARN] * 5
    assert len(ctx.deadlines) == 0  # nothing left behind


async def test_a_check_that_swallows_the_cancellation_still_times_out(ctx: ProbeContext) -> None:
    r = await Scripted("stubborn", timeout=0.05).run(ctx)
    assert r.status is Status.CRIT and r.reason == "timed out after 0.05s"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # our cancellation was undone


async def test_cancelling_the_caller_is_not_mistaken_for_a_timeout(ctx: ProbeContext) -> None:
    task = asyncio.create_task(Scripted("hang", timeout=5).run(ctx))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(ctx.deadlines) == 0


async def test_a_caller_cancelling_at_the_deadline_still_wins(ctx: ProbeContext) -> None:
    # Shutdown and the hard timeout land together: shutdown must not be swallowed.
    async def run_then_cancel_self() -> None:
        me = asyncio.current_task()
        assert me is not None
        asyncio.get_running_loop().call_later(0.05, me.cancel)
        await Scripted("hang", timeout=0.05).run(ctx)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(run_then_cancel_self())


async def test_a_probe_bug_is_unknown_not_a_crash(ctx: ProbeContext) -> None:
    r = await Scripted("bug").run(ctx)
    assert r.status is Status.UNKNOWN
    assert r.reason == "probe failed: KeyError: 'oops'"


async def test_a_botwatch_error_is_critical_with_its_message(ctx: ProbeContext) -> None:
    r = await Scripted("error").run(ctx)
    assert r.status is Status.CRIT and r.reason == "cannot reach the thing"


def test_worst_status_ranks_unknown_between_warn_and_crit() -> None:
    assert Status.worst([Status.OK, Status.WARN]) is Status.WARN
    assert Status.worst([Status.WARN, Status.UNKNOWN]) is Status.UNKNOWN
    assert Status.worst([Status.UNKNOWN, Status.CRIT]) is Status.CRIT
    assert Status.worst([]) is Status.OK
