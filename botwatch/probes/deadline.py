"""Hard timeouts for many running probes on one timer.

``asyncio.timeout()`` puts a timer on the event loop per use and cancels it on exit.
At thousands of checks a second that is a measurable share of the monitor's CPU, and
almost every one of those timers is cancelled unfired. ``Deadlines`` keeps the running
probes' deadlines in a dict and arms a single loop timer for the earliest one, so
starting and finishing a check cost a dict insert and a delete.

The semantics are ``asyncio.timeout()``'s: an expired deadline cancels the task, the
probe turns that cancellation (and only that one) into a timeout with
``Task.uncancel()``, and a cancellation from anyone else still propagates.
"""

from __future__ import annotations

__all__ = ["Deadline", "Deadlines"]

import asyncio
import math


class Deadline:
    """One running check's deadline; ``expired`` once it has cancelled the task."""

    __slots__ = ("_undone", "at", "cancelling", "expired", "task")

    def __init__(self, task: asyncio.Task[object], at: float) -> None:
        self.task = task
        self.at = at
        self.expired = False
        self._undone = False
        # Cancellations already pending when the check started are not ours to undo.
        self.cancelling = task.cancelling()

    def undo(self) -> bool:
        """Whether it expired; the first call takes back its cancellation of the task."""
        if self.expired and not self._undone:
            self._undone = True
            self.task.uncancel()
        return self.expired

    def owns_cancellation(self) -> bool:
        """After the task saw a cancellation: was it only this deadline's? (Undoes it.)"""
        return self.undo() and self.task.cancelling() <= self.cancelling


class Deadlines:
    """The deadlines of every running check, watched by one timer on the loop."""

    def __init__(self) -> None:
        self._running: dict[Deadline, None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def __len__(self) -> int:
        return len(self._running)

    def start(self, timeout: float) -> Deadline:
        """Cancel the current task ``timeout`` seconds from now unless ``finish``ed first."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Deadlines.start() must be called from a task")
        loop = task.get_loop()
        if loop is not self._loop:  # first use, or a new loop in tests: start over
            self._reset(loop)
        d = Deadline(task, loop.time() + timeout)
        self._running[d] = None
        if d.at < self._timer_at:
            self._arm(d.at)
        return d

    def finish(self, d: Deadline) -> None:
        """The check is over; forget its deadline (its timer may fire for nothing)."""
        self._running.pop(d, None)

    def _reset(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._loop, self._timer, self._timer_at = loop, None, math.inf
        self._running.clear()

    def _arm(self, at: float) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._loop.call_at(at, self._fire)

    def _fire(self) -> None:
        assert self._loop is not None
        self._timer, self._timer_at = None, math.inf
        now = self._loop.time()
        earliest = math.inf
        for d in list(self._running):
            if d.at <= now:
                # The task is suspended inside its check (this runs as a loop callback,
                # never while the task runs), so the cancellation lands in the check.
                del self._running[d]
                d.expired = True
                d.task.cancel()
            elif d.at < earliest:
                earliest = d.at
        if earliest < math.inf:
            self._arm(earliest)
