"""From alerts to notifications: route, group, hold back, decide, queue.

Alertmanager's dispatcher, over the alert engine's output. Every firing alert is
routed (``botwatch.alerts.routing``) into aggregation groups (route × ``group_by``
labels). A new group waits ``group_wait`` so alerts that fire together go out
together; after that it is flushed every ``group_interval``. A flush notifies the
route's receiver when there is news against what the receiver was last told (the
notification log): an alert it has not heard of, a resolution, or ``repeat_interval``
gone by. Silenced and inhibited alerts are left out; a muted route (a maintenance
window) sends nothing and tells on the first flush after the window.

The notification rows and the notification log are written in one transaction
(``Store.outbox.enqueue``), so a crash neither loses a decision nor repeats one.
"""

from __future__ import annotations

__all__ = ["Dispatcher", "Flush", "common_labels"]

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botwatch.alerts.inhibit import Inhibitor
from botwatch.alerts.routing import Route, build_routes
from botwatch.alerts.silences import Silencer
from botwatch.alerts.state import Alert, AlertState, Transition
from botwatch.alerts.timeintervals import in_interval
from botwatch.channels.message import AlertInfo, Notification
from botwatch.config import Config
from botwatch.store.outbox import LogEntry


@dataclass
class _Group:
    route: Route
    labels: dict[str, str]
    key: str
    firing: dict[str, Alert] = field(default_factory=dict)
    resolved: dict[str, Alert] = field(default_factory=dict)
    next_flush: float = 0.0


@dataclass(frozen=True)
class Flush:
    """What one tick decided: rows for the outbox and the notification log's updates."""

    rows: list[tuple[str, str, dict[str, Any]]]
    log: list[LogEntry]

    def __bool__(self) -> bool:
        return bool(self.rows or self.log)


def _info(a: Alert) -> AlertInfo:
    ends = a.resolved_at if a.state is AlertState.RESOLVED else None
    value = None if math.isnan(a.value) else a.value
    status = "resolved" if a.state is AlertState.RESOLVED else "firing"
    return AlertInfo(a.fingerprint, status, dict(a.labels), dict(a.annotations),
                     a.fired_at or a.active_since, ends, value)  # fmt: skip


def common_labels(dicts: list[dict[str, str]]) -> dict[str, str]:
    """The label (or annotation) pairs every one of ``dicts`` has."""
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


