"""Evaluating a parsed expression at one instant, PromQL's way.

An instant selector gives each matching series' newest value within ``lookback``
(5 minutes, as in Prometheus); a range selector gives its points in the window. The
result is a number or a vector of ``Element``s. Series names are kept by selectors and
by comparisons used as filters, and dropped by arithmetic and functions, so an alert's
labels are what identifies the series it fired for.
"""

from __future__ import annotations

__all__ = ["DEFAULT_LOOKBACK", "Element", "Evaluator", "Value"]

import math
import operator
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from botwatch.errors import RuleEvalError, StoreError
from botwatch.rules.ast import (
    Aggregate,
    Binary,
    Call,
    Matching,
    Node,
    Number,
    RangeSelector,
    Selector,
    Unary,
)
from botwatch.rules.functions import ELEMENTWISE, RANGE_FUNCTIONS
from botwatch.rules.source import SeriesSource
from botwatch.store.functions import quantile

DEFAULT_LOOKBACK = 300.0


class Element(NamedTuple):
    """One series' value in a vector; ``name`` is None once arithmetic dropped it."""

    name: str | None
    labels: Mapping[str, str]
    value: float
    ts: float


Value = float | list[Element]
"""What an expression evaluates to: a number, or a vector."""


def _div(a: float, b: float) -> float:
    """IEEE division, as Prometheus: x/0 is ±Inf, 0/0 is NaN (Python would raise)."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _mod(a: float, b: float) -> float:
    return math.nan if b == 0 else math.fmod(a, b)


def _pow(a: float, b: float) -> float:
    try:
        return float(a**b)
    except (OverflowError, ZeroDivisionError):
        return math.inf
    except TypeError:  # pragma: no cover - complex results
        return math.nan


_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _div,
    "%": _mod,
    "^": _pow,
}
_CMP: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}


class Evaluator:
    """Evaluates expressions against a ``SeriesSource``; stateless between calls."""

    def __init__(self, source: SeriesSource, *, lookback: float = DEFAULT_LOOKBACK) -> None:
        self.source = source
        self.lookback = lookback

    def evaluate(self, node: Node, at: float) -> Value:
        """The value of ``node`` at time ``at`` (epoch seconds).

        Raises ``RuleEvalError`` for what only shows at run time (duplicate series on
        one side of a one-to-one match).
        """
        return self._eval(node, at)

    # ---- dispatch ---------------------------------------------------------------

    def _eval(self, node: Node, at: float) -> Value:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Selector):
            return self._select(node, at)
        if isinstance(node, Binary):
            return self._binary(node, at)
        if isinstance(node, Call):
            return self._call(node, at)
        if isinstance(node, Aggregate):
            return self._aggregate(node, at)
        if isinstance(node, Unary):
            v = self._eval(node.operand, at)
            if isinstance(v, float):
                return -v
            return [Element(None, e.labels, -e.value, e.ts) for e in v]
        raise RuleEvalError(f"cannot evaluate {node} on its own")  # ranges, strings

    def _select(self, node: Selector, at: float) -> list[Element]:
        name = node.name
        return [
            Element(name, labels, value, ts)
            for labels, ts, value in self.source.newest(name, node.matchers, at - self.lookback, at)
        ]

    # ---- functions --------------------------------------------------------------

    def _call(self, node: Call, at: float) -> Value:
        name, args = node.name, node.args
        fn = RANGE_FUNCTIONS.get(name)
        if fn is not None:
            rng = args[-1]
            assert isinstance(rng, RangeSelector)
            params = tuple(self._scalar(a, at) for a in args[:-1])
            start = at - rng.window
            out = []
            sel = rng.selector
            try:
                for s in self.source.window(sel.name, sel.matchers, start, at):
                    value = fn(s, start, at, params)
                    if value is not None:
                        out.append(Element(None, s.labels, value, at))
            except StoreError as e:  # quantile's q out of range
                raise RuleEvalError(f"{node}: {e}") from None
            return out
        element_fn = ELEMENTWISE.get(name)
        if element_fn is not None:
            vec = self._vector(args[0], at)
            params = tuple(self._scalar(a, at) for a in args[1:])
            return [Element(None, e.labels, element_fn(e.value, params), e.ts) for e in vec]
        if name == "time":
            return at
        if name == "timestamp":
            return [Element(None, e.labels, e.ts, e.ts) for e in self._vector(args[0], at)]
        if name == "scalar":
            vec = self._vector(args[0], at)
            return vec[0].value if len(vec) == 1 else math.nan
        if name == "vector":
            return [Element(None, {}, self._scalar(args[0], at), at)]
        if name == "absent":
            if self._vector(args[0], at):
                return []
            return [Element(None, _absent_labels(args[0]), 1.0, at)]
        if name == "absent_over_time":
            rng = args[0]
            assert isinstance(rng, RangeSelector)
            sel = rng.selector
            if any(True for _ in self.source.window(sel.name, sel.matchers, at - rng.window, at)):
                return []
            return [Element(None, _absent_labels(sel), 1.0, at)]
        raise RuleEvalError(f"unknown function {name}()")  # pragma: no cover - parse checks

    def _scalar(self, node: Node, at: float) -> float:
        v = self._eval(node, at)
        if not isinstance(v, float):
            raise RuleEvalError(f"{node} should be a number")  # pragma: no cover - typed
        return v

    def _vector(self, node: Node, at: float) -> list[Element]:
        v = self._eval(node, at)
        if isinstance(v, float):
            raise RuleEvalError(f"{node} should be series values")  # pragma: no cover - typed
        return v

    # ---- aggregation ------------------------------------------------------------

    def _aggregate(self, node: Aggregate, at: float) -> list[Element]:
        vec = self._vector(node.expr, at)
        q = self._scalar(node.param, at) if node.param is not None else 0.0
        groups: dict[tuple[tuple[str, str], ...], list[float]] = {}
        for e in vec:
            groups.setdefault(_group_key(e.labels, node.labels, node.without), []).append(e.value)
        out = []
        for key, values in groups.items():
            out.append(Element(None, dict(key), _fold(node.op, values, q), at))
        return out

    # ---- binary operations ------------------------------------------------------

    def _binary(self, node: Binary, at: float) -> Value:
        cmp = _CMP.get(node.op)
        if (
            cmp is not None
            and not node.bool_mode
            and isinstance(node.lhs, Selector)
            and isinstance(node.rhs, Number)
        ):
            # `series == 2`, the shape of most alert rules: filter while selecting, so a
            # rule over 10,000 series that holds for three builds three elements.
            sel, k = node.lhs, node.rhs.value
            return [
                Element(sel.name, labels, value, ts)
                for labels, ts, value in self.source.newest(
                    sel.name, sel.matchers, at - self.lookback, at
                )
                if cmp(value, k)
            ]
        lhs = self._eval(node.lhs, at)
        rhs = self._eval(node.rhs, at)
        op = node.op
        if op in ("and", "or", "unless"):
            assert isinstance(lhs, list) and isinstance(rhs, list)
            return _set_op(op, lhs, rhs, node.matching)
        cmp = _CMP.get(op)
        if isinstance(lhs, float) and isinstance(rhs, float):
            if cmp is not None:
                return 1.0 if cmp(lhs, rhs) else 0.0
            return _ARITH[op](lhs, rhs)
        if isinstance(lhs, float) or isinstance(rhs, float):
            return _with_scalar(op, lhs, rhs, node.bool_mode)
        return _one_to_one(op, lhs, rhs, node.matching, node.bool_mode)


def _absent_labels(node: Node) -> dict[str, str]:
    """The labels ``absent()`` reports: the selector's equality matchers."""
    if isinstance(node, Selector):
        return {m.label: m.value for m in node.matchers if m.op == "="}
    return {}


