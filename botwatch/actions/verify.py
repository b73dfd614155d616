"""Is the bot healthy again? The health gate after a restart and between the steps of a
rolling restart.

The bot's liveness checks (process, health endpoint, ports, platform API) are run
every ``interval`` until they pass ``consecutive`` times in a row or ``timeout`` runs
out. Passing twice matters: right after a restart command the old process may still
answer for a moment. Log freshness and disk space are left out: a bot that just
started has written no new line yet, and disk space is not something a restart fixes.
"""

from __future__ import annotations

__all__ = ["GATE_KINDS", "Verdict", "verify_healthy"]

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from botwatch.config import LoadedConfig
from botwatch.probes import ProbeContext, Status, build_probes
from botwatch.probes.runner import run_once

GATE_KINDS = frozenset({"process", "http", "tcp", "telegram", "discord"})


@dataclass(frozen=True)
class Verdict:
    """The gate's answer."""

    healthy: bool
    reason: str
    waited: float
    """Seconds from the start of the check to the answer."""


async def verify_healthy(
    loaded: LoadedConfig,
    bot: str,
    ctx: ProbeContext,
    *,
    timeout: float = 60.0,
    interval: float = 1.0,
    consecutive: int = 2,
    clock: Callable[[], float] = time.monotonic,
) -> Verdict:
    """Run ``bot``'s liveness checks until they pass ``consecutive`` times in a row
    (healthy) or ``timeout`` seconds pass (not healthy, with the last failure)."""
    probes = [p for p in build_probes(loaded, [bot]) if p.kind in GATE_KINDS]
    started = clock()
    if not probes:
        return Verdict(True, "no liveness check configured to verify with", 0.0)
    passes = 0
    last = "no check ran"
    while True:
        results = await run_once(probes, ctx)
        bad = [r for r in results if r.status in (Status.CRIT, Status.UNKNOWN)]
        waited = clock() - started
        if bad:
            passes = 0
            last = "; ".join(f"{r.check}: {r.reason}" for r in bad)
        else:
            passes += 1
            if passes >= consecutive:
                return Verdict(True, f"healthy after {waited:.1f}s", waited)
        if waited + interval > timeout:
            return Verdict(False, f"still unhealthy after {timeout:g}s ({last})", waited)
        await asyncio.sleep(interval)
