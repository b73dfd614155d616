"""Faithful local fakes of the services bots talk to, served on loopback.

* :class:`FakeTelegram` — the Telegram Bot API (aiohttp), with flood control, fault
  switches, a control endpoint and ``python -m botwatch.fakes.telegram``;
* :class:`FakeDiscord` — the bits of Discord's REST API a probe and a sender use;
* :class:`FakeMongo` — enough of the MongoDB wire protocol for pymongo's ``ping``.

Tests, the demo fleet and the benchmarks use them in place of the real services; they
answer with the real envelopes and error strings.
"""

from __future__ import annotations

__all__ = [
    "FakeBot",
    "FakeDiscord",
    "FakeDiscordBot",
    "FakeMongo",
    "FakeTelegram",
    "TelegramApiError",
    "TelegramLimits",
]

from typing import TYPE_CHECKING

# Imported from the private modules, not from .telegram/.discord, so that
# `python -m botwatch.fakes.telegram` does not find its own module already imported.
from ._telegram_bot import FakeBot, TelegramApiError
from ._telegram_limits import TelegramLimits
from ._telegram_server import FakeTelegram

if TYPE_CHECKING:
    from .discord import FakeDiscord, FakeDiscordBot
    from .mongo import FakeMongo


def __getattr__(name: str) -> object:
    # The Discord and Mongo fakes load on first use: `python -m botwatch.fakes.discord`
    # must not find its module imported by the package, and pymongo is only needed here.
    if name in ("FakeDiscord", "FakeDiscordBot"):
        from . import discord

        return getattr(discord, name)
    if name == "FakeMongo":
        from .mongo import FakeMongo

        return FakeMongo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
