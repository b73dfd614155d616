"""Saving and loading the live alert instances (the ``alerts`` table)."""

from __future__ import annotations

__all__ = ["load_alerts", "save_alerts"]

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, and_, delete, or_, select

from botwatch.store.ingest import _insert
from botwatch.store.records import AlertRow
from botwatch.store.tables import alerts

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
