"""The monitor's log reading: every bot's log files followed, their records turned into
the series the rules read.

Series (labels ``bot``):

- ``log_lines_total{level}``: records read, by level (a counter; ``unknown`` when a
  record names none);
- ``log_rate_limit_events_total``: records about rate limits (429, flood control);
- ``log_error_ratio``: errors over requests in the last ``RATIO_WINDOW`` seconds —
  requests are records that say an update or request was handled (aiogram's "Update
  id=… is handled", "Processing update", access lines); a bot whose logs show none
  gets errors over all records.

A file seen for the first time is read from its end (its history is not news); after
that the position of every file is saved and a restart resumes there. Globs are
expanded again every ``RESCAN`` seconds, so a file that appears later is picked up.
"""

from __future__ import annotations

__all__ = ["RATIO_WINDOW", "RESCAN", "LogTailer"]

import os
import re
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from zoneinfo import ZoneInfo

from botwatch.config import LoadedConfig
from botwatch.logs.categories import CATEGORIES
from botwatch.logs.follow import Follower, Position
from botwatch.logs.parse import LogParser
from botwatch.logs.read import decode
from botwatch.series import SampleGroup

RATIO_WINDOW = 600.0
RESCAN = 30.0
_REQUEST = re.compile(
    r"is handled|[Pp]rocessing update|[Hh]andl(?:ed|ing) update|\"(?:GET|POST|PUT|DELETE) /|"
    r"Command: /|[Rr]eceived (?:message|update|command)"
)
_RATE_LIMIT = next(c for c in CATEGORIES if c.name == "rate_limited").pattern


@dataclass
class _Source:
    bot: str
    path: str
    follower: Follower
    parser: LogParser


@dataclass
class _BotStats:
    levels: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    recent: deque[list[float]] = field(default_factory=deque)
    """[second, errors, requests, records] per second of the ratio window: memory
    bounded by the window, not by how much the bot logs."""


class LogTailer:
    """Follows the config's log files; ``tick()`` reads what is new (blocking)."""

    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        positions: Mapping[str, tuple[int, int]] | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        self.loaded = loaded
        self.tz = tz or ZoneInfo(loaded.config.timezone)
        self.saved = dict(positions or {})
        self.sources: dict[str, _Source] = {}
        self.stats: dict[str, _BotStats] = {}
        self._next_scan = 0.0
        self.lines = 0

    @property
    def active(self) -> bool:
        """Whether any bot has log files to follow."""
        from botwatch.probes.logfile import file_log_entries

        return any(file_log_entries(spec) for spec in self.loaded.config.bots.values())

    def _scan(self) -> None:
        from botwatch.probes.logfile import log_file_paths

        for bot, spec in self.loaded.config.bots.items():
            for path in log_file_paths(self.loaded, spec):
                if path in self.sources:
                    continue
                saved = self.saved.get(path)
                # A file there before we were is read from its end (its past is not
                # news); one that appears later is all news.
                follower = Follower(path, position=Position(*saved) if saved else None,
                                    from_end=saved is None and os.path.exists(path))  # fmt: skip
                self.sources[path] = _Source(bot, path, follower, LogParser(tz=self.tz))
                self.stats.setdefault(bot, _BotStats())

    def tick(self, now: float) -> list[SampleGroup]:
        """Read what is new in every file; the bots' series as of ``now``."""
        if now >= self._next_scan:
            self._next_scan = now + RESCAN
            self._scan()
        for src in self.sources.values():
            raw = src.follower.poll()
            if not raw:
                continue
            self.lines += len(raw)
            stats = self.stats[src.bot]
            second = float(int(now))
            if not stats.recent or stats.recent[-1][0] != second:
                stats.recent.append([second, 0.0, 0.0, 0.0])
            bucket = stats.recent[-1]
            for rec in src.parser.records([decode(r) for r in raw]):
                level = rec.level or "unknown"
                stats.levels[level] += 1
                error = rec.is_error
                text = rec.message
                if (error or level == "warning") and _RATE_LIMIT.search(text):
                    stats.rate_limited += 1
                bucket[1] += error
                bucket[2] += _REQUEST.search(text) is not None
                bucket[3] += 1
        return self.samples(now)

    def samples(self, now: float) -> list[SampleGroup]:
        """Every bot's log series as of ``now``."""
        out: list[SampleGroup] = []
        for bot, stats in self.stats.items():
            while stats.recent and stats.recent[0][0] < now - RATIO_WINDOW:
                stats.recent.popleft()
            errors = sum(b[1] for b in stats.recent)
            requests = sum(b[2] for b in stats.recent) or sum(b[3] for b in stats.recent)
            values = {"log_rate_limit_events_total": float(stats.rate_limited)}
            if requests:
                values["log_error_ratio"] = errors / requests
            out.append(SampleGroup({"bot": bot}, now, values))
            for level in ("debug", "info", "warning", "error", "critical", "unknown"):
                if level in stats.levels or level in ("error", "warning"):
                    out.append(SampleGroup({"bot": bot, "level": level}, now,
                                           {"log_lines_total": float(stats.levels[level])}))  # fmt: skip
        return out

    def positions(self) -> dict[str, tuple[int, int]]:
        """Where every followed file is (to save)."""
        out: dict[str, tuple[int, int]] = {}
        for path, src in self.sources.items():
            pos = src.follower.position
            if pos is not None:
                out[path] = (pos.inode, pos.offset)
        return out

    def close(self) -> None:
        """Close every file."""
        for src in self.sources.values():
            src.follower.close()
