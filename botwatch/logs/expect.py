"""Lines expected on a schedule: "Notifications sent" within 10 minutes after 08:00,
14:00 and 20:00 — so a rule can say "the 14:00 run did not happen", which no error
line ever will.

Each slot is judged once its window has closed; until the first slot botwatch watched
whole has closed, nothing is claimed (``missed`` is None): a slot that passed before
botwatch was reading the log is not news.
"""

from __future__ import annotations

__all__ = ["Expectation"]

import re
from collections import deque
from datetime import datetime, time, timedelta, tzinfo

from botwatch.config.logs import ExpectLine
from botwatch.logs.record import LogRecord


class Expectation:
    """One ``expect`` entry of one bot."""

    def __init__(self, spec: ExpectLine, tz: tzinfo, *, watching_since: float) -> None:
        self.spec = spec
        self.tz = tz
        self.pattern = re.compile(spec.log)
        self.watching_since = watching_since
        """From when the log was read without a gap (slots before it are not judged)."""
        self.seen: deque[float] = deque(maxlen=64)
        """When the line was last written (the record's time, else when it was read)."""

    def feed(self, rec: LogRecord, now: float) -> bool:
        """Note ``rec`` if it is the expected line; whether it was."""
        if not self.pattern.search(rec.message):
            return False
        self.seen.append(rec.ts if rec.ts is not None else now)
        return True

    def last_slot(self, now: float) -> float | None:
        """The start of the latest slot whose window has closed by ``now``."""
        day = datetime.fromtimestamp(now, self.tz).date()
        best: float | None = None
        for back in (0, 1, 2):  # a window may reach past midnight
            d = day - timedelta(days=back)
            for minute in self.spec.minutes():
                start = datetime.combine(d, time(minute // 60, minute % 60), self.tz).timestamp()
                if start + self.spec.within <= now and (best is None or start > best):
                    best = start
        return best

    def missed(self, now: float) -> bool | None:
        """Whether the latest closed slot went without the line (None: no slot watched
        whole has closed yet)."""
        slot = self.last_slot(now)
        if slot is None or slot < self.watching_since:
            return None
        end = slot + self.spec.within
        return not any(slot <= t <= end for t in self.seen)

    @property
    def last_seen(self) -> float | None:
        """When the line was last written."""
        return max(self.seen) if self.seen else None
