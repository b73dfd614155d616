"""The line formats bots really write, each a small class with one required method,
``parse(line)``, behind a registry; ``detect()`` picks the one that understands most
of a sample.

Python logging's ``%(asctime)s - %(name)s - %(levelname)s - %(message)s`` and its bare
``LEVEL:name:message`` default, discord.py's ``[{asctime}] [{levelname:<8}] {name}:
{message}`` (also with ANSI colours), loguru's default, JSON lines (structlog, loguru's
``serialize``, pino/bunyan), logfmt, syslog, and a generic one that finds a level word
and a leading timestamp in anything else. A user-defined format is a regex with named
groups or a ``<Field>`` template (``user_format``).
"""

from __future__ import annotations

__all__ = [
    "FORMATS",
    "Format",
    "HourOfDay",
    "RegexFormat",
    "detect",
    "detect_share",
    "parse_ts",
    "register",
    "strip_ansi",
    "user_format",
]

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo

import orjson

from botwatch.errors import ConfigError, ConfigIssue
from botwatch.logs.continuation import is_continuation
from botwatch.logs.record import AS_WRITTEN, LogRecord, normalize_level

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MINUTES: dict[tzinfo, dict[str, float]] = {}
_UTC = ZoneInfo("UTC")


def strip_ansi(line: str) -> str:
    """``line`` without terminal colour codes (Docker keeps them)."""
    return _ANSI.sub("", line) if "\x1b" in line else line


def parse_ts(text: str | float | int | None, tz: tzinfo = _UTC) -> float | None:
    """A timestamp as Unix seconds: ISO 8601 with ``T`` or a space, comma or dot
    fractions, ``Z`` or an offset; naive ones in ``tz``; epoch seconds or
    milliseconds; ``Jan  5 12:00:00`` (syslog, this year). None when not a time."""
    if type(text) is str and 19 <= len(text) <= 26:
        # "2026-11-30 08:00:01,123", the usual naive stamp: the minute from a cache,
        # the seconds added (fromisoformat per line costs more than the rest of it).
        got = _naive(text, tz)
        if got is not None:
            return got
    if text is None:
        return None
    if isinstance(text, int | float):
        v = float(text)
        return v / 1000.0 if v > 1e11 else v
    s = text.strip()
    if not s:
        return None
    n = len(s)
    if s != text and 19 <= n <= 26:
        got = _naive(s, tz)
        if got is not None:
            return got
    if s[0].isdigit() and n >= 10 and s[4] == "-":
        try:
            dt = datetime.fromisoformat(s.replace(" +", "+").replace(" -", "-"))
        except ValueError:
            return None
        return (dt if dt.tzinfo else dt.replace(tzinfo=tz)).timestamp()
    if s.replace(".", "", 1).isdigit():
        return parse_ts(float(s), tz)
    try:
        dt = datetime.strptime(s, "%b %d %H:%M:%S")
    except ValueError:
        return None
    return dt.replace(year=datetime.now(tz).year, tzinfo=tz).timestamp()


def _naive(s: str, tz: tzinfo) -> float | None:
    """``2026-11-30 08:00:01[,123]`` (19 to 26 characters) in ``tz``; None: not that."""
    n = len(s)
    if s[13] != ":" or s[16] != ":" or (n > 19 and s[19] not in ".,"):
        return None
    seconds = s[17:19] + "." + s[20:] if n > 19 else s[17:19]
    if not seconds.replace(".", "", 1).isdigit():
        return None
    minutes = _MINUTES.get(tz)
    if minutes is None:
        minutes = _MINUTES[tz] = {}
    base = minutes.get(s[:16])
    if base is None:
        try:
            dt = datetime.fromisoformat(s[:16])
        except ValueError:
            return None
        if len(minutes) > 10_000:
            minutes.clear()
        base = minutes[s[:16]] = dt.replace(tzinfo=tz).timestamp()
    return base + float(seconds)


