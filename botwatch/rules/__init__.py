"""Rules: the expression language, rule files, the built-in rule pack and evaluation."""

from __future__ import annotations

__all__ = [
    "DEFAULT_LOOKBACK",
    "Element",
    "Evaluator",
    "MemorySeries",
    "SeriesPoints",
    "SeriesSource",
    "Value",
    "parse",
]

from botwatch.rules.evaluate import DEFAULT_LOOKBACK, Element, Evaluator, Value
from botwatch.rules.parser import parse
from botwatch.rules.source import MemorySeries, SeriesPoints, SeriesSource
