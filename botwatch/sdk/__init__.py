"""For bot authors: what to add to a python-telegram-bot, aiogram or discord.py bot.

``HealthServer`` serves ``/health`` and ``/health/json`` from async component checks,
in the bot's own event loop.
"""

from __future__ import annotations

__all__ = [
    "CheckFn",
    "CheckResult",
    "ComponentReport",
    "ComponentStatus",
    "HealthReport",
    "HealthServer",
    "HealthStatus",
]

from botwatch.sdk.health import (
    CheckFn,
    CheckResult,
    ComponentReport,
    ComponentStatus,
    HealthReport,
    HealthServer,
    HealthStatus,
)
