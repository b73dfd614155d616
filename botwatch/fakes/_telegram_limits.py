"""Telegram's flood control as the fake enforces it.

The model
---------
Telegram documents three limits for sending messages, and says it "may allow short
bursts that go over this limit, but eventually you'll begin receiving 429 errors":

* about 30 messages per second per bot, over all chats;
* about 1 message per second in one private chat;
* about 20 messages per minute in one group (a negative ``chat_id``).

The fake enforces each as a sliding window: at most ``*_messages`` messages in any
``*_window`` seconds. A message must fit in *both* windows it touches (the bot's and
its chat's); if it does not, it is refused with 429 and counts nowhere, and
``retry_after`` is the wait until the oldest message blocking it leaves its window,
rounded up to whole seconds and at least 1 (the real API only sends integers).
So the 31st message within one second, the 2nd to one private chat within a second
and the 21st to one group within a minute are refused, however they are spaced.

A short burst is the same rate over a longer window: ``private_chat_messages=3,
private_chat_window=3.0`` lets three messages through back to back, then one a second
on average. The defaults grant no burst: the real server's tolerance is undocumented
and varies, and a client that only works because of it breaks in production.

Time comes from the injected :class:`~botwatch.clock.Clock` (its monotonic reading),
so tests drive the limits with a ``ManualClock``.
"""

from __future__ import annotations

__all__ = ["FloodControl", "TelegramLimits"]

import math
from collections import deque
from dataclasses import dataclass

from botwatch.clock import Clock


@dataclass(frozen=True)
class TelegramLimits:
    """Flood control and size limits of the fake Bot API (see the module docstring).

    Attributes:
        bot_messages, bot_window: at most this many messages per bot in this many seconds.
        private_chat_messages, private_chat_window: the same for one private chat.
        group_messages, group_window: the same for one group chat.
        max_message_length: longest ``text`` sendMessage accepts.
        enabled: False switches flood control off (to benchmark the client side).
    """

    bot_messages: int = 30
    bot_window: float = 1.0
    private_chat_messages: int = 1
    private_chat_window: float = 1.0
    group_messages: int = 20
    group_window: float = 60.0
    max_message_length: int = 4096
    enabled: bool = True

    def __post_init__(self) -> None:
        for name in ("bot_window", "private_chat_window", "group_window"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TelegramLimits.{name} must be > 0")
        for name in (
            "bot_messages",
            "private_chat_messages",
            "group_messages",
            "max_message_length",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"TelegramLimits.{name} must be >= 1")

    @classmethod
    def unlimited(cls) -> TelegramLimits:
        """Limits with flood control switched off (message length is still checked)."""
        return cls(enabled=False)


class _Window:
    """When the messages still inside one sliding window were sent."""

    __slots__ = ("limit", "seconds", "stamps")

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.stamps: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until one more message fits (0 if one fits now)."""
        horizon = now - self.seconds
        while self.stamps and self.stamps[0] <= horizon:
            self.stamps.popleft()
        if len(self.stamps) < self.limit:
            return 0.0
        return self.stamps[0] + self.seconds - now

    def idle(self, now: float) -> bool:
        return not self.stamps or self.stamps[-1] <= now - self.seconds


class FloodControl:
    """The windows of one bot: one for the bot and one per chat it sends to."""

    # A window whose messages have all expired is the same as a new one, so such
    # windows are dropped once the table grows past this size (a broadcast to 100k
    # users would otherwise keep 100k of them).
    _PRUNE_AT = 4096

    def __init__(self, limits: TelegramLimits, clock: Clock) -> None:
        self.limits = limits
        self._clock = clock
        self._bot = _Window(limits.bot_messages, limits.bot_window)
        self._chats: dict[int, _Window] = {}

    def _chat_window(self, chat_id: int, now: float) -> _Window:
        window = self._chats.get(chat_id)
        if window is None:
            if len(self._chats) >= self._PRUNE_AT:
                self._chats = {k: w for k, w in self._chats.items() if not w.idle(now)}
            if chat_id < 0:
                window = _Window(self.limits.group_messages, self.limits.group_window)
            else:
                window = _Window(self.limits.private_chat_messages, self.limits.private_chat_window)
            self._chats[chat_id] = window
        return window

    def acquire(self, chat_id: int) -> int | None:
        """Count a message to ``chat_id``: None if it may be sent, else its ``retry_after``."""
        if not self.limits.enabled:
            return None
        now = self._clock.monotonic()
        chat = self._chat_window(chat_id, now)
        wait = max(self._bot.wait(now), chat.wait(now))
        if wait > 0:
            return max(1, math.ceil(wait - 1e-9))
        self._bot.stamps.append(now)
        chat.stamps.append(now)
        return None

    def reset(self) -> None:
        """Forget every message counted so far."""
        self._bot = _Window(self.limits.bot_messages, self.limits.bot_window)
        self._chats.clear()