class HourOfDay:
    """The hour of day of Unix times in a zone, remembered per quarter hour of UTC: a
    cache lookup costs far less than ``datetime.fromtimestamp`` per record. A quarter
    in which the zone's offset changes (St John's moved its clocks at 00:01 until
    2011), or whose offset is no whole quarter hour, is worked out each time."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._hours: dict[int, int] = {}

    def __call__(self, ts: float) -> int:
        quarter = int(ts // 900)
        hour = self._hours.get(quarter)
        if hour is None:
            if len(self._hours) > 100_000:
                self._hours.clear()
            start = datetime.fromtimestamp(quarter * 900, self.tz)
            offset = start.utcoffset()
            last = datetime.fromtimestamp(quarter * 900 + 899, self.tz).utcoffset()
            steady = offset == last and offset is not None and offset.seconds % 900 == 0
            hour = self._hours[quarter] = start.hour if steady else -1
        return hour if hour >= 0 else datetime.fromtimestamp(ts, self.tz).hour


class Format(ABC):
    """One line format."""

    name: ClassVar[str]
    error_needles: ClassVar[tuple[bytes, ...]] = ()
    """Bytes every error line of this format holds (empty: use the generic ones); with
    them ``botwatch logs errors`` looks at a few lines instead of testing each."""

    @abstractmethod
    def parse(self, line: str, tz: tzinfo = _UTC) -> LogRecord | None:
        """``line`` as a record, or None when it is not in this format."""


FORMATS: dict[str, Format] = {}
F = TypeVar("F", bound=type[Format])


def register(cls: F) -> F:
    """Class decorator adding a format to ``FORMATS`` (detection tries them in order)."""
    FORMATS[cls.name] = cls()
    return cls


class RegexFormat(Format):
    """A format given by a regex with the named groups ``message`` (required),
    ``level``, ``ts`` and ``logger``."""

    pattern: ClassVar[re.Pattern[str]]

    def __init__(self, pattern: re.Pattern[str] | None = None, name: str | None = None) -> None:
        if pattern is not None:
            self.pattern = pattern  # type: ignore[misc]
        if name is not None:
            self.name = name  # type: ignore[misc]

    def parse(self, line: str, tz: tzinfo = _UTC) -> LogRecord | None:
        """Match the whole line."""
        m = self.pattern.match(line)
        if m is None:
            return None
        g = m.groupdict()
        name = g.get("level")
        level = normalize_level(name)
        if name and level is None:
            return None  # a word where the level goes that is no level: not this format
        return LogRecord(g["message"], level, parse_ts(g.get("ts"), tz), g.get("logger"))


_TS = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z| ?[+-]\d{2}:?\d{2})?"
_LEVEL = r"[A-Za-z]{1,9}"


@register
class PythonCommon(RegexFormat):
    """``%(asctime)s - %(name)s - %(levelname)s - %(message)s`` (and without the name)."""

    name = "python"
    # logging names FATAL "CRITICAL"; a traceback printed on its own still counts.
    error_needles = (b" - ERROR - ", b" - CRITICAL - ", b"Traceback (most")
    pattern = re.compile(
        rf"(?P<ts>{_TS}) - (?:(?P<logger>[^\s]+) - )?(?P<level>{_LEVEL}) - (?P<message>.*)",
        re.DOTALL,
    )

    def parse(self, line: str, tz: tzinfo = _UTC) -> LogRecord | None:
        """The usual line (a naive time, a logger, a level) by one split, which costs
        a fraction of the regex and its groups; anything else by the regex."""
        parts = line.split(" - ", 3)
        if len(parts) == 4:
            stamp, logger, name, message = parts
            level = _LEVEL_NAMES.get(name)
            if (level is not None and 19 <= len(stamp) <= 26 and stamp[4] == stamp[7] == "-"
                    and stamp[10] in " T" and logger.split() == [logger]):  # fmt: skip
                ts = _naive(stamp, tz)
                if ts is not None:
                    return LogRecord(message, level, ts, logger)
        return super().parse(line, tz)


_LEVEL_NAMES = {w: level for w, level in AS_WRITTEN.items() if len(w) <= 9 and w.isalpha()}
"""Levels as Python's logging writes them, that ``_LEVEL`` matches."""


@register
class Loguru(RegexFormat):
    """loguru's default: ``2024-01-05 12:00:00.123 | INFO     | mod:func:12 - message``."""

    name = "loguru"
    error_needles = (b"| ERROR ", b"| CRITICAL ", b"Traceback (most")
    pattern = re.compile(
        rf"(?P<ts>{_TS}) \| (?P<level>{_LEVEL}) *\| (?P<logger>[^\s]+) - (?P<message>.*)",
        re.DOTALL,
    )


@register
class DiscordPy(RegexFormat):
    """discord.py: ``[2024-01-05 12:00:00] [ERROR   ] discord.client: message``."""

    name = "discord.py"
    error_needles = (b"[ERROR", b"[CRITICAL", b"Traceback (most")
    pattern = re.compile(
        rf"\[(?P<ts>{_TS})\] \[(?P<level>{_LEVEL}) *\] (?P<logger>[\w.-]+): (?P<message>.*)",
        re.DOTALL,
    )


