"""Probe.run(): the guarantees every probe kind gets for free."""

from __future__ import annotations

import asyncio
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
