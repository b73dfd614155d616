"""The values the store takes and gives back, beyond ``Sample`` and ``Event``."""

from __future__ import annotations

__all__ = [
    "DAY",
    "AlertRow",
    "Point",
    "ProbeResultRow",
    "Retention",
    "RetentionStats",
    "RollupStats",
    "SeriesInfo",
    "SeriesRange",
    "SilenceRow",
    "StoreStatus",
]

from dataclasses import dataclass, field
from typing import Any

from botwatch.series import Labels

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class ProbeResultRow:
    """One probe run as stored: ``status`` is 0 ok, 1 warn, 2 crit, 3 unknown.

    ``latency`` is in seconds (None when the probe never got an answer); ``reason``
    says why in a line; ``details`` is anything JSON-able the probe wants to keep.
    """

    ts: float
    bot: str
    check: str
    kind: str
    status: int
    latency: float | None = None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertRow:
    """A live alert instance as stored: keys, and the instance itself as JSON."""

    group: str
    fingerprint: str
    rule: str
    state: str
    updated: float
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SilenceRow:
    """A silence: alerts matching every matcher (as text) are not notified meanwhile."""

    id: str
    matchers: list[str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float

    def active(self, now: float) -> bool:
        """Whether it silences at ``now``."""
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """A series known to the store."""

    name: str
    labels: Labels


@dataclass(frozen=True, slots=True)
class Point:
    """One value of one labelled series: a latest sample or an aggregate at ``ts``."""

    name: str
    labels: Labels
    ts: float
    value: float


@dataclass(frozen=True, slots=True)
class SeriesRange:
    """The values of one series over a time range, oldest first, as ``(ts, value)``."""

    name: str
    labels: Labels
    points: list[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each kind of row is kept, in seconds.

    Raw samples and 1-minute rollups are only deleted once they have been folded into
    the next coarser table, so a rollup that has fallen behind never loses data.
    """

    raw: float = 2 * DAY
    m1: float = 14 * DAY
    h1: float = 400 * DAY
    events: float = 400 * DAY
    probe_results: float = 30 * DAY


@dataclass(frozen=True, slots=True)
class RollupStats:
    """What one ``rollup`` call did: rows (re)written per table and the new watermarks."""

    rows_1m: int
    rows_1h: int
    watermark_1m: float | None
    watermark_1h: float | None


@dataclass(frozen=True, slots=True)
class RetentionStats:
    """Rows deleted by one ``retention`` call, per table."""

    samples: int
    samples_1m: int
    samples_1h: int
    events: int
    probe_results: int


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """The writer's health, for the dashboard, ``/metrics`` and self-monitoring.

    ``pending`` items are buffered in memory, not yet durable. ``dropped`` counts items
    thrown away because the buffer was full (oldest samples first); ``rejected`` counts
    items the database refused as invalid. ``written`` counts items made durable.
    """

    healthy: bool
    last_error: str | None
    pending: int
    dropped: int
    rejected: int
    written: int
