"""The one tree of botwatch errors.

Third-party errors (aiohttp, SQLAlchemy, psycopg, psutil, YAML) are mapped to these
at the boundary, so callers and the CLI only ever handle ``BotwatchError``.
"""

from __future__ import annotations

__all__ = [
    "ActionError",
    "BotwatchError",
    "ChannelError",
    "ConfigError",
    "ConfigIssue",
    "LogSourceError",
    "ProbeError",
    "ProbeTimeout",
    "ProcessNotFound",
    "RuleError",
    "RuleEvalError",
    "RuleSyntaxError",
    "StoreError",
    "StoreUnavailable",
]

from dataclasses import dataclass


class BotwatchError(Exception):
    """Base class of every error botwatch raises on purpose."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a config file: where it is and what is wrong."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigError(BotwatchError):
    """The config could not be loaded; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class ProbeError(BotwatchError):
    """A probe could not be built or run (bad target, missing driver)."""


class ProbeTimeout(ProbeError):
    """A probe did not finish within its hard timeout."""


class ProcessNotFound(BotwatchError):
    """No process matches how the bot's process is to be found."""


class LogSourceError(BotwatchError):
    """A log source cannot be named or read that way (``cmd:`` with no command, an unknown
    ``xyz:`` prefix, a tool not on PATH, a tool that failed); the message says what to
    write or fix instead."""


class StoreError(BotwatchError):
    """The store rejected an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or written (locked, disk full, server down)."""


class RuleError(BotwatchError):
    """A rule or rule file is invalid."""


class RuleSyntaxError(RuleError):
    """An expression does not parse or does not type-check; shows where with a caret."""

    def __init__(self, expr: str, column: int, message: str) -> None:
        self.expr = expr
        self.column = column
        self.message = message
        super().__init__(f"column {column}: {message}\n  {expr}\n  {' ' * (column - 1)}^")


class RuleEvalError(RuleError):
    """An expression failed while being evaluated (e.g. duplicate series to match)."""


class ChannelError(BotwatchError):
    """A notification could not be delivered; ``retryable`` says whether to try again
    (a timeout, a 5xx or 429) or not (a 4xx: the request itself is wrong)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        self.retryable = retryable
        super().__init__(message)


class ActionError(BotwatchError):
    """An action on a bot (start, stop, restart) failed; the message says why."""


class IncidentError(BotwatchError):
    """An incident cannot be changed that way (not found, already resolved...)."""
