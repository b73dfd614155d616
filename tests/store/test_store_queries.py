"""Ranges (raw and rolled up) and every aggregate function, on both databases."""

from __future__ import annotations

import statistics
from collections import defaultdict

import pytest

from botwatch.series import Sample
from botwatch.store import Point, Retention, Store

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # the `clock` fixture's start, an hour boundary


def _gauge(i: int) -> float:
    """A wavy, deterministic value for sample ``i``."""
    return float((i * 37) % 101) + 0.25 * (i % 4)


def _three_hours(bot: str) -> list[Sample]:
    """One sample every 10 s from T0 for three hours."""
    return [Sample("load", {"bot": bot}, T0 + 10 * i, _gauge(i)) for i in range(3 * 360)]


def _expected(samples: list[Sample], step: float, fn: str = "avg") -> list[tuple[float, float]]:
    buckets: dict[float, list[float]] = defaultdict(list)
    for s in samples:
        buckets[s.ts // step * step].append(s.value)
    pick = {"avg": statistics.fmean, "min": min, "max": max, "sum": sum, "count": len}[fn]
    return [(b, float(pick(v))) for b, v in sorted(buckets.items())]


def _approx(points: list[tuple[float, float]]) -> object:
    return [(t, pytest.approx(v, rel=1e-12)) for t, v in points]


async def test_range_raw(store: Store) -> None:
    data = _three_hours("a") + _three_hours("b")
    store.write(samples=data)
    await store.flush()
    got = store.range("load", {"bot": "a"}, T0 + 100, T0 + 200)
    assert len(got) == 1 and got[0].labels == {"bot": "a"}
    assert got[0].points == [(s.ts, s.value) for s in data[10:21]]
    both = store.range("load", None, T0, T0 + 30)
    assert [r.labels["bot"] for r in both] == ["a", "b"]
    assert store.range("load", None, T0 + 100, T0 + 50) == []


async def test_range_with_small_step_uses_raw(store: Store) -> None:
    data = _three_hours("a")
    store.write(samples=data)
    await store.flush()
    (got,) = store.range("load", None, T0, T0 + 3 * 3600, step=30, fn="max")
    assert got.points == _expected(data, 30, "max")


@pytest.mark.parametrize("fn", ["avg", "min", "max", "sum", "count"])
async def test_range_rolled_up_matches_raw(store: Store, fn: str) -> None:
    data = _three_hours("a")
    store.write(samples=data)
    await store.flush()
    # Before any rollup a minute step reads raw samples; after it, the 1m table.
    (before,) = store.range("load", None, T0, T0 + 3 * 3600, step=60, fn=fn)
    stats = store.rollup(T0 + 3 * 3600)
    assert stats.rows_1m == 180
    assert stats.rows_1h == 3
    (minutes,) = store.range("load", None, T0, T0 + 3 * 3600, step=60, fn=fn)
    (hours,) = store.range("load", None, T0, T0 + 3 * 3600, step=3600, fn=fn)
    (two_min,) = store.range("load", None, T0, T0 + 3 * 3600, step=120, fn=fn)
    assert before.points == _approx(_expected(data, 60, fn))
    assert minutes.points == _approx(_expected(data, 60, fn))
    assert hours.points == _approx(_expected(data, 3600, fn))
    assert two_min.points == _approx(_expected(data, 120, fn))


async def test_range_on_rollups_includes_the_newest_raw_samples(store: Store) -> None:
    data = _three_hours("a")
    store.write(samples=data[:720])  # two hours
    await store.flush()
    store.rollup(T0 + 2 * 3600)
    store.write(samples=data[720:])  # the third hour is not rolled up yet
    await store.flush()
    (hours,) = store.range("load", None, T0, T0 + 3 * 3600, step=3600)
    assert hours.points == _approx(_expected(data, 3600))
    (last,) = store.range("load", None, T0, T0 + 3 * 3600, step=3600, fn="last")
    assert last.points[-1] == (T0 + 7200, data[-1].value)


async def test_aggregate_gauge_functions(store: Store) -> None:
    at = T0 + 600
    values = [1.0, 2.0, 3.0, 4.0, 100.0]
    store.write(
        samples=[Sample("g", {"bot": "a"}, at - 40 + 10 * i, v) for i, v in enumerate(values)]
        # Exactly at the window's start: outside, windows are (at - window, at].
        + [Sample("g", {"bot": "a"}, at - 60, 1000.0)]
        + [Sample("g", {"bot": "b"}, at - 5, 7.0)]
    )
    await store.flush()

    def agg(fn: str, q: float | None = None) -> float:
        (p,) = store.aggregate("g", {"bot": "a"}, fn, 60, at, q=q)
        assert p == Point("g", {"bot": "a"}, at, p.value)
        return p.value

    assert agg("avg") == 22.0
    assert agg("min") == 1.0
    assert agg("max") == 100.0
    assert agg("sum") == 110.0
    assert agg("count") == 5.0
    assert agg("last") == 100.0
    assert agg("quantile", 0.5) == 3.0
    assert agg("quantile", 0.9) == pytest.approx(61.6)
    assert agg("quantile", 0.0) == 1.0
    assert agg("quantile", 1.0) == 100.0
    assert [p.labels["bot"] for p in store.aggregate("g", None, "avg", 60, at)] == ["a", "b"]
    # A window with nothing in it leaves the series out.
    assert store.aggregate("g", {"bot": "a"}, "avg", 60, at + 3600) == []


async def test_aggregate_defaults_to_now(store: Store) -> None:
    store.write(samples=[Sample("g", {}, T0 - 30, 5.0)])
    await store.flush()
    assert store.aggregate("g", None, "max", 60) == [Point("g", {}, T0, 5.0)]


async def test_rate_and_increase_count_resets(store: Store) -> None:
    at = T0 + 600
    counter = [0.0, 10.0, 20.0, 30.0, 5.0, 15.0]  # the process restarted after 30
    store.write(samples=[Sample("c", {}, at - 50 + 10 * i, v) for i, v in enumerate(counter)])
    await store.flush()
    # 15 - 0 + 30 (the value lost at the reset); a counter that starts at 0 is not
    # extrapolated before its first sample, and the last sample is at the window's end.
    assert store.aggregate("c", None, "increase", 60, at)[0].value == pytest.approx(45.0)
    assert store.aggregate("c", None, "rate", 60, at)[0].value == pytest.approx(0.75)


async def test_rate_extrapolates_to_the_window_edges_like_prometheus(store: Store) -> None:
    at = T0 + 600
    counter = [100.0, 110.0, 120.0, 130.0, 140.0, 150.0]
    store.write(samples=[Sample("c", {}, at - 50 + 10 * i, v) for i, v in enumerate(counter)])
    await store.flush()
    # 50 over 50 s of samples, extrapolated over the 10 s gap to the window's start.
    assert store.aggregate("c", None, "increase", 60, at)[0].value == pytest.approx(60.0)
    assert store.aggregate("c", None, "rate", 60, at)[0].value == pytest.approx(1.0)
    # 30 s later the window (at - 30, at + 30] holds 130, 140, 150 at -20, -10, 0: the
    # start is within 1.1 intervals (extrapolate 10 s), the end is not (add half an
    # interval, 5 s): 20 * (20 + 10 + 5) / 20.
    assert store.aggregate("c", None, "increase", 60, at + 30)[0].value == pytest.approx(35.0)
    assert store.aggregate("c", None, "rate", 60, at + 30)[0].value == pytest.approx(35.0 / 60)


async def test_rate_needs_two_samples(store: Store) -> None:
    store.write(samples=[Sample("c", {}, T0 - 10, 5.0)])
    await store.flush()
    assert store.aggregate("c", None, "rate", 60, T0) == []
    assert store.aggregate("c", None, "increase", 60, T0) == []


async def test_aggregate_over_rollups_for_long_windows(store_url: str) -> None:
    # Raw samples are kept for 10 minutes here, so a 3-hour window reads the 1m table.
    store = Store.open(store_url, retention=Retention(raw=600))
    await store.start()
    try:
        data = _three_hours("a")
        store.write(samples=data)
        await store.flush()
        store.rollup(T0 + 3 * 3600)
        store.retention(T0 + 3 * 3600)
        at = T0 + 3 * 3600 - 1
        values = [s.value for s in data]

        def agg(fn: str, q: float | None = None) -> float:
            (p,) = store.aggregate("load", None, fn, 3 * 3600, at, q=q)
            return p.value

        assert agg("avg") == pytest.approx(statistics.fmean(values))
        assert agg("min") == min(values)
        assert agg("max") == max(values)
        assert agg("sum") == pytest.approx(sum(values))
        assert agg("count") == len(values)
        assert agg("last") == values[-1]
        assert min(values) <= agg("quantile", 0.5) <= max(values)
    finally:
        await store.close()


async def test_increase_over_rollups(store_url: str) -> None:
    store = Store.open(store_url, retention=Retention(raw=600))
    await store.start()
    try:
        # A counter growing 1 per second, reset to 0 at T0 + 1 h.
        samples = [
            Sample("c", {}, T0 + 10 * i, float(10 * i if i < 360 else 10 * (i - 360)))
            for i in range(720)
        ]
        store.write(samples=samples)
        await store.flush()
        store.rollup(T0 + 2 * 3600)
        (p,) = store.aggregate("c", None, "increase", 2 * 3600, T0 + 2 * 3600)
        # The true increase is 7200 (minus the 10 s lost at the reset); minute buckets
        # only keep each minute's last value, so allow a minute's worth of error.
        assert 7200 - 120 <= p.value <= 7200 + 120
    finally:
        await store.close()
