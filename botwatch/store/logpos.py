"""What the monitor keeps of the logs it follows: how far each file was read
(``log_positions``) and every bot's error patterns (``log_patterns``), saved together
in one transaction so a crash neither re-counts a pattern nor loses a position."""

from __future__ import annotations

__all__ = ["LogPositionRepo", "SavedPosition", "StoredPattern"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, select

from botwatch.store.engine import Engines, store_errors
from botwatch.store.ingest import _insert
from botwatch.store.tables import log_patterns as lp
from botwatch.store.tables import log_positions as t

SavedPosition = tuple[int, int, str | None]
"""A file's (inode, offset, None); a command's (-1, milliseconds, its exact place)."""


@dataclass(frozen=True)
class StoredPattern:
    """One bot's error pattern as stored (``count`` over every run of the monitor)."""

    bot: str
    key: str
    text: str
    exc_type: str | None
    category: str
    count: int
    first_seen: float
    last_seen: float
    example: str

    def to_json(self) -> dict[str, Any]:
        """The pattern for ``--json``."""
        return {"bot": self.bot, "key": self.key, "template": self.text,
                "exception": self.exc_type, "category": self.category, "count": self.count,
                "first_seen": self.first_seen, "last_seen": self.last_seen,
                "example": self.example}  # fmt: skip


class LogPositionRepo:
    """The log_positions and log_patterns tables of one store. Blocking methods."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    def load(self) -> dict[str, SavedPosition]:
        """Every saved position: source → (inode, offset, cursor)."""
        with store_errors("reading log positions"), self._engines.read.begin() as conn:
            return {r.source: (int(r.inode), int(r.offset), r.cursor)
                    for r in conn.execute(select(t))}  # fmt: skip

    def save(
        self,
        positions: Mapping[str, SavedPosition],
        now: float,
        patterns: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Insert or replace positions and add ``patterns`` (counts since the last
        save: ``count`` is added, first/last seen widened), in one transaction."""
        if not positions and not patterns:
            return
        with store_errors("saving log positions"), self._engines.write.begin() as conn:
            if positions:
                stmt = _insert(conn, t)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["source"],
                    set_={c: stmt.excluded[c]
                          for c in ("inode", "offset", "cursor", "updated_at")},
                )  # fmt: skip
                conn.execute(stmt, [
                    {"source": s, "inode": inode, "offset": offset, "cursor": cursor,
                     "updated_at": now}
                    for s, (inode, offset, cursor) in positions.items()
                ])  # fmt: skip
            if patterns:
                _add_patterns(conn, patterns)

    def patterns(
        self, bot: str | None = None, *, since: float | None = None
    ) -> list[StoredPattern]:
        """Stored patterns (of ``bot``; first seen at or after ``since``), newest first."""
        q = select(lp).order_by(lp.c.first_seen.desc())
        if bot is not None:
            q = q.where(lp.c.bot == bot)
        if since is not None:
            q = q.where(lp.c.first_seen >= since)
        with store_errors("reading log patterns"), self._engines.read.begin() as conn:
            # By mapping: a row's ``count`` attribute is tuple.count, not the column.
            return [StoredPattern(**{**r._mapping, "count": int(r._mapping["count"])})
                    for r in conn.execute(q)]  # fmt: skip


def _add_patterns(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    stmt = _insert(conn, lp)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["bot", "key"],
        set_={
            "text": new.text,  # a template widens as it sees more messages
            "count": lp.c.count + new["count"],
            "first_seen": case((new.first_seen < lp.c.first_seen, new.first_seen),
                               else_=lp.c.first_seen),
            "last_seen": case((new.last_seen > lp.c.last_seen, new.last_seen),
                              else_=lp.c.last_seen),
        },
    )  # fmt: skip
    conn.execute(stmt, [dict(r) for r in rows])
