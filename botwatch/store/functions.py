"""Aggregation over samples and rollup buckets: the arithmetic, free of any database.

``rate``/``increase`` and ``quantile`` follow Prometheus (``promql/functions.go``):
counter resets are detected as a drop in value, and the increase is extrapolated to
the window's edges when the samples come close enough to them, so botwatch rules
read like the Prometheus rules operators already have.
"""

from __future__ import annotations

__all__ = [
    "AGGREGATES",
    "STEP_AGGREGATES",
    "Acc",
    "extrapolated_increase",
    "quantile",
]

import math
from collections.abc import Sequence
from dataclasses import dataclass

from botwatch.errors import StoreError

AGGREGATES = ("avg", "min", "max", "sum", "count", "last", "rate", "increase", "quantile")
"""Functions ``Store.aggregate`` knows."""

STEP_AGGREGATES = ("avg", "min", "max", "sum", "count", "last")
"""Functions ``Store.range`` can fold each step with."""


@dataclass(slots=True)
class Acc:
    """A running count/sum/min/max/last; rollup rows and raw samples both fold into it."""

    count: int = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    last: float = math.nan
    last_ts: float = -math.inf

    def add(self, ts: float, value: float) -> None:
        """Fold one raw sample in."""
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if ts >= self.last_ts:
            self.last, self.last_ts = value, ts

    def merge(self, ts: float, count: int, total: float, lo: float, hi: float, last: float) -> None:
        """Fold one rollup bucket in (``ts`` orders the ``last`` values)."""
        self.count += count
        self.sum += total
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)
        if ts >= self.last_ts:
            self.last, self.last_ts = last, ts

    def value(self, fn: str) -> float:
        """The aggregate ``fn`` (one of ``STEP_AGGREGATES``) of what was folded in."""
        if fn == "avg":
            return self.sum / self.count
        if fn == "min":
            return self.min
        if fn == "max":
            return self.max
        if fn == "sum":
            return self.sum
        if fn == "count":
            return float(self.count)
        if fn == "last":
            return self.last
        raise StoreError(f"unknown aggregate {fn!r}; expected one of {', '.join(STEP_AGGREGATES)}")


def extrapolated_increase(
    points: Sequence[tuple[float, float]],
    range_start: float,
    range_end: float,
    *,
    is_rate: bool,
) -> float | None:
    """Prometheus ``increase``/``rate`` of counter ``points`` (sorted by ts) in a window.

    A value lower than the one before is a counter reset: the counter restarted from
    zero, so the whole new value counts as increase. The raw increase is then
    extrapolated towards the window's edges (by at most half a sample interval when
    the series starts or ends inside the window, and never below zero). Returns
    None for fewer than two points, as Prometheus returns nothing.
    """
    n = len(points)
    if n < 2:
        return None
    first_t, first_v = points[0]
    last_t, last_v = points[-1]
    result = last_v - first_v
    prev = first_v
    for _, v in points[1:]:
        if v < prev:
            result += prev
        prev = v
    sampled = last_t - first_t
    if sampled <= 0:
        return None
    to_start = first_t - range_start
    to_end = range_end - last_t
    average = sampled / (n - 1)
    threshold = average * 1.1
    if to_start >= threshold:
        to_start = average / 2
    if result > 0 and first_v >= 0:
        # Where a steadily rising counter would have been zero: extrapolating further
        # back would invent negative counter values.
        to_zero = sampled * (first_v / result)
        to_start = min(to_start, to_zero)
    if to_end >= threshold:
        to_end = average / 2
    factor = (sampled + to_start + to_end) / sampled
    if is_rate:
        factor /= range_end - range_start
    return result * factor


def quantile(q: float, values: Sequence[float]) -> float:
    """The ``q``-quantile (0 ≤ q ≤ 1) of ``values``, interpolating between ranks.

    Same definition as Prometheus ``quantile_over_time`` (and numpy's default).
    """
    if not 0.0 <= q <= 1.0 or math.isnan(q):
        raise StoreError(f"quantile needs 0 <= q <= 1, got {q}")
    if not values:
        raise StoreError("quantile of no values")
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    lower = math.floor(rank)
    upper = min(len(ordered) - 1, lower + 1)
    weight = rank - lower
    return ordered[lower] * (1 - weight) + ordered[upper] * weight
