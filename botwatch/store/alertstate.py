"""Saving and loading alerting state: live alert instances and silences."""

from __future__ import annotations

__all__ = ["add_silence", "expire_silence", "load_alerts", "load_silences", "save_alerts"]

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, and_, case, delete, insert, or_, select, update

from botwatch.store.ingest import _insert
from botwatch.store.records import AlertRow, SilenceRow
from botwatch.store.tables import alerts, silences

_CHUNK = 500


def load_alerts(conn: Connection) -> list[AlertRow]:
    """Every stored instance, oldest update first."""
    rows = conn.execute(
        select(
            alerts.c.grp, alerts.c.fingerprint, alerts.c.rule, alerts.c.state, alerts.c.updated,
            alerts.c.data,
        ).order_by(alerts.c.updated, alerts.c.grp, alerts.c.fingerprint)
    )  # fmt: skip
    return [
        AlertRow(g, fp, rule, state, updated, data) for g, fp, rule, state, updated, data in rows
    ]


def save_alerts(
    conn: Connection, upserts: Sequence[AlertRow], deletes: Iterable[tuple[str, str]]
) -> None:
    """Insert or replace ``upserts`` and delete ``(group, fingerprint)`` pairs, in the
    caller's transaction."""
    if upserts:
        stmt = _insert(conn, alerts)
        stmt = stmt.on_conflict_do_update(
            index_elements=["grp", "fingerprint"],
            set_={c: stmt.excluded[c] for c in ("rule", "state", "updated", "data")},
        )
        conn.execute(
            stmt,
            [
                {
                    "grp": r.group,
                    "fingerprint": r.fingerprint,
                    "rule": r.rule,
                    "state": r.state,
                    "updated": r.updated,
                    "data": r.data,
                }
                for r in upserts
            ],
        )
    keys = list(deletes)
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        conn.execute(
            delete(alerts).where(
                or_(*(and_(alerts.c.grp == g, alerts.c.fingerprint == fp) for g, fp in chunk))
            )
        )


def add_silence(conn: Connection, s: SilenceRow) -> None:
    """Insert a silence."""
    conn.execute(
        insert(silences).values(
            id=s.id,
            matchers=list(s.matchers),
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            created_by=s.created_by,
            comment=s.comment,
            created_at=s.created_at,
        )
    )


def load_silences(conn: Connection, ending_after: float | None) -> list[SilenceRow]:
    """Silences that end after ``ending_after`` (all of them for None), newest first."""
    q = select(silences).order_by(silences.c.created_at.desc(), silences.c.id)
    if ending_after is not None:
        q = q.where(silences.c.ends_at > ending_after)
    return [
        SilenceRow(
            r.id, list(r.matchers), r.starts_at, r.ends_at, r.created_by, r.comment, r.created_at
        )
        for r in conn.execute(q)
    ]


def expire_silence(conn: Connection, silence_id: str, now: float) -> bool:
    """End a silence now; False if there is no such silence still running or pending."""
    found = conn.execute(
        update(silences)
        .where(silences.c.id == silence_id, silences.c.ends_at > now)
        # One that had not started yet ends unstarted (starts_at = ends_at = now).
        .values(
            ends_at=now,
            starts_at=case((silences.c.starts_at > now, now), else_=silences.c.starts_at),
        )
    )
    return bool(found.rowcount)
