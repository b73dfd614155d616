"""Whether a moment falls in a recurring window (Alertmanager's ``time_intervals``).

Maintenance windows are the main use: a route muted by one sends nothing while it is
on (rules still evaluate, alerts still fire, and they are notified when it ends if
still firing), and remediation pauses.
"""

from __future__ import annotations

__all__ = ["in_interval"]

import calendar
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from botwatch.config.notify import TimeInterval, TimeIntervalEntry, field_span


def in_interval(interval: TimeInterval, when: float, default_tz: str = "UTC") -> bool:
    """Whether epoch time ``when`` is inside any of ``interval``'s windows."""
    return any(_entry(e, when, default_tz) for e in interval.time_intervals)


def _entry(e: TimeIntervalEntry, when: float, default_tz: str) -> bool:
    t = datetime.fromtimestamp(when, ZoneInfo(e.location or default_tz))
    if e.times:
        minute = t.hour * 60 + t.minute
        if not any(lo <= minute < hi for lo, hi in (r.minutes() for r in e.times)):
            return False
    if e.weekdays and not _any("weekdays", e.weekdays, t.weekday()):
        return False
    if e.days_of_month:
        last = calendar.monthrange(t.year, t.month)[1]
        ok = False
        for item in e.days_of_month:
            lo, hi = field_span("days_of_month", item)
            # Negative days count back from the month's end: -1 is its last day.
            lo, hi = (lo if lo > 0 else last + 1 + lo), (hi if hi > 0 else last + 1 + hi)
            ok = ok or lo <= t.day <= hi
        if not ok:
            return False
    if e.months and not _any("months", e.months, t.month):
        return False
    return not e.years or _any("years", e.years, t.year)


def _any(name: str, items: Sequence[str], value: int) -> bool:
    return any(lo <= value <= hi for lo, hi in (field_span(name, i) for i in items))
