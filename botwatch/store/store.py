"""``Store``: the one object the rest of botwatch uses to keep and read observations."""

from __future__ import annotations

__all__ = ["AsyncStore", "Store"]

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Self

from sqlalchemy import Engine

from botwatch.clock import Clock, SystemClock
from botwatch.errors import StoreError
from botwatch.series import AnySample, Event
from botwatch.store import alertstate, migrate, queries
from botwatch.store import rollup as _rollup
from botwatch.store.control import ControlRepo
from botwatch.store.engine import Engines, make_engines, normalize_url, store_errors
from botwatch.store.incidents import IncidentRepo
from botwatch.store.ingest import Batch
from botwatch.store.logpos import LogPositionRepo
from botwatch.store.outbox import OutboxRepo
from botwatch.store.records import (
    AlertRow,
    Point,
    ProbeResultRow,
    Retention,
    RetentionStats,
    RollupStats,
    SeriesInfo,
    SeriesRange,
    SilenceRow,
    StoreStatus,
)
from botwatch.store.writer import Writer

log = logging.getLogger("botwatch.store")


class Store:
    """Samples, events and probe results on SQLite or PostgreSQL.

    Open with ``Store.open(url)``, which migrates the schema. Writes are buffered
    and made durable by a background writer (``await start()`` first; ``await
    close()`` at the end), and survive the database being briefly unavailable.
    Queries are synchronous and thread-safe; ``store.aio`` has the same queries as
    coroutines that run them on a worker thread.

    Use as ``async with Store.open(url) as store:`` (starts and closes the writer) or,
    in one-shot tools that only read or use ``write_now``, ``with Store.open(url)``.
    """

    def __init__(
        self,
        engines: Engines,
        url: str,
        *,
        clock: Clock,
        retention: Retention,
        writer: Writer,
    ) -> None:
        """Use ``Store.open``; this only assembles the parts."""
        self._engines = engines
        self._url = url
        self._clock = clock
        self._retention = retention
        self._writer = writer
        self._closed = False
        self.aio = AsyncStore(self)
        """The queries as coroutines (``await store.aio.latest(...)``)."""
        self.outbox = OutboxRepo(engines)
        """The notification outbox and notification log (blocking methods)."""
        self.control = ControlRepo(engines)
        """Actions asked of the running monitor (blocking methods)."""
        self.incidents = IncidentRepo(engines)
        """Incidents, their alerts and timelines (blocking methods)."""
        self.log_positions = LogPositionRepo(engines)
        """How far each followed log file was read (blocking methods)."""

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        retention: Retention | None = None,
        busy_timeout: float = 5.0,
        batch_size: int = 5_000,
        max_pending: int = 250_000,
        retry_initial: float = 0.1,
        retry_max: float = 10.0,
        linger: float = 0.05,
        migrate_in_child: bool = False,
    ) -> Store:
        """Connect to ``url`` and bring its schema up to date.

        ``url`` is ``sqlite:///path/to/file.db`` (the parent directory is created;
        botwatch's default is ``sqlite:///.botwatch/botwatch.db``) or
        ``postgresql://user:password@host:port/db`` (``postgres://`` works too).
        ``busy_timeout`` is how long one write waits for a lock before the batch is
        retried later (``retry_initial`` doubling up to ``retry_max`` seconds);
        ``max_pending`` caps the in-memory buffer (in items: a sample, a probe run's
        ``SampleGroup``, an event, a probe result); ``linger`` is how long a part-filled
        batch may wait to grow before it is written. Blocking: it connects and migrates;
        with ``migrate_in_child`` a due migration runs in a child process, which keeps
        Alembic out of a long-running process's memory.

        Raises ``StoreUnavailable`` when the database cannot be reached and
        ``StoreError`` for a bad URL or a schema newer than this botwatch.
        """
        parsed = normalize_url(url)
        shown = parsed.render_as_string(hide_password=True)
        engines = make_engines(parsed, busy_timeout=busy_timeout)
        try:
            with store_errors(f"opening {shown}"):
                if migrate_in_child:
                    migrate.upgrade_in_child(engines.write, url)
                else:
                    migrate.upgrade(engines.write)
        except BaseException:
            engines.dispose()
            raise
        writer = Writer(
            engines,
            batch_size=batch_size,
            max_pending=max_pending,
            retry_initial=retry_initial,
            retry_max=retry_max,
            linger=linger,
        )
        return cls(
            engines,
            shown,
            clock=clock or SystemClock(),
            retention=retention or Retention(),
            writer=writer,
        )

    # ---- what it is --------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._url

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engines.dialect

    @property
    def engine(self) -> Engine:
        """The engine for writing, for repositories that keep their own tables here."""
        return self._engines.write

    @property
    def clock(self) -> Clock:
        """The clock used for ``now`` defaults."""
        return self._clock

    # ---- health ------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """False while writes are failing (the buffer is holding them)."""
        return self._writer.healthy

    @property
    def last_error(self) -> str | None:
        """The most recent write error, kept after recovery so it can be reported."""
        return self._writer.last_error

    @property
    def pending(self) -> int:
        """Items buffered in memory, not yet durable."""
        return self._writer.pending

    @property
    def dropped(self) -> int:
        """Items lost because the buffer was full (oldest samples first) or at close."""
        return self._writer.dropped

    @property
    def rejected(self) -> int:
        """Items the database refused as invalid (and NaN sample values)."""
        return self._writer.rejected

    def status(self) -> StoreStatus:
        """Health and counters in one snapshot."""
        return self._writer.status()

    # ---- writing -----------------------------------------------------------------

    def write(
        self,
        samples: Iterable[AnySample] = (),
        events: Iterable[Event] = (),
        probe_results: Iterable[ProbeResultRow] = (),
    ) -> None:
        """Enqueue items for the writer; returns at once, never raises for the database.

        Thread-safe. Nothing is durable until ``await flush()`` returns (or the
        writer gets to it, usually within milliseconds).
        """
        self._check_open()
        self._writer.put(samples, events, probe_results)

    def write_now(
        self,
        samples: Iterable[AnySample] = (),
        events: Iterable[Event] = (),
        probe_results: Iterable[ProbeResultRow] = (),
    ) -> None:
        """Write synchronously in one transaction, bypassing the buffer (for one-shot tools).

        Raises ``StoreUnavailable`` or ``StoreError``; nothing is kept for a retry.
        """
        self._check_open()
        self._writer.write_now(
            Batch(samples=list(samples), events=list(events), probe_results=list(probe_results))
        )

    async def start(self) -> None:
        """Start the background writer on the running event loop."""
        self._check_open()
        await self._writer.start()

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until everything written before this call is durable.

        Raises ``StoreUnavailable`` if that takes longer than ``timeout`` seconds
        (the items stay buffered), ``StoreError`` if the writer was not started.
        """
        await self._writer.flush(timeout)

    async def close(self, timeout: float | None = 30.0) -> None:
        """Flush (at most ``timeout`` seconds), stop the writer and close connections."""
        if self._closed:
            return
        try:
            await self._writer.close(timeout)
        finally:
            self._dispose()

    def dispose(self) -> None:
        """Close connections without waiting for the writer (sync tools; use ``close``)."""
        if self._closed:
            return
        if self._writer.running:
            raise StoreError("the writer is running: use `await store.close()`")
        if self._writer.pending:
            log.error("store disposed with %d unwritten items", self._writer.pending)
        self._dispose()

    def _dispose(self) -> None:
        self._closed = True
        self._engines.dispose()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.dispose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- reading -----------------------------------------------------------------

    def latest(self, name: str, matchers: dict[str, str] | None = None) -> list[Point]:
        """The newest sample of each series ``name`` whose labels equal ``matchers``.

        ``{"bot": "x"}`` matches series with ``bot="x"`` (and any other labels);
        ``{"check": ""}`` matches series without a ``check`` label.
        """
        self._check_open()
        with store_errors("reading the latest values"), self._engines.read.begin() as conn:
            return queries.latest(conn, name, matchers)

    def range(
        self,
        name: str,
        matchers: dict[str, str] | None,
        start: float,
        end: float,
        step: float | None = None,
        fn: str = "avg",
    ) -> list[SeriesRange]:
        """Values of each matching series between ``start`` and ``end`` (epoch seconds).

        Without ``step``: every raw sample. With ``step``: one point per step that
        has data, from the step holding ``start`` through the one holding ``end``
        (steps are aligned to multiples of ``step`` and stamped with their start),
        folding all the samples in the step with ``fn`` (avg, min, max, sum, count,
        last). Steps that are
        whole minutes read the 1m rollup, whole hours the 1h rollup - plus the finer
        tables for the stretch not rolled up yet, so the newest data is included.
        """
        self._check_open()
        with store_errors("reading a range"), self._engines.read.begin() as conn:
            return queries.range_query(conn, name, matchers, start, end, step, fn)

    def aggregate(
        self,
        name: str,
        matchers: dict[str, str] | None,
        fn: str,
        window: float,
        at: float | None = None,
        *,
        q: float | None = None,
    ) -> list[Point]:
        """``fn`` over the window ``(at - window, at]`` of each matching series.

        ``fn`` is avg, min, max, sum, count, last, rate (per second), increase, or
        quantile (with ``q`` in [0, 1]). rate and increase treat the series as a
        counter: a drop is a reset, and the result is extrapolated to the window's
        edges exactly as Prometheus does. Windows up to the raw retention use raw
        samples; longer ones use rollups (approximate at bucket edges). Series with
        no data in the window (or fewer than two samples, for rate/increase) are
        left out. ``at`` defaults to now.
        """
        self._check_open()
        when = self._clock.time() if at is None else at
        with store_errors("computing an aggregate"), self._engines.read.begin() as conn:
            return queries.aggregate(
                conn,
                name,
                matchers,
                fn,
                window,
                when,
                q,
                raw_retention=self._retention.raw,
                m1_retention=self._retention.m1,
            )

    def events(
        self,
        since: float,
        until: float | None = None,
        kind: str | None = None,
        bot: str | None = None,
        *,
        limit: int | None = None,
    ) -> list[Event]:
        """Events with ``since <= ts <= until`` (until defaults to now), oldest first."""
        self._check_open()
        end = self._clock.time() if until is None else until
        with store_errors("reading events"), self._engines.read.begin() as conn:
            return queries.events_between(conn, since, end, kind, bot, limit)

    def probe_results(
        self,
        since: float,
        until: float | None = None,
        bot: str | None = None,
        check: str | None = None,
        *,
        limit: int | None = None,
    ) -> list[ProbeResultRow]:
        """Probe results with ``since <= ts <= until`` (until defaults to now), oldest first."""
        self._check_open()
        end = self._clock.time() if until is None else until
        with store_errors("reading probe results"), self._engines.read.begin() as conn:
            return queries.probe_results_between(conn, since, end, bot, check, limit)

    def alerts(self) -> list[AlertRow]:
        """The live alert instances saved by ``save_alerts``."""
        self._check_open()
        with store_errors("reading alerts"), self._engines.read.begin() as conn:
            return alertstate.load_alerts(conn)

    def save_alerts(
        self, upserts: Sequence[AlertRow], deletes: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Write alert instances and delete ``(group, fingerprint)`` pairs in one
        transaction, now (not through the buffer: alert state must be durable before
        anything is sent about it). Blocking; raises ``StoreUnavailable``/``StoreError``."""
        self._check_open()
        with store_errors("saving alerts"), self._engines.write.begin() as conn:
            alertstate.save_alerts(conn, upserts, deletes)

    def add_silence(self, silence: SilenceRow) -> None:
        """Save a new silence (blocking)."""
        self._check_open()
        with store_errors("saving a silence"), self._engines.write.begin() as conn:
            alertstate.add_silence(conn, silence)

    def silences(self, ending_after: float | None = None) -> list[SilenceRow]:
        """Silences ending after ``ending_after`` (pass now: active and pending ones;
        None: every one ever made), newest first."""
        self._check_open()
        with store_errors("reading silences"), self._engines.read.begin() as conn:
            return alertstate.load_silences(conn, ending_after)

    def expire_silence(self, silence_id: str, now: float | None = None) -> bool:
        """End a silence now; False when none with that id is active or pending."""
        self._check_open()
        when = self._clock.time() if now is None else now
        with store_errors("expiring a silence"), self._engines.write.begin() as conn:
            return alertstate.expire_silence(conn, silence_id, when)

    def series(self, name: str | None = None) -> list[SeriesInfo]:
        """The series the store knows (all of them, or those called ``name``)."""
        self._check_open()
        with store_errors("listing series"), self._engines.read.begin() as conn:
            return queries.list_series(conn, name)

    # ---- upkeep ------------------------------------------------------------------

    def rollup(self, now: float | None = None) -> RollupStats:
        """Fold complete minutes into ``samples_1m`` and complete hours into ``samples_1h``.

        Incremental and idempotent: call it as often as you like (every minute is
        typical); it picks up late samples too. Blocking.
        """
        self._check_open()
        when = self._clock.time() if now is None else now
        with store_errors("rolling up samples"):
            return _rollup.rollup(self._engines.write, when)

    def retention(
        self,
        now: float | None = None,
        *,
        raw: float | None = None,
        m1: float | None = None,
        h1: float | None = None,
    ) -> RetentionStats:
        """Delete rows older than the retention policy (never rows not yet rolled up).

        ``raw``, ``m1`` and ``h1`` (seconds) override the policy given to ``open``
        for this call. Blocking.
        """
        self._check_open()
        when = self._clock.time() if now is None else now
        keep = self._retention
        overrides = {k: v for k, v in (("raw", raw), ("m1", m1), ("h1", h1)) if v is not None}
        if overrides:
            keep = dataclasses.replace(keep, **overrides)
        with store_errors("deleting old rows"):
            return _rollup.retention(self._engines.write, when, keep)


