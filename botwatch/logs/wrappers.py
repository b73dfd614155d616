"""What runtimes wrap around a bot's own lines, taken off before the line is parsed.

- Docker's json-file driver: ``{"log": "...\\n", "stream": "stderr", "time": "..."}``,
  one entry per line, a long line split into entries of 16 KB that end without a
  newline until the last;
- journald (``journalctl -o json``): ``MESSAGE``, ``PRIORITY``, ``__REALTIME_TIMESTAMP``
  (microseconds); the priority is only a hint — Python's logging writes everything to
  stderr, which journald files as info, so a level in the text wins;
- pm2's stream prefix ``0|app  | `` and its ``--time`` stamp ``2026-11-30T08:00:01: ``.

``Unwrapper.unwrap`` gives the bot's line with a time and level hint, or None while a
split Docker line is still incomplete.
"""

from __future__ import annotations

__all__ = ["Unwrapped", "Unwrapper", "wrapped"]

import re
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from botwatch.logs.formats import parse_ts

_PM2 = re.compile(r"^\d+\|[^|]{1,100}\|\s?")
_PM2_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?): ")
_PRIORITY = {"0": "critical", "1": "critical", "2": "critical", "3": "error", "4": "warning",
             "5": "info", "6": "info", "7": "debug"}  # fmt: skip


@dataclass(frozen=True)
class Unwrapped:
    """A bot's line with what its wrapper said about it."""

    line: str
    ts: float | None = None
    level: str | None = None
    """A hint, used when the line itself names no level."""


class Unwrapper:
    """Takes the wrappers off, line by line (holding split Docker lines)."""

    def __init__(self) -> None:
        self._partial: list[str] = []

    def unwrap(self, raw: str) -> Unwrapped | None:
        """``raw`` without its wrapper (None: the rest of it is in the next entry)."""
        if raw.startswith("{"):
            if raw.startswith('{"log":'):
                return self._docker(raw)
            if '"MESSAGE"' in raw:
                return _journald(raw)
            return Unwrapped(raw)
        m = _PM2.match(raw)
        if m is None:
            return Unwrapped(raw)
        line = raw[m.end() :]
        t = _PM2_TIME.match(line)
        if t is not None:
            return Unwrapped(line[t.end() :], parse_ts(t.group(1)))
        return Unwrapped(line)

    def _docker(self, raw: str) -> Unwrapped | None:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return Unwrapped(raw)
        text = doc.get("log")
        if not isinstance(text, str):
            return Unwrapped(raw)
        if not text.endswith("\n"):
            self._partial.append(text)  # a long line, split by Docker: more follows
            return None
        if self._partial:
            text = "".join(self._partial) + text
            self._partial.clear()
        ts = doc.get("time")
        return Unwrapped(text.rstrip("\r\n"), parse_ts(ts) if isinstance(ts, str) else None)


def _journald(raw: str) -> Unwrapped:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Unwrapped(raw)
    message = doc.get("MESSAGE")
    if isinstance(message, list):  # journald gives non-UTF-8 messages as byte arrays
        message = bytes(x for x in message if isinstance(x, int)).decode("utf-8", "replace")
    if not isinstance(message, str):
        return Unwrapped(raw)
    ts = None
    stamp = doc.get("__REALTIME_TIMESTAMP")
    if isinstance(stamp, str) and stamp.isdigit():
        ts = int(stamp) / 1e6
    priority = str(doc.get("PRIORITY", ""))
    return Unwrapped(message, ts, _PRIORITY.get(priority))


def wrapped(lines: Sequence[str]) -> bool:
    """Whether most of ``lines`` are Docker json-file or journald entries."""
    hits = sum(
        1 for x in lines if x.startswith('{"log":') or (x.startswith("{") and '"MESSAGE"' in x)
    )
    return bool(lines) and hits * 2 > len(lines)
