"""Run a set of probes once, concurrently but bounded (``botwatch check`` and tests)."""

from __future__ import annotations

__all__ = ["run_once"]

import asyncio
from collections.abc import Sequence

from botwatch.probes.base import Probe, ProbeContext, ProbeResult


async def run_once(
    probes: Sequence[Probe], ctx: ProbeContext, *, concurrency: int = 100
) -> list[ProbeResult]:
    """Run every probe once; results come back in the order of ``probes``."""
    sem = asyncio.Semaphore(concurrency)

    async def one(p: Probe) -> ProbeResult:
        async with sem:
            return await p.run(ctx)

    return list(await asyncio.gather(*(one(p) for p in probes)))
