"""The shapes everything observed becomes: samples of labelled series, and events.

One idea carries the design: every observation is a ``Sample`` of a named series with
labels (``process_rss_bytes{bot="x"}``) or an ``Event``. Probes, the sampler and log
analyzers produce them; the store keeps them; rules, reports and ``/metrics`` read them.
"""

from __future__ import annotations

__all__ = ["Event", "Labels", "Sample", "labels_key"]

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Labels = dict[str, str]


def labels_key(labels: Labels) -> str:
    """Canonical text form of a label set (sorted JSON), used as the series identity."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


class Sample(NamedTuple):
    """One value of one series at one time (``ts`` in epoch seconds).

    A named tuple rather than a dataclass: a busy monitor makes tens of thousands a
    second, and a tuple is built several times faster than a frozen dataclass.
    """

    name: str
    labels: Labels
    ts: float
    value: float


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened: a restart, a probe state change, a deploy."""

    kind: str
    ts: float
    bot: str | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
