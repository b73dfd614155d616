"""Writing one batch of samples, events and probe results in one transaction.

Blocking; the writer runs it on its own thread. Series ids are looked up once and
cached by the caller (only after the transaction commits, so a rolled-back batch
never leaves ids behind that do not exist).
"""

from __future__ import annotations

__all__ = ["Batch", "SeriesKey", "items", "single", "write_batch"]

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, case, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from botwatch.series import Event, Sample, labels_key
from botwatch.store.records import ProbeResultRow
from botwatch.store.tables import MetaKey, events, meta, probe_results, samples, series

SeriesKey = tuple[str, str]
"""(name, labels_key): a series' identity."""

_IN_CHUNK = 500  # ids per IN (...) list; well under every driver's parameter limit


@dataclass
class Batch:
    """Items taken from the writer's buffer together, oldest first per kind."""

    samples: list[Sample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    probe_results: list[ProbeResultRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples) + len(self.events) + len(self.probe_results)


def _clean(text: str) -> str:
    # PostgreSQL refuses NUL in text; log lines and bot output do contain them.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _series_ids(
    conn: Connection,
    wanted: Mapping[SeriesKey, dict[str, str]],
    known: Mapping[SeriesKey, int],
    new: dict[SeriesKey, int],
) -> None:
    """Find or create the series in ``wanted`` that ``known`` lacks; put them in ``new``."""
    missing = sorted(k for k in wanted if k not in known)
    if not missing:
        return
    # Sorted, so concurrent writers (several servers on one PostgreSQL) take the unique
    # index locks in the same order and cannot deadlock.
    stmt = _insert(conn, series).on_conflict_do_nothing(index_elements=["name", "labels_key"])
    conn.execute(
        stmt,
        [{"name": _clean(n), "labels_key": lk, "labels": wanted[(n, lk)]} for n, lk in missing],
    )
    names = sorted({n for n, _ in missing})
    for i in range(0, len(names), _IN_CHUNK):
        rows = conn.execute(
            select(series.c.id, series.c.name, series.c.labels_key).where(
                series.c.name.in_([_clean(n) for n in names[i : i + _IN_CHUNK]])
            )
        )
        by_clean = {(name, lk): sid for sid, name, lk in rows}
        for n, lk in missing:
            sid = by_clean.get((_clean(n), lk))
            if sid is not None:
                new[(n, lk)] = sid


def write_batch(
    conn: Connection, batch: Batch, known: Mapping[SeriesKey, int]
) -> dict[SeriesKey, int]:
    """Write ``batch`` inside the caller's transaction; return newly seen series ids."""
    new: dict[SeriesKey, int] = {}
    if batch.samples:
        keys = [(s.name, labels_key(s.labels)) for s in batch.samples]
        wanted = {k: s.labels for k, s in zip(keys, batch.samples, strict=True)}
        _series_ids(conn, wanted, known, new)
        # One value per (series, ts), the last one written wins: the same rule the
        # ON CONFLICT below applies across batches, applied within this one (a single
        # PostgreSQL statement may not update the same row twice).
        values: dict[tuple[int, float], float] = {}
        for key, s in zip(keys, batch.samples, strict=True):
            sid = known[key] if key in known else new[key]
            values[(sid, s.ts)] = s.value
        # Mark first: rollup and retention lock the meta rows before touching samples,
        # so taking them in the same order means a writer and a fold never deadlock.
        _mark_dirty(conn, min(ts for _, ts in values))
        ins = _insert(conn, samples)
        upsert = ins.on_conflict_do_update(
            index_elements=["series_id", "ts"], set_={"value": ins.excluded.value}
        )
        conn.execute(
            upsert, [{"series_id": k[0], "ts": k[1], "value": v} for k, v in values.items()]
        )
    if batch.events:
        conn.execute(insert(events), [_event_row(e) for e in batch.events])
    if batch.probe_results:
        conn.execute(insert(probe_results), [_probe_row(p) for p in batch.probe_results])
    return new


def _mark_dirty(conn: Connection, earliest: float) -> None:
    """Tell the next 1m rollup that raw samples from ``earliest`` on changed.

    Done in the batch's own transaction: on PostgreSQL the update waits for a rollup
    holding the row, so a mark is never lost between a rollup's read and its clear.
    """
    conn.execute(
        update(meta)
        .where(meta.c.key == MetaKey.DIRTY_1M)
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


def _probe_row(p: ProbeResultRow) -> dict[str, Any]:
    return {
        "ts": p.ts,
        "bot": _clean(p.bot),
        "check": _clean(p.check),
        "kind": _clean(p.kind),
        "status": p.status,
        "latency": p.latency,
        "reason": _clean(p.reason),
        "details": p.details,
    }


def single(item: Sample | Event | ProbeResultRow) -> Batch:
    """A batch of one item (the writer's fallback when a whole batch is refused)."""
    if isinstance(item, Sample):
        return Batch(samples=[item])
    if isinstance(item, Event):
        return Batch(events=[item])
    return Batch(probe_results=[item])


def items(batch: Batch) -> Iterable[Sample | Event | ProbeResultRow]:
    """Every item of ``batch``, probe results and events before samples."""
    yield from batch.probe_results
    yield from batch.events
    yield from batch.samples
