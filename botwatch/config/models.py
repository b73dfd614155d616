"""The schema of ``botwatch.yml`` as pydantic models.

Every model forbids unknown keys so a typo is an error with a did-you-mean, not a
setting silently ignored. Durations and sizes take human units (``30s``, ``512MB``).
"""

from __future__ import annotations

__all__ = [
    "AlertOverride",
    "Alerting",
    "BotConfig",
    "CheckOverride",
    "Config",
    "Defaults",
    "HealthSpec",
    "Limits",
    "LogFreshness",
    "ProcessSpec",
    "RunSpec",
    "WebConfig",
]

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from botwatch.config.base import ConfigModel as _Model
from botwatch.config.logs import ExpectLine, LogExtract
from botwatch.config.notify import ChannelSpec, InhibitRule, RouteSpec, TimeInterval
from botwatch.config.response import ActionSpec, IncidentsConfig
from botwatch.config.units import Duration, Size

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def _bot_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            f"bot name {name!r} must be letters, digits, '-', '_' or '.', at most 63 characters"
        )
    return name


BotName = Annotated[str, AfterValidator(_bot_name)]


class Defaults(_Model):
    """Fleet-wide defaults; each bot's ``checks`` may override them per check."""

    interval: Duration = 30.0
    """How often each probe runs."""
    timeout: Duration = 10.0
    """Hard limit for one probe run; a probe that takes longer is critical."""
    sample_interval: Duration = 15.0
    """How often process resources (cpu, memory, threads, files) are sampled."""
    jitter: float = Field(0.1, ge=0.0, le=1.0)
    """Spread of start times as a fraction of the interval, so checks don't bunch up."""
    max_body: Size = 1_000_000
    """Largest health-endpoint body read; more is cut off and reported."""


class RunSpec(_Model):
    """A bot botwatch starts and supervises itself (a *managed* process)."""

    command: str
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    stop_timeout: Duration = 10.0
    """After SIGTERM, how long to wait before SIGKILL."""
    autorestart: bool = True
    min_uptime: Duration = 10.0
    """A run shorter than this counts as a crash loop: the next restart backs off."""
    backoff: Duration = 1.0
    """Delay before restarting after a short run; grows 1.5× each time, up to backoff_max."""
    backoff_max: Duration = 60.0
    max_restarts_per_hour: int = Field(10, ge=1)
    """Past this many restarts in an hour botwatch stops trying and raises an alert."""
    output: str | None = None
    """File for the process's stdout and stderr (default ``.botwatch/logs/BOT.log``)."""
    output_max: Size = 10_000_000
    """Size at which the output file is rotated (``BOT.log.1`` ... ``.3`` are kept)."""


class ProcessSpec(_Model):
    """How to find a bot process that something else runs.

    ``pidfile`` and ``match`` (a regular expression over the command line) are used by
    the probes today; ``systemd``, ``pm2`` and ``docker`` name the unit/app/container
    for the process controllers.
    """

    pidfile: str | None = None
    match: str | None = None
    systemd: str | None = None
    pm2: str | None = None
    docker: str | None = None
    commands: dict[Literal["start", "stop", "restart", "status"], str] = Field(default_factory=dict)
    """Your own commands: ``{restart: "railway redeploy -y", status: "..."}`` (a status
    command exits 0 when the bot runs)."""

    @field_validator("match")
    @classmethod
    def _valid_regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"not a valid regular expression: {e}") from None
        return v

    @model_validator(mode="after")
    def _something(self) -> ProcessSpec:
        if not any((self.pidfile, self.match, self.systemd, self.pm2, self.docker, self.commands)):
            raise ValueError("give at least one of pidfile, match, systemd, pm2, docker, commands")
        return self


class HealthSpec(_Model):
    """A health endpoint: plain HTTP, or JSON with a ``status`` and components."""

    url: str
    timeout: Duration | None = None
    expect_status: list[int] = Field(default_factory=lambda: [200])
    headers: dict[str, str] = Field(default_factory=dict)
    max_body: Size | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v


