"""Summary statistics (avg, min, max, p95) over a run of process samples."""

from __future__ import annotations

__all__ = ["COLUMNS", "ColumnStats", "column_stats", "percentile", "summarize"]

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from botwatch.sampler.sample import ProcessSample

COLUMNS: tuple[str, ...] = (
    "cpu_percent",
    "mem_percent",
    "rss",
    "vms",
    "threads",
    "open_files",
    "children",
    "uptime",
)
"""The numeric ``ProcessSample`` fields ``summarize`` covers by default."""


@dataclass(frozen=True, slots=True)
class ColumnStats:
    """avg/min/max/p95 of one column over ``count`` values."""

    count: int
    avg: float
    min: float
    max: float
    p95: float

    def to_dict(self) -> dict[str, float]:
        """JSON-ready form."""
        return {"count": self.count, "avg": self.avg, "min": self.min, "max": self.max,
                "p95": self.p95}  # fmt: skip


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of ``values``, interpolating between neighbours.

    Interpolation (as numpy's default does) keeps p95 of a handful of samples
    meaningful instead of snapping to the maximum.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def column_stats(values: Iterable[float | None]) -> ColumnStats | None:
    """Stats of the known values (``None`` is skipped); None when there are none."""
    known = [float(v) for v in values if v is not None]
    if not known:
        return None
    return ColumnStats(
        count=len(known),
        avg=math.fsum(known) / len(known),
        min=min(known),
        max=max(known),
        p95=percentile(known, 95),
    )


def summarize(
    samples: Sequence[ProcessSample], columns: Sequence[str] = COLUMNS
) -> dict[str, ColumnStats]:
    """Stats per column over ``samples``; a column with no known values is left out."""
    out: dict[str, ColumnStats] = {}
    for col in columns:
        stats = column_stats(getattr(s, col) for s in samples)
        if stats is not None:
            out[col] = stats
    return out
