"""Rollups (incremental, idempotent, late samples) and retention, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from botwatch.clock import ManualClock
from botwatch.series import Event, Sample
from botwatch.store import ProbeResultRow, Retention, Store
from botwatch.store.tables import samples, samples_1h, samples_1m

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # the `clock` fixture's start, an hour boundary
HOUR = 3600.0


def _rows(store: Store, table: Any) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key))]


def _per_second(bot: str, start: float, seconds: float, every: float = 10) -> list[Sample]:
    n = int(seconds // every)
    return [Sample("v", {"bot": bot}, start + every * i, float(i % 50)) for i in range(n)]


async def test_rollup_buckets_hold_count_sum_min_max_last(store: Store) -> None:
    store.write(
        samples=[
            Sample("v", {}, T0 + 5, 3.0),
            Sample("v", {}, T0 + 50, 1.0),
            Sample("v", {}, T0 + 20, 8.0),  # written out of order: `last` is by time
            Sample("v", {}, T0 + 65, 2.0),
        ]
    )
    await store.flush()
    stats = store.rollup(T0 + 2 * HOUR)
    assert (stats.rows_1m, stats.rows_1h) == (2, 1)
    assert (stats.watermark_1m, stats.watermark_1h) == (T0 + 2 * HOUR, T0 + 2 * HOUR)
    (sid,) = {r[0] for r in _rows(store, samples_1m)}
    assert _rows(store, samples_1m) == [
        (sid, T0, 3, 12.0, 1.0, 8.0, 1.0),
        (sid, T0 + 60, 1, 2.0, 2.0, 2.0, 2.0),
    ]
    assert _rows(store, samples_1h) == [(sid, T0, 4, 14.0, 1.0, 8.0, 2.0)]


async def test_rollup_only_folds_complete_buckets(store: Store) -> None:
    store.write(samples=_per_second("a", T0, 90 * 60))
    await store.flush()
    stats = store.rollup(T0 + 90 * 60 + 30)  # half a minute into minute 91
    assert stats.rows_1m == 90
    assert stats.rows_1h == 1  # the second hour is not complete
    assert stats.watermark_1h == T0 + HOUR


async def test_rollup_is_idempotent_and_incremental(store: Store) -> None:
    store.write(samples=_per_second("a", T0, 2 * HOUR) + _per_second("b", T0, 2 * HOUR))
    await store.flush()
    store.rollup(T0 + 2 * HOUR)
    m1, h1 = _rows(store, samples_1m), _rows(store, samples_1h)
    assert (len(m1), len(h1)) == (240, 4)
    again = store.rollup(T0 + 2 * HOUR)
    assert (again.rows_1m, again.rows_1h) == (0, 0)
    assert (_rows(store, samples_1m), _rows(store, samples_1h)) == (m1, h1)
    # New data: only the new minutes are folded.
    store.write(samples=_per_second("a", T0 + 2 * HOUR, 300))
    await store.flush()
    step = store.rollup(T0 + 2 * HOUR + 300)
    assert step.rows_1m == 5
    after = _rows(store, samples_1m)
    assert len(after) == 245
    assert after[:120] == m1[:120] and after[125:] == m1[120:]  # bot a's old minutes, bot b's


async def test_late_samples_are_folded_again(store: Store) -> None:
    store.write(samples=_per_second("a", T0, 2 * HOUR))
    await store.flush()
    store.rollup(T0 + 2 * HOUR)
    (before,) = store.range("v", None, T0, T0 + 2 * HOUR, step=HOUR, fn="max")
    # An agent delivers what it buffered while the server was unreachable.
    store.write(samples=[Sample("v", {"bot": "a"}, T0 + 30 * 60 + 1, 999.0)])
    await store.flush()
    stats = store.rollup(T0 + 2 * HOUR)
    assert stats.rows_1m >= 1 and stats.rows_1h >= 1
    (after,) = store.range("v", None, T0, T0 + 2 * HOUR, step=HOUR, fn="max")
    assert after.points == [(T0, 999.0), before.points[1]]
    (minute,) = store.range("v", None, T0 + 30 * 60, T0 + 30 * 60, step=60, fn="count")
    assert minute.points == [(T0 + 30 * 60, 7.0)]


async def test_rollup_on_an_empty_store(store: Store) -> None:
    stats = store.rollup()
    assert (stats.rows_1m, stats.rows_1h, stats.watermark_1m) == (0, 0, None)


async def test_retention_keeps_what_is_not_rolled_up(store: Store, clock: ManualClock) -> None:
    store.write(samples=_per_second("a", T0, 3 * HOUR))
    await store.flush()
    clock.advance(3 * HOUR)
    # Nothing is folded yet: even "keep raw for an hour" deletes nothing.
    assert store.retention(raw=HOUR).samples == 0
    store.rollup()
    deleted = store.retention(raw=HOUR)
    assert deleted.samples == 2 * 360
    assert len(_rows(store, samples)) == 360
    assert len(_rows(store, samples_1m)) == 180
    # The full range is still there, from the 1m table where raw samples are gone.
    (minutes,) = store.range("v", None, T0, T0 + 3 * HOUR, step=60, fn="count")
    assert len(minutes.points) == 180 and {v for _, v in minutes.points} == {6.0}
    (raw,) = store.range("v", None, T0, T0 + 3 * HOUR)
    assert raw.points[0][0] == T0 + 2 * HOUR
    # 1m rows go once folded into 1h; 1h rows by age.
    assert store.retention(m1=HOUR).samples_1m == 120
    assert store.retention(h1=HOUR).samples_1h == 2
    (hours,) = store.range("v", None, T0, T0 + 3 * HOUR, step=HOUR, fn="count")
    assert hours.points == [(T0 + 2 * HOUR, 360.0)]


async def test_late_samples_below_the_raw_floor_do_not_damage_rollups(
    store: Store, clock: ManualClock
) -> None:
    store.write(samples=_per_second("a", T0, 3 * HOUR))
    await store.flush()
    clock.advance(3 * HOUR)
    store.rollup()
    store.retention(raw=HOUR)
    m1 = _rows(store, samples_1m)
    # A sample older than what raw retention keeps: the minute it belongs to can no
    # longer be recomputed from raw samples, so the rollups stay as they were.
    store.write(samples=[Sample("v", {"bot": "a"}, T0 + 61, 1234.0)])
    await store.flush()
    store.rollup()
    assert _rows(store, samples_1m) == m1


async def test_retention_of_events_and_probe_results(store_url: str) -> None:
    clock = ManualClock(T0)
    keep = Retention(events=2 * HOUR, probe_results=HOUR)
    store = Store.open(store_url, clock=clock, retention=keep)
    await store.start()
    try:
        store.write(
            events=[Event("e", T0 + i * 1800) for i in range(6)],
            probe_results=[ProbeResultRow(T0 + i * 1800, "a", "c", "k", 0) for i in range(6)],
        )
        await store.flush()
        clock.advance(3 * HOUR)
        stats = store.retention()
        assert (stats.events, stats.probe_results) == (2, 4)
        assert [e.ts for e in store.events(T0)] == [T0 + i * 1800 for i in range(2, 6)]
        assert [p.ts for p in store.probe_results(T0)] == [T0 + 2 * HOUR, T0 + 2.5 * HOUR]
    finally:
        await store.close()


@pytest.mark.parametrize("chunks", [1, 7])
async def test_backlog_is_folded_in_chunks(store: Store, chunks: int) -> None:
    # Rollup cut into many transactions must give the same rows as one call.
    store.write(samples=_per_second("a", T0, 14 * HOUR, every=60))
    await store.flush()
    end = T0 + 14 * HOUR
    for i in range(1, chunks + 1):
        store.rollup(T0 + (end - T0) * i / chunks)
    assert len(_rows(store, samples_1m)) == 14 * 60
    assert len(_rows(store, samples_1h)) == 14
    (hours,) = store.range("v", None, T0, end, step=HOUR, fn="count")
    assert {v for _, v in hours.points} == {60.0}
