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

from botwatch.config.notify import MONTHS, WEEKDAYS, TimeInterval, TimeIntervalEntry, parse_span


def in_interval(interval: TimeInterval, when: float, default_tz: str = "UTC") -> bool:
    """Whether epoch time ``when`` is inside any of ``interval``'s windows."""
    return any(_entry(e, when, default_tz) for e in interval.time_intervals)


def _entry(e: TimeIntervalEntry, when: float, default_tz: str) -> bool:
    t = datetime.fromtimestamp(when, ZoneInfo(e.location or default_tz))
    if e.times:
        minute = t.hour * 60 + t.minute
        if not any(lo <= minute < hi for lo, hi in (r.minutes() for r in e.times)):
            return False
    if e.weekdays and not _any(e.weekdays, WEEKDAYS, 0, 6, "weekday", t.weekday()):
        return False
    if e.days_of_month:
        last = calendar.monthrange(t.year, t.month)[1]
        ok = False
        for item in e.days_of_month:
            lo, hi = parse_span(item, None, 1, 31, "day of month")
            # Negative days count back from the month's end: -1 is its last day.
            lo, hi = (lo if lo > 0 else last + 1 + lo), (hi if hi > 0 else last + 1 + hi)
            ok = ok or lo <= t.day <= hi
        if not ok:
            return False
    if e.months and not _any(e.months, MONTHS, 1, 12, "month", t.month):
        return False
    return not e.years or _any(e.years, None, 1970, 9999, "year", t.year)


def _any(
    items: Sequence[str], names: dict[str, int] | None, lo: int, hi: int, what: str, value: int
) -> bool:
    for item in items:
        a, b = parse_span(item, names, lo, hi, what)
        if a <= value <= b:
            return True
    return False
