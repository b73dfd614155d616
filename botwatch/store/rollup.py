"""Folding raw samples into 1-minute and 1-hour buckets, and deleting old rows.

Each tier keeps a *watermark*: every bucket before it is complete. A fold recomputes
whole buckets from the finer table (delete, then ``INSERT ... SELECT ... GROUP BY``),
so running it twice gives the same rows. Late samples - an agent pushing what it
buffered while the server was down - are not missed: every written batch lowers a
*dirty* mark to its earliest timestamp, and the next fold starts from
``min(watermark, dirty)``. Work is cut into chunks, each its own short transaction.

The watermark rows are read ``FOR UPDATE`` on PostgreSQL, so a writer marking dirty
and a fold clearing the mark are serialized; SQLite serializes all writers anyway.
"""

from __future__ import annotations

__all__ = ["bucket_start", "every_series", "read_meta", "retention", "rollup", "whole"]

import math
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    any_,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from botwatch.store.records import Retention, RetentionStats, RollupStats
from botwatch.store.tables import (
    MetaKey,
    events,
    meta,
    probe_results,
    samples,
    samples_1h,
    samples_1m,
    series,
)

MINUTE = 60
HOUR = 3600
# Time folded per transaction, so catching up on a backlog never holds the write lock
# (which writers wait for) for long: an hour of raw samples of a 2,000-series fleet
# sampled every 15 s is ~500k rows; six hours of its 1m rows are ~700k.
_CHUNK_1M = 1 * HOUR
_CHUNK_1H = 6 * HOUR


class bucket_start(FunctionElement[int]):
    """``floor(x / width) * width`` as an integer, in each dialect's own words."""

    type = BigInteger()
    name = "bucket_start"
    inherit_cache = True


@compiles(bucket_start)
def _bucket_start_default(element: bucket_start, compiler: SQLCompiler, **kw: Any) -> str:
    x, width = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST(floor(({x}) / {width}) AS BIGINT) * {width})"


@compiles(bucket_start, "sqlite")
def _bucket_start_sqlite(element: bucket_start, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite has floor() only when built with math functions; CAST truncates, which
    # equals floor for the positive epoch times we store.
    x, width = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST(({x}) / {width} AS INTEGER) * {width})"


def _bucket(col: ColumnElement[Any], width: int) -> bucket_start:
    # The width is a literal, not a bind parameter, so the GROUP BY expression is
    # textually the same as the selected one (PostgreSQL compares them as text).
    return bucket_start(col, literal_column(str(width)))


def read_meta(conn: Connection, *, lock: bool = False) -> dict[str, float | None]:
    """The watermark rows; ``lock`` holds them (``FOR UPDATE``) until the transaction ends."""
    q = select(meta.c.key, meta.c.value).where(meta.c.key.in_(MetaKey.ALL))
    if lock:
        q = q.with_for_update()
    got: dict[str, float | None] = {k: v for k, v in conn.execute(q)}
    return got


def _set_meta(conn: Connection, **values: float | None) -> None:
    for key, value in values.items():
        conn.execute(update(meta).where(meta.c.key == key).values(value=value))


def every_series(conn: Connection, col: ColumnElement[int]) -> ColumnElement[bool]:
    """``col`` is any series id, phrased so the (series_id, time) key is walked per series.

    Both databases then read only the time range asked for, series by series, instead
    of scanning a table with months of rows. PostgreSQL gets ``= ANY(ARRAY(...))``: the
    planner cannot guess the array's size and keeps to the index, where for
    ``IN (SELECT ...)`` it would often pick a hash join over a full table scan.
    """
    if conn.dialect.name == "postgresql":
        return col == any_(literal_column("ARRAY(SELECT id FROM series)"))
    return col.in_(select(series.c.id))


def whole(t: float) -> int:
    """A time bound for the integer ``bucket`` column (``bucket >= t`` iff ``>= whole(t)``).

    On PostgreSQL, comparing the BIGINT column with a float parameter would cast the
    column instead, and the primary key could no longer bound the scan.
    """
    return math.ceil(t)


def _fold(conn: Connection, src: Table, dst: Table, width: int, lo: float, hi: float) -> int:
    """Recompute ``dst`` buckets in ``[lo, hi)`` from ``src``; return rows written."""
    raw = src is samples
    if not raw:
        lo, hi = whole(lo), whole(hi)
    t = src.c.ts if raw else src.c.bucket
    b = _bucket(t, width)
    grouped = (
        select(
            src.c.series_id,
            b.label("b"),
            (func.count() if raw else func.sum(src.c.count)).label("c"),
            func.sum(src.c.value if raw else src.c.sum).label("s"),
            func.min(src.c.value if raw else src.c.min).label("lo"),
            func.max(src.c.value if raw else src.c.max).label("hi"),
            func.max(t).label("t_last"),
        )
        .where(every_series(conn, src.c.series_id), t >= lo, t < hi)
        .group_by(src.c.series_id, b)
        .subquery()
    )
    # The last value of a bucket is found again by primary key, which is unique, rather
    # than by a window function, which would sort every row of the chunk.
    x = src.alias("x")
    x_t = x.c.ts if raw else x.c.bucket
    folded = select(
        grouped.c.series_id,
        grouped.c.b,
        grouped.c.c,
        grouped.c.s,
        grouped.c.lo,
        grouped.c.hi,
        x.c.value if raw else x.c.last,
    ).select_from(
        grouped.join(x, and_(x.c.series_id == grouped.c.series_id, x_t == grouped.c.t_last))
    )
    conn.execute(
        delete(dst).where(
            every_series(conn, dst.c.series_id),
            dst.c.bucket >= whole(lo),
            dst.c.bucket < whole(hi),
        )
    )
    cols = ["series_id", "bucket", "count", "sum", "min", "max", "last"]
    result = conn.execute(
        insert(dst).from_select(cols, folded).execution_options(preserve_rowcount=True)
    )
    return max(0, result.rowcount)