class LogFreshness(_Model):
    """How old the newest log line may be, and the line that says the bot started."""

    max_age: Duration = 600.0
    ready_line: str | None = None


class Limits(_Model):
    """Resource limits; probes warn near them and go critical past them."""

    memory: Size | None = None
    cpu_percent: float | None = Field(None, gt=0)
    open_files: int | None = Field(None, gt=0)
    disk_free: Size | None = None
    """Minimum free space on the bot's filesystem."""
    disk_free_percent: float = Field(10.0, ge=0, le=100)


class CheckOverride(_Model):
    """Per-check settings for one bot: ``checks: {health: {interval: 10s}}``."""

    enabled: bool = True
    interval: Duration | None = None
    timeout: Duration | None = None


class AlertOverride(_Model):
    """Changes to one built-in rule: ``HighCpu: {threshold: 80, for: 15m}``."""

    enabled: bool | None = None
    threshold: float | None = None
    for_: Duration | None = Field(None, alias="for")
    severity: Literal["critical", "warning", "info"] | None = None
    action: ActionSpec | None = None
    """Replace the rule's action (``none``: no action)."""


def _builtin_names(v: dict[str, AlertOverride]) -> dict[str, AlertOverride]:
    import difflib

    # Imported here: the rules package itself reads config units and loaders.
    from botwatch.rules.pack import builtin_names

    names = builtin_names()
    for key in v:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f"; built-in rules: {', '.join(names)}"
            )
            raise ValueError(f"{key!r} is not a built-in rule{hint}")
    return v


AlertOverrides = Annotated[dict[str, AlertOverride], AfterValidator(_builtin_names)]


class Alerting(_Model):
    """How rules are evaluated, and the built-in rule pack's settings for every bot."""

    builtin: bool = True
    """Whether the built-in rule pack is on (see docs/rules.md)."""
    interval: Duration = Field(15.0, gt=0)
    """How often rules are evaluated (besides as soon as a series they read changes)."""
    overrides: AlertOverrides = Field(default_factory=dict)
    pause_actions_during: list[str] = Field(default_factory=list)
    """Time intervals (e.g. a maintenance window) during which rule actions wait."""


