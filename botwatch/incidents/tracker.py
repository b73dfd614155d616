"""The monitor's incident step: alerts open, join and resolve incidents; unacknowledged
incidents escalate; acknowledgements and resolutions are announced.

The store is the truth (``Store.incidents``): the CLI acknowledges and resolves there,
and the monitor reads it back every ``WORK_EVERY`` seconds to decide what to send. Each
decision is committed with the notification rows it queues in one transaction,
against the incident's version, so a crash or a concurrent ``ack`` can neither lose
nor double an escalation. Alert changes are queued in memory and applied in order by
one background task; if the store is down they wait and are applied when it is back,
and at start ``restore`` replays whatever a crash cut short.
"""

from __future__ import annotations

__all__ = ["WORK_EVERY", "IncidentTracker", "priority_of"]

import asyncio
import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from botwatch.alerts.dispatch import common_labels
from botwatch.alerts.state import Alert, AlertState, Transition
from botwatch.channels import channel_acks
from botwatch.channels.message import AlertInfo, Notification
from botwatch.clock import Clock
from botwatch.config import Config, format_duration
from botwatch.errors import StoreError
from botwatch.series import Event
from botwatch.store import Store
from botwatch.store.incidents import PRIORITIES, AlertChange, Incident, IncidentAlert
from botwatch.store.outbox import OutboxRow

log = logging.getLogger("botwatch.incidents")

WORK_EVERY = 2.0
"""Seconds between looks at open incidents (escalation, announcing acks)."""

RETRY_AFTER = 1.0
"""Seconds to wait after the store failed a step."""

_BY_SEVERITY = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P4"}

_Row = tuple[str, str, dict[str, Any]]
_Ev = tuple[float, str, str, dict[str, Any]]


def priority_of(labels: Mapping[str, str]) -> str:
    """An alert's priority: its ``priority`` label, else from its ``severity``."""
    p = labels.get("priority", "").upper()
    if p in PRIORITIES:
        return p
    return _BY_SEVERITY.get(labels.get("severity", ""), "P3")


def _key(*parts: object) -> str:
    return hashlib.sha256("\xff".join(map(str, parts)).encode()).hexdigest()[:40]


