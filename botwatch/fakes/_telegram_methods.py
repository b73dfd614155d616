"""The Bot API methods the fake implements, on top of :class:`FakeBot` state."""

from __future__ import annotations

__all__ = ["Described", "Params", "TelegramMethods"]

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ._telegram_bot import (
    CHAT_NOT_FOUND,
    CONFLICT_OTHER_POLLER,
    CONFLICT_WEBHOOK,
    FakeBot,
    TelegramApiError,
)
from ._telegram_limits import TelegramLimits

_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_MAX_LONG_POLL = 50.0  # seconds; the real server also caps getUpdates' timeout


@dataclass(frozen=True)
class Described:
    """A successful result that also carries the envelope's ``description`` field."""

    result: Any
    description: str


def _bad(message: str) -> TelegramApiError:
    return TelegramApiError(400, f"Bad Request: {message}")


class Params:
    """Request parameters from the query string, a form or a JSON body.

    Form and query values are strings (PTB JSON-encodes non-string values into them),
    JSON bodies carry typed values; the getters accept both, as the real API does.
    """

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def has(self, name: str) -> bool:
        """Whether ``name`` was sent with a non-empty value."""
        return self.values.get(name) not in (None, "")

    def string(self, name: str) -> str | None:
        """A string parameter (numbers are turned into their text)."""
        value = self.values.get(name)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return json.dumps(value) if isinstance(value, dict | list) else str(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        """An integer parameter."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise _bad(f'field "{name}" must be of type Integer') from None

    def number(self, name: str, default: float = 0.0) -> float:
        """A number parameter."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _bad(f'field "{name}" must be of type Number') from None

    def flag(self, name: str) -> bool:
        """A boolean parameter ("true"/"1" in forms)."""
        value = self.values.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)

    def json_value(self, name: str, what: str) -> Any:
        """A JSON-serialized parameter (arrays and objects arrive as strings in forms)."""
        value = self.values.get(name)
        if isinstance(value, str | bytes):
            try:
                return json.loads(value)
            except ValueError:
                raise _bad(f"can't parse {what} JSON object") from None
        return value

    def chat_id(self) -> int:
        """The required ``chat_id``; ``@username`` targets are not modelled."""
        value = self.values.get("chat_id")
        if value is None or value == "":
            raise _bad("chat_id is empty")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise TelegramApiError(400, CHAT_NOT_FOUND) from None


Method = Callable[[FakeBot, Params], Awaitable[Any]]


