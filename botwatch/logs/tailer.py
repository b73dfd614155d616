"""The monitor's log reading: every bot's log files followed, their records turned into
the series the rules read.

Series (labels ``bot`` and those named):

- ``log_lines_total{level}``: records read, by level (a counter; ``unknown`` when a
  record names none);
- ``log_rate_limit_events_total``: records about rate limits (429, flood control);
- ``log_error_ratio``: errors over requests in the last ``RATIO_WINDOW`` seconds —
  requests are records that say an update or request was handled (aiogram's "Update
  id=… is handled", "Processing update", access lines); a bot whose logs show none
  gets errors over all records;
- ``log_latency_seconds{name, quantile}`` (0.5, 0.95, 0.99 over the last
  ``LATENCY_WINDOW`` seconds) and ``log_latency_count_total{name}``;
- ``log_commands_total{command}``;
- ``log_delivery_sent_total``, ``log_delivery_failed_total``, ``log_delivery_failures_total
  {reason}`` and ``delivery_success_ratio`` (sent over attempted in the last
  ``DELIVERY_WINDOW`` seconds);
- ``log_api_errors_total{platform, code}``, ``log_security_events_total{event}``,
  ``log_lifecycle_events_total{event}`` (startup, shutdown, crash);
- ``log_expected_missed{expect}`` (1: the latest scheduled slot went without the line)
  and ``log_expected_last_seen_timestamp{expect}``;
- ``log_secrets_leaked{kind}``: distinct secrets (tokens, keys, passwords in URLs) seen
  in the bot's logs since the monitor started; each is also an event, redacted.

Label values a bot controls (latency names, commands, events) are capped at
``MAX_KEYS`` per bot and kind; the rest count as ``other``.

A file seen for the first time is read from its end (its history is not news); after
that the position of every file is saved and a restart resumes there. ``journald:``
and ``docker:`` sources are followed by their command (``CommandFollower``) from now,
and resume exactly after their last line; a ``cmd:`` runs again as written, the
history it prints again dropped (``botwatch.logs.replay``). Globs are
expanded again every ``RESCAN`` seconds, so a file that appears later is picked up.
"""

from __future__ import annotations

__all__ = ["DELIVERY_WINDOW", "LATENCY_WINDOW", "MAX_KEYS", "RATIO_WINDOW", "RESCAN", "LogTailer"]

import os
import re
from collections import Counter, defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from botwatch.config import LoadedConfig
from botwatch.logs.categories import CATEGORIES
from botwatch.logs.expect import Expectation
from botwatch.logs.extract import Extractors, Observation, user_extractors
from botwatch.logs.follow import Follower, Position
from botwatch.logs.known import BotPatterns
from botwatch.logs.parse import LogParser
from botwatch.logs.read import decode
from botwatch.logs.record import LogRecord
from botwatch.logs.secrets import find_secrets
from botwatch.logs.sources import CommandFollower
from botwatch.series import SampleGroup

if TYPE_CHECKING:
    from botwatch.store.logpos import SavedPosition, StoredPattern

RATIO_WINDOW = 600.0
LATENCY_WINDOW = 300.0
DELIVERY_WINDOW = 3600.0
RESCAN = 30.0
MAX_KEYS = 30
TIMINGS_KEEP = 2_000
"""Latest timings kept per latency name for its quantiles (memory and the sort stay
small however busy the bot is)."""
COMMAND_INODE = -1
"""The inode saved for a command source (its offset is a time in milliseconds)."""
_REQUEST = re.compile(
    r"is handled|[Pp]rocessing update|[Hh]andl(?:ed|ing) update|\"(?:GET|POST|PUT|DELETE) /|"
    r"Command: /|[Rr]eceived (?:message|update|command)"
)
_RATE_LIMIT = next(c for c in CATEGORIES if c.name == "rate_limited").pattern


@dataclass
class _Source:
    bot: str
    path: str
    follower: Follower | CommandFollower
    parser: LogParser


