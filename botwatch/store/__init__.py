"""The store: samples of labelled series, events and probe results, on SQLite or PostgreSQL.

``Store.open(url)`` migrates the schema (Alembic) and returns a store whose writes
are buffered and batched by one background writer, whose queries read raw samples
or the 1m/1h rollups, and whose ``rollup()``/``retention()`` keep the tables small.
"""

from __future__ import annotations

__all__ = [
    "AGGREGATES",
    "STEP_AGGREGATES",
    "AlertRow",
    "AsyncStore",
    "Point",
    "ProbeResultRow",
    "Retention",
    "RetentionStats",
    "RollupStats",
    "SeriesInfo",
    "SeriesRange",
    "SilenceRow",
    "Store",
    "StoreStatus",
]

from botwatch.store.functions import AGGREGATES, STEP_AGGREGATES
from botwatch.store.records import (
    AlertRow,
    Point,
    ProbeResultRow,
    Retention,
    RetentionStats,
    RollupStats,
    SeriesInfo,
    SeriesRange,
    SilenceRow,
    StoreStatus,
)
from botwatch.store.store import AsyncStore, Store
