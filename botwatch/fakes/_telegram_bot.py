"""The state of one fake Telegram bot: its updates, what it sent, and its fault switches."""

from __future__ import annotations

__all__ = [
    "CONFLICT_OTHER_POLLER",
    "CONFLICT_WEBHOOK",
    "FakeBot",
    "TelegramApiError",
]

import asyncio
import zlib
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

from botwatch.clock import Clock

from ._common import TransportFaults
from ._telegram_limits import FloodControl, TelegramLimits

# The real servers' strings, byte for byte: clients and log analyzers match on them.
CONFLICT_OTHER_POLLER = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
BLOCKED = "Forbidden: bot was blocked by the user"
DEACTIVATED = "Forbidden: user is deactivated"
KICKED = "Forbidden: bot was kicked from the group chat"
CHAT_NOT_FOUND = "Bad Request: chat not found"


class TelegramApiError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code": ..., ...}``."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    @classmethod
    def too_many_requests(cls, retry_after: int) -> TelegramApiError:
        """The 429 answer with its ``parameters.retry_after``."""
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    def payload(self) -> dict[str, Any]:
        """The JSON body the real API sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _utf16_len(text: str) -> int:
    # Telegram measures entity offsets and lengths in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


def _default_bot_id(token: str) -> int:
    # A real token starts with the bot's numeric id ("123456:AA..."); keep that link.
    head = token.split(":", 1)[0]
    if head.isdigit():
        return int(head)
    return 1_000_000_000 + zlib.crc32(token.encode()) % 1_000_000_000


class FakeBot(TransportFaults):
    """One bot token on the fake server: its state, what it sent, and fault switches.

    Attributes:
        token, username, first_name, id: the bot's identity (``getMe``).
        sent: every message the bot delivered, as the Message objects sendMessage returned.
        updates: pending (unconfirmed) updates, oldest first.
        webhook_url: the URL set with setWebhook, "" when polling.
        stats: counters: ``requests``, ``ok``, ``sent``, one per error code (``"429"``,
            ``"403"``...), ``5xx``, ``webhook_delivered``, ``webhook_failed``.
        method_calls: requests per API method name as the client spelled it.
    """

    def __init__(
        self,
        token: str,
        username: str,
        *,
        first_name: str | None = None,
        bot_id: int | None = None,
        clock: Clock,
        limits: TelegramLimits,
    ) -> None:
        super().__init__(token)
        self.token = token
        self.username = username
        self.first_name = first_name or username
        self.id = bot_id if bot_id is not None else _default_bot_id(token)
        self.sent: list[dict[str, Any]] = []
        self.updates: deque[dict[str, Any]] = deque()
        self.stats: Counter[str] = Counter()
        self.method_calls: Counter[str] = Counter()
        self.chats: dict[int, dict[str, Any]] = {}
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.flood = FloodControl(limits, clock)
        self._clock = clock

        self.webhook_url = ""
        self.webhook_secret_token: str | None = None
        self.webhook_max_connections = 40
        self.webhook_ip_address: str | None = None
        self.webhook_has_custom_certificate = False
        self.allowed_updates: list[str] | None = None
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None

        self.conflict = False
        self.flood_wait: int | None = None
        self.chat_faults: dict[int, TelegramApiError] = {}

        self._next_update_id = 1
        self._message_ids: dict[int, int] = {}
        self._pollers: list[asyncio.Future[str]] = []
        self._webhook_wakeup: asyncio.Event | None = None

    # -- identity ------------------------------------------------------------

    def user(self) -> dict[str, Any]:
        """The bot as a Telegram ``User`` object."""
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    # -- fault switches ------------------------------------------------------

    def block_user(self, chat_id: int) -> None:
        """Sends to ``chat_id`` fail 403 "Forbidden: bot was blocked by the user"."""
        self.chat_faults[chat_id] = TelegramApiError(403, BLOCKED)

    def deactivate_user(self, chat_id: int) -> None:
        """Sends to ``chat_id`` fail 403 "Forbidden: user is deactivated"."""
        self.chat_faults[chat_id] = TelegramApiError(403, DEACTIVATED)

    def kick_from_chat(self, chat_id: int) -> None:
        """Sends to group ``chat_id`` fail 403 "Forbidden: bot was kicked from the group chat"."""
        self.chat_faults[chat_id] = TelegramApiError(403, KICKED)

    def remove_chat(self, chat_id: int) -> None:
        """Sends to ``chat_id`` fail 400 "Bad Request: chat not found"."""
        self.chat_faults[chat_id] = TelegramApiError(400, CHAT_NOT_FOUND)

    def restore_chat(self, chat_id: int) -> None:
        """Undo block_user/deactivate_user/kick_from_chat/remove_chat for ``chat_id``."""
        self.chat_faults.pop(chat_id, None)

    def set_conflict(self, on: bool) -> None:
        """While on, getUpdates fails 409 as if another instance were polling."""
        self.conflict = on
        if on:
            self._wake_pollers("terminated")

    def set_flood_wait(self, retry_after: int | None) -> None:
        """While set, every send is refused 429 with this ``retry_after`` (a flood wait)."""
        if retry_after is not None and retry_after < 1:
            raise ValueError("retry_after must be >= 1")
        self.flood_wait = retry_after

    def set_webhook_error(self, message: str | None, at: float | None = None) -> None:
        """Report ``message`` as getWebhookInfo's last error, dated ``at`` (default: now).

        ``None`` clears it.
        """
        if message is None:
            self.last_error_date = None
            self.last_error_message = None
            return
        self.last_error_message = message
        self.last_error_date = int(self._clock.time() if at is None else at)

    def reset_faults(self) -> None:
        """Clear every fault switch (state such as ``sent`` and updates is kept)."""
        self.reset_transport_faults()
        self.conflict = False
        self.flood_wait = None
        self.chat_faults.clear()
        self.flood.reset()

    # -- updates -------------------------------------------------------------

    def push_update(
        self,
        update: Mapping[str, Any] | str,
        *,
        chat_id: int = 1001,
        user_id: int | None = None,
        first_name: str = "Test",
        username: str | None = "tester",
    ) -> dict[str, Any]:
        """Queue an update for getUpdates (or the webhook) and return it.

        ``update`` is a full Update object (``update_id`` is assigned if missing) or a
        text: then a ``message`` update from ``user_id`` (default: ``chat_id`` for a
        private chat) in ``chat_id`` is built, with a ``bot_command`` entity when the
        text starts with ``/`` so command handlers match it.
        """
        if isinstance(update, str):
            built: dict[str, Any] = {
                "message": self._incoming_message(update, chat_id, user_id, first_name, username)
            }
        else:
            built = dict(update)
        if "update_id" in built:
            self._next_update_id = max(self._next_update_id, int(built["update_id"]) + 1)
        else:
            built = {"update_id": self._next_update_id, **built}
            self._next_update_id += 1
        message = built.get("message")
        if isinstance(message, Mapping) and isinstance(message.get("chat"), Mapping):
            chat = dict(message["chat"])
            self.chats.setdefault(int(chat["id"]), chat)
        self.updates.append(built)
        self._wake_pollers("update")
        if self._webhook_wakeup is not None:
            self._webhook_wakeup.set()
        return built

    def _incoming_message(
        self,
        text: str,
        chat_id: int,
        user_id: int | None,
        first_name: str,
        username: str | None,
    ) -> dict[str, Any]:
        sender: dict[str, Any] = {
            "id": user_id if user_id is not None else (chat_id if chat_id > 0 else 1001),
            "is_bot": False,
            "first_name": first_name,
            "language_code": "en",
        }
        if username:
            sender["username"] = username
        if chat_id > 0:
            chat: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": first_name}
            if username:
                chat["username"] = username
        else:
            chat = self.chat_object(chat_id)
        message: dict[str, Any] = {
            "message_id": self.next_message_id(chat_id),
            "from": sender,
            "chat": chat,
            "date": int(self._clock.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        return message

    @property
    def pending_update_count(self) -> int:
        """Updates not yet confirmed (getUpdates) or delivered (webhook)."""
        return len(self.updates)

    def confirm_updates(self, offset: int) -> None:
        """Forget updates as getUpdates' ``offset`` asks (negative: keep the last -offset)."""
        if offset > 0:
            while self.updates and int(self.updates[0]["update_id"]) < offset:
                self.updates.popleft()
        elif offset < 0:
            while len(self.updates) > -offset:
                self.updates.popleft()

    def drop_pending_updates(self) -> None:
        """Forget every pending update."""
        self.updates.clear()

    def _wake_pollers(self, reason: str) -> None:
        for poller in self._pollers:
            if not poller.done():
                poller.set_result(reason)

    # -- chats and messages --------------------------------------------------

    def chat_object(self, chat_id: int) -> dict[str, Any]:
        """The ``Chat`` object for ``chat_id``: as last seen in an update, else made up."""
        known = self.chats.get(chat_id)
        if known is not None:
            return dict(known)
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        if chat_id <= -1_000_000_000_000:  # the "-100…" ids of supergroups and channels
            return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}
        return {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}

    def next_message_id(self, chat_id: int) -> int:
        """Message ids count up per chat, shared by incoming and outgoing messages."""
        value = self._message_ids.get(chat_id, 0) + 1
        self._message_ids[chat_id] = value
        return value

    def record_sent(self, chat_id: int, text: str, extra: Mapping[str, Any]) -> dict[str, Any]:
        """Deliver a message from the bot and return its ``Message`` object."""
        message: dict[str, Any] = {
            "message_id": self.next_message_id(chat_id),
            "from": self.user(),
            "chat": self.chat_object(chat_id),
            "date": int(self._clock.time()),
            "text": text,
            **extra,
        }
        self.sent.append(message)
        self.stats["sent"] += 1
        return message

    def messages_to(self, chat_id: int) -> list[dict[str, Any]]:
        """What the bot sent to ``chat_id``, oldest first."""
        return [m for m in self.sent if m["chat"]["id"] == chat_id]

    def find_sent(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """A message the bot sent, or None."""
        matches = (
            m
            for m in reversed(self.sent)
            if m["chat"]["id"] == chat_id and m["message_id"] == message_id
        )
        return next(matches, None)

    # -- reporting -----------------------------------------------------------

    def webhook_info(self) -> dict[str, Any]:
        """The ``WebhookInfo`` object getWebhookInfo returns."""
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": self.webhook_has_custom_certificate,
            "pending_update_count": self.pending_update_count,
        }
        if self.webhook_url:
            if self.webhook_ip_address:
                info["ip_address"] = self.webhook_ip_address
            info["max_connections"] = self.webhook_max_connections
            if self.allowed_updates is not None:
                info["allowed_updates"] = list(self.allowed_updates)
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        return info

    def faults(self) -> dict[str, Any]:
        """Every fault switch as JSON-able data."""
        return {
            **self.transport_snapshot(),
            "conflict": self.conflict,
            "flood_wait": self.flood_wait,
            "chats": {str(k): v.description for k, v in self.chat_faults.items()},
            "webhook_error": (
                None
                if self.last_error_date is None
                else {"message": self.last_error_message, "at": self.last_error_date}
            ),
        }

    def snapshot(self) -> dict[str, Any]:
        """Statistics and state for the control endpoint and reports."""
        return {
            "username": self.username,
            "id": self.id,
            "stats": dict(self.stats),
            "methods": dict(self.method_calls),
            "sent": len(self.sent),
            "pending_update_count": self.pending_update_count,
            "webhook_url": self.webhook_url,
            "faults": self.faults(),
        }
