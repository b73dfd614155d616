"""The single writer: an in-memory buffer drained in batches by one task and one thread.

Producers (probes, the sampler, log analyzers) call ``put`` and never wait for the
database. One asyncio task takes batches off the buffer and writes each in one
transaction on a dedicated thread, so the event loop never blocks on I/O and SQLite
only ever sees one writer.

When the database cannot be written (locked, disk full, server down) the batch stays
in memory and is retried with exponential backoff, ``healthy`` turns False and
``last_error`` says why; producers keep going. The buffer is capped: past
``max_pending`` items (a sample, one probe run's ``SampleGroup``, an event or a probe
result each) the oldest queued samples are dropped first (then probe results,
then events - the rarest and most telling), and every drop is counted. A batch the
database refuses as invalid is written item by item so one bad item costs only itself.
"""

from __future__ import annotations

__all__ = ["Writer"]

import asyncio
import contextlib
import logging
import math
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from botwatch.errors import StoreError, StoreUnavailable
from botwatch.series import AnySample, Event, SampleGroup
from botwatch.store.engine import Engines, describe, is_transient, store_errors
from botwatch.store.ingest import Batch, SeriesCache, single, write_batch
from botwatch.store.records import ProbeResultRow, StoreStatus

log = logging.getLogger("botwatch.store")

_SAMPLES: Final = 0
_EVENTS: Final = 1
_PROBES: Final = 2