@register
class PythonBare(RegexFormat):
    """Python logging's default: ``ERROR:aiogram.dispatcher:message``."""

    name = "python-bare"
    error_needles = (b"ERROR:", b"CRITICAL:", b"Traceback (most")
    pattern = re.compile(
        r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL):(?P<logger>[^:\s]*):(?P<message>.*)",
        re.DOTALL,
    )


_MSG_KEYS = ("msg", "message", "event", "text", "MESSAGE", "log")
_LEVEL_KEYS = ("level", "levelname", "severity", "lvl", "log.level", "loglevel", "PRIORITY")
_TS_KEYS = ("timestamp", "time", "ts", "@timestamp", "asctime", "date", "t")
_SYSLOG_PRIORITY = {"0": "critical", "1": "critical", "2": "critical", "3": "error",
                    "4": "warning", "5": "info", "6": "info", "7": "debug"}  # fmt: skip


@register
class JsonLines(Format):
    """One JSON object per line: structlog, loguru ``serialize``, pino/bunyan, ..."""

    name = "json"

    def parse(self, line: str, tz: tzinfo = _UTC) -> LogRecord | None:
        """Pick message, level, time and logger from the usual keys."""
        s = line.strip()
        if not s.startswith("{"):
            return None
        try:
            doc = orjson.loads(s)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(doc, dict):
            return None
        record = doc.get("record")
        if isinstance(record, dict) and "text" in doc:  # loguru serialize=True
            level = record.get("level")
            name = level.get("name") if isinstance(level, dict) else level
            t = record.get("time")
            ts = t.get("timestamp") if isinstance(t, dict) else t
            return LogRecord(str(record.get("message", doc["text"])).rstrip("\n"),
                             normalize_level(str(name)) if name else None, parse_ts(ts, tz),
                             record.get("name"))  # fmt: skip
        message = next((doc[k] for k in _MSG_KEYS if k in doc), None)
        if message is None:
            return None
        level = _json_level(doc)
        ts = next((doc[k] for k in _TS_KEYS if k in doc), None)
        logger = doc.get("logger") or doc.get("name") or doc.get("logger_name")
        if "exception" in doc and isinstance(doc["exception"], str):
            message = f"{message}\n{doc['exception']}"
        return LogRecord(str(message), level, _ts(ts, tz),
                         str(logger) if logger is not None else None)  # fmt: skip


def _json_level(doc: dict[str, Any]) -> str | None:
    for k in _LEVEL_KEYS:
        if k in doc:
            v = doc[k]
            if k == "PRIORITY":
                return _SYSLOG_PRIORITY.get(str(v))
            if isinstance(v, dict):
                v = v.get("name")
            return normalize_level(str(v))
    return None


def _ts(v: Any, tz: tzinfo) -> float | None:
    if isinstance(v, str | int | float):
        return parse_ts(v, tz)
    return None


_LOGFMT = re.compile(r'([\w.@-]+)=("(?:[^"\\]|\\.)*"|\S*)')


@register
class Logfmt(Format):
    """``ts=... level=error msg="..." key=value``."""

    name = "logfmt"

    def parse(self, line: str, tz: tzinfo = _UTC) -> LogRecord | None:
        """Needs a ``msg``/``message`` key and at least one other pair."""
        if "=" not in line[:100]:
            return None
        pairs = _LOGFMT.findall(line, 0, 65536)
        if len(pairs) < 2:
            return None
        doc = {k: (v[1:-1].replace('\\"', '"') if v.startswith('"') else v) for k, v in pairs}
        message = doc.get("msg", doc.get("message"))
        if message is None:
            return None
        level = normalize_level(doc.get("level") or doc.get("lvl") or doc.get("severity"))
        ts = doc.get("ts") or doc.get("time") or doc.get("timestamp")
        return LogRecord(message, level, parse_ts(ts, tz), doc.get("logger") or doc.get("caller"))


@register
class Syslog(RegexFormat):
    """``Jan  5 12:00:00 host app[123]: message`` (RFC 3164, as /var/log/syslog)."""

    name = "syslog"
    pattern = re.compile(
        r"(?P<ts>[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) \S+ (?P<logger>[^\s:\[]+)"
        r"(?:\[\d+\])?: (?P<message>.*)",
        re.DOTALL,
    )

    def parse(self, line: str, tz: tzinfo = _UTC) -> LogRecord | None:
        """The level comes from the message text (syslog lines carry none)."""
        rec = super().parse(line, tz)
        if rec is not None and rec.level is None:
            rec.level = level_in_text(rec.message)
        return rec


_LEVEL_WORD = re.compile(
    r"(?<![\w-])\[?(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|CRIT|FATAL|"
    r"SEVERE|PANIC|debug|info|warn|warning|error|critical|fatal)\]?(?![\w-])"
)
_LEAD_TS = re.compile(rf"\[?(?P<ts>{_TS})\]?")


