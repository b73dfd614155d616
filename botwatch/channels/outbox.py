"""Delivering the outbox: claim due notifications, send, record, retry with backoff.

Each row is one notification for one receiver, so a retry never re-sends to a
receiver that already took it. A receiver's rows go out in order; when one fails, the
receiver's later rows wait for it. Retries back off exponentially (1 s doubling to 5
minutes); a refusal (a 4xx other than 408/429) or running out of attempts marks the
row failed, logged as an error - never dropped silently.
"""

from __future__ import annotations

__all__ = ["Deliverer"]

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from botwatch.channels.base import Channel
from botwatch.channels.message import Notification
from botwatch.clock import Clock, SystemClock
from botwatch.errors import ChannelError, StoreError
from botwatch.store import Store
from botwatch.store.outbox import OutboxRow

log = logging.getLogger("botwatch.notify")


@dataclass(frozen=True)
class Outcome:
    """What happened to one row this tick."""

    row: int
    receiver: str
    result: str
    """``sent``, ``retry``, ``failed`` or ``waiting`` (behind a failed row)."""
    error: str | None = None


class Deliverer:
    """Sends what the outbox holds; ``tick()`` is one round."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        *,
        clock: Clock | None = None,
        max_attempts: int = 12,
        backoff: float = 1.0,
        backoff_max: float = 300.0,
        lease: float = 30.0,
        on_sent: Callable[[OutboxRow, float], None] | None = None,
    ) -> None:
        self.store = store
        self.channels = dict(channels)
        self.clock = clock or SystemClock()
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.lease = lease
        self.on_sent = on_sent
        """Called with each row a receiver took (incidents note it on their timeline)."""

    async def tick(self) -> list[Outcome]:
        """Claim what is due and deliver it, receivers in parallel, each in order."""
        now = self.clock.time()
        try:
            rows = await asyncio.to_thread(self.store.outbox.claim, now, self.lease)
        except StoreError as e:
            log.error("cannot read the notification outbox: %s", e)
            return []
        by_receiver: dict[str, list[OutboxRow]] = {}
        for row in rows:
            by_receiver.setdefault(row.receiver, []).append(row)
        done = await asyncio.gather(*(self._receiver(r, rs) for r, rs in by_receiver.items()))
        return [o for outcomes in done for o in outcomes]

    async def _receiver(self, receiver: str, rows: list[OutboxRow]) -> list[Outcome]:
        out: list[Outcome] = []
        blocked_until: float | None = None
        for row in rows:
            if blocked_until is not None:
                # Keep the receiver's order: wait for the row that failed before it.
                await self._record(self.store.outbox.retry, row.id, row.attempts, blocked_until,
                                   "waiting for an earlier notification to this receiver")  # fmt: skip
                out.append(Outcome(row.id, receiver, "waiting"))
                continue
            outcome = await self._deliver(row)
            out.append(outcome)
            if outcome.result == "retry":
                blocked_until = self.clock.time() + self._delay(row.attempts + 1)
        return out

    def _delay(self, attempts: int) -> float:
        return float(min(self.backoff_max, self.backoff * 2 ** (attempts - 1)))

    async def _deliver(self, row: OutboxRow) -> Outcome:
        attempts = row.attempts + 1
        channel = self.channels.get(row.receiver)
        if channel is None:
            error = f"no channel named {row.receiver!r} in the config"
            log.error("notification %d failed: %s", row.id, error)
            await self._record(self.store.outbox.failed, row.id, attempts, error)
            return Outcome(row.id, row.receiver, "failed", error)
        try:
            await channel.send(Notification.from_json(row.payload))
        except ChannelError as e:
            if not e.retryable or attempts >= self.max_attempts:
                why = str(e) if not e.retryable else f"{e} (gave up after {attempts} attempts)"
                log.error("notification %d to %s failed: %s", row.id, row.receiver, why)
                await self._record(self.store.outbox.failed, row.id, attempts, why)
                return Outcome(row.id, row.receiver, "failed", why)
            at = self.clock.time() + self._delay(attempts)
            log.warning("notification %d to %s: %s (retrying)", row.id, row.receiver, e)
            await self._record(self.store.outbox.retry, row.id, attempts, at, str(e))
            return Outcome(row.id, row.receiver, "retry", str(e))
        now = self.clock.time()
        await self._record(self.store.outbox.sent, row.id, now, attempts)
        if self.on_sent is not None:
            self.on_sent(row, now)
        return Outcome(row.id, row.receiver, "sent")

    async def _record(self, fn: Callable[..., None], *args: object) -> None:
        try:
            await asyncio.to_thread(fn, *args)
        except StoreError as e:
            # The lease runs out and the row is claimed again: at least once, never lost.
            log.error("cannot record a delivery (it will be retried): %s", e)

    def due_in(self) -> float | None:
        """Seconds until a pending row is due (None: nothing pending). Blocking."""
        nxt = self.store.outbox.next_due()
        return None if nxt is None else max(0.0, nxt - self.clock.time())
