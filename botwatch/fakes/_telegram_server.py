"""The fake Telegram Bot API server: HTTP envelope, control endpoint, webhook delivery."""

from __future__ import annotations

__all__ = ["FakeTelegram"]

import asyncio
import contextlib
import ipaddress
import json
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from botwatch.clock import Clock, SystemClock

from ._common import HttpFake
from ._telegram_bot import FakeBot, TelegramApiError
from ._telegram_limits import TelegramLimits
from ._telegram_methods import Described, Params, TelegramMethods

_JSON = "application/json"
# The real API answers 5xx with these descriptions in the usual envelope.
_5XX_DESCRIPTIONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _is_loopback_or_literal(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class FakeTelegram(HttpFake):
    """A local Bot API server: ``{base}/bot{token}/{method}`` as on api.telegram.org.

    Args:
        clock: drives flood control and message dates (default: the system clock).
        limits: flood control and size limits (default: Telegram's documented ones).
        webhook_retry_interval: seconds between failed webhook deliveries.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        limits: TelegramLimits | None = None,
        webhook_retry_interval: float = 1.0,
    ) -> None:
        super().__init__()
        self.clock: Clock = clock or SystemClock()
        self.limits = limits or TelegramLimits()
        self.webhook_retry_interval = webhook_retry_interval
        self.unknown_token_requests = 0
        self._bots: dict[str, FakeBot] = {}
        self._methods = TelegramMethods(self.limits, self._webhook_changed)
        self._session: aiohttp.ClientSession | None = None
        self._webhook_tasks: dict[str, asyncio.Task[None]] = {}
        self._retired_tasks: set[asyncio.Task[None]] = set()

    # -- bots ------------------------------------------------------------------

    def add_bot(
        self,
        token: str,
        username: str,
        *,
        first_name: str | None = None,
        bot_id: int | None = None,
    ) -> FakeBot:
        """Register a bot token (before or after start) and return its state."""
        if token in self._bots:
            raise ValueError(f"bot token already registered for @{self._bots[token].username}")
        if not token or "/" in token:
            raise ValueError("a token must be non-empty and contain no '/'")
        bot = FakeBot(
            token,
            username,
            first_name=first_name,
            bot_id=bot_id,
            clock=self.clock,
            limits=self.limits,
        )
        self._bots[token] = bot
        return bot

    def bot(self, token: str) -> FakeBot:
        """The state of a registered bot (KeyError if unknown)."""
        try:
            return self._bots[token]
        except KeyError:
            raise KeyError(f"no fake bot with token {token[:6]}…") from None

    @property
    def bots(self) -> list[FakeBot]:
        """Every registered bot."""
        return list(self._bots.values())

    @property
    def api_base(self) -> str:
        """``{base}/bot``: the ``base_url`` python-telegram-bot wants (it appends the token)."""
        return f"{self.base_url}/bot"

    def api_url(self, token: str, method: str) -> str:
        """The full URL of one API method for one token."""
        return f"{self.api_base}{token}/{method}"

    # -- lifecycle -------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/_fake/bots", self._ctl_list)
        app.router.add_post("/_fake/bots", self._ctl_add)
        app.router.add_get("/_fake/bots/{token}/stats", self._ctl_stats)
        app.router.add_get("/_fake/bots/{token}/sent", self._ctl_sent)
        app.router.add_post("/_fake/bots/{token}/faults", self._ctl_faults)
        app.router.add_post("/_fake/bots/{token}/updates", self._ctl_updates)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _not_found(self, request: web.Request) -> web.Response:
        # Any other path (no method, no token) gets the API's own 404, not aiohttp's.
        return self._error(None, TelegramApiError(404, "Not Found"))

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); returns ``http://HOST:PORT``."""
        self._methods.closing = False
        base = await super().start(host, port)
        # Webhooks are only ever delivered to literal addresses, so no proxy or DNS use.
        self._session = aiohttp.ClientSession(trust_env=False)
        for bot in self._bots.values():
            self._webhook_changed(bot)
        return base

    async def _before_cleanup(self) -> None:
        # Waiting long polls answer [] at once instead of holding up the shutdown.
        self._methods.closing = True
        for bot in self._bots.values():
            bot._wake_pollers("closing")
        tasks = [*self._webhook_tasks.values(), *self._retired_tasks]
        self._webhook_tasks.clear()
        self._retired_tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- the API ---------------------------------------------------------------

    def _reply(self, bot: FakeBot | None, status: int, body: dict[str, Any]) -> web.Response:
        if bot is not None:
            if status == 200:
                bot.stats["ok"] += 1
            else:
                bot.stats[str(status)] += 1
                if status >= 500:
                    bot.stats["5xx"] += 1
        return web.Response(status=status, text=_dumps(body), content_type=_JSON)

    def _error(self, bot: FakeBot | None, error: TelegramApiError) -> web.Response:
        return self._reply(bot, error.code, error.payload())

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method_name = request.match_info["method"]
        bot = self._bots.get(token)
        if bot is None:
            self.unknown_token_requests += 1
            return self._error(None, TelegramApiError(401, "Unauthorized"))
        bot.stats["requests"] += 1
        bot.method_calls[method_name] += 1
        await bot.delay()
        if bot.revoked:
            return self._error(bot, TelegramApiError(401, "Unauthorized"))
        code = bot.draw_5xx()
        if code is not None:
            description = _5XX_DESCRIPTIONS.get(code) or HTTPStatus(code).phrase
            return self._error(bot, TelegramApiError(code, description))
        method = self._methods.lookup(method_name)
        if method is None:
            return self._error(bot, TelegramApiError(404, "Not Found"))
        try:
            params = await self._read_params(request)
            result = await method(bot, params)
        except TelegramApiError as error:
            return self._error(bot, error)
        if isinstance(result, Described):
            body = {"ok": True, "result": result.result, "description": result.description}
        else:
            body = {"ok": True, "result": result}
        return self._reply(bot, 200, body)

    @staticmethod
    async def _read_params(request: web.Request) -> Params:
        values: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == _JSON:
                try:
                    body = await request.json()
                except ValueError:
                    raise TelegramApiError(400, "Bad Request: can't parse JSON body") from None
                if not isinstance(body, dict):
                    raise TelegramApiError(400, "Bad Request: JSON body must be an object")
                values.update(body)
            elif request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                form = await request.post()
                for key, value in form.items():
                    # A multipart file part (a certificate, a photo) counts as "sent".
                    if isinstance(value, str):
                        values[key] = value
                    elif isinstance(value, bytes | bytearray):
                        values[key] = bytes(value)
                    else:
                        values[key] = value.filename
        return Params(values)

    # -- webhook delivery ------------------------------------------------------

    def _webhook_changed(self, bot: FakeBot) -> None:
        task = self._webhook_tasks.pop(bot.token, None)
        if task is not None:
            # Kept until it has finished, so stop() can wait for it.
            task.cancel()
            self._retired_tasks.add(task)
            task.add_done_callback(self._retired_tasks.discard)
        if bot.webhook_url and self.running and self._session is not None:
            bot._webhook_wakeup = asyncio.Event()
            self._webhook_tasks[bot.token] = asyncio.get_running_loop().create_task(
                self._deliver(bot, bot.webhook_url), name=f"fake-telegram-webhook-{bot.username}"
            )

    async def _deliver(self, bot: FakeBot, url: str) -> None:
        """POST pending updates to the webhook one at a time, as Telegram does."""
        wakeup = bot._webhook_wakeup
        assert wakeup is not None and self._session is not None
        while bot.webhook_url == url:
            if not bot.updates:
                wakeup.clear()
                await wakeup.wait()
                continue
            update = bot.updates[0]
            error = await self._post_update(bot, url, update)
            if error is None:
                bot.stats["webhook_delivered"] += 1
                if bot.updates and bot.updates[0] is update:
                    bot.updates.popleft()
                continue
            bot.stats["webhook_failed"] += 1
            bot.set_webhook_error(error)
            await asyncio.sleep(self.webhook_retry_interval)

    async def _post_update(self, bot: FakeBot, url: str, update: dict[str, Any]) -> str | None:
        """Deliver one update; None on success, else the error getWebhookInfo reports."""
        host = urlsplit(url).hostname or ""
        # The fake never reaches past loopback; a name it cannot resolve is what a real
        # server reports for one that does not exist.
        if not _is_loopback_or_literal(host):
            return "Failed to resolve host: Name or service not known"
        headers = {}
        if bot.webhook_secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = bot.webhook_secret_token
        assert self._session is not None
        try:
            async with self._session.post(
                url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"Wrong response from the webhook: {response.status} {response.reason}"
        except TimeoutError:
            return "Read timeout expired"
        except aiohttp.ClientConnectorError:
            return "Connection refused"
        except aiohttp.ClientError as exc:
            return f"Connection error: {type(exc).__name__}"

    # -- control endpoint ------------------------------------------------------

    def _ctl_bot(self, request: web.Request) -> FakeBot:
        bot = self._bots.get(request.match_info["token"])
        if bot is None:
            raise web.HTTPNotFound(text=_dumps({"error": "no such bot"}), content_type=_JSON)
        return bot

    @staticmethod
    async def _ctl_json(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(
                text=_dumps({"error": "expected a JSON object"}), content_type=_JSON
            )
        return body

    async def _ctl_list(self, request: web.Request) -> web.Response:
        bots = [{"token": b.token, "username": b.username, "id": b.id} for b in self._bots.values()]
        return web.json_response(
            {"bots": bots, "unknown_token_requests": self.unknown_token_requests}
        )

    async def _ctl_add(self, request: web.Request) -> web.Response:
        body = await self._ctl_json(request)
        try:
            bot = self.add_bot(
                str(body["token"]),
                str(body["username"]),
                first_name=body.get("first_name"),
                bot_id=body.get("id"),
            )
        except (KeyError, ValueError) as exc:
            return web.json_response({"error": f"cannot add bot: {exc}"}, status=400)
        return web.json_response(bot.snapshot(), status=201)

    async def _ctl_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self._ctl_bot(request).snapshot())

    async def _ctl_sent(self, request: web.Request) -> web.Response:
        bot = self._ctl_bot(request)
        chat = request.query.get("chat_id")
        messages = bot.sent if chat is None else bot.messages_to(int(chat))
        return web.json_response({"sent": messages})

    async def _ctl_updates(self, request: web.Request) -> web.Response:
        bot = self._ctl_bot(request)
        body = await self._ctl_json(request)
        if "text" in body and "message" not in body:
            update = bot.push_update(
                str(body["text"]),
                chat_id=int(body.get("chat_id", 1001)),
                user_id=body.get("user_id"),
                first_name=str(body.get("first_name", "Test")),
                username=body.get("username", "tester"),
            )
        else:
            update = bot.push_update(body)
        return web.json_response(update, status=201)

    async def _ctl_faults(self, request: web.Request) -> web.Response:
        bot = self._ctl_bot(request)
        body = await self._ctl_json(request)
        try:
            apply_faults(bot, body)
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(bot.faults())


def apply_faults(bot: FakeBot, spec: dict[str, Any]) -> None:
    """Apply a control-endpoint fault document to ``bot`` (see the module docstring)."""
    unknown = set(spec) - _FAULT_KEYS
    if unknown:
        raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
    if spec.get("reset"):
        bot.reset_faults()
    if spec.get("revoked") is True:
        bot.revoke()
    elif spec.get("revoked") is False:
        bot.unrevoke()
    if "conflict" in spec:
        bot.set_conflict(bool(spec["conflict"]))
    if "latency" in spec:
        bot.set_latency(float(spec["latency"]))
    if "fail_5xx" in spec:
        fail = spec["fail_5xx"]
        if isinstance(fail, dict):
            bot.fail_with_5xx(float(fail.get("rate", 0.0)), int(fail.get("code", 502)))
        else:
            bot.fail_with_5xx(float(fail))
    if "flood_wait" in spec:
        wait = spec["flood_wait"]
        bot.set_flood_wait(None if wait is None else int(wait))
    for key, switch in (
        ("block", bot.block_user),
        ("deactivate", bot.deactivate_user),
        ("kick", bot.kick_from_chat),
        ("remove_chat", bot.remove_chat),
        ("restore", bot.restore_chat),
    ):
        for chat_id in spec.get(key, []):
            switch(int(chat_id))
    if "webhook_error" in spec:
        error = spec["webhook_error"]
        if error is None:
            bot.set_webhook_error(None)
        else:
            bot.set_webhook_error(str(error["message"]), error.get("at"))


_FAULT_KEYS = frozenset(
    {
        "reset",
        "revoked",
        "conflict",
        "latency",
        "fail_5xx",
        "flood_wait",
        "block",
        "deactivate",
        "kick",
        "remove_chat",
        "restore",
        "webhook_error",
    }
)