class IncidentTracker:
    """Incidents from alert transitions; ``tick()`` is one step."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        clock: Clock,
        external_url: str = "",
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.on_queued = on_queued
        """Called after notifications were queued (the outbox's deliverer wakes)."""
        self.clock = clock
        self.policy = config.incidents
        self.open_for = frozenset(self.policy.open_for)
        self.external_url = external_url
        self.ack_receivers = frozenset(
            name for name, spec in config.channels.items() if channel_acks(spec.kind)
        )
        self._changes: list[AlertChange] = []
        self._notes: list[tuple[str | None, str, str, float, dict[str, Any], tuple[str, ...]]] = []
        self._task: asyncio.Task[None] | None = None
        self._next_work = 0.0
        self._retry_at = 0.0
        """After the store failed a step: not before this (no busy retrying)."""

    # ---- feeding ----------------------------------------------------------------------

    def qualifies(self, a: Alert) -> bool:
        """Whether ``a`` opens or joins incidents: it has a bot and a priority in
        ``open_for``."""
        return self.policy.enabled and "bot" in a.labels and priority_of(a.labels) in self.open_for

    def observe(self, transitions: Iterable[Transition]) -> None:
        """Queue the firings and resolutions of qualifying alerts."""
        for t in transitions:
            fired = t.after is AlertState.FIRING
            ended = t.after is AlertState.RESOLVED and t.before is AlertState.FIRING
            if (fired or ended) and self.qualifies(t.alert):
                self._changes.append(self._change(t.alert, t.after, t.at))

    def _change(self, a: Alert, state: AlertState, at: float) -> AlertChange:
        fired = a.fired_at if a.fired_at is not None else at
        return AlertChange(
            "fired" if state is AlertState.FIRING else "resolved", at, a.labels["bot"],
            a.fingerprint, a.rule, priority_of(a.labels), dict(a.labels), dict(a.annotations),
            a.active_since, fired, None if a.value != a.value else a.value,
        )  # fmt: skip

    def note_action(self, event: Event) -> None:
        """An action was taken on a bot: a timeline line on its open incident."""
        if self.policy.enabled and event.bot is not None:
            self._notes.append((event.bot, "action", event.message, event.ts, dict(event.data), ()))

    def note_sent(self, row: OutboxRow, at: float) -> None:
        """A notification was delivered: a timeline line on the incidents it is about."""
        if not self.policy.enabled:
            return
        alerts = row.payload.get("alerts") or []
        fps = tuple(a["fingerprint"] for a in alerts if isinstance(a, dict) and "fingerprint" in a)
        if fps:
            status = row.payload.get("status", "")
            self._notes.append(
                (None, "notified", f"notified {row.receiver} ({status})", at,
                 {"receiver": row.receiver, "notification": row.id}, fps)
            )  # fmt: skip

    # ---- stepping ---------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a step is running in the background."""
        return self._task is not None and not self._task.done()

    def due_in(self, now: float) -> float:
        """Seconds until the next step is due (inf: incidents are off)."""
        if not self.policy.enabled:
            return math.inf
        due = now if self._changes or self._notes else self._next_work
        return max(0.0, max(due, self._retry_at) - now)

    def tick(self, now: float) -> None:
        """Start a background step if there is something to record or it is time to
        look at open incidents."""
        if not self.policy.enabled or self.busy or now < self._retry_at:
            return
        if self._changes or self._notes or now >= self._next_work:
            self._task = asyncio.create_task(self._step(now), name="botwatch-incidents")

    async def wait(self) -> None:
        """Wait for a running step."""
        if self._task is not None:
            await self._task

    async def flush(self) -> None:
        """Record everything queued (at shutdown)."""
        await self.wait()
        if self._changes or self._notes:
            self._task = asyncio.create_task(self._step(self.clock.time()))
            await self._task

    async def _step(self, now: float) -> None:
        changes, self._changes = self._changes, []
        if changes:
            try:
                opened = await asyncio.to_thread(self.store.incidents.record, changes)
            except StoreError as e:
                log.error("cannot record incidents (will retry): %s", e)
                self._changes[:0] = changes
                self._retry_at = now + RETRY_AFTER
                return
            for incident_id in opened:
                log.warning("incident #%d opened", incident_id)
        notes, self._notes = self._notes, []
        for i, (bot, kind, text, at, data, fps) in enumerate(notes):
            try:
                await asyncio.to_thread(
                    self.store.incidents.note, bot, kind, text, at, data, fingerprints=fps
                )
            except StoreError as e:
                log.error("cannot add to an incident's timeline (will retry): %s", e)
                self._notes[:0] = notes[i:]
                self._retry_at = now + RETRY_AFTER
                return
        # Right after alerts changed incidents (one may have just resolved and owe its
        # escalation receivers the news) or when it is time to look again.
        if changes or now >= self._next_work:
            self._next_work = now + WORK_EVERY
            try:
                queued = await asyncio.to_thread(self.work, now)
            except StoreError as e:
                log.error("cannot escalate incidents (will retry): %s", e)
                return
            if queued:
                self.on_queued()

    # ---- escalation and announcements -------------------------------------------------

    def work(self, now: float) -> int:
        """Escalate and announce what is due (blocking); how many notifications were
        queued."""
        queued = 0
        notify_log: dict[tuple[str, str], Any] | None = None
        for inc in self.store.incidents.needing_work():
            needs_log = inc.acked_at is not None and not inc.ack_notified
            if needs_log and notify_log is None:
                notify_log = self.store.outbox.log()
            plan = self.plan(inc, now, notify_log or {})
            if plan is None:
                continue
            values, rows, events = plan
            if self.store.incidents.commit_outbound(inc, values, rows, events, now):
                queued += len(rows)
                for _, kind, text, _ in events:
                    if kind == "escalated":
                        log.warning("incident #%d: %s", inc.id, text)
        return queued

    def plan(
        self, inc: Incident, now: float, notify_log: Mapping[tuple[str, str], Any]
    ) -> tuple[dict[str, Any], list[_Row], list[_Ev]] | None:
        """What to do about ``inc`` now: the changes to it, the notifications to queue
        and the timeline lines; None when nothing is due."""
        values: dict[str, Any] = {}
        rows: list[_Row] = []
        events: list[_Ev] = []
        cache: list[list[IncidentAlert]] = []

        def incident_alerts() -> list[IncidentAlert]:
            # Read once, and only when there is something to send.
            if not cache:
                cache.append(self.store.incidents.alerts(inc.id))
            return cache[0]

        steps = self.policy.escalation
        level = inc.escalation_level
        escalated = list(inc.escalated_to)
        if inc.status == "open":
            while level < len(steps):
                step = steps[level]
                if step.priorities and inc.priority not in step.priorities:
                    level += 1
                    continue
                if now < inc.opened_at + step.after:
                    break
                alerts = incident_alerts()
                note = (f"{inc.priority} incident #{inc.id} on {inc.bot} not acknowledged "
                        f"after {format_duration(step.after)}")  # fmt: skip
                key = _key("incident", inc.id, "escalation", level)
                rows.append(self._row(step.receiver, inc, alerts, "firing", "escalation",
                                      note, key, now))  # fmt: skip
                events.append((now, "escalated", f"escalated to {step.receiver}: {note}",
                               {"receiver": step.receiver, "level": level + 1}))  # fmt: skip
                if step.receiver not in escalated:
                    escalated.append(step.receiver)
                level += 1
            if level != inc.escalation_level:
                values.update(escalation_level=level, escalated_to=escalated)
                if rows:
                    values["resolve_notified"] = False
        if inc.acked_at is not None and not inc.ack_notified:
            alerts = incident_alerts()
            fps = {a.fingerprint for a in alerts}
            targets = {
                (receiver, group)
                for (receiver, group), entry in notify_log.items()
                if receiver in self.ack_receivers and fps.intersection(entry.firing)
            }
            targets |= {(r, f"incident/{inc.id}") for r in escalated if r in self.ack_receivers}
            note = f"acknowledged by {inc.acked_by}"
            for receiver, group in sorted(targets):
                key = _key("incident", inc.id, "ack", group)
                rows.append(self._row(receiver, inc, alerts, "acknowledged", "ack", note, key,
                                      now, group=group))  # fmt: skip
            values["ack_notified"] = True
        if inc.status == "resolved" and not inc.resolve_notified:
            alerts = incident_alerts()
            note = f"incident #{inc.id} resolved"
            for receiver in escalated:
                key = _key("incident", inc.id, "resolved")
                rows.append(self._row(receiver, inc, alerts, "resolved", "escalation", note,
                                      key, now))  # fmt: skip
            values["resolve_notified"] = True
        if not values:
            return None
        return values, rows, events

    def _row(
        self,
        receiver: str,
        inc: Incident,
        alerts: list[IncidentAlert],
        status: str,
        kind: str,
        note: str,
        key: str,
        now: float,
        *,
        group: str | None = None,
    ) -> _Row:
        infos = [
            AlertInfo(
                a.fingerprint,
                "resolved" if status == "resolved" or a.resolved_at is not None else "firing",
                a.labels, a.annotations, a.fired_at, a.resolved_at, a.value,
            )
            for a in alerts
        ]  # fmt: skip
        n = Notification(
            receiver=receiver, group_key=group or f"incident/{inc.id}", status=status,
            group_labels={"bot": inc.bot}, alerts=infos, idempotency_key=key, created_at=now,
            external_url=self.external_url,
            common_labels=common_labels([a.labels for a in alerts]),
            common_annotations=common_labels([a.annotations for a in alerts]),
            kind=kind, note=note,
        )  # fmt: skip
        return receiver, key, n.to_json()

    # ---- start-up ---------------------------------------------------------------------

    async def restore(self, alive: list[Alert]) -> None:
        """Replay what a crash may have cut short: qualifying firing alerts not yet in
        an incident join one; alerts of open incidents that no longer fire resolve."""
        if not self.policy.enabled:
            return
        now = self.clock.time()
        firing = [a for a in alive if a.state is AlertState.FIRING and self.qualifies(a)]
        try:
            known = await asyncio.to_thread(
                self.store.incidents.spells, [a.fingerprint for a in firing]
            )
            open_alerts = await asyncio.to_thread(self.store.incidents.firing)
        except StoreError as e:
            log.error("cannot read incidents at start: %s", e)
            return
        for a in firing:
            if (a.fingerprint, a.fired_at) not in known:
                self._changes.append(self._change(a, AlertState.FIRING, a.fired_at or now))
        live = {a.fingerprint for a in firing}
        for ia in open_alerts:
            if ia.fingerprint not in live:
                gone = AlertChange(
                    "resolved", now, ia.labels.get("bot", ""), ia.fingerprint, ia.rule, "P4",
                    ia.labels, ia.annotations, ia.active_since, ia.fired_at, ia.value,
                )  # fmt: skip
                self._changes.append(gone)
