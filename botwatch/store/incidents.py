"""Incidents as tables: opened, joined and resolved by alerts; acknowledged and
resolved by people; escalated and announced by the monitor.

Every method is one transaction, so an incident never half-opens. Recording an
alert's firing spell is idempotent (the same fingerprint and ``fired_at`` twice is
one spell), which lets the monitor replay what a crash may have cut short. Changes
made by two processes at once (the monitor escalating, the CLI acknowledging) are
kept apart by the row's ``version``: ``commit_outbound`` applies only to the version
it planned from.
"""

from __future__ import annotations

__all__ = [
    "PRIORITIES",
    "AlertChange",
    "Incident",
    "IncidentAlert",
    "IncidentEvent",
    "IncidentRepo",
]

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from botwatch.errors import IncidentError
from botwatch.store.engine import Engines, store_errors
from botwatch.store.ingest import _insert
from botwatch.store.outbox import insert_rows
from botwatch.store.tables import incident_alerts, incident_events, incidents

PRIORITIES = ("P1", "P2", "P3", "P4")
"""Incident priorities, worst first."""
RECENT = 600.0
"""Seconds after an incident resolved during which its bot's actions still join it."""


@dataclass(frozen=True)
class AlertChange:
    """An alert that fired or resolved, as incidents need it."""

    kind: str
    """``fired`` or ``resolved``."""
    at: float
    bot: str
    fingerprint: str
    rule: str
    priority: str
    labels: dict[str, str]
    annotations: dict[str, str]
    active_since: float
    fired_at: float
    value: float | None = None


@dataclass(frozen=True)
class Incident:
    """One incident row."""

    id: int
    bot: str
    title: str
    priority: str
    status: str
    """``open``, ``acknowledged`` or ``resolved``."""
    started_at: float
    opened_at: float
    acked_at: float | None
    acked_by: str | None
    resolved_at: float | None
    resolved_by: str | None
    escalation_level: int
    escalated_to: list[str]
    ack_notified: bool
    resolve_notified: bool
    version: int

    @property
    def mttd(self) -> float:
        """Time to detect: first bad sample → the first alert fired."""
        return max(0.0, self.opened_at - self.started_at)

    @property
    def mtta(self) -> float | None:
        """Time to acknowledge: detected → acknowledged (None: not acknowledged)."""
        return None if self.acked_at is None else max(0.0, self.acked_at - self.opened_at)

    @property
    def mttr(self) -> float | None:
        """Time to resolve: first bad sample → resolved (None: still open)."""
        return None if self.resolved_at is None else max(0.0, self.resolved_at - self.started_at)


@dataclass(frozen=True)
class IncidentAlert:
    """One alert of an incident (its latest firing spell)."""

    incident_id: int
    fingerprint: str
    rule: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None
    active_since: float
    fired_at: float
    resolved_at: float | None


@dataclass(frozen=True)
class IncidentEvent:
    """One line of an incident's timeline."""

    incident_id: int
    at: float
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


def _incident(r: Any) -> Incident:
    return Incident(
        r.id, r.bot, r.title, r.priority, r.status, r.started_at, r.opened_at, r.acked_at,
        r.acked_by, r.resolved_at, r.resolved_by, r.escalation_level, list(r.escalated_to),
        bool(r.ack_notified), bool(r.resolve_notified), r.version,
    )  # fmt: skip


def _alert(r: Any) -> IncidentAlert:
    return IncidentAlert(r.incident_id, r.fingerprint, r.rule, dict(r.labels),
                         dict(r.annotations), r.value, r.active_since, r.fired_at,
                         r.resolved_at)  # fmt: skip


def _worse(a: str, b: str) -> str:
    return min(a, b, key=lambda p: PRIORITIES.index(p) if p in PRIORITIES else 9)


def _title(c: AlertChange) -> str:
    return c.annotations.get("summary") or f"{c.rule} on {c.bot}"