class BotConfig(_Model):
    """One bot of the fleet."""

    kind: Literal["telegram", "discord", "generic"] = "generic"
    token: SecretStr | None = None
    api_url: str | None = None
    """Platform API base (for tests and self-hosted Bot API servers)."""
    run: RunSpec | None = None
    process: ProcessSpec | None = None
    health: HealthSpec | None = None
    ports: list[str] = Field(default_factory=list)
    """TCP ports that must accept connections: ``8080`` or ``host:port``."""
    logs: list[str] = Field(default_factory=list)
    log_freshness: LogFreshness = Field(default_factory=LogFreshness)
    expect: list[ExpectLine] = Field(default_factory=list)
    """Lines the bot must log on a schedule (``log_expected_missed``)."""
    depends: dict[str, str] = Field(default_factory=dict)
    """Dependencies by name → URL: postgresql://, redis://, mongodb://, sqlite:///, tcp://."""
    disk: list[str] = Field(default_factory=list)
    """Paths whose filesystem free space is checked (default: the bot's cwd)."""
    limits: Limits = Field(default_factory=Limits)
    checks: dict[str, CheckOverride] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    alerts: AlertOverrides = Field(default_factory=dict)
    """This bot's changes to built-in rules: ``{HighCpu: {threshold: 95}}``."""

    @field_validator("health", mode="before")
    @classmethod
    def _health_url(cls, v: object) -> object:
        return {"url": v} if isinstance(v, str) else v

    @field_validator("ports", mode="before")
    @classmethod
    def _ports(cls, v: object) -> object:
        if isinstance(v, int | str):
            v = [v]
        if isinstance(v, list):
            return [str(p) for p in v]
        return v

    @field_validator("ports")
    @classmethod
    def _valid_ports(cls, v: list[str]) -> list[str]:
        for p in v:
            port = p.rsplit(":", 1)[-1]
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{p!r} is not a port; use 8080 or host:8080")
        return v

    @field_validator("logs", "disk", mode="before")
    @classmethod
    def _listify(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @field_validator("logs")
    @classmethod
    def _log_sources(cls, v: list[str]) -> list[str]:
        from botwatch.errors import LogSourceError
        from botwatch.logs.sources import parse_source

        for entry in v:
            try:
                parse_source(entry)
            except LogSourceError as e:
                raise ValueError(str(e)) from None
        return v

    @field_validator("depends")
    @classmethod
    def _dep_urls(cls, v: dict[str, str]) -> dict[str, str]:
        for name, url in v.items():
            if "://" not in url:
                raise ValueError(
                    f"{name}: {url!r} is not a URL; use postgresql://, redis://, "
                    "mongodb://, sqlite:///path or tcp://host:port"
                )
        return v


class WebConfig(_Model):
    """The monitor's web server (dashboard, API, /metrics)."""

    listen: str = "127.0.0.1:8321"


class Config(_Model):
    """The whole ``botwatch.yml``."""

    timezone: str = "UTC"
    storage: str = "sqlite:///.botwatch/botwatch.db"
    web: WebConfig = Field(default_factory=WebConfig)
    defaults: Defaults = Field(default_factory=Defaults)
    bots: dict[BotName, BotConfig] = Field(default_factory=dict)
    rules: list[str] = Field(default_factory=list)
    """Rule files (globs, relative to this file) added to the built-in pack."""
    log_extract: list[LogExtract] = Field(default_factory=list)
    """Extraction rules of your own, besides the built-ins (docs/logs.md)."""
    alerting: Alerting = Field(default_factory=Alerting)
    channels: dict[str, ChannelSpec] = Field(default_factory=dict)
    """Receivers by name (see docs/notify.md)."""
    route: RouteSpec | None = None
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    time_intervals: list[TimeInterval] = Field(default_factory=list)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)

    @model_validator(mode="after")
    def _response_names(self) -> Config:
        intervals = {t.name for t in self.time_intervals}
        for step in self.incidents.escalation:
            if step.receiver not in self.channels:
                known = ", ".join(self.channels) or "none defined"
                raise ValueError(
                    f"incidents: escalation receiver {step.receiver!r} is not a channel "
                    f"(channels: {known})"
                )
        for name in self.alerting.pause_actions_during:
            if name not in intervals:
                raise ValueError(f"alerting: time interval {name!r} is not defined")
        return self

    @model_validator(mode="after")
    def _routing_names(self) -> Config:
        if self.route is None:
            return self
        if self.route.receiver is None:
            raise ValueError("route: the root route needs a receiver")
        intervals = {t.name for t in self.time_intervals}
        stack = [self.route]
        while stack:
            r = stack.pop()
            if r.receiver is not None and r.receiver not in self.channels:
                known = ", ".join(self.channels) or "none defined"
                raise ValueError(
                    f"route: receiver {r.receiver!r} is not a channel (channels: {known})"
                )
            for name in (*r.mute_time_intervals, *r.active_time_intervals):
                if name not in intervals:
                    raise ValueError(f"route: time interval {name!r} is not defined")
            stack += r.routes
        return self

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name such as UTC or Asia/Jakarta"
            ) from None
        return v

    @field_validator("storage")
    @classmethod
    def _storage(cls, v: str) -> str:
        if not v.startswith(
            ("sqlite:///", "postgresql://", "postgresql+psycopg://", "postgres://")
        ):
            raise ValueError("use sqlite:///path/to/file.db or postgresql://user@host/db")
        return v