class Writer:
    """Buffers writes and makes them durable in the background (see the module doc)."""

    def __init__(
        self,
        engines: Engines,
        *,
        batch_size: int,
        max_pending: int,
        retry_initial: float,
        retry_max: float,
        linger: float = 0.05,
    ) -> None:
        self._engines = engines
        # How long the writer lets a part-filled batch grow before writing it. Fewer,
        # larger transactions cost far less per item (and hold the GIL less) than one
        # tiny transaction per probe result; flush() and close() skip the wait.
        self._linger = linger
        self._flushers = 0
        self._batch_size = max(1, batch_size)
        self._eager = max(1, self._batch_size // 5)
        self._max_pending = max(1, max_pending)
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        # Guards the queues and counters: put() may be called from any thread.
        self._lock = threading.Lock()
        self._queues: tuple[deque[AnySample], deque[Event], deque[ProbeResultRow]] = (
            deque(),
            deque(),
            deque(),
        )
        # Per kind: how many were ever enqueued, and the sequence number of the first
        # unresolved in-flight item. flush() compares them with its targets.
        self._enqueued = [0, 0, 0]
        self._inflight: Batch | None = None
        self._inflight_start = [0, 0, 0]
        self._series = SeriesCache()
        self._failures = 0
        self.healthy = True
        self.last_error: str | None = None
        self.dropped = 0
        self.rejected = 0
        self.written = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._progress = asyncio.Event()
        self._hurry = asyncio.Event()
        self._stopping = False

    # ---- producers -------------------------------------------------------------

    def put(
        self,
        samples: Iterable[AnySample],
        events: Iterable[Event],
        probe_results: Iterable[ProbeResultRow],
    ) -> None:
        """Enqueue items; never blocks on the database. Thread-safe."""
        # The monitor calls this for every check: kinds that are empty cost nothing.
        good = samples if isinstance(samples, list | tuple) else list(samples)
        # NaN is no measurement (SQLite would store it as NULL); refuse it up front.
        # (NaN is the only value not equal to itself.)
        nans = 0
        for smp in good:
            if isinstance(smp, SampleGroup):
                for v in smp.values.values():
                    if v != v:
                        break
                else:
                    continue  # no NaN in the group
            elif smp.value == smp.value:
                continue
            good, nans = _without_nan(good)
            break
        evs = events if isinstance(events, list | tuple) else list(events)
        prs = probe_results if isinstance(probe_results, list | tuple) else list(probe_results)
        queues, enqueued = self._queues, self._enqueued
        with self._lock:
            self.rejected += nans
            if good:
                queues[_SAMPLES].extend(good)
                enqueued[_SAMPLES] += len(good)
            if evs:
                queues[_EVENTS].extend(evs)
                enqueued[_EVENTS] += len(evs)
            if prs:
                queues[_PROBES].extend(prs)
                enqueued[_PROBES] += len(prs)
            pending = self._pending_locked()
            dropped = self._enforce_cap(pending) if pending > self._max_pending else 0
            eager = pending >= self._eager
        if eager and not self._hurry.is_set():
            self._on_loop(self._hurry.set)
        if not self._wake.is_set():
            self._on_loop(self._wake.set)
        if dropped:
            self._on_loop(self._signal_progress)

    def _enforce_cap(self, pending: int) -> int:
        """Drop the oldest queued items beyond ``max_pending`` (lock held)."""
        over = pending - self._max_pending
        dropped = 0
        for kind in (_SAMPLES, _PROBES, _EVENTS):
            if over <= 0:
                break
            q = self._queues[kind]
            n = min(over, len(q))
            for _ in range(n):
                q.popleft()
            over -= n
            dropped += n
        if dropped:
            if not self.dropped:
                log.error("store buffer full (%d items): dropping the oldest", self._max_pending)
            self.dropped += dropped
        return dropped

    # ---- state -----------------------------------------------------------------

    def _pending_locked(self) -> int:
        inflight = len(self._inflight) if self._inflight is not None else 0
        q = self._queues
        return len(q[0]) + len(q[1]) + len(q[2]) + inflight

    @property
    def pending(self) -> int:
        """Items buffered in memory, not yet durable (including the batch in flight)."""
        with self._lock:
            return self._pending_locked()

    def status(self) -> StoreStatus:
        """A snapshot of health and counters."""
        with self._lock:
            return StoreStatus(
                healthy=self.healthy,
                last_error=self.last_error,
                pending=self._pending_locked(),
                dropped=self.dropped,
                rejected=self.rejected,
                written=self.written,
            )

    @property
    def running(self) -> bool:
        """Whether the writer task is running."""
        return self._task is not None and not self._task.done()

    # ---- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Start the writer task on the running loop (a no-op if already running)."""
        if self.running:
            return
        # Fresh events: asyncio primitives belong to the loop they are first used on.
        self._wake, self._stop, self._progress = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._wake.set()  # anything put() before start() is waiting
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="botwatch-store-writer")
        self._task = asyncio.create_task(self._run(), name="botwatch-store-writer")

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every item enqueued before this call is durable (or dropped).

        Raises ``StoreUnavailable`` if that has not happened within ``timeout`` seconds.
        """
        if not self.running:
            raise StoreError("the store's writer is not running: call start() first")
        with self._lock:
            target = list(self._enqueued)
        self._flushers += 1
        self._hurry.set()
        try:
            await asyncio.wait_for(self._until(target), timeout)
        except TimeoutError:
            raise StoreUnavailable(
                f"{self.pending} items still buffered after {timeout}s: {self.last_error}"
            ) from None
        finally:
            self._flushers -= 1
            if not self._flushers:
                self._hurry.clear()

    async def _until(self, target: list[int]) -> None:
        while True:
            with self._lock:
                done = all(self._unresolved_from(k) >= target[k] for k in range(3))
            if done:
                return
            await self._progress.wait()

    def _unresolved_from(self, kind: int) -> int:
        """Sequence number of the oldest unresolved item of ``kind`` (lock held)."""
        b = self._inflight
        if b is not None and (b.samples, b.events, b.probe_results)[kind]:
            return self._inflight_start[kind]
        return self._enqueued[kind] - len(self._queues[kind])

    async def close(self, timeout: float | None) -> None:
        """Write what is buffered (waiting at most ``timeout`` s), then stop the task.

        Items still unwritten when the time is up are lost; they are counted in
        ``dropped`` and logged.
        """
        if not self.running:
            if not self.pending:
                return
            await self.start()
        try:
            await self.flush(timeout)
        except StoreUnavailable as e:
            log.error("closing the store with writes still failing: %s", e)
        self._stopping = True
        self._stop.set()
        self._hurry.set()
        self._wake.set()
        assert self._task is not None and self._executor is not None
        await self._task
        with self._lock:
            lost = self._pending_locked()
            for q in self._queues:
                q.clear()
            self._inflight = None
            self.dropped += lost
        if lost:
            log.error("store closed with %d unwritten items; they are lost", lost)
        self._executor.shutdown(wait=True)

    # ---- the writer task -------------------------------------------------------

    async def _run(self) -> None:
        delay = self._retry_initial
        while True:
            if self._inflight is None and self._linger > 0:
                await self._let_batch_grow()
            batch = self._inflight or self._take()
            if batch is None:
                if self._stopping:
                    return
                self._wake.clear()
                if self.pending:
                    continue
                await self._wake.wait()
                continue
            if await self._attempt(batch):
                delay = self._retry_initial
                continue
            if self._stopping:
                return
            # Backoff on real time: it waits for the database, not for monitored time.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            delay = min(delay * 2, self._retry_max)

    async def _let_batch_grow(self) -> None:
        """Wait up to ``linger`` for a part-filled batch to fill (not when hurried).

        "Full" is ``eager`` items, a fifth of a batch: a busy producer gets batches of
        that size at once instead of a large queue of waiting items (which the
        garbage collector walks again and again), while a quiet one still gets the
        linger's few large transactions.
        """
        pending = self.pending
        if pending == 0 or pending >= self._eager or self._stopping:
            return
        if not self._flushers:
            self._hurry.clear()  # put() sets it again once `eager` items wait
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._hurry.wait(), self._linger)

    def _take(self) -> Batch | None:
        with self._lock:
            room = self._batch_size
            batch = Batch()
            # Rare, precious kinds first; samples fill the rest of the batch.
            for kind, dest in (
                (_PROBES, batch.probe_results),
                (_EVENTS, batch.events),
                (_SAMPLES, batch.samples),
            ):
                q: deque[Any] = self._queues[kind]
                self._inflight_start[kind] = self._enqueued[kind] - len(q)
                n = min(room, len(q))
                if n == len(q):  # the usual case: everything waiting fits
                    dest.extend(q)
                    q.clear()
                else:
                    dest.extend(q.popleft() for _ in range(n))
                room -= n
            self._inflight = batch if len(batch) else None
            return self._inflight

    async def _attempt(self, batch: Batch) -> bool:
        """Write ``batch``; False if the database is unavailable (batch kept)."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._write_sync, batch)
        except Exception as e:
            if is_transient(e):
                self._failed(e)
                return False
            log.warning("store refused a batch (%s); writing its items one by one", describe(e))
            return await self._attempt_each(batch)
        with self._lock:
            self.written += len(batch)
            self._inflight = None
        self._recovered()
        self._signal_progress()
        return True

    async def _attempt_each(self, batch: Batch) -> bool:
        loop = asyncio.get_running_loop()
        for kind, todo in (
            (_PROBES, batch.probe_results),
            (_EVENTS, batch.events),
            (_SAMPLES, batch.samples),
        ):
            while todo:
                try:
                    await loop.run_in_executor(self._executor, self._write_sync, single(todo[0]))
                except Exception as e:
                    if is_transient(e):
                        self._failed(e)
                        return False
                    with self._lock:
                        self.rejected += 1
                        self.last_error = describe(e)
                    log.warning("store refused %r: %s", todo[0], self.last_error)
                else:
                    with self._lock:
                        self.written += 1
                with self._lock:
                    todo.pop(0)
                    self._inflight_start[kind] += 1
                self._signal_progress()
        with self._lock:
            self._inflight = None
        self._recovered()
        return True

    def _write_sync(self, batch: Batch) -> None:
        with self._engines.write.begin() as conn:
            learned = write_batch(conn, batch, self._series)
        self._series.learn(learned)

    def write_now(self, batch: Batch) -> None:
        """Write ``batch`` on the calling thread, bypassing the buffer.

        Raises ``StoreUnavailable`` or ``StoreError``.
        """
        with store_errors("writing to the store"):
            self._write_sync(batch)
        with self._lock:
            self.written += len(batch)

    # ---- health ----------------------------------------------------------------

    def _failed(self, error: BaseException) -> None:
        self._failures += 1
        with self._lock:
            self.healthy = False
            self.last_error = describe(error)
            pending = self._pending_locked()
        if self._failures == 1:
            log.warning("store unavailable, buffering %d items: %s", pending, self.last_error)

    def _recovered(self) -> None:
        if self._failures:
            log.warning("store available again after %d failed attempts", self._failures)
        self._failures = 0
        self.healthy = True

    def _signal_progress(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    def _on_loop(self, fn: Any) -> None:
        """Run ``fn`` on the writer's loop: now if we are on it, else thread-safely."""
        if self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            fn()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn)


def _without_nan(samples: Sequence[AnySample]) -> tuple[list[AnySample], int]:
    """``samples`` without NaN values (groups copied, never changed), and how many."""
    out: list[AnySample] = []
    dropped = 0
    for smp in samples:
        if isinstance(smp, SampleGroup):
            values = {k: v for k, v in smp.values.items() if not math.isnan(v)}
            dropped += len(smp.values) - len(values)
            if values:
                out.append(smp._replace(values=values))
        elif math.isnan(smp.value):
            dropped += 1
        else:
            out.append(smp)
    return out, dropped