class IncidentRepo:
    """The incident tables of one store (``Store.incidents``). Blocking methods."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    # ---- from alerts ----------------------------------------------------------------

    def record(self, changes: Sequence[AlertChange]) -> list[int]:
        """Apply alerts that fired or resolved, in order; the incidents opened."""
        opened: list[int] = []
        with store_errors("recording incidents"), self._engines.write.begin() as conn:
            for c in changes:
                if c.kind == "fired":
                    new = _fired(conn, c)
                    if new is not None:
                        opened.append(new)
                else:
                    _resolved(conn, c)
        return opened

    def spells(self, fingerprints: Sequence[str]) -> set[tuple[str, float]]:
        """The (fingerprint, fired_at) firing spells of ``fingerprints`` already recorded."""
        out: set[tuple[str, float]] = set()
        t = incident_alerts
        with store_errors("reading incidents"), self._engines.read.begin() as conn:
            for i in range(0, len(fingerprints), 500):
                chunk = list(fingerprints[i : i + 500])
                rows = conn.execute(
                    select(t.c.fingerprint, t.c.fired_at).where(t.c.fingerprint.in_(chunk))
                )
                out.update((fp, float(at)) for fp, at in rows)
        return out

    def firing(self) -> list[IncidentAlert]:
        """The alerts of unresolved incidents that have not resolved."""
        t = incident_alerts
        q = (
            select(t)
            .join(incidents, incidents.c.id == t.c.incident_id)
            .where(incidents.c.status != "resolved", t.c.resolved_at.is_(None))
        )
        with store_errors("reading incidents"), self._engines.read.begin() as conn:
            return [_alert(r) for r in conn.execute(q)]

    def note(
        self,
        bot: str | None,
        kind: str,
        text: str,
        at: float,
        data: dict[str, Any] | None = None,
        *,
        fingerprints: Sequence[str] = (),
    ) -> list[int]:
        """Add a timeline line to the unresolved incident of ``bot`` (an action; or its
        incident resolved within ``RECENT`` seconds, as when a restart's verification
        ends after the alert cleared) or to those holding any of ``fingerprints`` (a
        notification); the incidents noted."""
        with store_errors("noting on incidents"), self._engines.write.begin() as conn:
            c = incidents.c
            if fingerprints:
                held = select(incident_alerts.c.incident_id).where(
                    incident_alerts.c.fingerprint.in_(list(fingerprints))
                )
                q = select(c.id).where(c.status != "resolved", c.id.in_(held))
                ids = list(conn.execute(q).scalars())
            elif bot is not None:
                q = (
                    select(c.id)
                    .where(c.bot == bot, or_(c.status != "resolved", c.resolved_at >= at - RECENT))
                    .order_by(c.id.desc())
                    .limit(1)
                )
                ids = list(conn.execute(q).scalars())
            else:
                return []
            for incident_id in ids:
                _event(conn, incident_id, at, kind, text, data or {})
            return ids

    # ---- from people ----------------------------------------------------------------

    def ack(self, incident_id: int, by: str, comment: str, now: float) -> Incident:
        """Acknowledge: escalation stops; receivers that can be told are told."""
        with store_errors("acknowledging an incident"), self._engines.write.begin() as conn:
            inc = _get(conn, incident_id)
            if inc.status == "resolved":
                raise IncidentError(f"incident #{incident_id} is already resolved")
            if inc.status == "acknowledged":
                raise IncidentError(
                    f"incident #{incident_id} was already acknowledged by {inc.acked_by}"
                )
            _set(conn, inc, status="acknowledged", acked_at=now, acked_by=by, ack_notified=False)
            _event(conn, incident_id, now, "acknowledged",
                   f"acknowledged by {by}" + (f": {comment}" if comment else ""),
                   {"by": by, "comment": comment})  # fmt: skip
            return _get(conn, incident_id)

    def resolve(self, incident_id: int, by: str, comment: str, now: float) -> Incident:
        """Resolve by hand (its alerts may still fire; a new spell opens a new one)."""
        with store_errors("resolving an incident"), self._engines.write.begin() as conn:
            inc = _get(conn, incident_id)
            if inc.status == "resolved":
                raise IncidentError(f"incident #{incident_id} is already resolved")
            _close(conn, inc, now, by, f"resolved by {by}" + (f": {comment}" if comment else ""),
                   {"by": by, "comment": comment})  # fmt: skip
            return _get(conn, incident_id)

    # ---- reading ----------------------------------------------------------------------

    def get(self, incident_id: int) -> Incident | None:
        """One incident."""
        with store_errors("reading incidents"), self._engines.read.begin() as conn:
            row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
            return None if row is None else _incident(row)

    def find(
        self,
        *,
        status: Sequence[str] = (),
        bot: str | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[Incident]:
        """Incidents, newest first."""
        q = select(incidents).order_by(incidents.c.id.desc()).limit(limit)
        if status:
            q = q.where(incidents.c.status.in_(list(status)))
        if bot is not None:
            q = q.where(incidents.c.bot == bot)
        if since is not None:
            q = q.where(or_(incidents.c.opened_at >= since, incidents.c.status != "resolved"))
        with store_errors("reading incidents"), self._engines.read.begin() as conn:
            return [_incident(r) for r in conn.execute(q)]

    def alerts(self, incident_id: int) -> list[IncidentAlert]:
        """An incident's alerts, in the order they fired."""
        t = incident_alerts
        q = select(t).where(t.c.incident_id == incident_id).order_by(t.c.fired_at)
        with store_errors("reading incidents"), self._engines.read.begin() as conn:
            return [_alert(r) for r in conn.execute(q)]

    def timeline(self, incident_id: int) -> list[IncidentEvent]:
        """An incident's timeline, oldest first."""
        t = incident_events
        q = select(t).where(t.c.incident_id == incident_id).order_by(t.c.at, t.c.id)
        with store_errors("reading incidents"), self._engines.read.begin() as conn:
            return [
                IncidentEvent(r.incident_id, r.at, r.kind, r.text, dict(r.data))
                for r in conn.execute(q)
            ]

    # ---- the monitor's outbound work --------------------------------------------------

    def needing_work(self) -> list[Incident]:
        """Incidents the monitor may have to escalate or announce: unresolved ones, and
        resolved ones whose escalation receivers or ack have not been told."""
        q = select(incidents).where(
            or_(
                incidents.c.status != "resolved",
                incidents.c.resolve_notified.is_(False),
                and_(incidents.c.acked_at.is_not(None), incidents.c.ack_notified.is_(False)),
            )
        )
        with store_errors("reading incidents"), self._engines.read.begin() as conn:
            return [_incident(r) for r in conn.execute(q.order_by(incidents.c.id))]

    def commit_outbound(
        self,
        incident: Incident,
        values: dict[str, Any],
        rows: Sequence[tuple[str, str, dict[str, Any]]],
        events: Sequence[tuple[float, str, str, dict[str, Any]]],
        now: float,
    ) -> bool:
        """Update ``incident``, queue notification ``rows`` and add timeline ``events``,
        in one transaction; False (nothing done) if it changed since it was read."""
        with store_errors("escalating an incident"), self._engines.write.begin() as conn:
            got = conn.execute(
                update(incidents)
                .where(incidents.c.id == incident.id, incidents.c.version == incident.version)
                .values(**values, version=incident.version + 1)
            )
            if not got.rowcount:
                return False
            if rows:
                insert_rows(conn, rows, now)
            for at, kind, text, data in events:
                _event(conn, incident.id, at, kind, text, data)
            return True

    def stats(self, since: float) -> dict[str, float | int | None]:
        """Counts and mean MTTD/MTTA/MTTR (seconds) of incidents opened since ``since``."""
        c = incidents.c
        q = select(
            func.count(),
            func.avg(c.opened_at - c.started_at),
            func.avg(c.acked_at - c.opened_at),
            func.avg(c.resolved_at - c.started_at),
            func.count(c.acked_at),
            func.count(c.resolved_at),
        ).where(c.opened_at >= since)
        with store_errors("reading incidents"), self._engines.read.begin() as conn:
            n, mttd, mtta, mttr, acked, resolved = conn.execute(q).one()
        return {
            "incidents": int(n), "acknowledged": int(acked), "resolved": int(resolved),
            "mttd": _num(mttd), "mtta": _num(mtta), "mttr": _num(mttr),
        }  # fmt: skip


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def _get(conn: Connection, incident_id: int) -> Incident:
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
    if row is None:
        raise IncidentError(f"no incident #{incident_id}")
    return _incident(row)


