"""The shapes everything observed becomes: samples of labelled series, and events.

One idea carries the design: every observation is a ``Sample`` of a named series with
labels (``process_rss_bytes{bot="x"}``) or an ``Event``. Probes, the sampler and log
analyzers produce them; the store keeps them; rules, reports and ``/metrics`` read them.
"""

from __future__ import annotations

__all__ = ["AnySample", "Event", "Labels", "Sample", "SampleGroup", "labels_key"]

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


class SampleGroup(NamedTuple):
    """Values of several series that share labels and a timestamp: one probe run's.

    The store takes a group wherever it takes a ``Sample`` and writes one row per value.
    A check produces a handful of values every run; one group instead of a ``Sample``
    each is fewer objects to build, queue and hold while the writer catches up.
    """

    labels: Labels
    ts: float
    values: dict[str, float]

    def samples(self) -> list[Sample]:
        """The group as one ``Sample`` per value."""
        return [Sample(name, self.labels, self.ts, v) for name, v in self.values.items()]


AnySample = Sample | SampleGroup
"""What the store takes as samples: single ones, or a probe run's group."""


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened: a restart, a probe state change, a deploy."""

    kind: str
    ts: float
    bot: str | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
