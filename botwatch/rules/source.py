"""Where rule evaluation reads series from: a small interface and the in-memory window.

The evaluator asks for two things only: each matching series' newest point in a
window, and each matching series' points in a window. ``MemorySeries`` keeps the
recent past of every series in memory (fed with what the monitor writes, and loaded
from the store at start), so evaluating thousands of alert instances never waits on
the database; ``botwatch rules test`` fills one from a test file's input series.
"""

from __future__ import annotations

__all__ = ["MemorySeries", "SeriesPoints", "SeriesSource"]

import bisect
import math
from abc import ABC, abstractmethod
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

from botwatch.rules.ast import Matcher
from botwatch.series import AnySample, SampleGroup


class SeriesPoints(NamedTuple):
    """One series' labels and its timestamps and values in a window, oldest first.

    Two sequences, not a list of pairs: a window over thousands of series would
    otherwise build a tuple per point on every evaluation."""

    labels: Mapping[str, str]
    ts: Sequence[float]
    values: Sequence[float]

    @property
    def points(self) -> list[tuple[float, float]]:
        """The window as ``(ts, value)`` pairs."""
        return list(zip(self.ts, self.values, strict=True))


class SeriesSource(ABC):
    """Series values by name and label matchers (one required method)."""

    @abstractmethod
    def window(
        self, name: str, matchers: Sequence[Matcher], start: float, end: float
    ) -> Iterator[SeriesPoints]:
        """Each matching series with its points in ``(start, end]`` (series with none
        are left out)."""

    def newest(
        self, name: str, matchers: Sequence[Matcher], start: float, end: float
    ) -> Iterator[tuple[Mapping[str, str], float, float]]:
        """Each matching series' newest point in ``(start, end]``: (labels, ts, value)."""
        for s in self.window(name, matchers, start, end):
            yield s.labels, s.ts[-1], s.values[-1]


class _Series:
    # Two arrays of doubles, not a list of (ts, value) tuples: no object per point, so a
    # monitor holding minutes of thousands of series gives the garbage collector nothing
    # to walk, and a point costs 16 bytes.
    __slots__ = ("labels", "ts", "values")

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = dict(labels)
        self.ts = array("d")
        self.values = array("d")