class Dispatcher:
    """Aggregation groups and the decision to notify; ``tick()`` is one step."""

    def __init__(self, config: Config, *, external_url: str = "") -> None:
        self.root = build_routes(config.route) if config.route is not None else None
        self.inhibitor = Inhibitor(config.inhibit_rules)
        self.intervals = {t.name: t for t in config.time_intervals}
        self.timezone = config.timezone
        self.send_resolved = {name: spec.send_resolved for name, spec in config.channels.items()}
        self.silencer = Silencer()
        self.external_url = external_url
        self.groups: dict[str, _Group] = {}
        self.log: dict[tuple[str, str], LogEntry] = {}

    # ---- input --------------------------------------------------------------------

    def seed(self, firing: Iterable[Alert]) -> None:
        """Group the alerts already firing (restored after a restart)."""
        if self.root is None:
            return
        for a in firing:
            if a.state is AlertState.FIRING:
                for g in self._groups_for(a):
                    g.firing[a.fingerprint] = a

    def observe(self, transitions: Iterable[Transition]) -> None:
        """Take the engine's news: alerts that started firing, and ones that resolved.

        Only changes are routed: a firing alert stays in its groups as the engine's
        own object (its value and annotations kept current there) until it resolves.
        """
        if self.root is None:
            return
        for t in transitions:
            if t.after is AlertState.FIRING:
                self.seed((t.alert,))
            elif t.after is AlertState.RESOLVED:
                for g in self._groups_for(t.alert):
                    g.firing.pop(t.alert.fingerprint, None)
                    g.resolved[t.alert.fingerprint] = t.alert

    def _groups_for(self, a: Alert) -> list[_Group]:
        assert self.root is not None
        out = []
        for route in self.root.match(a.labels):
            labels = dict(route.group_key(a.labels))
            key = (
                route.path + ":{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
            )
            g = self.groups.get(key)
            if g is None:
                g = self.groups[key] = _Group(route, labels, key)
                g.next_flush = -math.inf  # set on the first tick that sees it
            out.append(g)
        return out

    # ---- deciding -----------------------------------------------------------------

    def due_in(self, now: float) -> float:
        """Seconds until a group is due to flush (inf: none)."""
        return max(0.0, min((g.next_flush for g in self.groups.values()), default=math.inf) - now)

    def tick(self, now: float) -> Flush:
        """Flush the groups that are due; returns what to write (in one transaction)."""
        rows: list[tuple[str, str, dict[str, Any]]] = []
        log: list[LogEntry] = []
        due = []
        for key, g in self.groups.items():
            if g.next_flush == -math.inf:
                g.next_flush = now + g.route.group_wait
            if now >= g.next_flush:
                due.append(key)
        if not due:
            return Flush(rows, log)
        # Inhibition looks at everything firing, so it is worked out only when a group
        # is about to be flushed, not on every step.
        inhibited: dict[tuple[tuple[str, str], ...], Any] = {}
        if self.inhibitor.rules:
            firing_now = [a.labels for g in self.groups.values() for a in g.firing.values()]
            inhibited = self.inhibitor.inhibited(firing_now)
        for key in due:
            g = self.groups[key]
            g.next_flush = now + g.route.group_interval
            if self._muted(g.route, now):
                continue  # tells on the first flush after the window
            row, entry = self._flush(g, now, inhibited)
            if row is not None:
                rows.append(row)
            if entry is not None:
                log.append(entry)
                self.log[(entry.receiver, entry.group_key)] = entry
            g.resolved.clear()
            if not g.firing:
                del self.groups[key]
        return Flush(rows, log)

    def _muted(self, route: Route, now: float) -> bool:
        for name in route.mute_time_intervals:
            if in_interval(self.intervals[name], now, self.timezone):
                return True
        if route.active_time_intervals:
            return not any(
                in_interval(self.intervals[n], now, self.timezone)
                for n in route.active_time_intervals
            )
        return False

    def _flush(
        self, g: _Group, now: float, inhibited: dict[tuple[tuple[str, str], ...], Any]
    ) -> tuple[tuple[str, str, dict[str, Any]] | None, LogEntry | None]:
        """The row to queue (None: no news) and the receiver's new log entry."""
        receiver = g.route.receiver
        firing = [
            a for a in g.firing.values()
            if self.silencer.silenced_by(a.labels, now) is None
            and tuple(sorted(a.labels.items())) not in inhibited
        ]  # fmt: skip
        before = self.log.get((receiver, g.key))
        told = set(before.firing) if before is not None else set()
        # Resolutions matter only for alerts this receiver was told were firing.
        resolved = [a for fp, a in g.resolved.items() if fp in told]
        firing_fps = sorted(a.fingerprint for a in firing)
        resolved_fps = sorted(a.fingerprint for a in resolved)
        send_resolved = self.send_resolved.get(receiver, True)
        news = not set(firing_fps) <= told or (bool(resolved) and send_resolved)
        repeat = (
            bool(firing) and before is not None and now - before.sent_at >= g.route.repeat_interval
        )
        if not (news or repeat):
            if not firing and before is not None and before.firing:
                # Everything it was told about is gone (resolved unsent, or silenced).
                return None, LogEntry(receiver, g.key, [], resolved_fps, now)
            return None, None
        alerts = [_info(a) for a in firing] + (
            [_info(a) for a in resolved] if send_resolved else []
        )
        if not alerts:
            return None, LogEntry(receiver, g.key, firing_fps, resolved_fps, now)
        idem = hashlib.sha256(
            f"{receiver}\xff{g.key}\xff{','.join(firing_fps)}\xff{','.join(resolved_fps)}\xff{now!r}".encode()
        ).hexdigest()[:40]
        n = Notification(
            receiver=receiver,
            group_key=g.key,
            status="firing" if firing else "resolved",
            group_labels=g.labels,
            alerts=alerts,
            idempotency_key=idem,
            created_at=now,
            external_url=self.external_url,
            common_labels=common_labels([a.labels for a in alerts]),
            common_annotations=common_labels([a.annotations for a in alerts]),
        )
        entry = LogEntry(receiver, g.key, firing_fps, resolved_fps, now)
        return (receiver, idem, n.to_json()), entry
