"""Reading series back: latest values, ranges, aggregates over windows, events, probes.

Series are chosen by name in SQL and by label equality in Python (a fleet has
thousands of series, not millions). Values come from a *tier*: raw samples, or the
1m/1h rollups. A rollup tier only covers time before its watermark, so a query on
a rollup tier reads that tier up to its watermark and the next finer tiers after it:
ranges reach up to the newest raw sample.
"""

from __future__ import annotations

__all__ = [
    "Tier",
    "aggregate",
    "events_between",
    "latest",
    "list_series",
    "probe_results_between",
    "range_query",
]

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, and_, func, select

from botwatch.errors import StoreError
from botwatch.series import Event, Labels
from botwatch.store.functions import (
    AGGREGATES,
    STEP_AGGREGATES,
    Acc,
    extrapolated_increase,
    quantile,
)
from botwatch.store.records import Point, ProbeResultRow, SeriesInfo, SeriesRange
from botwatch.store.rollup import HOUR, MINUTE, read_meta, whole
from botwatch.store.tables import (
    MetaKey,
    events,
    probe_results,
    samples,
    samples_1h,
    samples_1m,
    series,
)

_IN_CHUNK = 500


@dataclass(frozen=True)
class Tier:
    """A table of values: raw samples (width 0) or a rollup of ``width`` seconds."""

    table: Table
    width: int
    watermark_key: str | None


RAW = Tier(samples, 0, None)
M1 = Tier(samples_1m, MINUTE, MetaKey.WM_1M)
H1 = Tier(samples_1h, HOUR, MetaKey.WM_1H)
_COARSE_TO_FINE = (H1, M1, RAW)

# One row from any tier: (series_id, ts, width, count, sum, min, max, last).
# For a raw sample width is 0; for a rollup ts is the bucket start.
_Row = tuple[int, float, int, int, float, float, float, float]


def _matching(conn: Connection, name: str, matchers: dict[str, str] | None) -> dict[int, Labels]:
    """Ids and labels of the series called ``name`` whose labels equal ``matchers``.

    As in Prometheus, ``label=""`` matches series that lack the label.
    """
    rows = conn.execute(select(series.c.id, series.c.labels).where(series.c.name == name))
    want = matchers or {}
    return {
        sid: labels for sid, labels in rows if all(labels.get(k, "") == v for k, v in want.items())
    }


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), _IN_CHUNK):
        yield list(ids[i : i + _IN_CHUNK])


def latest(conn: Connection, name: str, matchers: dict[str, str] | None) -> list[Point]:
    """The newest raw sample of every matching series (series without samples are left out)."""
    chosen = _matching(conn, name, matchers)
    inner = samples.alias("newest")
    newest = (
        select(func.max(inner.c.ts))
        .where(inner.c.series_id == series.c.id)
        .correlate(series)
        .scalar_subquery()
    )
    out: list[Point] = []
    for ids in _chunks(sorted(chosen)):
        q = (
            select(series.c.id, samples.c.ts, samples.c.value)
            .select_from(
                series.join(
                    samples, and_(samples.c.series_id == series.c.id, samples.c.ts == newest)
                )
            )
            .where(series.c.id.in_(ids))
        )
        for sid, ts, value in conn.execute(q):
            out.append(Point(name=name, labels=chosen[sid], ts=ts, value=value))
    out.sort(key=lambda p: sorted(p.labels.items()))
    return out


def _plan(
    conn: Connection, tier: Tier, start: float, end: float
) -> list[tuple[Tier, float, float]]:
    """Which tier serves which part of ``[start, end]``: segments ``[lo, hi)``.

    The last segment is always raw and reaches ``end``.
    """
    wms = read_meta(conn)
    plan: list[tuple[Tier, float, float]] = []
    cursor = start
    for t in _COARSE_TO_FINE[_COARSE_TO_FINE.index(tier) :]:
        if t.watermark_key is None:
            plan.append((t, cursor, end))
            break
        wm = wms.get(t.watermark_key)
        if wm is None:
            continue
        upto = min(wm, end)
        if upto > cursor:
            plan.append((t, cursor, upto))
            cursor = upto
    return plan


