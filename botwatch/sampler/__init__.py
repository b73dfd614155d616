"""Process resources of bots: finding their processes and sampling them via psutil."""

from __future__ import annotations

from botwatch.sampler.locate import (
    Located,
    can_locate,
    command_matches,
    find_process,
    is_alive,
    locator,
)
from botwatch.sampler.sample import SERIES, ProcessSample, Sampler, sample_tree, sample_values
from botwatch.sampler.stats import COLUMNS, ColumnStats, column_stats, percentile, summarize

__all__ = [
    "COLUMNS",
    "SERIES",
    "ColumnStats",
    "Located",
    "ProcessSample",
    "Sampler",
    "can_locate",
    "column_stats",
    "command_matches",
    "find_process",
    "is_alive",
    "locator",
    "percentile",
    "sample_tree",
    "sample_values",
    "summarize",
]