def _group_key(
    labels: Mapping[str, str], by: tuple[str, ...] | None, without: bool
) -> tuple[tuple[str, str], ...]:
    if by is None:
        return ()
    if without:
        return tuple(sorted((k, v) for k, v in labels.items() if k not in by))
    return tuple((k, labels[k]) for k in by if labels.get(k, ""))


def _fold(op: str, values: list[float], q: float) -> float:
    if op == "sum":
        return math.fsum(values)
    if op == "avg":
        return math.fsum(values) / len(values)
    if op == "min":
        return min(values)
    if op == "max":
        return max(values)
    if op == "count":
        return float(len(values))
    if op == "stddev":
        return statistics.pstdev(values) if len(values) > 1 else 0.0
    if op == "quantile":
        if not 0.0 <= q <= 1.0:
            return math.inf if q > 1 else -math.inf  # as Prometheus does
        return quantile(q, values)
    raise RuleEvalError(f"unknown aggregation {op}")  # pragma: no cover - grammar


def _signature(labels: Mapping[str, str], matching: Matching | None) -> tuple[tuple[str, str], ...]:
    if matching is None:
        return tuple(sorted(labels.items()))
    if matching.on:
        return tuple((k, labels.get(k, "")) for k in matching.labels)
    return tuple(sorted((k, v) for k, v in labels.items() if k not in matching.labels))


