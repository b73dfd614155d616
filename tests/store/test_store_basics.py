"""Writing through the buffered writer and reading back: samples, events, probe results."""

from __future__ import annotations

import math

import pytest

from botwatch.clock import ManualClock
from botwatch.errors import StoreError, StoreUnavailable
from botwatch.series import Event, Sample, SampleGroup
from botwatch.store import Point, ProbeResultRow, SeriesInfo, Store
from botwatch.store.engine import normalize_url

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # the `clock` fixture's start, an hour boundary


async def test_write_flush_latest(store: Store) -> None:
    store.write(
        samples=[
            Sample("rss", {"bot": "a"}, T0 + 1, 100.0),
            Sample("rss", {"bot": "a"}, T0 + 2, 120.0),
            Sample("rss", {"bot": "b"}, T0 + 1, 50.0),
            Sample("rss", {"bot": "c", "host": "h1"}, T0 + 5, 7.0),
            Sample("cpu", {"bot": "a"}, T0 + 3, 0.5),
        ]
    )
    await store.flush()
    assert store.latest("rss") == [
        Point("rss", {"bot": "a"}, T0 + 2, 120.0),
        Point("rss", {"bot": "b"}, T0 + 1, 50.0),
        Point("rss", {"bot": "c", "host": "h1"}, T0 + 5, 7.0),
    ]
    assert store.latest("rss", {"bot": "b"}) == [Point("rss", {"bot": "b"}, T0 + 1, 50.0)]
    # As in Prometheus, an empty matcher value selects series without the label.
    assert [p.labels for p in store.latest("rss", {"host": ""})] == [{"bot": "a"}, {"bot": "b"}]
    assert store.latest("rss", {"bot": "nope"}) == []
    assert store.latest("missing") == []
    assert store.status().written == 5
    assert store.healthy and store.pending == 0


async def test_same_series_and_ts_keeps_the_last_value(store: Store) -> None:
    store.write(samples=[Sample("x", {}, T0, 1.0), Sample("x", {}, T0, 2.0)])
    await store.flush()
    store.write(samples=[Sample("x", {}, T0, 3.0)])  # an agent re-sending a batch
    await store.flush()
    assert store.range("x", None, T0 - 1, T0 + 1)[0].points == [(T0, 3.0)]


async def test_nan_values_are_rejected_not_stored(store: Store) -> None:
    store.write(samples=[Sample("x", {}, T0, math.nan), Sample("x", {}, T0 + 1, 1.0)])
    await store.flush()
    assert store.rejected == 1
    assert store.latest("x") == [Point("x", {}, T0 + 1, 1.0)]


async def test_sample_groups_write_one_row_per_value(store: Store) -> None:
    labels = {"bot": "a", "check": "health"}
    values = {"probe_status": 0.0, "probe_duration_seconds": 0.01, "http_status_code": 200.0}
    first = SampleGroup(labels, T0, values)
    store.write(samples=[first, Sample("rss", {"bot": "a"}, T0, 9.0)])
    await store.flush()
    # The same labels dict again (as a probe does every run): found by its identity.
    store.write(samples=[SampleGroup(labels, T0 + 30, {**values, "http_status_code": 503.0})])
    await store.flush()
    assert store.latest("http_status_code") == [Point("http_status_code", labels, T0 + 30, 503.0)]
    assert store.range("probe_duration_seconds", None, T0, T0 + 60)[0].points == [
        (T0, 0.01),
        (T0 + 30, 0.01),
    ]
    assert store.latest("rss") == [Point("rss", {"bot": "a"}, T0, 9.0)]
    assert first.samples()[2] == Sample("http_status_code", labels, T0, 200.0)


async def test_nan_in_a_group_is_rejected_and_the_group_left_alone(store: Store) -> None:
    values = {"ok": 1.0, "bad": math.nan}
    store.write(samples=[SampleGroup({"bot": "a"}, T0, values)])
    await store.flush()
    assert store.rejected == 1
    assert store.latest("ok") == [Point("ok", {"bot": "a"}, T0, 1.0)]
    assert store.latest("bad") == []
    assert math.isnan(values["bad"])  # the producer's dict is not changed


async def test_series_listing(store: Store) -> None:
    store.write(
        samples=[
            Sample("b_metric", {"bot": "z"}, T0, 1.0),
            Sample("a_metric", {"bot": "y", "k": "v"}, T0, 1.0),
            Sample("a_metric", {"bot": "x"}, T0, 1.0),
        ]
    )
    await store.flush()
    assert store.series() == [
        SeriesInfo("a_metric", {"bot": "x"}),
        SeriesInfo("a_metric", {"bot": "y", "k": "v"}),
        SeriesInfo("b_metric", {"bot": "z"}),
    ]
    assert store.series("b_metric") == [SeriesInfo("b_metric", {"bot": "z"})]


