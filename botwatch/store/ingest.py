"""Writing one batch of samples, events and probe results in one transaction.

Blocking; the writer runs it on its own thread. Series ids are looked up once and
cached in a ``SeriesCache`` (only after the transaction commits, so a rolled-back
batch never leaves ids behind that do not exist).
"""

from __future__ import annotations

__all__ = [
    "Batch",
    "Learned",
    "SeriesCache",
    "SeriesKey",
    "items",
    "series_key",
    "single",
    "write_batch",
]

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, case, insert, or_, select, tuple_, update

from botwatch.errors import StoreError
from botwatch.series import AnySample, Event, Sample, SampleGroup, labels_key
from botwatch.store.engine import json_dumps
from botwatch.store.records import ProbeResultRow
from botwatch.store.tables import MetaKey, events, meta, probe_results, samples, series

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
"""(name, sorted label pairs): a series' identity in memory.

Sorted pairs, not the canonical JSON ``labels_key`` stored in the table: building a
tuple is several times cheaper than ``json.dumps`` and this runs for every sample.
The JSON form is computed only for series not seen before.
"""


def series_key(name: str, labels: Mapping[str, str]) -> SeriesKey:
    """The in-memory identity of the series ``name{labels}``."""
    return (name, tuple(sorted(labels.items())))


_IN_CHUNK = 500  # ids per IN (...) list; well under every driver's parameter limit


@dataclass
class Batch:
    """Items taken from the writer's buffer together, oldest first per kind."""

    samples: list[AnySample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    probe_results: list[ProbeResultRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples) + len(self.events) + len(self.probe_results)


def _clean(text: str) -> str:
    # PostgreSQL refuses NUL in text; log lines and bot output do contain them.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    # Imported here: a SQLite store never loads the PostgreSQL dialect, and back.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def _series_ids(
    conn: Connection,
    wanted: Mapping[SeriesKey, dict[str, str]],
    known: Mapping[SeriesKey, int],
    new: dict[SeriesKey, int],
) -> None:
    """Find or create the series in ``wanted`` that ``known`` lacks; put them in ``new``."""
    # Sorted by the stored identity, so concurrent writers (several servers on one
    # PostgreSQL) take the unique index locks in the same order and cannot deadlock.
    missing = sorted(((k[0], labels_key(wanted[k])), k) for k in wanted if k not in known)
    if not missing:
        return
    stmt = _insert(conn, series).on_conflict_do_nothing(index_elements=["name", "labels_key"])
    conn.execute(
        stmt,
        [{"name": _clean(n), "labels_key": lk, "labels": wanted[k]} for (n, lk), k in missing],
    )
    # Look up exactly the series just ensured: selecting every series of these names
    # would make a fleet's first cycle quadratic (10,000 checks × 7 series each).
    for i in range(0, len(missing), _IN_CHUNK):
        chunk = missing[i : i + _IN_CHUNK]
        rows = conn.execute(
            select(series.c.id, series.c.name, series.c.labels_key).where(
                tuple_(series.c.name, series.c.labels_key).in_(
                    [(_clean(n), lk) for (n, lk), _ in chunk]
                )
            )
        )
        by_clean = {(name, lk): sid for sid, name, lk in rows}
        for (n, lk), k in chunk:
            sid = by_clean.get((_clean(n), lk))
            if sid is not None:
                new[k] = sid


Learned = list[tuple[Mapping[str, str], str, SeriesKey, int]]
"""Series ids found in a batch: (labels dict, name, key, id) each."""


class SeriesCache:
    """Series ids the writer has seen committed, found two ways.

    ``by_key`` is the identity proper. ``by_labels`` is the fast path: a probe labels
    every sample of every run with the same dict object, so "this dict, this name" finds
    the id with two lookups and no key building. An entry holds its dict, so the dict
    cannot die and hand its ``id()`` to another while cached; producers must not mutate
    a labels dict once written (samples are values). Only the writer thread uses it.
    """

    _SPARE_LABEL_SETS = 1_000  # label dicts beyond one per series before starting over

    def __init__(self) -> None:
        self.by_key: dict[SeriesKey, int] = {}
        self.by_labels: dict[int, tuple[Mapping[str, str], dict[str, int]]] = {}

    def learn(self, learned: Learned) -> None:
        """Remember ids from a committed batch: (labels dict, name, key, id) each."""
        # A producer that builds a fresh dict per sample would grow the fast path
        # without end (and keep every dict alive): it starts over once it holds more
        # dicts than there are series, plus some spare.
        if len(self.by_labels) > len(self.by_key) + self._SPARE_LABEL_SETS:
            self.by_labels.clear()
        for labels, name, key, sid in learned:
            self.by_key[key] = sid
            entry = self.by_labels.get(id(labels))
            if entry is None or entry[0] is not labels:
                entry = self.by_labels[id(labels)] = (labels, {})
            entry[1][name] = sid