def _scan(
    conn: Connection,
    ids: Sequence[int],
    tier: Tier,
    start: float,
    end: float,
    *,
    left_open: bool = False,
    right_open: bool = False,
) -> Iterator[_Row]:
    """Rows of ``ids`` from ``tier`` and the finer tiers after its watermark.

    Raw samples are taken from ``[start, end]``; ``left_open`` leaves out one exactly at
    ``start`` (windows are ``(a, b]``), ``right_open`` one exactly at ``end`` (steps
    are ``[a, b)``). Rollup buckets are taken if they start in ``[start, end)``.
    """
    for t, lo, hi in _plan(conn, tier, start, end):
        tab = t.table
        for chunk in _chunks(ids):
            if t.width == 0:
                after = tab.c.ts > lo if left_open and lo == start else tab.c.ts >= lo
                before = tab.c.ts < hi if right_open else tab.c.ts <= hi
                q: Any = (
                    select(tab.c.series_id, tab.c.ts, tab.c.value)
                    .where(tab.c.series_id.in_(chunk), after, before)
                    .order_by(tab.c.series_id, tab.c.ts)
                )
                for sid, ts, v in conn.execute(q):
                    yield sid, ts, 0, 1, v, v, v, v
            else:
                q = (
                    select(
                        tab.c.series_id,
                        tab.c.bucket,
                        tab.c.count,
                        tab.c.sum,
                        tab.c.min,
                        tab.c.max,
                        tab.c.last,
                    )
                    .where(
                        tab.c.series_id.in_(chunk),
                        tab.c.bucket >= whole(lo),
                        tab.c.bucket < whole(hi),
                    )
                    .order_by(tab.c.series_id, tab.c.bucket)
                )
                for sid, b, c, s, mn, mx, last in conn.execute(q):
                    yield sid, float(b), t.width, int(c), s, mn, mx, last


def _tier_for_step(step: float) -> Tier:
    """The coarsest tier whose buckets tile ``step`` exactly."""
    for t in (H1, M1):
        if step >= t.width and step % t.width == 0:
            return t
    return RAW


def range_query(
    conn: Connection,
    name: str,
    matchers: dict[str, str] | None,
    start: float,
    end: float,
    step: float | None,
    fn: str,
) -> list[SeriesRange]:
    """Values of every matching series in ``[start, end]`` (see ``Store.range``)."""
    if fn not in STEP_AGGREGATES:
        raise StoreError(f"unknown step function {fn!r}; expected one of {STEP_AGGREGATES}")
    if step is not None and not step > 0:
        raise StoreError(f"step must be a positive number of seconds, got {step}")
    chosen = _matching(conn, name, matchers)
    if not chosen or end < start:
        return []
    ids = sorted(chosen)
    if step is None:
        raw: dict[int, list[tuple[float, float]]] = defaultdict(list)
        for sid, ts, _, _, _, _, _, last in _scan(conn, ids, RAW, start, end):
            raw[sid].append((ts, last))
        return _ranges(name, chosen, raw)
    # Whole steps: from the one holding `start` through the one holding `end`.
    first = float(math.floor(start / step) * step)
    stop = float(math.floor(end / step) * step + step)
    accs: dict[int, dict[float, Acc]] = defaultdict(dict)
    tier = _tier_for_step(step)
    for sid, ts, _, c, s, mn, mx, last in _scan(conn, ids, tier, first, stop, right_open=True):
        bucket = float(math.floor(ts / step) * step)
        acc = accs[sid].get(bucket)
        if acc is None:
            acc = accs[sid][bucket] = Acc()
        acc.merge(ts, c, s, mn, mx, last)
    stepped = {
        sid: [(b, acc.value(fn)) for b, acc in sorted(buckets.items())]
        for sid, buckets in accs.items()
    }
    return _ranges(name, chosen, stepped)


def _ranges(
    name: str, chosen: dict[int, Labels], points: dict[int, list[tuple[float, float]]]
) -> list[SeriesRange]:
    out = [SeriesRange(name=name, labels=chosen[sid], points=p) for sid, p in points.items() if p]
    out.sort(key=lambda r: sorted(r.labels.items()))
    return out