def _set(conn: Connection, inc: Incident, **values: Any) -> None:
    conn.execute(
        update(incidents).where(incidents.c.id == inc.id)
        .values(**values, version=incidents.c.version + 1)
    )  # fmt: skip


def _event(
    conn: Connection, incident_id: int, at: float, kind: str, text: str, data: dict[str, Any]
) -> None:
    conn.execute(
        insert(incident_events).values(incident_id=incident_id, at=at, kind=kind, text=text,
                                       data=data)
    )  # fmt: skip


def _close(conn: Connection, inc: Incident, at: float, by: str, text: str,
           data: dict[str, Any]) -> None:  # fmt: skip
    # Escalation receivers were paged about it: they are told it is over.
    _set(conn, inc, status="resolved", resolved_at=at, resolved_by=by,
         resolve_notified=not inc.escalated_to)  # fmt: skip
    _event(conn, inc.id, at, "resolved", text, data)


def _fired(conn: Connection, c: AlertChange) -> int | None:
    t = incident_alerts
    seen = conn.execute(
        select(t.c.incident_id).where(t.c.fingerprint == c.fingerprint, t.c.fired_at == c.fired_at)
    ).first()
    if seen is not None:
        return None  # this spell is recorded already (a replay after a restart)
    row = conn.execute(
        select(incidents)
        .where(incidents.c.bot == c.bot, incidents.c.status != "resolved")
        .order_by(incidents.c.id.desc())
        .limit(1)
    ).first()
    what = f"{c.rule} fired" + (f": {c.annotations['summary']}" if "summary" in c.annotations
                                else "")  # fmt: skip
    if c.value is not None:
        what += f" (value {c.value:g})"
    data = {"rule": c.rule, "fingerprint": c.fingerprint, "labels": c.labels, "value": c.value}
    opened: int | None = None
    if row is None:
        got = conn.execute(
            insert(incidents).values(
                bot=c.bot, title=_title(c), priority=c.priority, status="open",
                started_at=c.active_since, opened_at=c.at, escalation_level=0, escalated_to=[],
                ack_notified=True, resolve_notified=True, version=1,
            )
        )  # fmt: skip
        key = got.inserted_primary_key
        assert key is not None
        incident_id = opened = int(key[0])
        _event(conn, incident_id, c.active_since, "started", f"first bad sample ({c.rule})", data)
        if c.fired_at - c.active_since >= 1.0:
            _event(conn, incident_id, c.active_since, "pending",
                   f"{c.rule} pending (fires after {c.fired_at - c.active_since:.0f}s)", data)  # fmt: skip
        _event(conn, incident_id, c.at, "fired", f"{what}; {c.priority} incident opened", data)
    else:
        inc = _incident(row)
        incident_id = inc.id
        values: dict[str, Any] = {}
        worse = _worse(inc.priority, c.priority)
        if worse != inc.priority:
            values["priority"] = worse
        if c.active_since < inc.started_at:
            values["started_at"] = c.active_since
        if values:
            _set(conn, inc, **values)
        _event(conn, incident_id, c.at, "fired", f"{what}; joined the incident"
               + (f", now {worse}" if "priority" in values else ""), data)  # fmt: skip
    stmt = _insert(conn, t)
    stmt = stmt.on_conflict_do_update(
        index_elements=["incident_id", "fingerprint"],
        set_={k: stmt.excluded[k] for k in ("value", "active_since", "fired_at", "resolved_at",
                                           "labels", "annotations")},
    )  # fmt: skip
    conn.execute(stmt, [{
        "incident_id": incident_id, "fingerprint": c.fingerprint, "rule": c.rule,
        "labels": c.labels, "annotations": c.annotations, "value": c.value,
        "active_since": c.active_since, "fired_at": c.fired_at, "resolved_at": None,
    }])  # fmt: skip
    return opened


def _resolved(conn: Connection, c: AlertChange) -> None:
    t = incident_alerts
    rows = conn.execute(
        select(t.c.incident_id, incidents.c.status)
        .join(incidents, incidents.c.id == t.c.incident_id)
        .where(t.c.fingerprint == c.fingerprint, t.c.resolved_at.is_(None))
    ).all()
    for incident_id, status in rows:
        conn.execute(
            update(t).where(t.c.incident_id == incident_id, t.c.fingerprint == c.fingerprint)
            .values(resolved_at=c.at)
        )  # fmt: skip
        if status == "resolved":
            continue  # resolved by hand earlier: nothing more to say
        _event(conn, incident_id, c.at, "alert_resolved", f"{c.rule} resolved",
               {"rule": c.rule, "fingerprint": c.fingerprint})  # fmt: skip
        left = conn.execute(
            select(func.count()).where(t.c.incident_id == incident_id, t.c.resolved_at.is_(None))
        ).scalar()
        if not left:
            inc = _get(conn, incident_id)
            _close(conn, inc, c.at, "botwatch", "all alerts resolved", {})
