"""What a whole log says, for ``botwatch logs stats|latency|commands|delivery|security``:
records by level and hour, latency quantiles, command usage, delivery rates, platform
API errors, security and lifecycle events — every record parsed and run through the
extraction rules.
"""

from __future__ import annotations

__all__ = ["Analysis", "Delivery", "Latency", "LogStats", "SecurityEvent", "analyze"]

import random
import re
from array import array
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from botwatch.logs.errors import Window
from botwatch.logs.extract import Extractors, Observation
from botwatch.logs.formats import Format, HourOfDay
from botwatch.logs.parse import LogParser
from botwatch.logs.read import LineReader
from botwatch.logs.record import LEVELS, LogRecord
from botwatch.logs.secrets import redact_text

KEEP = 1_000_000
"""Latency values kept per name; past that a uniform sample of them (memory stays flat)."""


@dataclass
class Latency:
    """Durations of one kind of work, in seconds."""

    count: int = 0
    total: float = 0.0
    max: float = 0.0
    values: array[float] = field(default_factory=lambda: array("d"))
    _rng: random.Random | None = field(default=None, repr=False)

    def add(self, seconds: float) -> None:
        """One more duration."""
        self.count += 1
        self.total += seconds
        self.max = max(self.max, seconds)
        if len(self.values) < KEEP:
            self.values.append(seconds)
        else:  # reservoir sampling: every value equally likely to be kept
            if self._rng is None:
                self._rng = random.Random(0)  # the same sample on every run
            i = self._rng.randrange(self.count)
            if i < KEEP:
                self.values[i] = seconds

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0.95: p95), linear between ranks; None when empty."""
        if not self.values:
            return None
        ordered = sorted(self.values)
        pos = q * (len(ordered) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    def to_json(self) -> dict[str, Any]:
        """Count, mean, p50/p95/p99 and max, in seconds."""
        return {"count": self.count, "mean": self.total / self.count if self.count else None,
                "p50": self.quantile(0.5), "p95": self.quantile(0.95),
                "p99": self.quantile(0.99), "max": self.max}  # fmt: skip


@dataclass
class Delivery:
    """Messages sent and failed: from summary lines ("Notifications sent: 150 success,
    5 failed") and from per-message lines ("Failed to send to user 1: …"), kept apart
    because a bot that writes both would otherwise count each message twice."""

    summary_success: float = 0.0
    summary_failed: float = 0.0
    message_success: int = 0
    message_failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    runs: list[tuple[float | None, float, float]] = field(default_factory=list)
    """Summary lines: (time, success, failed)."""

    @property
    def success(self) -> float:
        """Messages delivered (summary lines when there are any)."""
        return self.summary_success if self.runs else float(self.message_success)

    @property
    def failed(self) -> float:
        """Messages that failed (summary lines when there are any)."""
        return self.summary_failed if self.runs else float(self.message_failed)

    @property
    def rate(self) -> float | None:
        """Delivered over attempted; None when nothing was sent."""
        total = self.success + self.failed
        return self.success / total if total else None


@dataclass
class SecurityEvent:
    """One kind of security event."""

    count: int = 0
    first_seen: float | None = None
    last_seen: float | None = None
    users: Counter[str] = field(default_factory=Counter)
    example: str = ""


class LogStats:
    """Everything the records of one source say, within ``window`` (matching ``grep``,
    at ``level`` or worse)."""

    def __init__(
        self,
        extractors: Extractors | None = None,
        *,
        tz: tzinfo | None = None,
        window: Window | None = None,
        grep: re.Pattern[str] | None = None,
        level: str = "debug",
    ) -> None:
        self.extractors = extractors or Extractors()
        self.tz = tz or ZoneInfo("UTC")
        self._hour = HourOfDay(self.tz)
        self.window = window or Window()
        self.grep = grep
        self.floor = LEVELS.index(level)
        """Records below this level are left out (those naming no level count)."""
        self.records = 0
        self.levels: Counter[str] = Counter()
        self.by_hour: list[int] = [0] * 24
        self.errors_by_hour: list[int] = [0] * 24
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.loggers: Counter[str] = Counter()
        self.latency: dict[str, Latency] = {}
        self.commands: Counter[str] = Counter()
        self.delivery = Delivery()
        self.api_errors: Counter[tuple[str, str]] = Counter()
        self.security: dict[str, SecurityEvent] = {}
        self.lifecycle: Counter[str] = Counter()
        self.lifecycle_events: deque[tuple[float | None, str, str]] = deque(maxlen=50)
        """The latest starts, stops and crashes: (time, event, message)."""

    def add(self, rec: LogRecord) -> list[Observation]:
        """Count ``rec`` (if in the window and matching ``grep``); what it said."""
        if self.window.where(rec.ts) != "now":
            return []
        if (rec.level is not None and LEVELS.index(rec.level) < self.floor
                and rec.exc_type is None):  # fmt: skip
            return []  # (a traceback counts whatever its line's level, as in errors)
        if self.grep is not None and not self.grep.search(rec.message):
            return []
        self.records += 1
        level = rec.level or "unknown"
        self.levels[level] += 1
        if rec.logger:
            self.loggers[rec.logger] += 1
        if rec.ts is not None:
            if self.first_ts is None or rec.ts < self.first_ts:
                self.first_ts = rec.ts
            if self.last_ts is None or rec.ts > self.last_ts:
                self.last_ts = rec.ts
            hour = self._hour(rec.ts)
            self.by_hour[hour] += 1
            if rec.is_error:
                self.errors_by_hour[hour] += 1
        found = self.extractors.extract(rec)
        for ob in found:
            self._count(ob, rec)
        return found

    def _count(self, ob: Observation, rec: LogRecord) -> None:
        if ob.kind == "latency":
            lat = self.latency.get(ob.key)
            if lat is None:  # (not setdefault: that builds a Latency for every value)
                lat = self.latency[ob.key] = Latency()
            lat.add(ob.value)
        elif ob.kind == "command":
            self.commands[ob.key] += 1
        elif ob.kind == "delivery":
            d = self.delivery
            if ob.extra.get("source") == "summary":
                if ob.key == "success":
                    d.summary_success += ob.value
                    d.runs.append((rec.ts, ob.value, 0.0))
                elif d.runs:
                    ts, ok, _ = d.runs[-1]
                    d.runs[-1] = (ts, ok, ob.value)
                    d.summary_failed += ob.value
            elif ob.key == "success":
                d.message_success += 1
            else:
                d.message_failed += 1
                d.reasons[ob.extra.get("reason", "other")] += 1
        elif ob.kind == "api_error":
            self.api_errors[(ob.extra.get("platform", "unknown"), ob.key)] += 1
        elif ob.kind == "security":
            ev = self.security.setdefault(ob.key, SecurityEvent())
            ev.count += 1
            if rec.ts is not None:
                ev.first_seen = rec.ts if ev.first_seen is None else min(ev.first_seen, rec.ts)
                ev.last_seen = rec.ts if ev.last_seen is None else max(ev.last_seen, rec.ts)
            if "user" in ob.extra:
                ev.users[ob.extra["user"]] += 1
            if not ev.example:
                ev.example = redact_text(rec.message[:300])
        elif ob.kind == "lifecycle":
            self.lifecycle[ob.key] += 1
            self.lifecycle_events.append((rec.ts, ob.key, redact_text(rec.message[:300])))

    @property
    def errors(self) -> int:
        """Error and critical records."""
        return self.levels["error"] + self.levels["critical"]

    def to_json(self) -> dict[str, Any]:
        """Everything, for ``--json``."""
        d = self.delivery
        return {
            "records": self.records, "levels": dict(self.levels),
            "first": self.first_ts, "last": self.last_ts,
            "by_hour": self.by_hour, "errors_by_hour": self.errors_by_hour,
            "loggers": dict(self.loggers.most_common(20)),
            "latency": {k: v.to_json() for k, v in sorted(self.latency.items())},
            "commands": dict(self.commands.most_common()),
            "delivery": {"success": d.success, "failed": d.failed, "rate": d.rate,
                         "reasons": dict(d.reasons), "runs": [
                             {"ts": ts, "success": ok, "failed": bad}
                             for ts, ok, bad in d.runs]},
            "api_errors": [{"platform": p, "code": c, "count": n}
                           for (p, c), n in self.api_errors.most_common()],
            "security": {k: {"count": v.count, "first": v.first_seen, "last": v.last_seen,
                             "users": dict(v.users.most_common(10)), "example": v.example}
                         for k, v in self.security.items()},
            "lifecycle": dict(self.lifecycle),
            "lifecycle_events": [{"ts": ts, "event": e, "message": m}
                                 for ts, e, m in self.lifecycle_events],
        }  # fmt: skip


@dataclass
class Analysis:
    """One source read whole."""

    stats: LogStats
    lines: int
    bytes: int
    unparsed: int
    cut: int
    format: str | None


def analyze(
    stream: BinaryIO,
    stats: LogStats,
    *,
    fmt: Format | None = None,
    progress: Callable[[int], None] | None = None,
) -> Analysis:
    """Parse every record of ``stream`` into ``stats``."""
    reader = LineReader(stream, progress=progress)
    parser = LogParser(fmt, tz=stats.tz)
    for rec in parser.records(reader.lines_of()):
        stats.add(rec)
    return Analysis(stats, reader.lines, reader.bytes, parser.unparsed, reader.cut,
                    parser.fmt.name if parser.fmt is not None else None)  # fmt: skip
