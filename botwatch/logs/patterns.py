"""Error patterns: error records grouped by template, with counts, first and last
seen, examples, a trend, a category and its runbook advice."""

from __future__ import annotations

__all__ = ["ErrorPatterns", "Pattern", "example_of"]

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from botwatch.logs.categories import Category, categorize, retry_after
from botwatch.logs.formats import HourOfDay
from botwatch.logs.record import LogRecord
from botwatch.logs.secrets import redact_text
from botwatch.logs.templates import ByTemplate, Template, TemplateMiner

EXAMPLES = 3


@dataclass
class Pattern:
    """One error pattern."""

    template: Template
    exc_type: str | None = None
    count: int = 0
    first_seen: float | None = None
    last_seen: float | None = None
    first_line: int = 0
    examples: list[str] = field(default_factory=list)
    levels: Counter[str] = field(default_factory=Counter)
    by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    """Records per hour of the day (the configured time zone)."""
    previous: int = 0
    """Records in the window before this one (for the trend)."""
    retry_after: float | None = None
    """The largest ``retry_after`` seen (rate limits)."""
    known_since: float | None = None
    """When the monitor first saw it (from the store; None: never, or not looked up)."""
    _category: Category | None = None

    @property
    def id(self) -> int:
        """The pattern's number (stable while the miner lives)."""
        return self.template.id

    @property
    def text(self) -> str:
        """The template, with the exception type when a traceback ended in one."""
        return f"{self.template.text} [{self.exc_type}]" if self.exc_type else self.template.text

    @property
    def category(self) -> Category:
        """What kind of error it is."""
        if self._category is None:
            self._category = categorize(self.examples[0] if self.examples else "",
                                        self.template.text, self.exc_type)  # fmt: skip
        return self._category

    @property
    def trend(self) -> float | None:
        """This window's count over the previous window's (None: no previous window)."""
        return None if not self.previous else self.count / self.previous

    def absorb(self, other: Pattern) -> None:
        """Count ``other``'s records here too (its template merged into this one's)."""
        self.count += other.count
        self.previous += other.previous
        self.levels.update(other.levels)
        self.by_hour = [a + b for a, b in zip(self.by_hour, other.by_hour, strict=True)]
        self.first_line = min(self.first_line, other.first_line)
        seen = [t for t in (self.first_seen, other.first_seen) if t is not None]
        self.first_seen = min(seen) if seen else None
        seen = [t for t in (self.last_seen, other.last_seen) if t is not None]
        self.last_seen = max(seen) if seen else None
        self.examples = (self.examples + other.examples)[:EXAMPLES]
        if other.retry_after is not None:
            self.retry_after = max(self.retry_after or 0.0, other.retry_after)
        if other.known_since is not None:
            self.known_since = min(self.known_since or other.known_since, other.known_since)
        self._category = None

    def to_json(self) -> dict[str, Any]:
        """The pattern for ``--json``."""
        return {
            "id": self.id, "template": self.text, "count": self.count,
            "category": self.category.name, "action": self.category.action,
            "exception": self.exc_type, "first_seen": self.first_seen,
            "last_seen": self.last_seen, "first_line": self.first_line,
            "examples": self.examples, "levels": dict(self.levels),
            "by_hour": self.by_hour, "previous": self.previous, "trend": self.trend,
            "retry_after": self.retry_after, "known_since": self.known_since,
        }  # fmt: skip


class ErrorPatterns:
    """Error records → patterns; ``add()`` one record at a time."""

    def __init__(self, *, tz: tzinfo | None = None, miner: TemplateMiner | None = None) -> None:
        self.tz = tz or ZoneInfo("UTC")
        self.miner = miner or TemplateMiner()
        self.patterns: dict[tuple[int, str | None], Pattern] = {}
        self.records = 0
        self._hour = HourOfDay(self.tz)
        self._since = ByTemplate[float](self.miner, pick=min)
        """When the monitor first saw each stored pattern (``seed``)."""

    def seed(self, known: Iterable[tuple[str, str | None, float]]) -> None:
        """Teach the miner the patterns the monitor stored — (template, exception,
        first seen), oldest first — so this read groups as the monitor did and each
        pattern knows since when it exists."""
        for text, exc_type, first_seen in known:
            self._since.add(self.miner.add(text), exc_type, first_seen)

    def add(self, rec: LogRecord, *, previous: bool = False) -> Pattern:
        """Count ``rec`` in its pattern (``previous``: it is from the window before)."""
        msg = rec.message
        t = self.miner.add(msg.split("\n", 1)[0] if "\n" in msg else msg)
        key = (t.id, rec.exc_type)
        p = self.patterns.get(key)
        if p is None:
            p = self.patterns[key] = Pattern(t, rec.exc_type, first_line=rec.line)
            p.known_since = self._since.get(*key)
        if previous:
            p.previous += 1
            return p
        self.records += 1
        p.count += 1
        if rec.level:
            p.levels[rec.level] += 1
        if rec.ts is not None:
            if p.first_seen is None or rec.ts < p.first_seen:
                p.first_seen = rec.ts
            if p.last_seen is None or rec.ts > p.last_seen:
                p.last_seen = rec.ts
            p.by_hour[self._hour(rec.ts)] += 1
        if len(p.examples) < EXAMPLES:
            p.examples.append(example_of(rec))
        if "etry" in msg or "ETRY" in msg:  # retry, Retry, RETRY: without a lower() copy
            ra = retry_after(msg)
            if ra is not None and (p.retry_after is None or ra > p.retry_after):
                p.retry_after = ra
        return p

    def top(self, n: int | None = None) -> list[Pattern]:
        """Patterns seen in this window, most frequent first."""
        self._fold()
        found = sorted((p for p in self.patterns.values() if p.count),
                       key=lambda p: (-p.count, p.first_line))  # fmt: skip
        return found if n is None else found[:n]

    def _fold(self) -> None:
        """Fold the patterns of templates that merged into another (their words turned
        out to be values) into that one's pattern."""
        for key, p in list(self.patterns.items()):
            ident = p.template.id
            if ident == key[0]:
                continue
            del self.patterns[key]
            into = self.patterns.get((ident, key[1]))
            if into is None:
                self.patterns[(ident, key[1])] = p
                p.template = p.template.live
            else:
                into.absorb(p)


def example_of(rec: LogRecord) -> str:
    """The record as an example: cut to a readable length, with its traceback's last
    line, and secrets redacted (examples are shown, stored and sent in alerts)."""
    text = rec.message if len(rec.message) <= 500 else rec.message[:500] + "…"
    if rec.extra:
        tail = rec.extra[-1].strip()
        text += f"\n  … {tail[:300]}"
    return redact_text(text)