class TelegramMethods:
    """The dispatch table of Bot API methods (names are case-insensitive, as on Telegram)."""

    def __init__(
        self, limits: TelegramLimits, on_webhook_change: Callable[[FakeBot], None]
    ) -> None:
        self.limits = limits
        self.closing = False
        self._on_webhook_change = on_webhook_change
        self.table: dict[str, Method] = {
            "getme": self.get_me,
            "logout": self.log_out,
            "close": self.close,
            "getwebhookinfo": self.get_webhook_info,
            "setwebhook": self.set_webhook,
            "deletewebhook": self.delete_webhook,
            "getupdates": self.get_updates,
            "sendmessage": self.send_message,
            "editmessagetext": self.edit_message_text,
            "deletemessage": self.delete_message,
            "sendchataction": self.send_chat_action,
            "answercallbackquery": self.answer_callback_query,
            "getchat": self.get_chat,
            "setmycommands": self.set_my_commands,
            "getmycommands": self.get_my_commands,
            "deletemycommands": self.delete_my_commands,
        }

    def lookup(self, name: str) -> Method | None:
        """The implementation of API method ``name``, or None (the caller answers 404)."""
        return self.table.get(name.lower())

    # -- the bot itself --------------------------------------------------------

    async def get_me(self, bot: FakeBot, p: Params) -> Any:
        return {
            **bot.user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def log_out(self, bot: FakeBot, p: Params) -> Any:
        # Only the cloud-vs-local server switch would follow; nothing to model here.
        return True

    async def close(self, bot: FakeBot, p: Params) -> Any:
        return True

    # -- webhook and updates ---------------------------------------------------

    async def get_webhook_info(self, bot: FakeBot, p: Params) -> Any:
        return bot.webhook_info()

    async def set_webhook(self, bot: FakeBot, p: Params) -> Any:
        url = (p.string("url") or "").strip()
        if not url:
            return await self.delete_webhook(bot, p)
        parts = urlsplit(url)
        # http:// is accepted on purpose (the real API wants https) so a webhook can be
        # delivered to a plain loopback server in tests.
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.string("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise _bad("secret token contains unallowed characters")
        max_connections = p.integer("max_connections", 40) or 40
        if not 1 <= max_connections <= 100:
            raise _bad("bad webhook: max_connections must be between 1 and 100")
        allowed = p.json_value("allowed_updates", "allowed updates")
        if p.flag("drop_pending_updates"):
            bot.drop_pending_updates()
        already = bot.webhook_url == url
        bot.webhook_url = url
        bot.webhook_secret_token = secret
        bot.webhook_max_connections = max_connections
        bot.webhook_ip_address = p.string("ip_address") or None
        bot.webhook_has_custom_certificate = p.has("certificate")
        if isinstance(allowed, list):
            bot.allowed_updates = [str(a) for a in allowed]
        bot._wake_pollers("webhook")
        self._on_webhook_change(bot)
        return Described(True, "Webhook is already set" if already else "Webhook was set")

    async def delete_webhook(self, bot: FakeBot, p: Params) -> Any:
        if p.flag("drop_pending_updates"):
            bot.drop_pending_updates()
        had = bool(bot.webhook_url)
        bot.webhook_url = ""
        bot.webhook_secret_token = None
        bot.webhook_ip_address = None
        bot.webhook_has_custom_certificate = False
        self._on_webhook_change(bot)
        return Described(True, "Webhook was deleted" if had else "Webhook is already deleted")

    async def get_updates(self, bot: FakeBot, p: Params) -> Any:
        if bot.conflict:
            raise TelegramApiError(409, CONFLICT_OTHER_POLLER)
        if bot.webhook_url:
            raise TelegramApiError(409, CONFLICT_WEBHOOK)
        limit = max(1, min(100, p.integer("limit", 100) or 100))
        timeout = max(0.0, min(_MAX_LONG_POLL, p.number("timeout", 0.0)))
        # Like the real server, a new getUpdates ends the one still waiting: that is
        # how two instances polling one token see each other.
        bot._wake_pollers("terminated")
        bot.confirm_updates(p.integer("offset", 0) or 0)
        if not bot.updates and timeout > 0 and not self.closing:
            reason = await self._wait_for_update(bot, timeout)
            if reason == "terminated":
                raise TelegramApiError(409, CONFLICT_OTHER_POLLER)
            if reason == "webhook":
                raise TelegramApiError(409, CONFLICT_WEBHOOK)
        return [bot.updates[i] for i in range(min(limit, len(bot.updates)))]

    @staticmethod
    async def _wait_for_update(bot: FakeBot, timeout: float) -> str:
        # Real time, not the injected clock: a long poll is a property of the
        # connection, and a ManualClock's instant sleep would turn it into a busy loop.
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        bot._pollers.append(waiter)
        try:
            done, _ = await asyncio.wait({waiter}, timeout=timeout)
            return waiter.result() if done else "timeout"
        finally:
            bot._pollers.remove(waiter)
            waiter.cancel()

    # -- messages --------------------------------------------------------------

    def _check_send(self, bot: FakeBot, chat_id: int) -> None:
        # Flood control comes before the recipient's state: a message to a user who
        # blocked the bot still costs a slot, so a broadcaster must pace every send.
        if bot.flood_wait is not None:
            raise TelegramApiError.too_many_requests(bot.flood_wait)
        retry_after = bot.flood.acquire(chat_id)
        if retry_after is not None:
            raise TelegramApiError.too_many_requests(retry_after)
        fault = bot.chat_faults.get(chat_id)
        if fault is not None:
            raise TelegramApiError(fault.code, fault.description)

    def _text(self, p: Params) -> str:
        text = p.string("text")
        if text is None or not text.strip():
            raise _bad("message text is empty")
        if len(text) > self.limits.max_message_length:
            raise _bad("message is too long")
        return text

    async def send_message(self, bot: FakeBot, p: Params) -> Any:
        chat_id = p.chat_id()
        text = self._text(p)
        extra: dict[str, Any] = {}
        markup = p.json_value("reply_markup", "reply keyboard markup")
        # The real API echoes only inline keyboards back in the Message.
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            extra["reply_markup"] = markup
        entities = p.json_value("entities", "message entities")
        if isinstance(entities, list) and entities:
            extra["entities"] = entities
        thread = p.integer("message_thread_id")
        if thread is not None:
            extra["message_thread_id"] = thread
        self._check_send(bot, chat_id)
        return bot.record_sent(chat_id, text, extra)

    async def edit_message_text(self, bot: FakeBot, p: Params) -> Any:
        chat_id = p.chat_id()
        message_id = p.integer("message_id")
        text = self._text(p)
        message = None if message_id is None else bot.find_sent(chat_id, message_id)
        if message is None:
            raise _bad("message to edit not found")
        if message["text"] == text:
            raise _bad(
                "message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message"
            )
        message["text"] = text
        message["edit_date"] = int(bot._clock.time())
        return dict(message)

    async def delete_message(self, bot: FakeBot, p: Params) -> Any:
        chat_id = p.chat_id()
        message_id = p.integer("message_id")
        message = None if message_id is None else bot.find_sent(chat_id, message_id)
        if message is None:
            raise _bad("message to delete not found")
        bot.sent.remove(message)
        return True

    async def send_chat_action(self, bot: FakeBot, p: Params) -> Any:
        chat_id = p.chat_id()
        if not p.has("action"):
            raise _bad("action is empty")
        fault = bot.chat_faults.get(chat_id)
        if fault is not None:
            raise TelegramApiError(fault.code, fault.description)
        return True

    async def answer_callback_query(self, bot: FakeBot, p: Params) -> Any:
        if not p.has("callback_query_id"):
            raise _bad("query_id is empty")
        return True

    async def get_chat(self, bot: FakeBot, p: Params) -> Any:
        chat_id = p.chat_id()
        if chat_id not in bot.chats or chat_id in bot.chat_faults:
            raise TelegramApiError(400, CHAT_NOT_FOUND)
        return {**bot.chats[chat_id], "accent_color_id": 0, "max_reaction_count": 11}

    # -- commands --------------------------------------------------------------

    @staticmethod
    def _commands_key(p: Params) -> str:
        scope = p.json_value("scope", "bot command scope") or {"type": "default"}
        return json.dumps([scope, p.string("language_code") or ""], sort_keys=True)

    async def set_my_commands(self, bot: FakeBot, p: Params) -> Any:
        commands = p.json_value("commands", "bot commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" is required')
        cleaned: list[dict[str, str]] = []
        for item in commands:
            if not isinstance(item, dict) or not _COMMAND.fullmatch(str(item.get("command"))):
                raise _bad("BOT_COMMAND_INVALID")
            description = str(item.get("description", ""))
            if not 1 <= len(description) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": str(item["command"]), "description": description})
        bot.commands[self._commands_key(p)] = cleaned
        return True

    async def get_my_commands(self, bot: FakeBot, p: Params) -> Any:
        return list(bot.commands.get(self._commands_key(p), []))

    async def delete_my_commands(self, bot: FakeBot, p: Params) -> Any:
        bot.commands.pop(self._commands_key(p), None)
        return True