def write_batch(conn: Connection, batch: Batch, cache: SeriesCache) -> Learned:
    """Write ``batch`` inside the caller's transaction.

    Returns what the caller should ``cache.learn()`` once the transaction commits (never
    before: a rolled-back batch must not leave ids behind that do not exist).
    """
    learned: Learned = []
    if batch.samples:
        rows = _sample_rows(conn, batch.samples, cache, learned)
        # Mark first: rollup and retention lock the meta rows before touching samples,
        # so taking them in the same order means a writer and a fold never deadlock.
        _mark_dirty(conn, min([s.ts for s in batch.samples]))
        # The driver applies rows in order, so a repeated (series, ts) within a batch
        # resolves as across batches: the last value written wins.
        _driver_many(conn, "samples", _samples_upsert, ("series_id", "ts", "value"), rows)
    if batch.events:
        conn.execute(insert(events), [_event_row(e) for e in batch.events])
    if batch.probe_results:
        _driver_many(
            conn,
            "probe_results",
            lambda c: insert(probe_results).values({k: bindparam(k) for k in _PROBE_COLUMNS}),
            _PROBE_COLUMNS,
            [_probe_row(p) for p in batch.probe_results],
        )
    return learned


_NO_IDS: dict[str, int] = {}  # never written to: "no ids known for these labels"


def _sample_rows(
    conn: Connection, samples: list[AnySample], cache: SeriesCache, learned: Learned
) -> list[tuple[int, float, float]]:
    """``(series_id, ts, value)`` for every value, creating series not seen before."""
    rows: list[Any] = []
    misses: list[int] = []
    by_labels = cache.by_labels
    last: Any = None
    names: dict[str, int] = {}
    # The hot loop of the whole monitor: one identity check per sample or group, and one
    # dict lookup per value while consecutive ones share a labels dict (a probe's do).
    for smp in samples:
        labels = smp.labels
        if labels is not last:
            last = labels
            entry = by_labels.get(id(labels))
            names = entry[1] if entry is not None and entry[0] is labels else _NO_IDS
        if isinstance(smp, SampleGroup):
            ts = smp.ts
            for name, value in smp.values.items():
                sid = names.get(name)
                if sid is None:
                    misses.append(len(rows))
                    rows.append(Sample(name, labels, ts, value))
                else:
                    rows.append((sid, ts, value))
        else:
            sid = names.get(smp.name)
            if sid is None:
                misses.append(len(rows))
                rows.append(smp)
            else:
                rows.append((sid, smp.ts, smp.value))
    if misses:
        keys = {i: series_key(rows[i].name, rows[i].labels) for i in misses}
        wanted = {keys[i]: rows[i].labels for i in misses}
        new: dict[SeriesKey, int] = {}
        _series_ids(conn, wanted, cache.by_key, new)
        for i in misses:
            smp, key = rows[i], keys[i]
            sid = new.get(key)
            if sid is None:
                sid = cache.by_key[key]
            learned.append((smp.labels, smp.name, key, sid))
            rows[i] = (sid, smp.ts, smp.value)
    return rows


_DRIVER_SQL: dict[tuple[str, str], tuple[str, tuple[str, ...] | None]] = {}


def _driver_sql(
    conn: Connection, name: str, build: Callable[[Connection], Any]
) -> tuple[str, tuple[str, ...] | None]:
    """Statement ``build(conn)`` compiled once per dialect: its SQL, and for drivers
    with positional parameters the bind names in order (None for named ones)."""
    key = (conn.dialect.name, name)
    found = _DRIVER_SQL.get(key)
    if found is None:
        compiled = build(conn).compile(dialect=conn.dialect)
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        found = _DRIVER_SQL[key] = (str(compiled), order)
    return found


def _samples_upsert(conn: Connection) -> Any:
    ins = _insert(conn, samples).values(
        series_id=bindparam("series_id"), ts=bindparam("ts"), value=bindparam("value")
    )
    return ins.on_conflict_do_update(
        index_elements=["series_id", "ts"], set_={"value": ins.excluded.value}
    )


# Rows per multi-row INSERT on SQLite: 3 to 8 columns stay far below its limit of
# 32,766 bound variables per statement.
_SQLITE_ROWS_PER_STATEMENT = 512
_SQLITE_MULTI: dict[tuple[str, int], str] = {}


