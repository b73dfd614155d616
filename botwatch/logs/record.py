"""One log record: a line (or a line and its continuation lines) with what parsing
found in it."""

from __future__ import annotations

__all__ = ["AS_WRITTEN", "LEVELS", "LogRecord", "normalize_level"]

from dataclasses import dataclass, field

LEVELS = ("debug", "info", "warning", "error", "critical")
"""Levels, least severe first; every format's names map to one of these."""

_ALIASES = {
    "trace": "debug", "debug": "debug", "dbg": "debug", "verbose": "debug", "d": "debug",
    "info": "info", "information": "info", "inf": "info", "notice": "info", "i": "info",
    "success": "info", "log": "info",
    "warn": "warning", "warning": "warning", "wrn": "warning", "w": "warning",
    "error": "error", "err": "error", "eror": "error", "e": "error", "severe": "error",
    "critical": "critical", "crit": "critical", "fatal": "critical", "panic": "critical",
    "emerg": "critical", "alert": "critical", "f": "critical", "c": "critical",
    # pino/bunyan numbers; syslog/journald priorities are mapped where they are read
    "10": "debug", "20": "debug", "30": "info", "40": "warning", "50": "error", "60": "critical",
}  # fmt: skip


AS_WRITTEN = {w: level for alias, level in _ALIASES.items()
               for w in (alias, alias.upper(), alias.capitalize())}  # fmt: skip
"""The aliases as logs write them (``ERROR``, ``Error``): one lookup for most lines."""


def normalize_level(name: str | None) -> str | None:
    """``WARN``, ``warning``, ``W``, ``40`` → ``warning``; None when unknown."""
    if not name:
        return None
    level = AS_WRITTEN.get(name)
    return level if level is not None else _ALIASES.get(name.strip().lower())


@dataclass
class LogRecord:
    """A parsed record. ``parsed`` is False for a line no format understood (its
    ``message`` is then the whole line)."""

    message: str
    level: str | None = None
    ts: float | None = None
    logger: str | None = None
    line: int = 0
    """The 1-based number of its first line in its source."""
    parsed: bool = True
    extra: list[str] = field(default_factory=list)
    """Continuation lines (a traceback, an indented block)."""
    exc_type: str | None = None
    """The exception a traceback ended with (``aiohttp.ClientError``)."""

    @property
    def is_error(self) -> bool:
        """Whether it is an error or worse (or carries a traceback)."""
        return self.level in ("error", "critical") or self.exc_type is not None
