"""botwatch configuration: the ``botwatch.yml`` schema, loading and validation.

The names below are loaded on first use (PEP 562): a command that only needs
``botwatch.config.units`` (``botwatch logs``) does not pay for building every pydantic
model of the schema at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

_WHERE = {
    **dict.fromkeys(("DEFAULT_CONFIG", "LoadedConfig", "load_config", "parse_config",
                     "redacted"), "loader"),
    **dict.fromkeys(("BotConfig", "CheckOverride", "Config", "Defaults", "HealthSpec",
                     "Limits", "LogFreshness", "ProcessSpec", "RunSpec", "WebConfig"),
                    "models"),
    **dict.fromkeys(("format_duration", "format_size", "parse_duration", "parse_size"),
                    "units"),
}  # fmt: skip

if TYPE_CHECKING:
    from botwatch.config.loader import (
        DEFAULT_CONFIG,
        LoadedConfig,
        load_config,
        parse_config,
        redacted,
    )
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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"botwatch.config.{module}"), name)
    globals()[name] = value  # once found, a plain attribute
    return value