def _chunk_size(left: int) -> int:
    """Rows for the next multi-row statement: 512, or the largest power of two <= left.

    Only ten statement shapes ever exist per table. A statement per exact row count
    filled sqlite3's cache of prepared statements (each several hundred KB for hundreds
    of rows) with near-duplicates: the monitor's memory grew by tens of MB over an hour.
    """
    if left >= _SQLITE_ROWS_PER_STATEMENT:
        return _SQLITE_ROWS_PER_STATEMENT
    return 1 << (left.bit_length() - 1)


def _driver_many(
    conn: Connection,
    name: str,
    build: Callable[[Connection], Any],
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
) -> None:
    """Insert ``rows`` with statement ``build(conn)``, straight through the driver.

    The hot inserts (every value of every probe, every probe result) skip SQLAlchemy's
    per-row parameter processing, which cost more than the database did: the statement
    is compiled once per dialect and rows go to the driver as they are. ``rows`` hold
    values for the bind parameters named ``columns``, in that order, already in driver
    form (JSON as text).

    On SQLite, rows go in multi-row ``VALUES`` statements of a few hundred rows: the
    sqlite3 module releases the GIL around every statement step, and a step per row made
    the writer thread and the event loop hand the GIL back and forth thousands of times
    a batch. (Within one statement SQLite applies rows in order, so ON CONFLICT still
    lets the last value written win.) PostgreSQL gets psycopg's pipelined executemany.
    """
    sql, order = _driver_sql(conn, name, build)
    positional = order is not None
    if positional and order != columns:
        raise StoreError(f"{name}: bind order {order} is not {columns}")
    if conn.dialect.name == "sqlite":
        one = "(" + ", ".join("?" * len(columns)) + ")"
        head, found, tail = sql.partition("VALUES " + one)
        if not found:
            raise StoreError(f"{name}: cannot find the VALUES clause in {sql!r}")
        i = 0
        while i < len(rows):
            n = _chunk_size(len(rows) - i)
            chunk = rows[i : i + n]
            i += n
            shape = (name, n)
            statement = _SQLITE_MULTI.get(shape)
            if statement is None:
                statement = _SQLITE_MULTI[shape] = f"{head}VALUES {', '.join([one] * n)}{tail}"
            conn.exec_driver_sql(statement, tuple(itertools.chain.from_iterable(chunk)))
    elif positional:
        conn.exec_driver_sql(sql, rows)
    else:
        conn.exec_driver_sql(sql, [dict(zip(columns, r, strict=True)) for r in rows])


def _mark_dirty(conn: Connection, earliest: float) -> None:
    """Tell the next 1m rollup that raw samples from ``earliest`` on changed.

    Done in the batch's own transaction: on PostgreSQL the update waits for a rollup
    holding the row, so a mark is never lost between a rollup's read and its clear.
    Compiled once and sent straight to the driver: it runs for every batch, and
    building it anew cost more than the database's work.
    """
    sql, order = _driver_sql(conn, "mark_dirty", _mark_dirty_statement)
    params = {"earliest": earliest, "key": MetaKey.DIRTY_1M}
    if order is None:
        conn.exec_driver_sql(sql, params)
    else:
        conn.exec_driver_sql(sql, tuple(params[n] for n in order))


def _mark_dirty_statement(conn: Connection) -> Any:
    earliest = bindparam("earliest", type_=meta.c.value.type)
    return (
        update(meta)
        .where(meta.c.key == bindparam("key", type_=meta.c.key.type))
        .values(
            value=case(
                (or_(meta.c.value.is_(None), meta.c.value > earliest), earliest),
                else_=meta.c.value,
            )
        )
    )


def _event_row(e: Event) -> dict[str, Any]:
    return {
        "ts": e.ts,
        "kind": _clean(e.kind),
        "bot": None if e.bot is None else _clean(e.bot),
        "message": _clean(e.message),
        "data": e.data,
    }


_PROBE_COLUMNS = ("ts", "bot", "check", "kind", "status", "latency", "reason", "details")


def _probe_row(p: ProbeResultRow) -> tuple[Any, ...]:
    """A probe result in ``_PROBE_COLUMNS`` order, details as JSON text."""
    return (
        p.ts,
        _clean(p.bot),
        _clean(p.check),
        _clean(p.kind),
        p.status,
        p.latency,
        _clean(p.reason),
        json_dumps(p.details),
    )


def single(item: AnySample | Event | ProbeResultRow) -> Batch:
    """A batch of one item (the writer's fallback when a whole batch is refused)."""
    if isinstance(item, Sample | SampleGroup):
        return Batch(samples=[item])
    if isinstance(item, Event):
        return Batch(events=[item])
    return Batch(probe_results=[item])


def items(batch: Batch) -> Iterable[AnySample | Event | ProbeResultRow]:
    """Every item of ``batch``, probe results and events before samples."""
    yield from batch.probe_results
    yield from batch.events
    yield from batch.samples
