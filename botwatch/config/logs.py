"""Config for log analysis: extraction rules (``log_extract``) and lines expected on a
schedule (a bot's ``expect``)."""

from __future__ import annotations

__all__ = ["EXTRACT_GROUPS", "ExpectLine", "LogExtract"]

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from botwatch.config.base import ConfigModel as _Model
from botwatch.config.units import Duration

EXTRACT_GROUPS: dict[str, tuple[tuple[str, ...], str]] = {
    "latency": (("value",), "a 'value' group (the number)"),
    "command": (("command",), "a 'command' group (/start)"),
    "delivery": (("success", "failed", "outcome"),
                 "a 'success' or 'failed' group (counts), or outcome: success|failed"),
    "api_error": (("code", "name"), "a 'code' group (429) or a 'name' group (RetryAfter)"),
    "security": (("event",), "an 'event' group or event: NAME"),
    "lifecycle": (("event",), "an 'event' group or event: startup|shutdown|crash"),
}  # fmt: skip
"""Kind → the groups (or fixed values) of which a rule needs one, and how to say so."""


def _regex(v: str) -> str:
    """``v`` if it compiles as a regex; else say why (pydantic adds file, line, key)."""
    try:
        re.compile(v)
    except re.error as e:
        raise ValueError(f"not a valid regex: {e}") from None
    return v


Regex = Annotated[str, AfterValidator(_regex)]


class LogExtract(_Model):
    """One extraction rule: a regex with named groups that reads a kind of fact from
    log messages (see docs/logs.md)."""

    kind: Literal["latency", "command", "delivery", "api_error", "security", "lifecycle"]
    match: Regex
    """A regex searched in each record's message; its named groups are the fields."""
    name: str | None = None
    """Latency: what is timed, when the regex has no ``name`` group."""
    unit: Literal["ns", "us", "ms", "s", "m"] = "ms"
    """Latency: the unit when the regex has no ``unit`` group."""
    event: str | None = None
    """Security and lifecycle: the event, when the regex has no ``event`` group."""
    outcome: Literal["success", "failed"] | None = None
    """Delivery: each matching line is one message sent (success) or not (failed)."""
    platform: str | None = None
    """API errors: the platform, when the regex has no ``platform`` group."""
    bots: list[str] = Field(default_factory=list)
    """Only for these bots (empty: every bot)."""

    @model_validator(mode="after")
    def _has_fields(self) -> LogExtract:
        groups = {g.rstrip("0123456789") for g in re.compile(self.match).groupindex}
        fixed = {k for k in ("event", "outcome") if getattr(self, k) is not None}
        needed, say = EXTRACT_GROUPS[self.kind]
        if not (groups | fixed) & set(needed):
            raise ValueError(f"a {self.kind} rule needs {say}; the regex has "
                             f"{', '.join(sorted(groups)) or 'no named groups'}")  # fmt: skip
        if self.kind == "lifecycle" and self.event not in (None, "startup", "shutdown", "crash"):
            raise ValueError("lifecycle event must be startup, shutdown or crash")
        return self


_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ExpectLine(_Model):
    """A line the bot must write on a schedule: ``{log: "Notifications sent", at:
    ["08:00", "14:00"], within: 10m}`` — it must appear within ``within`` after each
    time (in the config's time zone), or ``log_expected_missed`` turns 1."""

    log: Regex
    """A regex (plain text works) searched in each record's message."""
    at: list[str] = Field(min_length=1)
    """Times of day, ``HH:MM``."""
    within: Duration = 600.0
    name: str | None = None
    """The ``expect`` label of its series (default: the ``log`` text)."""

    @field_validator("at", mode="before")
    @classmethod
    def _listify(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @field_validator("at")
    @classmethod
    def _times(cls, v: list[str]) -> list[str]:
        for t in v:
            if not _HHMM.match(t):
                raise ValueError(f"{t!r} is not a time of day; write HH:MM such as 08:00")
        return v

    @property
    def label(self) -> str:
        """Its name in series and alerts."""
        return self.name or self.log

    def minutes(self) -> list[int]:
        """The times as minutes after midnight, sorted."""
        return sorted(int(h) * 60 + int(m) for h, m in (t.split(":") for t in self.at))
