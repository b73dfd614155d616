"""A locked database, a full buffer, invalid items: the writer buffers, reports, loses nothing it can keep."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import pytest

from botwatch.errors import StoreUnavailable
from botwatch.series import Event, Sample
from botwatch.store import ProbeResultRow, Store

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # the `clock` fixture's start, an hour boundary
Locker = Callable[[str], contextlib.AbstractContextManager[None]]


async def _until(condition: object, what: str) -> None:
    """Yield to the writer until ``condition()`` holds (bounded so a bug fails, not hangs)."""
    for _ in range(100_000):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


async def test_locked_database_buffers_then_writes_everything(
    store_url: str, lock_database: Locker, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store.open(store_url, busy_timeout=0.05, retry_initial=0.01, retry_max=0.05)
    await store.start()
    try:
        store.write(samples=[Sample("up", {"bot": "a"}, T0, 0.0)])
        await store.flush()
        with lock_database(store_url):
            store.write(
                samples=[Sample("up", {"bot": "a"}, T0 + i, float(i)) for i in range(1, 1001)],
                events=[Event("restart", T0 + 5, "a", "during the outage")],
                probe_results=[ProbeResultRow(T0 + 5, "a", "health", "http", 2, None, "down")],
            )
            await _until(lambda: not store.healthy, "the store reports the fault")
            assert store.last_error is not None
            assert "lock" in store.last_error.lower()
            assert store.pending == 1002
            # Producers are never blocked: more writes just queue up.
            store.write(samples=[Sample("up", {"bot": "b"}, T0, 9.0)])
            assert store.pending == 1003
            with pytest.raises(StoreUnavailable, match="still buffered"):
                await store.flush(timeout=0.2)
        await store.flush()
        assert store.healthy
        assert store.pending == 0 and store.dropped == 0
        (run,) = store.range("up", {"bot": "a"}, T0, T0 + 2000)
        assert run.points == [(T0 + i, float(i)) for i in range(1001)]
        assert [e.message for e in store.events(T0, T0 + 10)] == ["during the outage"]
        assert [p.reason for p in store.probe_results(T0, T0 + 10)] == ["down"]
        assert [p.value for p in store.latest("up", {"bot": "b"})] == [9.0]
        assert store.status().written == 1004
    finally:
        await store.close()
    assert "store unavailable" in caplog.text
    assert "available again" in caplog.text


async def test_sqlite_reads_work_while_a_writer_holds_the_lock(
    tmp_path: object, lock_database: Locker
) -> None:
    url = f"sqlite:///{tmp_path}/bw.db"
    store = Store.open(url, busy_timeout=0.05, retry_initial=0.01)
    await store.start()
    try:
        store.write(samples=[Sample("x", {}, T0, 1.0)])
        await store.flush()
        with lock_database(url):
            # WAL: the dashboard keeps reading while the database is write-locked.
            assert [p.value for p in store.latest("x")] == [1.0]
    finally:
        await store.close()


async def test_full_buffer_drops_oldest_samples_first(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store.open(store_url, max_pending=10)
    try:
        store.write(
            samples=[Sample("x", {}, T0 + i, float(i)) for i in range(6)],
            events=[Event("e", T0 + i) for i in range(2)],
            probe_results=[ProbeResultRow(T0 + i, "a", "c", "k", 0) for i in range(2)],
        )
        assert (store.pending, store.dropped) == (10, 0)
        store.write(samples=[Sample("x", {}, T0 + i, float(i)) for i in range(6, 11)])
        assert (store.pending, store.dropped) == (10, 5)
        # With no samples left to drop, probe results go before events.
        store.write(events=[Event("e", T0 + i) for i in range(2, 10)])
        assert (store.pending, store.dropped) == (10, 13)
        await store.start()
        await store.flush()
    finally:
        await store.close()
    with Store.open(store_url) as again:
        assert [e.ts for e in again.events(T0, T0 + 100)] == [T0 + i for i in range(10)]
        assert again.probe_results(T0, T0 + 100) == []
        assert again.range("x", None, T0, T0 + 100) == []
    assert "buffer full" in caplog.text


async def test_invalid_items_are_rejected_alone(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "botwatch.store")
    store.write(
        samples=[Sample("x", {}, T0 + i, float(i)) for i in range(5)],
        events=[
            Event("ok", T0),
            Event("broken", None),  # type: ignore[arg-type]  # NOT NULL: refused by the database
            Event("ok", T0 + 1),
        ],
    )
    await store.flush()
    assert store.rejected == 1
    assert store.healthy
    assert [e.ts for e in store.events(T0, T0 + 10)] == [T0, T0 + 1]
    assert len(store.range("x", None, T0, T0 + 10)[0].points) == 5
    assert "one by one" in caplog.text
    assert store.status().written == 7


async def test_many_writers_one_flush(store: Store) -> None:
    async def producer(bot: str) -> None:
        for i in range(50):
            store.write(samples=[Sample("n", {"bot": bot}, T0 + i, float(i))])
            await asyncio.sleep(0)

    await asyncio.gather(*(producer(f"b{k}") for k in range(20)))
    await store.flush()
    assert len(store.latest("n")) == 20
    assert store.aggregate("n", None, "count", 100, T0 + 60)[0].value == 50


async def test_writes_from_other_threads(store: Store) -> None:
    def produce() -> None:
        store.write(samples=[Sample("t", {}, T0 + i, float(i)) for i in range(100)])

    await asyncio.to_thread(produce)
    await store.flush()
    assert len(store.range("t", None, T0, T0 + 100)[0].points) == 100