@dataclass
class _BotStats:
    extractors: Extractors
    patterns: BotPatterns
    expect: list[Expectation] = field(default_factory=list)
    levels: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    recent: deque[list[float]] = field(default_factory=deque)
    """[second, errors, requests, records] per second of the ratio window: memory
    bounded by the window, not by how much the bot logs."""
    timings: dict[str, deque[tuple[float, float]]] = field(default_factory=dict)
    """Latency name → (when read, seconds), the last LATENCY_WINDOW seconds."""
    counts: defaultdict[tuple[str, tuple[tuple[str, str], ...]], float] = field(
        default_factory=lambda: defaultdict(float))  # fmt: skip
    """(series, labels) → a counter's value."""
    deliveries: deque[tuple[float, float, float]] = field(default_factory=deque)
    """(when read, sent, failed), the last DELIVERY_WINDOW seconds."""
    secrets: dict[str, str] = field(default_factory=dict)
    """Distinct secrets leaked (redacted value → kind)."""
    summaries: bool = False
    """Whether the bot writes delivery summary lines (then per-message lines are not
    counted again in the ratio)."""

    keys: dict[str, set[str]] = field(default_factory=dict)
    """Kind → the label values given so far (capped at MAX_KEYS)."""
    bot: str = ""
    label_sets: dict[tuple[tuple[str, str], ...], dict[str, str]] = field(default_factory=dict)

    def labels(self, *pairs: tuple[str, str]) -> dict[str, str]:
        """The labels dict of this bot's series with ``pairs``, the same object every
        time: the store and the rules find a series by its labels dict's identity, so
        a fresh dict per write would grow their caches (and cost a lookup by value)."""
        found = self.label_sets.get(pairs)
        if found is None:
            found = self.label_sets[pairs] = {"bot": self.bot, **dict(pairs)}
        return found

    def key(self, kind: str, value: str) -> str:
        """``value`` as a label, or ``other`` past MAX_KEYS distinct ones of ``kind``: a
        bot that logs a fresh id where a command should be must not explode the store."""
        seen = self.keys.setdefault(kind, set())
        if value in seen:
            return value
        if len(seen) < MAX_KEYS:
            seen.add(value)
            return value
        return "other"

    def observe(self, ob: Observation, now: float) -> None:
        """Count one thing a record said."""
        if ob.kind == "latency":
            name = self.key("latency", ob.key)
            self.timings.setdefault(name, deque(maxlen=TIMINGS_KEEP)).append((now, ob.value))
            self.counts[("log_latency_count_total", (("name", name),))] += 1
        elif ob.kind == "command":
            self.counts[("log_commands_total", (("command", self.key("command", ob.key)),))] += 1
        elif ob.kind == "delivery":
            summary = ob.extra.get("source") == "summary"
            self.summaries = self.summaries or summary
            if summary or not self.summaries:
                sent, failed = (ob.value, 0.0) if ob.key == "success" else (0.0, ob.value)
                second = float(int(now))
                if self.deliveries and self.deliveries[-1][0] == second:
                    # One entry per second: a broadcast of 100,000 messages is not
                    # 100,000 entries in the window.
                    _, s0, f0 = self.deliveries[-1]
                    self.deliveries[-1] = (second, s0 + sent, f0 + failed)
                else:
                    self.deliveries.append((second, sent, failed))
                series = "log_delivery_sent_total" if ob.key == "success" else (
                    "log_delivery_failed_total")  # fmt: skip
                self.counts[(series, ())] += ob.value
            if "reason" in ob.extra:
                self.counts[("log_delivery_failures_total", (("reason", ob.extra["reason"]),))] += 1
        elif ob.kind == "api_error":
            labels = (("code", self.key("api_error", ob.key)),
                      ("platform", self.key("platform", ob.extra.get("platform", "unknown"))))  # fmt: skip
            self.counts[("log_api_errors_total", labels)] += 1
        elif ob.kind == "security":
            event = self.key("security", ob.key)
            self.counts[("log_security_events_total", (("event", event),))] += 1
        elif ob.kind == "lifecycle":
            self.counts[("log_lifecycle_events_total", (("event", ob.key),))] += 1


