"""Injectable clocks: the real one, and a manual one for tests and simulations."""

from __future__ import annotations

__all__ = ["Clock", "ManualClock", "SystemClock"]

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """What botwatch asks of a clock. Wall time is for records, monotonic for intervals."""

    def time(self) -> float:
        """Seconds since the epoch (wall clock)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def monotonic(self) -> float:
        """The OS monotonic clock."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that only moves when told to; ``sleep`` advances it instantly."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0

    def time(self) -> float:
        """The current fake wall time."""
        return self._now

    def monotonic(self) -> float:
        """The current fake monotonic time."""
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds``."""
        self._now += seconds
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        """Advance instead of waiting, then yield to the loop once."""
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)