class MemorySeries(SeriesSource):
    """The recent past of the series written to it.

    Each name keeps ``keep`` seconds (``keep_by_name`` may say otherwise per name, and
    with ``only`` set, names outside it are not kept at all: the monitor keeps just
    what its rules read, for as long as their windows need). A value at a timestamp
    already held replaces it (as in the store). NaN is not a measurement and is
    ignored. Not thread-safe: the monitor's loop owns it.
    """

    def __init__(
        self,
        keep: float = 3600.0,
        *,
        keep_by_name: Mapping[str, float] | None = None,
        only: Iterable[str] | None = None,
    ) -> None:
        self.keep = keep
        self.keep_by_name = dict(keep_by_name or {})
        self.only = frozenset(only) if only is not None else None
        self._series: dict[str, dict[tuple[tuple[str, str], ...], _Series]] = {}
        # Series by the identity of their labels dict: a probe labels every run with the
        # same dict, so its values find their series with one lookup (see
        # store.ingest.SeriesCache for the same idea). The entry holds the dict.
        self._by_labels: dict[int, tuple[Mapping[str, str], dict[str, _Series]]] = {}
        self._newest = -math.inf

    def add(self, name: str, labels: Mapping[str, str], ts: float, value: float) -> None:
        """Record one value."""
        if value != value or (self.only is not None and name not in self.only):
            return  # NaN, or a series no rule reads
        self._put(self._by_labels_entry(labels), name, labels, ts, value)

    def add_values(
        self,
        labels: Mapping[str, str],
        ts: float,
        values: Mapping[str, float],
        names: Iterable[str],
    ) -> None:
        """Record ``values[name]`` for each of ``names`` (all under ``labels`` at ``ts``):
        a probe run's values, with the names already filtered to what is kept."""
        entry = self._by_labels_entry(labels)
        for name in names:
            value = values[name]
            if value == value:  # not NaN
                self._put(entry, name, labels, ts, value)

    def _by_labels_entry(self, labels: Mapping[str, str]) -> dict[str, _Series]:
        entry = self._by_labels.get(id(labels))
        if entry is None or entry[0] is not labels:
            # A producer making a new dict per value would grow this without end (and
            # keep every dict alive): start over past one dict per series plus spare.
            if len(self._by_labels) > 1_000 + sum(len(d) for d in self._series.values()):
                self._by_labels.clear()
            entry = self._by_labels[id(labels)] = (labels, {})
        return entry[1]

    def _put(
        self,
        entry: dict[str, _Series],
        name: str,
        labels: Mapping[str, str],
        ts: float,
        value: float,
    ) -> None:
        s = entry.get(name)
        if s is None:
            s = entry[name] = self._series_for(name, labels)
        times = s.ts
        if not times or ts > times[-1]:
            times.append(ts)
            s.values.append(value)
        else:  # late or repeated: keep the points in time order, the last write wins
            i = bisect.bisect_left(times, ts)
            if i < len(times) and times[i] == ts:
                s.values[i] = value
            else:
                times.insert(i, ts)
                s.values.insert(i, value)
        if ts > self._newest:
            self._newest = ts

    def _series_for(self, name: str, labels: Mapping[str, str]) -> _Series:
        key = tuple(sorted(labels.items()))
        by_labels = self._series.get(name)
        if by_labels is None:
            by_labels = self._series[name] = {}
        s = by_labels.get(key)
        if s is None:
            s = by_labels[key] = _Series(labels)
        return s

    def extend(self, samples: Iterable[AnySample]) -> None:
        """Record samples and sample groups (what the monitor hands the store)."""
        for smp in samples:
            if isinstance(smp, SampleGroup):
                for name, value in smp.values.items():
                    self.add(name, smp.labels, smp.ts, value)
            else:
                self.add(smp.name, smp.labels, smp.ts, smp.value)

    def trim(self, now: float | None = None) -> int:
        """Forget points older than their name's keep before ``now`` (default: the
        newest seen); returns how many."""
        ref = self._newest if now is None else now
        dropped = 0
        emptied = False
        for name in list(self._series):
            cutoff = ref - self.keep_by_name.get(name, self.keep)
            by_labels = self._series[name]
            for key in list(by_labels):
                s = by_labels[key]
                i = bisect.bisect_right(s.ts, cutoff)
                if i:
                    del s.ts[:i], s.values[:i]
                    dropped += i
                if not s.ts:
                    del by_labels[key]
                    emptied = True
            if not by_labels:
                del self._series[name]
        if emptied:
            self._by_labels.clear()  # rebuilt on the next add; no entry may hold a gone series
        return dropped

    def names(self) -> list[str]:
        """Every series name held."""
        return sorted(self._series)

    def window(
        self, name: str, matchers: Sequence[Matcher], start: float, end: float
    ) -> Iterator[SeriesPoints]:
        """See ``SeriesSource.window``."""
        for s in self._matching(name, matchers):
            times = s.ts
            lo = bisect.bisect_right(times, start)
            hi = bisect.bisect_right(times, end, lo)
            if hi > lo:
                yield SeriesPoints(s.labels, s.ts[lo:hi], s.values[lo:hi])

    def newest(
        self, name: str, matchers: Sequence[Matcher], start: float, end: float
    ) -> Iterator[tuple[Mapping[str, str], float, float]]:
        """See ``SeriesSource.newest`` (no copying: the common case of every rule)."""
        for s in self._matching(name, matchers):
            times = s.ts
            i = len(times) - 1 if times[-1] <= end else bisect.bisect_right(times, end) - 1
            if i >= 0 and times[i] > start:
                yield s.labels, times[i], s.values[i]

    def _matching(self, name: str, matchers: Sequence[Matcher]) -> Iterator[_Series]:
        by_labels = self._series.get(name)
        if not by_labels:
            return
        if not matchers:
            yield from by_labels.values()
            return
        for s in by_labels.values():
            labels = s.labels
            for m in matchers:
                if not m.matches(labels):
                    break
            else:
                yield s
