"""botwatch configuration: the ``botwatch.yml`` schema, loading and validation."""

from __future__ import annotations

from botwatch.config.loader import DEFAULT_CONFIG, LoadedConfig, load_config, parse_config, redacted
from botwatch.config.models import (
    BotConfig,
    CheckOverride,
    Config,
    Defaults,
    HealthSpec,
    Limits,
    LogFreshness,
    ProcessSpec,
    RunSpec,
    WebConfig,
)
from botwatch.config.units import format_duration, format_size, parse_duration, parse_size

__all__ = [
    "DEFAULT_CONFIG",
    "BotConfig",
    "CheckOverride",
    "Config",
    "Defaults",
    "HealthSpec",
    "Limits",
    "LoadedConfig",
    "LogFreshness",
    "ProcessSpec",
    "RunSpec",
    "WebConfig",
    "format_duration",
    "format_size",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
    "redacted",
]
