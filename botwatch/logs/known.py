"""A bot's error patterns as the store keeps them, across restarts of the monitor.

The miner is seeded with the stored templates first, so after a restart the same
messages join the same patterns and keep their rows (a template's ``<*>`` matches
whatever a new message has there). Each pattern's row is keyed by a hash of the text
it was first stored with; later widening changes the text, not the key.
"""

from __future__ import annotations

__all__ = ["MAX_PATTERNS", "BotPatterns", "pattern_key"]

import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from botwatch.logs.categories import categorize
from botwatch.logs.patterns import example_of
from botwatch.logs.record import LogRecord
from botwatch.logs.templates import ByTemplate, TemplateMiner

if TYPE_CHECKING:
    from botwatch.store.logpos import StoredPattern

MAX_PATTERNS = 5_000
"""Patterns kept per bot; past it new ones are counted under one overflow row, so a
bot that logs endless unique garbage cannot fill the store."""
OVERFLOW = "overflow"


def pattern_key(text: str, exc_type: str | None) -> str:
    """The stored key of a pattern first seen as ``text`` (with ``exc_type``)."""
    return hashlib.sha1(f"{text}\0{exc_type or ''}".encode()).hexdigest()


Row = dict[str, Any]
"""A ``log_patterns`` row: what the store adds (count) and widens (first/last seen)."""


class BotPatterns:
    """Error records of one bot → pattern rows to add to the store."""

    def __init__(self, bot: str, stored: Iterable[StoredPattern] = ()) -> None:
        self.bot = bot
        self.miner = TemplateMiner()
        self.keys = ByTemplate[str](self.miner)
        """Stored keys by (template, exception): a merged template's records go to the
        row of the oldest template it joined, not to a new row."""
        self.known: set[str] = set()
        for s in stored:
            self.keys.add(self.miner.add(s.text), s.exc_type, s.key)
            self.known.add(s.key)
        self.pending: dict[str, Row] = {}
        self.new: list[Row] = []
        """Patterns first seen since the last ``take()`` (for events)."""

    def add(self, rec: LogRecord, now: float) -> None:
        """Count one error record."""
        t = self.miner.add(rec.message.split("\n", 1)[0])
        key = self.keys.get(t.id, rec.exc_type)
        if key is None:
            key = pattern_key(t.text, rec.exc_type) if len(self.keys) < MAX_PATTERNS else OVERFLOW
            self.keys.add(t, rec.exc_type, key)
        ts = rec.ts if rec.ts is not None else now
        text = t.text if key != OVERFLOW else "(more patterns than botwatch keeps)"
        if key in self.pending:
            self.pending[key]["text"] = text  # a template widens as it sees more
            _merge(self.pending[key], 1, ts, ts)
            return
        example = example_of(rec)
        row = self.pending[key] = {
            "bot": self.bot, "key": key, "text": text, "exc_type": rec.exc_type,
            "category": categorize(example, t.text, rec.exc_type).name, "count": 1,
            "first_seen": ts, "last_seen": ts, "example": example,
        }  # fmt: skip
        if key not in self.known:
            self.known.add(key)
            self.new.append(row)

    def take(self) -> tuple[list[Row], list[Row]]:
        """The rows to add to the store since the last call, and the new patterns."""
        rows, new = list(self.pending.values()), self.new
        self.pending, self.new = {}, []
        return rows, new

    def give_back(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Rows ``take()`` gave that could not be saved: counted again at the next save."""
        for r in rows:
            mine = self.pending.get(r["key"])
            if mine is None:
                self.pending[r["key"]] = dict(r)
            else:
                _merge(mine, r["count"], r["first_seen"], r["last_seen"])


def _merge(row: Row, count: int, first: float, last: float) -> None:
    """Add ``count`` records seen from ``first`` to ``last`` to ``row``."""
    row["count"] += count
    row["first_seen"] = min(row["first_seen"], first)
    row["last_seen"] = max(row["last_seen"], last)