def _result_labels(labels: Mapping[str, str], matching: Matching | None) -> Mapping[str, str]:
    if matching is None:
        return labels
    if matching.on:
        return {k: labels[k] for k in matching.labels if k in labels}
    return {k: v for k, v in labels.items() if k not in matching.labels}


def _set_op(
    op: str, lhs: list[Element], rhs: list[Element], matching: Matching | None
) -> list[Element]:
    right = {_signature(e.labels, matching) for e in rhs}
    if op == "and":
        return [e for e in lhs if _signature(e.labels, matching) in right]
    if op == "unless":
        return [e for e in lhs if _signature(e.labels, matching) not in right]
    left = {_signature(e.labels, matching) for e in lhs}
    return lhs + [e for e in rhs if _signature(e.labels, matching) not in left]


def _with_scalar(op: str, lhs: Value, rhs: Value, bool_mode: bool) -> list[Element]:
    scalar_left = isinstance(lhs, float)
    vec = rhs if scalar_left else lhs
    k = lhs if scalar_left else rhs
    assert isinstance(vec, list) and isinstance(k, float)
    cmp = _CMP.get(op)
    out = []
    for e in vec:
        a, b = (k, e.value) if scalar_left else (e.value, k)
        if cmp is None:
            out.append(Element(None, e.labels, _ARITH[op](a, b), e.ts))
        elif bool_mode:
            out.append(Element(None, e.labels, 1.0 if cmp(a, b) else 0.0, e.ts))
        elif cmp(a, b):
            out.append(e)  # a filter keeps the series' own value and name
    return out


def _one_to_one(
    op: str, lhs: list[Element], rhs: list[Element], matching: Matching | None, bool_mode: bool
) -> list[Element]:
    right: dict[tuple[tuple[str, str], ...], Element] = {}
    for e in rhs:
        sig = _signature(e.labels, matching)
        if sig in right:
            raise RuleEvalError(
                f"more than one series on the right of {op!r} for {_show(sig)}; "
                "match on fewer labels with on(...) or aggregate first"
            )
        right[sig] = e
    seen: set[tuple[tuple[str, str], ...]] = set()
    cmp = _CMP.get(op)
    out = []
    for e in lhs:
        sig = _signature(e.labels, matching)
        other = right.get(sig)
        if other is None:
            continue
        if sig in seen:
            raise RuleEvalError(
                f"more than one series on the left of {op!r} for {_show(sig)}; "
                "match on fewer labels with on(...) or aggregate first"
            )
        seen.add(sig)
        labels = _result_labels(e.labels, matching)
        if cmp is None:
            out.append(Element(None, labels, _ARITH[op](e.value, other.value), e.ts))
        elif bool_mode:
            out.append(Element(None, labels, 1.0 if cmp(e.value, other.value) else 0.0, e.ts))
        elif cmp(e.value, other.value):
            out.append(Element(e.name, labels, e.value, e.ts))
    return out


def _show(sig: Sequence[tuple[str, str]]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sig) + "}"