async def test_events_round_trip(store: Store) -> None:
    evs = [
        Event("restart", T0 + 1, "a", "restarted after crash", {"attempt": 1, "why": ["oom"]}),
        Event("deploy", T0 + 2, None, "v1.2", {}),
        Event("restart", T0 + 3, "b", "nul \x00 in a log line", {"raw": "a\x00b", "x": math.inf}),
    ]
    store.write(events=evs)
    await store.flush()
    got = store.events(T0, T0 + 10)
    assert got[:2] == evs[:2]
    # NUL (refused by PostgreSQL) becomes U+FFFD; a non-finite float in JSON becomes null.
    assert got[2] == Event(
        "restart", T0 + 3, "b", "nul \ufffd in a log line", {"raw": "a\ufffdb", "x": None}
    )
    assert [e.ts for e in store.events(T0, T0 + 10, kind="restart")] == [T0 + 1, T0 + 3]
    assert [e.ts for e in store.events(T0, T0 + 10, bot="b")] == [T0 + 3]
    assert [e.ts for e in store.events(T0 + 2, T0 + 2)] == [T0 + 2]
    assert [e.ts for e in store.events(T0, T0 + 10, limit=1)] == [T0 + 1]
    # `until` defaults to the store clock's now.
    assert store.events(T0) == []


async def test_probe_results_round_trip(store: Store, clock: ManualClock) -> None:
    rows = [
        ProbeResultRow(T0 + 1, "a", "health", "http", 0, 0.012, "200 HEALTHY", {"code": 200}),
        ProbeResultRow(T0 + 2, "a", "getMe", "telegram", 2, None, "401 Unauthorized"),
        ProbeResultRow(T0 + 3, "b", "health", "http", 3, 5.0, "timeout", {"after": 5}),
    ]
    store.write(probe_results=rows)
    await store.flush()
    assert store.probe_results(T0, T0 + 10) == rows
    assert store.probe_results(T0, T0 + 10, bot="a", check="getMe") == [rows[1]]
    assert store.probe_results(T0, T0 + 10, check="health") == [rows[0], rows[2]]
    clock.advance(10)
    assert store.probe_results(T0 + 2) == rows[1:]


async def test_async_queries(store: Store) -> None:
    store.write(
        samples=[Sample("x", {"bot": "a"}, T0 + i, float(i)) for i in range(10)],
        events=[Event("e", T0, "a")],
        probe_results=[ProbeResultRow(T0, "a", "c", "k", 0)],
    )
    await store.flush()
    assert await store.aio.latest("x") == [Point("x", {"bot": "a"}, T0 + 9, 9.0)]
    assert len((await store.aio.range("x", None, T0, T0 + 9))[0].points) == 10
    assert await store.aio.aggregate("x", None, "max", 60, T0 + 9) == [
        Point("x", {"bot": "a"}, T0 + 9, 9.0)
    ]
    assert len(await store.aio.events(T0, T0 + 1)) == 1
    assert len(await store.aio.probe_results(T0, T0 + 1)) == 1
    assert await store.aio.series() == [SeriesInfo("x", {"bot": "a"})]
    assert (await store.aio.rollup(T0 + 60)).rows_1m == 1
    assert (await store.aio.retention(T0 + 60)).samples == 0


async def test_write_now_is_synchronous(store_url: str) -> None:
    with Store.open(store_url) as store:
        store.write_now(samples=[Sample("x", {}, T0, 1.0)], events=[Event("e", T0)])
        assert store.latest("x") == [Point("x", {}, T0, 1.0)]
        assert store.events(T0, T0) == [Event("e", T0)]
    with pytest.raises(StoreError, match="closed"):
        store.latest("x")


async def test_close_writes_what_was_buffered_without_start(store_url: str) -> None:
    store = Store.open(store_url)
    store.write(samples=[Sample("x", {}, T0, 1.0)])
    await store.close()
    with Store.open(store_url) as again:
        assert again.latest("x") == [Point("x", {}, T0, 1.0)]


async def test_flush_needs_a_started_writer(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        with pytest.raises(StoreError, match="start"):
            await store.flush()
    finally:
        await store.close()


async def test_invalid_queries_are_store_errors(store: Store) -> None:
    with pytest.raises(StoreError, match="unknown aggregate"):
        store.aggregate("x", None, "median", 60, T0)
    with pytest.raises(StoreError, match="q"):
        store.aggregate("x", None, "quantile", 60, T0)
    with pytest.raises(StoreError, match="q"):
        store.aggregate("x", None, "quantile", 60, T0, q=1.5)
    with pytest.raises(StoreError, match="window"):
        store.aggregate("x", None, "avg", 0, T0)
    with pytest.raises(StoreError, match="step"):
        store.range("x", None, T0, T0 + 1, step=-1)
    with pytest.raises(StoreError, match="step function"):
        store.range("x", None, T0, T0 + 1, step=60, fn="median")


def test_urls() -> None:
    assert normalize_url("postgres://u:p@db:5432/bw").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql://u@db/bw").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///.botwatch/botwatch.db").database == ".botwatch/botwatch.db"
    with pytest.raises(StoreError, match="in-memory"):
        normalize_url("sqlite://")
    with pytest.raises(StoreError, match="in-memory"):
        normalize_url("sqlite:///:memory:")
    with pytest.raises(StoreError, match="unsupported"):
        normalize_url("mysql://u@db/bw")
    with pytest.raises(StoreError, match="invalid"):
        normalize_url("not a url")


def test_sqlite_parent_directory_is_created(tmp_path: object) -> None:
    path = f"{tmp_path}/deep/er/botwatch.db"
    with Store.open(f"sqlite:///{path}") as store:
        assert store.dialect == "sqlite"
        assert store.url == f"sqlite:///{path}"


def test_unreachable_postgres_is_store_unavailable(free_port: int) -> None:
    with pytest.raises(StoreUnavailable, match="opening postgresql"):
        Store.open(f"postgresql://bw:secret@127.0.0.1:{free_port}/none")
