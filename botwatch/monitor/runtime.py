"""Interpreter settings for the long-running monitor process.

A monitor makes a few dozen short-lived objects per check (the response, the verdict,
samples, a result) at thousands of checks a second, while holding a large, stable set
(config, probes, series ids). CPython's default collector thresholds (700, 10, 10)
then run a full collection every few seconds that walks every one of those stable
objects: measured on the 2,000-endpoint benchmark, collections took about a third of
the monitor's time. ``tune_gc()`` makes young collections rarer and moves what exists
after start-up out of the collector's sight, the approach Instagram described for
their Django fleet. Reference counting still frees almost everything at once; only
garbage in reference cycles waits a little longer for its collection.
"""

from __future__ import annotations

__all__ = ["GC_THRESHOLDS", "tune_gc"]

import gc

GC_THRESHOLDS = (20_000, 20, 20)
"""Allocations between young collections, then young collections per older one."""


def tune_gc(*, freeze: bool = True) -> None:
    """Set the collector up for the monitor; call once start-up is done.

    With ``freeze`` the objects alive now (config, probes, imported modules) move to the
    permanent generation and are never scanned again. Only for a process that runs the
    monitor: it changes the whole interpreter.
    """
    gc.collect()  # what start-up left behind goes now, not frozen forever
    if freeze:
        gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