def _align(t: float, width: int) -> float:
    return float(math.floor(t / width) * width)


def _fold_step(
    engine: Engine,
    *,
    src: Table,
    dst: Table,
    width: int,
    chunk: int,
    wm_key: str,
    dirty_key: str,
    floor_key: str,
    next_dirty_key: str | None,
    limit: float,
) -> tuple[int, bool, float | None]:
    """Fold one chunk of one tier in its own transaction.

    Returns (rows written, whether there is more to do, the tier's watermark).
    ``limit`` is where complete source buckets end.
    """
    with engine.begin() as conn:
        m = read_meta(conn, lock=True)
        wm, dirty, floor = m[wm_key], m[dirty_key], m[floor_key]
        starts = [x for x in (wm, dirty) if x is not None]
        hi = _align(limit, width)
        if not starts:
            return 0, False, wm
        lo = _align(min(starts), width)
        if floor is not None:
            # Below the retention floor the finer rows are gone: refolding there would
            # replace good buckets with partial ones.
            lo = max(lo, math.ceil(floor / width) * width)
        if lo >= hi:
            return 0, False, wm
        end = min(hi, lo + chunk)
        rows = _fold(conn, src, dst, width, lo, end)
        if wm is None or end >= wm:
            # Everything before `end` is folded; anything later is at or after the new
            # watermark, so the next fold starts there anyway.
            _set_meta(conn, **{wm_key: end, dirty_key: None})
            wm = end
        else:
            # Refolding late data below the watermark; continue from `end` next time.
            _set_meta(conn, **{dirty_key: end})
        if next_dirty_key is not None:
            _lower(conn, next_dirty_key, lo)
        return rows, end < hi, wm


def _lower(conn: Connection, key: str, value: float) -> None:
    """Lower a dirty mark to ``value`` (a NULL mark is +infinity)."""
    conn.execute(
        update(meta)
        .where(meta.c.key == key, (meta.c.value.is_(None)) | (meta.c.value > value))
        .values(value=value)
    )


def rollup(engine: Engine, now: float) -> RollupStats:
    """Fold complete minutes of raw samples into 1m, and complete hours of 1m into 1h."""
    rows_1m = rows_1h = 0
    more = True
    wm_1m: float | None = None
    while more:
        n, more, wm_1m = _fold_step(
            engine,
            src=samples,
            dst=samples_1m,
            width=MINUTE,
            chunk=_CHUNK_1M,
            wm_key=MetaKey.WM_1M,
            dirty_key=MetaKey.DIRTY_1M,
            floor_key=MetaKey.FLOOR_RAW,
            next_dirty_key=MetaKey.DIRTY_1H,
            limit=now,
        )
        rows_1m += n
    more = wm_1m is not None
    wm_1h: float | None = None
    while more:
        assert wm_1m is not None
        n, more, wm_1h = _fold_step(
            engine,
            src=samples_1m,
            dst=samples_1h,
            width=HOUR,
            chunk=_CHUNK_1H,
            wm_key=MetaKey.WM_1H,
            dirty_key=MetaKey.DIRTY_1H,
            floor_key=MetaKey.FLOOR_1M,
            next_dirty_key=None,
            limit=wm_1m,
        )
        rows_1h += n
    if wm_1h is None:
        with engine.connect() as conn:
            wm_1h = read_meta(conn)[MetaKey.WM_1H]
    return RollupStats(rows_1m=rows_1m, rows_1h=rows_1h, watermark_1m=wm_1m, watermark_1h=wm_1h)


def retention(engine: Engine, now: float, keep: Retention) -> RetentionStats:
    """Delete rows older than ``keep`` allows - but never rows not yet folded upwards."""
    with engine.begin() as conn:
        m = read_meta(conn, lock=True)
        raw_cut = _cutoff(now - keep.raw, m[MetaKey.WM_1M], MINUTE)
        m1_cut = _cutoff(now - keep.m1, m[MetaKey.WM_1H], HOUR)
        n_raw = n_1m = 0
        if raw_cut is not None:
            n_raw = _delete_before(conn, samples, samples.c.ts, raw_cut)
            _set_meta(conn, **{MetaKey.FLOOR_RAW: max(raw_cut, m[MetaKey.FLOOR_RAW] or raw_cut)})
        if m1_cut is not None:
            n_1m = _delete_before(conn, samples_1m, samples_1m.c.bucket, m1_cut)
            _set_meta(conn, **{MetaKey.FLOOR_1M: max(m1_cut, m[MetaKey.FLOOR_1M] or m1_cut)})
        n_1h = _delete_before(conn, samples_1h, samples_1h.c.bucket, _align(now - keep.h1, HOUR))
        n_ev = conn.execute(delete(events).where(events.c.ts < now - keep.events)).rowcount
        n_pr = conn.execute(
            delete(probe_results).where(probe_results.c.ts < now - keep.probe_results)
        ).rowcount
    return RetentionStats(
        samples=n_raw,
        samples_1m=n_1m,
        samples_1h=n_1h,
        events=max(0, n_ev),
        probe_results=max(0, n_pr),
    )


def _cutoff(by_age: float, watermark: float | None, width: int) -> float | None:
    """Delete before this: old enough, and already folded into the next tier."""
    if watermark is None:
        return None
    return _align(min(by_age, watermark), width)


def _delete_before(conn: Connection, table: Table, col: Any, cut: float) -> int:
    bound = whole(cut) if table is not samples else cut
    result = conn.execute(delete(table).where(every_series(conn, table.c.series_id), col < bound))
    return max(0, result.rowcount)
