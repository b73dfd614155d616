"""Positions of followed log files (``Store.logs``)."""

from __future__ import annotations

__all__ = ["LogPositionRepo"]

from collections.abc import Mapping

from sqlalchemy import select

from botwatch.store.engine import Engines, store_errors
from botwatch.store.ingest import _insert
from botwatch.store.tables import log_positions as t


class LogPositionRepo:
    """The log_positions table of one store. Blocking methods."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    def load(self) -> dict[str, tuple[int, int]]:
        """Every saved position: source → (inode, offset)."""
        with store_errors("reading log positions"), self._engines.read.begin() as conn:
            return {r.source: (int(r.inode), int(r.offset)) for r in conn.execute(select(t))}

    def save(self, positions: Mapping[str, tuple[int, int]], now: float) -> None:
        """Insert or replace positions, in one transaction."""
        if not positions:
            return
        with store_errors("saving log positions"), self._engines.write.begin() as conn:
            stmt = _insert(conn, t)
            stmt = stmt.on_conflict_do_update(
                index_elements=["source"],
                set_={c: stmt.excluded[c] for c in ("inode", "offset", "updated_at")},
            )
            conn.execute(stmt, [
                {"source": s, "inode": inode, "offset": offset, "updated_at": now}
                for s, (inode, offset) in positions.items()
            ])  # fmt: skip