class LogTailer:
    """Follows the config's log files; ``tick()`` reads what is new (blocking)."""

    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        positions: Mapping[str, SavedPosition] | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        self.loaded = loaded
        self.tz = tz or ZoneInfo(loaded.config.timezone)
        self.saved = dict(positions or {})
        self.stored_patterns: dict[str, list[StoredPattern]] = {}
        """Every bot's patterns from the store (set before the first tick), to seed
        its miner so a pattern keeps its row across restarts."""
        self.sources: dict[str, _Source] = {}
        self.stats: dict[str, _BotStats] = {}
        self._next_scan = 0.0
        self._now = 0.0
        self.lines = 0
        self.leaks: list[tuple[str, str, str]] = []

    @property
    def active(self) -> bool:
        """Whether any bot has logs to follow."""
        return any(spec.logs for spec in self.loaded.config.bots.values())

    def errors(self) -> dict[str, str]:
        """Command sources that are failing now, with why (a missing program, an exit)."""
        return {name: src.follower.last_error for name, src in self.sources.items()
                if isinstance(src.follower, CommandFollower) and src.follower.last_error}  # fmt: skip

    def _scan(self) -> None:
        from botwatch.probes.logfile import command_log_sources, log_file_paths

        for bot, spec in self.loaded.config.bots.items():
            for source in command_log_sources(spec):
                name = str(source)
                saved = self.saved.get(name)
                if name not in self.sources:
                    # A command's place: its exact one (journald's cursor, docker's last
                    # line's time), else a time in milliseconds where a file's offset
                    # goes; nothing saved: from now.
                    _, ms, resume = (
                        saved if saved and saved[0] == COMMAND_INODE else (0, None, None)
                    )
                    self._add(bot, name, saved, CommandFollower(
                        source, since=ms / 1000 if ms is not None else None, resume=resume))  # fmt: skip
            for path in log_file_paths(self.loaded, spec):
                saved = self.saved.get(path)
                if path not in self.sources:
                    # A file there before we were is read from its end (its past is not
                    # news); one that appears later is all news.
                    self._add(bot, path, saved, Follower(
                        path, position=Position(saved[0], saved[1]) if saved else None,
                        from_end=saved is None and os.path.exists(path)))  # fmt: skip

    def _add(
        self, bot: str, name: str, saved: SavedPosition | None,
        follower: Follower | CommandFollower,
    ) -> None:  # fmt: skip
        self.sources[name] = _Source(bot, name, follower, LogParser(tz=self.tz))
        if bot not in self.stats:
            # A cmd: may have missed lines while botwatch was down: not "without a gap".
            gapless = not (isinstance(follower, CommandFollower) and follower.source.kind == "cmd")
            self.stats[bot] = self._bot_stats(bot, resumed=saved is not None and gapless)

    def _bot_stats(self, bot: str, *, resumed: bool) -> _BotStats:
        config = self.loaded.config
        extractors = Extractors(user_extractors(config.log_extract, bot))
        # A resumed log was read without a gap: every slot since may be judged.
        since = 0.0 if resumed else self._now
        expect = [Expectation(e, self.tz, watching_since=since) for e in config.bots[bot].expect]
        patterns = BotPatterns(bot, self.stored_patterns.get(bot, ()))
        return _BotStats(extractors, patterns, expect, bot=bot)

    def tick(self, now: float) -> list[SampleGroup]:
        """Read what is new in every source; the bots' series as of ``now``."""
        self.read(now)
        return self.samples(now)

    def read(self, now: float) -> None:
        """Read what is new in every source (the series are made by ``samples`` only
        when they are to be written: the monitor reads every second, writes every 10)."""
        self._now = now
        if now >= self._next_scan:
            self._next_scan = now + RESCAN
            self._scan()
        for src in self.sources.values():
            raw = src.follower.poll()
            if not raw and src.parser.held is None:
                continue
            if raw:
                self._secrets(src.bot, raw)
            # The last record waits one read for its continuation lines (a traceback
            # written across two reads stays one record); a quiet read releases it.
            records = (src.parser.records([decode(r) for r in raw], hold=True) if raw
                       else src.parser.flush())  # fmt: skip
            self.lines += len(raw)
            stats = self.stats[src.bot]
            second = float(int(now))
            if not stats.recent or stats.recent[-1][0] != second:
                stats.recent.append([second, 0.0, 0.0, 0.0])
            bucket = stats.recent[-1]
            for rec in records:
                self._record(stats, bucket, rec, now)

    def _secrets(self, bot: str, raw: list[bytes]) -> None:
        """Count the distinct secrets a bot leaked (one C-level search per read); each
        new one becomes an event, redacted."""
        stats = self.stats[bot]
        for kind, redacted in find_secrets(b"\n".join(raw)):
            if redacted in stats.secrets or len(stats.secrets) >= MAX_KEYS * 10:
                continue
            stats.secrets[redacted] = kind
            stats.counts[("log_secrets_leaked", (("kind", kind),))] += 1
            self.leaks.append((bot, kind, redacted))

    def take_leaks(self) -> list[tuple[str, str, str]]:
        """Secrets first seen since the last call: (bot, kind, redacted value)."""
        leaks, self.leaks = self.leaks, []
        return leaks

    @staticmethod
    def _record(stats: _BotStats, bucket: list[float], rec: LogRecord, now: float) -> None:
        level = rec.level or "unknown"
        stats.levels[level] += 1
        error = rec.is_error
        text = rec.message
        if (error or level == "warning") and _RATE_LIMIT.search(text):
            stats.rate_limited += 1
        bucket[1] += error
        bucket[2] += _REQUEST.search(text) is not None
        bucket[3] += 1
        if error:
            stats.patterns.add(rec, now)
        for ob in stats.extractors.extract(rec):
            stats.observe(ob, now)
        for e in stats.expect:
            e.feed(rec, now)

    def samples(self, now: float) -> list[SampleGroup]:
        """Every bot's log series as of ``now``."""
        out: list[SampleGroup] = []
        for stats in self.stats.values():
            while stats.recent and stats.recent[0][0] < now - RATIO_WINDOW:
                stats.recent.popleft()
            errors = sum(b[1] for b in stats.recent)
            requests = sum(b[2] for b in stats.recent) or sum(b[3] for b in stats.recent)
            values = {"log_rate_limit_events_total": float(stats.rate_limited)}
            if requests:
                # More errors than request lines (a bot that logs few of them) is "all".
                values["log_error_ratio"] = min(1.0, errors / requests)
            out.append(SampleGroup(stats.labels(), now, values))
            for level in ("debug", "info", "warning", "error", "critical", "unknown"):
                if level in stats.levels or level in ("error", "warning"):
                    out.append(SampleGroup(stats.labels(("level", level)), now,
                                           {"log_lines_total": float(stats.levels[level])}))  # fmt: skip
            out.extend(_extracted(stats, now))
        return out

    def take_patterns(self) -> tuple[list[dict[str, Any]], list[tuple[str, str, str, str]]]:
        """Pattern rows to add to the store since the last call, and the patterns first
        seen since: (bot, template, category, example)."""
        rows: list[dict[str, Any]] = []
        new: list[tuple[str, str, str, str]] = []
        for bot, stats in self.stats.items():
            got, fresh = stats.patterns.take()
            rows += got
            new += [(bot, p["text"], p["category"], p["example"]) for p in fresh]
        return rows, new

    def give_back(self, rows: list[dict[str, Any]]) -> None:
        """Rows ``take_patterns`` gave that could not be saved (kept for the next try)."""
        for bot, stats in self.stats.items():
            stats.patterns.give_back(r for r in rows if r["bot"] == bot)

    def positions(self) -> dict[str, SavedPosition]:
        """Where every followed source is (to save)."""
        out: dict[str, SavedPosition] = {}
        for path, src in self.sources.items():
            if isinstance(src.follower, CommandFollower):
                since, resume = src.follower.since, src.follower.resume
                if since is not None or resume is not None:
                    out[path] = (COMMAND_INODE, int((since or 0) * 1000), resume)
                continue
            pos = src.follower.position
            if pos is not None:
                out[path] = (pos.inode, pos.offset, None)
        return out

    def drain(self, now: float) -> list[SampleGroup]:
        """Count the records still held back (before a last save of positions: their
        lines were read); the series as of ``now``."""
        for src in self.sources.values():
            held = src.parser.flush()
            if held:
                stats = self.stats[src.bot]
                stats.recent.append([float(int(now)), 0.0, 0.0, 0.0])
                for rec in held:
                    self._record(stats, stats.recent[-1], rec, now)
        return self.samples(now)

    def close(self) -> None:
        """Close every file."""
        for src in self.sources.values():
            src.follower.close()