def aggregate(
    conn: Connection,
    name: str,
    matchers: dict[str, str] | None,
    fn: str,
    window: float,
    at: float,
    q: float | None,
    raw_retention: float,
    m1_retention: float,
) -> list[Point]:
    """``fn`` over ``(at - window, at]`` of every matching series (see ``Store.aggregate``)."""
    if fn not in AGGREGATES:
        raise StoreError(f"unknown aggregate {fn!r}; expected one of {', '.join(AGGREGATES)}")
    if not window > 0:
        raise StoreError(f"window must be a positive number of seconds, got {window}")
    if fn == "quantile" and (q is None or not 0.0 <= q <= 1.0):
        raise StoreError(f"quantile needs 0 <= q <= 1, got q={q}")
    chosen = _matching(conn, name, matchers)
    if not chosen:
        return []
    start = at - window
    # Exact raw samples while the window fits in what raw retention keeps; beyond it,
    # minute (or hour) buckets, exact for avg/min/max/sum/count and approximate at the
    # window's edges and for quantile (taken over bucket averages).
    tier = RAW if window <= raw_retention else M1 if window <= m1_retention else H1
    per: dict[int, list[_Row]] = defaultdict(list)
    for row in _scan(conn, sorted(chosen), tier, start, at, left_open=True):
        per[row[0]].append(row)
    out: list[Point] = []
    for sid, rows in per.items():
        value = _apply(fn, rows, start, at, q)
        if value is not None:
            out.append(Point(name=name, labels=chosen[sid], ts=at, value=value))
    out.sort(key=lambda p: sorted(p.labels.items()))
    return out


def _apply(fn: str, rows: list[_Row], start: float, end: float, q: float | None) -> float | None:
    if fn in ("rate", "increase"):
        # A rollup row reads as the counter's value at its bucket's end.
        points = [(min(ts + w, end), last) for _, ts, w, _, _, _, _, last in rows]
        return extrapolated_increase(points, start, end, is_rate=fn == "rate")
    if fn == "quantile":
        assert q is not None
        return quantile(q, [s / c for _, _, _, c, s, _, _, _ in rows])
    acc = Acc()
    for _, ts, _, c, s, mn, mx, last in rows:
        acc.merge(ts, c, s, mn, mx, last)
    return acc.value(fn)


def list_series(conn: Connection, name: str | None) -> list[SeriesInfo]:
    """Every series, or every series called ``name``, sorted by name and labels."""
    query = select(series.c.name, series.c.labels).order_by(series.c.name, series.c.labels_key)
    if name is not None:
        query = query.where(series.c.name == name)
    return [SeriesInfo(name=n, labels=labels) for n, labels in conn.execute(query)]


def events_between(
    conn: Connection,
    since: float,
    until: float,
    kind: str | None,
    bot: str | None,
    limit: int | None,
) -> list[Event]:
    """Events with ``since <= ts <= until``, oldest first."""
    query = select(events).where(events.c.ts >= since, events.c.ts <= until)
    if kind is not None:
        query = query.where(events.c.kind == kind)
    if bot is not None:
        query = query.where(events.c.bot == bot)
    query = query.order_by(events.c.ts, events.c.id).limit(limit)
    return [
        Event(kind=r.kind, ts=r.ts, bot=r.bot, message=r.message, data=r.data)
        for r in conn.execute(query)
    ]


def probe_results_between(
    conn: Connection,
    since: float,
    until: float,
    bot: str | None,
    check: str | None,
    limit: int | None,
) -> list[ProbeResultRow]:
    """Probe results with ``since <= ts <= until``, oldest first."""
    t = probe_results
    query = select(t).where(t.c.ts >= since, t.c.ts <= until)
    if bot is not None:
        query = query.where(t.c.bot == bot)
    if check is not None:
        query = query.where(t.c.check == check)
    query = query.order_by(t.c.ts, t.c.id).limit(limit)
    return [
        ProbeResultRow(
            ts=r.ts,
            bot=r.bot,
            check=r.check,
            kind=r.kind,
            status=r.status,
            latency=r.latency,
            reason=r.reason,
            details=r.details,
        )
        for r in conn.execute(query)
    ]