class AsyncStore:
    """``Store``'s queries and upkeep as coroutines, each run on a worker thread."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def latest(self, name: str, matchers: dict[str, str] | None = None) -> list[Point]:
        """See ``Store.latest``."""
        return await asyncio.to_thread(self._store.latest, name, matchers)

    async def range(
        self,
        name: str,
        matchers: dict[str, str] | None,
        start: float,
        end: float,
        step: float | None = None,
        fn: str = "avg",
    ) -> list[SeriesRange]:
        """See ``Store.range``."""
        return await asyncio.to_thread(self._store.range, name, matchers, start, end, step, fn)

    async def aggregate(
        self,
        name: str,
        matchers: dict[str, str] | None,
        fn: str,
        window: float,
        at: float | None = None,
        *,
        q: float | None = None,
    ) -> list[Point]:
        """See ``Store.aggregate``."""
        when = self._store.clock.time() if at is None else at
        return await asyncio.to_thread(self._store.aggregate, name, matchers, fn, window, when, q=q)

    async def events(
        self,
        since: float,
        until: float | None = None,
        kind: str | None = None,
        bot: str | None = None,
        *,
        limit: int | None = None,
    ) -> list[Event]:
        """See ``Store.events``."""
        return await asyncio.to_thread(self._store.events, since, until, kind, bot, limit=limit)

    async def probe_results(
        self,
        since: float,
        until: float | None = None,
        bot: str | None = None,
        check: str | None = None,
        *,
        limit: int | None = None,
    ) -> list[ProbeResultRow]:
        """See ``Store.probe_results``."""
        return await asyncio.to_thread(
            self._store.probe_results, since, until, bot, check, limit=limit
        )

    async def alerts(self) -> list[AlertRow]:
        """See ``Store.alerts``."""
        return await asyncio.to_thread(self._store.alerts)

    async def save_alerts(
        self, upserts: Sequence[AlertRow], deletes: Iterable[tuple[str, str]] = ()
    ) -> None:
        """See ``Store.save_alerts``."""
        await asyncio.to_thread(self._store.save_alerts, upserts, list(deletes))

    async def silences(self, ending_after: float | None = None) -> list[SilenceRow]:
        """See ``Store.silences``."""
        return await asyncio.to_thread(self._store.silences, ending_after)

    async def series(self, name: str | None = None) -> list[SeriesInfo]:
        """See ``Store.series``."""
        return await asyncio.to_thread(self._store.series, name)

    async def rollup(self, now: float | None = None) -> RollupStats:
        """See ``Store.rollup``."""
        return await asyncio.to_thread(self._store.rollup, now)

    async def retention(
        self,
        now: float | None = None,
        *,
        raw: float | None = None,
        m1: float | None = None,
        h1: float | None = None,
    ) -> RetentionStats:
        """See ``Store.retention``."""
        return await asyncio.to_thread(self._store.retention, now, raw=raw, m1=m1, h1=h1)
