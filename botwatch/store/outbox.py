"""The notification outbox and notification log, as tables.

The dispatcher writes new notifications and what each receiver has now been told in
one transaction (``enqueue``); the deliverer claims due rows with a lease (a
conditional UPDATE, so two servers on one PostgreSQL never send the same row), and
records each outcome. A row whose lease runs out unrecorded (botwatch died mid-send)
is claimed again: delivered at least once, exactly once where the receiver dedups.
"""

from __future__ import annotations

__all__ = ["LogEntry", "OutboxRepo", "OutboxRow", "insert_rows"]

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, update

from botwatch.store.engine import Engines, store_errors
from botwatch.store.ingest import _insert
from botwatch.store.tables import notifications, notify_log


@dataclass(frozen=True)
class OutboxRow:
    """One notification for one receiver."""

    id: int
    receiver: str
    idempotency_key: str
    status: str
    payload: dict[str, Any]
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    sent_at: float | None


@dataclass(frozen=True)
class LogEntry:
    """What ``receiver`` was last told about ``group_key``."""

    receiver: str
    group_key: str
    firing: list[str]
    resolved: list[str]
    sent_at: float


def _row(r: Any) -> OutboxRow:
    return OutboxRow(
        r.id, r.receiver, r.idempotency_key, r.status, r.payload, r.attempts,
        r.next_attempt_at, r.last_error, r.created_at, r.sent_at,
    )  # fmt: skip


class OutboxRepo:
    """The outbox tables of one store (``Store.outbox``). Blocking methods."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    def enqueue(
        self, new: Sequence[tuple[str, str, dict[str, Any]]], log: Sequence[LogEntry], now: float
    ) -> None:
        """Add ``(receiver, idempotency_key, payload)`` rows and record ``log`` entries,
        in one transaction. A key already queued for a receiver is not queued again."""
        with store_errors("queueing notifications"), self._engines.write.begin() as conn:
            if new:
                insert_rows(conn, new, now)
            if log:
                _upsert_log(conn, log)

    def claim(self, now: float, lease: float, limit: int = 100) -> list[OutboxRow]:
        """Due pending rows, leased for ``lease`` seconds (oldest first)."""
        with store_errors("claiming notifications"), self._engines.write.begin() as conn:
            due = (
                conn.execute(
                    select(notifications.c.id)
                    .where(
                        notifications.c.status == "pending", notifications.c.next_attempt_at <= now
                    )
                    .order_by(notifications.c.id)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            claimed = []
            for row_id in due:
                # Conditional: another server may have claimed it since the SELECT.
                got = conn.execute(
                    update(notifications)
                    .where(
                        notifications.c.id == row_id,
                        notifications.c.status == "pending",
                        notifications.c.next_attempt_at <= now,
                    )
                    .values(next_attempt_at=now + lease)
                )
                if got.rowcount:
                    claimed.append(row_id)
            if not claimed:
                return []
            rows = conn.execute(
                select(notifications)
                .where(notifications.c.id.in_(claimed))
                .order_by(notifications.c.id)
            )
            return [_row(r) for r in rows]

    def sent(self, row_id: int, now: float, attempts: int) -> None:
        """The receiver took it."""
        self._set(row_id, status="sent", sent_at=now, attempts=attempts, last_error=None)

    def retry(self, row_id: int, attempts: int, at: float, error: str) -> None:
        """Failed for now; try again at ``at``."""
        self._set(row_id, attempts=attempts, next_attempt_at=at, last_error=error[:2000])

    def failed(self, row_id: int, attempts: int, error: str) -> None:
        """Given up: the receiver refused it, or retries ran out."""
        self._set(row_id, status="failed", attempts=attempts, last_error=error[:2000])

    def _set(self, row_id: int, **values: Any) -> None:
        with store_errors("recording a delivery"), self._engines.write.begin() as conn:
            conn.execute(update(notifications).where(notifications.c.id == row_id).values(**values))

    def rows(self, status: str | None = None, limit: int = 100) -> list[OutboxRow]:
        """The newest rows (of one status)."""
        q = select(notifications).order_by(notifications.c.id.desc()).limit(limit)
        if status is not None:
            q = q.where(notifications.c.status == status)
        with store_errors("reading notifications"), self._engines.read.begin() as conn:
            return [_row(r) for r in conn.execute(q)]

    def counts(self) -> dict[str, int]:
        """Rows by status."""
        q = select(notifications.c.status, func.count()).group_by(notifications.c.status)
        with store_errors("counting notifications"), self._engines.read.begin() as conn:
            return {status: n for status, n in conn.execute(q)}

    def next_due(self) -> float | None:
        """When the earliest pending row is due."""
        q = select(func.min(notifications.c.next_attempt_at)).where(
            notifications.c.status == "pending"
        )
        with store_errors("reading notifications"), self._engines.read.begin() as conn:
            value = conn.execute(q).scalar()
        return float(value) if value is not None else None

    def log(self) -> dict[tuple[str, str], LogEntry]:
        """The whole notification log, by (receiver, group key)."""
        with store_errors("reading the notification log"), self._engines.read.begin() as conn:
            rows = conn.execute(select(notify_log))
            return {
                (r.receiver, r.group_key): LogEntry(
                    r.receiver, r.group_key, list(r.firing), list(r.resolved), r.sent_at
                )
                for r in rows
            }


def insert_rows(
    conn: Connection, new: Sequence[tuple[str, str, dict[str, Any]]], now: float
) -> None:
    """Queue ``(receiver, idempotency_key, payload)`` rows in the caller's transaction;
    a key already queued for a receiver is not queued again."""
    ins = _insert(conn, notifications).on_conflict_do_nothing(
        index_elements=["receiver", "idempotency_key"]
    )
    conn.execute(
        ins,
        [
            {
                "receiver": receiver, "idempotency_key": key, "status": "pending",
                "payload": payload, "attempts": 0, "next_attempt_at": now,
                "last_error": None, "created_at": now, "sent_at": None,
            }
            for receiver, key, payload in new
        ],
    )  # fmt: skip


def _upsert_log(conn: Connection, log: Sequence[LogEntry]) -> None:
    ins = _insert(conn, notify_log)
    stmt = ins.on_conflict_do_update(
        index_elements=["receiver", "group_key"],
        set_={c: ins.excluded[c] for c in ("firing", "resolved", "sent_at")},
    )
    conn.execute(
        stmt,
        [
            {"receiver": e.receiver, "group_key": e.group_key, "firing": e.firing,
             "resolved": e.resolved, "sent_at": e.sent_at}
            for e in log
        ],
    )  # fmt: skip
