"""The schema of notification config, in Alertmanager's shape.

``channels`` (receivers), the ``route`` tree, ``inhibit_rules`` and ``time_intervals``
(recurring windows such as maintenance) read like an ``alertmanager.yml``, so an
operator's existing routing carries over. Cross-references (a route's receiver, a
muting interval's name) are checked by ``Config``.
"""

from __future__ import annotations

__all__ = [
    "MONTHS",
    "SPANS",
    "WEEKDAYS",
    "ChannelSpec",
    "InhibitRule",
    "RouteSpec",
    "TimeInterval",
    "TimeIntervalEntry",
    "TimeRange",
    "field_span",
    "parse_span",
]

import calendar
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from botwatch.config.base import ConfigModel as _Model
from botwatch.config.units import Duration


def _matcher_text(v: str) -> str:
    from botwatch.alerts.matchers import parse_matchers  # the alerts package reads config

    parse_matchers(v)
    return v


MatcherText = Annotated[str, AfterValidator(_matcher_text)]
"""One matcher as text, ``severity="critical"``, checked when the config loads."""


class ChannelSpec(_Model):
    """A receiver: where notifications go.

    ``apprise`` (the default when ``url`` is set) reaches Discord, Slack, Telegram,
    email and the rest by Apprise URL; ``webhook`` posts Alertmanager's v4 webhook
    JSON; ``pagerduty`` sends Events API v2 trigger/resolve with a ``dedup_key``.
    """

    kind: Literal["apprise", "webhook", "pagerduty"] = "apprise"
    url: str | None = None
    urls: list[str] = Field(default_factory=list)
    """More Apprise URLs notified together."""
    routing_key: SecretStr | None = None
    """PagerDuty's integration key."""
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = Field(10.0, gt=0)
    send_resolved: bool = True
    allow_private: bool = False
    """Allow a webhook to a private or loopback address (refused by default)."""

    @model_validator(mode="after")
    def _needs(self) -> ChannelSpec:
        if self.kind == "pagerduty" and self.routing_key is None:
            raise ValueError("a pagerduty channel needs routing_key")
        if self.kind in ("apprise", "webhook") and not (self.url or self.urls):
            raise ValueError(f"a {self.kind} channel needs url")
        if self.kind == "webhook" and self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook url must be http:// or https://, not {self.url!r}")
        return self


class RouteSpec(_Model):
    """A node of the routing tree; unset values are inherited from the parent."""

    receiver: str | None = None
    matchers: list[MatcherText] = Field(default_factory=list)
    group_by: list[str] | None = None
    """Labels grouping alerts into one notification; ``[...]`` groups by every label."""
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    continue_: bool = Field(False, alias="continue")
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)
    routes: list[RouteSpec] = Field(default_factory=list)


class InhibitRule(_Model):
    """While an alert matching ``source_matchers`` fires, alerts matching
    ``target_matchers`` with the same ``equal`` labels are not notified."""

    source_matchers: list[MatcherText] = Field(min_length=1)
    target_matchers: list[MatcherText] = Field(min_length=1)
    equal: list[str] = Field(default_factory=list)


_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class TimeRange(_Model):
    """``start_time``–``end_time`` within a day, ``HH:MM`` (end may be ``24:00``)."""

    start_time: str
    end_time: str

    @field_validator("start_time", "end_time")
    @classmethod
    def _clock(cls, v: str) -> str:
        m = _CLOCK.match(v)
        if m is None or (m.group(1) == "24" and m.group(2) != "00"):
            raise ValueError(f"{v!r} is not a time of day; use HH:MM, e.g. 02:00 or 24:00")
        return v

    @model_validator(mode="after")
    def _order(self) -> TimeRange:
        if self.minutes()[0] >= self.minutes()[1]:
            raise ValueError(f"{self.start_time} is not before {self.end_time}")
        return self

    def minutes(self) -> tuple[int, int]:
        """Start and end as minutes of the day."""

        def m(t: str) -> int:
            h, mm = t.split(":")
            return int(h) * 60 + int(mm)

        return m(self.start_time), m(self.end_time)


WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}


def parse_span(
    v: str, names: dict[str, int] | None, lo: int, hi: int, what: str
) -> tuple[int, int]:
    """``"monday:friday"``, ``"1:7"``, ``"-1"`` → an inclusive (start, end) pair
    (weekdays 0 = Monday; days of month may count back from the end: -1 is the last)."""
    parts = v.split(":")
    if len(parts) > 2:
        raise ValueError(f"{v!r} is not a {what} or range of them")
    out = []
    for p in parts:
        p = p.strip().lower()
        if names is not None and p in names:
            out.append(names[p])
            continue
        try:
            n = int(p)
        except ValueError:
            raise ValueError(f"{p!r} is not a {what}") from None
        if not (lo <= n <= hi or (what == "day of month" and -31 <= n <= -1)):
            raise ValueError(f"{n} is not a {what} ({lo}..{hi})")
        out.append(n)
    return (out[0], out[-1])


SPANS: dict[str, tuple[dict[str, int] | None, int, int, str]] = {
    "weekdays": (WEEKDAYS, 0, 6, "weekday"),
    "days_of_month": (None, 1, 31, "day of month"),
    "months": (MONTHS, 1, 12, "month"),
    "years": (None, 1970, 9999, "year"),
}
"""Each range field of a time interval: its names, bounds and what it is called."""


def field_span(name: str, item: str) -> tuple[int, int]:
    """One item of range field ``name`` (a key of ``SPANS``) as an inclusive pair."""
    names, lo, hi, what = SPANS[name]
    return parse_span(item, names, lo, hi, what)


class TimeIntervalEntry(_Model):
    """One recurring window; each field given must match (unset fields match always)."""

    times: list[TimeRange] = Field(default_factory=list)
    weekdays: list[str] = Field(default_factory=list)
    days_of_month: list[str] = Field(default_factory=list)
    months: list[str] = Field(default_factory=list)
    years: list[str] = Field(default_factory=list)
    location: str | None = None
    """IANA time zone of the window (default: the config's ``timezone``)."""

    @field_validator(*SPANS)
    @classmethod
    def _spans(cls, v: list[str], info: ValidationInfo) -> list[str]:
        for item in v:
            field_span(info.field_name or "", item)
        return v

    @field_validator("location")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {v!r}") from None
        return v


class TimeInterval(_Model):
    """A named set of recurring windows (it matches when any of them does)."""

    name: str
    time_intervals: list[TimeIntervalEntry] = Field(min_length=1)
