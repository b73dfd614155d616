"""Control requests: the CLI asks, the running monitor acts and answers."""

from __future__ import annotations

__all__ = ["ControlRepo", "ControlRequest"]

from dataclasses import dataclass

from sqlalchemy import ColumnElement, insert, select, update

from botwatch.store.engine import Engines, store_errors
from botwatch.store.tables import control_requests as t


@dataclass(frozen=True)
class ControlRequest:
    """One action asked of the monitor."""

    id: int
    bot: str
    action: str
    requested_by: str
    why: str
    created_at: float
    status: str
    result: str | None
    done_at: float | None


class ControlRepo:
    """The control_requests table of one store (``Store.control``). Blocking methods."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    def ask(self, bot: str, action: str, requested_by: str, why: str, now: float) -> int:
        """Queue a request; its id."""
        with store_errors("queueing a request"), self._engines.write.begin() as conn:
            got = conn.execute(
                insert(t).values(
                    bot=bot,
                    action=action,
                    requested_by=requested_by,
                    why=why,
                    created_at=now,
                    status="pending",
                )
            )
            key = got.inserted_primary_key
            assert key is not None
            return int(key[0])

    def pending(self) -> list[ControlRequest]:
        """Requests not yet carried out, oldest first."""
        return self._select(t.c.status == "pending")

    def get(self, request_id: int) -> ControlRequest | None:
        """One request."""
        found = self._select(t.c.id == request_id)
        return found[0] if found else None

    def finish(self, request_id: int, ok: bool, result: str, now: float) -> None:
        """Record the outcome."""
        with store_errors("recording a request"), self._engines.write.begin() as conn:
            conn.execute(
                update(t).where(t.c.id == request_id)
                .values(status="done" if ok else "failed", result=result[:2000], done_at=now)
            )  # fmt: skip

    def cancel(self, request_id: int, why: str, now: float) -> bool:
        """Fail a request nobody has taken yet; False if it was already carried out."""
        with store_errors("cancelling a request"), self._engines.write.begin() as conn:
            got = conn.execute(
                update(t).where(t.c.id == request_id, t.c.status == "pending")
                .values(status="failed", result=why, done_at=now)
            )  # fmt: skip
            return bool(got.rowcount)

    def take(self, request_id: int) -> bool:
        """Claim a pending request (so a cancel cannot race it); False if gone."""
        with store_errors("claiming a request"), self._engines.write.begin() as conn:
            got = conn.execute(
                update(t).where(t.c.id == request_id, t.c.status == "pending")
                .values(status="running")
            )  # fmt: skip
            return bool(got.rowcount)

    def _select(self, where: ColumnElement[bool]) -> list[ControlRequest]:
        with store_errors("reading requests"), self._engines.read.begin() as conn:
            rows = conn.execute(select(t).where(where).order_by(t.c.id))
            return [ControlRequest(r.id, r.bot, r.action, r.requested_by, r.why, r.created_at,
                                   r.status, r.result, r.done_at) for r in rows]  # fmt: skip