def _extracted(stats: _BotStats, now: float) -> list[SampleGroup]:
    """The series of what the extraction rules and expectations found."""
    out = [SampleGroup(stats.labels(*labels), now, {series: float(value)})
           for (series, labels), value in stats.counts.items()]  # fmt: skip
    for name, timings in stats.timings.items():
        while timings and timings[0][0] < now - LATENCY_WINDOW:
            timings.popleft()
        ordered = sorted(v for _, v in timings)
        for q in (0.5, 0.95, 0.99):
            if ordered:
                value = ordered[min(len(ordered) - 1, int(q * len(ordered)))]
                out.append(SampleGroup(stats.labels(("name", name), ("quantile", str(q))), now,
                                       {"log_latency_seconds": value}))  # fmt: skip
    while stats.deliveries and stats.deliveries[0][0] < now - DELIVERY_WINDOW:
        stats.deliveries.popleft()
    sent = sum(d[1] for d in stats.deliveries)
    failed = sum(d[2] for d in stats.deliveries)
    if sent + failed:
        out.append(
            SampleGroup(stats.labels(), now, {"delivery_success_ratio": sent / (sent + failed)})
        )
    for e in stats.expect:
        labels = stats.labels(("expect", e.spec.label))
        missed = e.missed(now)
        if missed is not None:
            out.append(SampleGroup(labels, now, {"log_expected_missed": float(missed)}))
        if e.last_seen is not None:
            out.append(SampleGroup(labels, now, {"log_expected_last_seen_timestamp": e.last_seen}))
    return out