def level_in_text(text: str) -> str | None:
    """A level word in the first 80 characters (``ERROR``, ``[warn]``), if any."""
    m = _LEVEL_WORD.search(text, 0, 80)
    return normalize_level(m.group(1)) if m else None


@register
class Generic(Format):
    """Anything with a leading ISO timestamp and/or a level word early on."""

    name = "generic"

    def parse(self, line: str, tz: tzinfo = _UTC) -> LogRecord | None:
        """Strip what is recognised from the front; the rest is the message."""
        ts = None
        rest = line
        m = _LEAD_TS.match(line)
        if m:
            ts = parse_ts(m.group("ts"), tz)
            rest = line[m.end() :].lstrip(" -|:")
        lv = _LEVEL_WORD.search(rest, 0, 40)
        level = normalize_level(lv.group(1)) if lv else None
        if ts is None and level is None:
            return None
        if lv is not None and lv.start() < 3:
            rest = rest[lv.end() :].lstrip(" -|:")
        return LogRecord(rest, level, ts)


def user_format(spec: str, *, name: str = "custom", where: str = "--format") -> RegexFormat:
    """A format from a regex with named groups (``(?P<message>...)`` required) or a
    template with ``<Field>`` placeholders: ``<Date> <Time> <Level> <Component>:
    <Content>`` (``Content``/``Message`` is the message; ``Level``; ``Date`` and
    ``Time`` together, or ``Timestamp``, the time; ``Component``/``Logger`` the logger).
    """
    if "(?P<" in spec:
        try:
            pattern = re.compile(spec, re.DOTALL)
        except re.error as e:
            raise ConfigError([ConfigIssue(where, None, "", f"not a valid regex: {e}")]) from None
        if "message" not in pattern.groupindex:
            raise ConfigError(
                [ConfigIssue(where, None, "", "the regex needs a (?P<message>...) group")]
            )
        return RegexFormat(pattern, name)
    return RegexFormat(_template_regex(spec, where), name)


_GROUP_OF = {"content": "message", "message": "message", "msg": "message", "level": "level",
             "component": "logger", "logger": "logger", "name": "logger",
             "timestamp": "ts", "time": "ts", "date": "ts"}  # fmt: skip


def _template_regex(spec: str, where: str) -> re.Pattern[str]:
    # <Date> <Time> is one timestamp: one group around both.
    spec = re.sub(r"<Date>\s+<Time>", "<DateTime>", spec, flags=re.IGNORECASE)
    parts = re.split(r"(<\w+>)", spec)
    out: list[str] = []
    used: set[str] = set()
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(re.sub(r"\\ +", r"\\s+", re.escape(part)))
            continue
        field = part[1:-1].lower()
        group = "ts" if field == "datetime" else _GROUP_OF.get(field)
        last = i == len(parts) - 2 and not parts[-1]
        body = r"\S+\s+\S+" if field == "datetime" else ".*" if last else r".*?"
        if group is None or group in used:
            out.append(f"(?:{body})")
        else:
            out.append(f"(?P<{group}>{body})")
            used.add(group)
    if "message" not in used:
        raise ConfigError([ConfigIssue(where, None, "", "the format needs a <Content> field")])
    return re.compile("".join(out), re.DOTALL)


def detect(lines: Sequence[str], candidates: Iterable[Format] | None = None) -> Format | None:
    """The format that parses most of ``lines`` (None: none parses any)."""
    found = detect_share(lines, candidates)
    return found[0] if found is not None else None


def detect_share(
    lines: Sequence[str], candidates: Iterable[Format] | None = None
) -> tuple[Format, float] | None:
    """The format that parses most of ``lines`` and the share of them it parses.

    A traceback's lines are no format's: they are left out. The catch-all ``generic``
    parses nearly every line a specific format does, and a stray line more, so it is
    chosen only when no specific format parses half of the lines."""
    sample = [x for x in (strip_ansi(y) for y in lines if y.strip()) if not is_continuation(x)]
    if not sample:
        return None
    best: Format | None = None
    best_n = 0
    fallback: tuple[Format, int] | None = None
    for fmt in candidates if candidates is not None else FORMATS.values():
        n = sum(1 for line in sample if fmt.parse(line) is not None)
        if isinstance(fmt, Generic):
            fallback = (fmt, n)
        elif n > best_n:
            best, best_n = fmt, n
    if fallback is not None and fallback[1] > best_n and best_n * 2 < len(sample):
        best, best_n = fallback
    return None if best is None else (best, best_n / len(sample))
