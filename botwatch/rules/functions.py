"""The functions rule expressions can call, with their signatures.

Three families, each a small table: functions over a range of one series' points
(``rate``, ``avg_over_time``...), element-wise functions on an instant vector
(``abs``, ``clamp_max``...), and the few the evaluator handles itself because they
look at the whole vector or at the clock (``absent``, ``time``, ``timestamp``,
``scalar``, ``vector``). ``rate``/``increase``/``quantile`` share the store's
Prometheus-compatible arithmetic, so a rule and a dashboard query agree.
"""

from __future__ import annotations

__all__ = ["ELEMENTWISE", "OVER_TIME", "RANGE_FUNCTIONS", "SIGNATURES", "Signature"]

import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from botwatch.rules.ast import Type
from botwatch.rules.source import SeriesPoints
from botwatch.store.functions import extrapolated_increase, quantile

RangeFn = Callable[[SeriesPoints, float, float, tuple[float, ...]], float | None]


@dataclass(frozen=True)
class Signature:
    """Argument types (the last ``optional`` may be left out) and the result type."""

    args: tuple[Type, ...]
    returns: Type
    optional: int = 0


def _delta(s: SeriesPoints, start: float, end: float, _: tuple[float, ...]) -> float | None:
    v = s.values
    return v[-1] - v[0] if len(v) >= 2 else None


def _changes(s: SeriesPoints, start: float, end: float, _: tuple[float, ...]) -> float | None:
    return float(sum(1 for a, b in itertools.pairwise(s.values) if a != b))


def _resets(s: SeriesPoints, start: float, end: float, _: tuple[float, ...]) -> float | None:
    return float(sum(1 for a, b in itertools.pairwise(s.values) if b < a))


def _stddev(values: Sequence[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


RANGE_FUNCTIONS: dict[str, RangeFn] = {
    # Counters need the timestamps (extrapolation); the rest read the values only.
    "rate": lambda s, a, b, _: extrapolated_increase(s.points, a, b, is_rate=True),
    "increase": lambda s, a, b, _: extrapolated_increase(s.points, a, b, is_rate=False),
    "delta": _delta,
    "changes": _changes,
    "resets": _resets,
    "avg_over_time": lambda s, a, b, _: math.fsum(s.values) / len(s.values),
    "min_over_time": lambda s, a, b, _: min(s.values),
    "max_over_time": lambda s, a, b, _: max(s.values),
    "sum_over_time": lambda s, a, b, _: math.fsum(s.values),
    "count_over_time": lambda s, a, b, _: float(len(s.values)),
    "last_over_time": lambda s, a, b, _: s.values[-1],
    "stddev_over_time": lambda s, a, b, _: _stddev(s.values),
    "present_over_time": lambda s, a, b, _: 1.0,
    "quantile_over_time": lambda s, a, b, args: quantile(args[0], s.values),
}
"""Over one series' points in the window (never empty); None means "no value"."""

OVER_TIME = {
    "avg": "avg_over_time",
    "min": "min_over_time",
    "max": "max_over_time",
    "sum": "sum_over_time",
    "count": "count_over_time",
    "stddev": "stddev_over_time",
    "quantile": "quantile_over_time",
}
"""``avg(x[5m])`` is read as ``avg_over_time(x[5m])``: folding a range across series
means nothing, so the short form is unambiguous and reads like the runbooks."""


def _round(v: float, args: tuple[float, ...]) -> float:
    """To the nearest multiple of ``args[0]`` (default 1), halves rounding up."""
    to = args[0] if args else 1.0
    if not math.isfinite(v) or to == 0:
        return v
    return math.floor(v / to + 0.5) * to


ELEMENTWISE: dict[str, Callable[[float, tuple[float, ...]], float]] = {
    "abs": lambda v, _: abs(v),
    "ceil": lambda v, _: float(math.ceil(v)) if math.isfinite(v) else v,
    "floor": lambda v, _: float(math.floor(v)) if math.isfinite(v) else v,
    "round": _round,
    "clamp_min": lambda v, a: max(v, a[0]),
    "clamp_max": lambda v, a: min(v, a[0]),
    "clamp": lambda v, a: max(a[0], min(a[1], v)),
}
"""Applied to each element's value; the series name is dropped from the result."""

S, V, R = Type.SCALAR, Type.VECTOR, Type.RANGE

SIGNATURES: dict[str, Signature] = {
    **{name: Signature((R,), V) for name in RANGE_FUNCTIONS if name != "quantile_over_time"},
    "quantile_over_time": Signature((S, R), V),
    "abs": Signature((V,), V),
    "ceil": Signature((V,), V),
    "floor": Signature((V,), V),
    "round": Signature((V, S), V, optional=1),
    "clamp_min": Signature((V, S), V),
    "clamp_max": Signature((V, S), V),
    "clamp": Signature((V, S, S), V),
    "absent": Signature((V,), V),
    "absent_over_time": Signature((R,), V),
    "timestamp": Signature((V,), V),
    "time": Signature((), S),
    "scalar": Signature((V,), S),
    "vector": Signature((S,), V),
}
"""Every callable function (aggregations like ``sum by`` are operators, not here)."""
