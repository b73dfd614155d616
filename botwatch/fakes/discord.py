"""A minimal local fake of Discord's REST API (v10), served by aiohttp on loopback.

Routes (``Authorization: Bot TOKEN`` required except on ``/gateway``):

* ``GET  /api/v10/users/@me`` — the bot's user object (``id`` as a string, ``bot: true``).
* ``GET  /api/v10/gateway`` and ``/api/v10/gateway/bot`` — the gateway URL, shard count
  and ``session_start_limit`` (no gateway is actually served).
* ``POST /api/v10/channels/{id}/messages`` — send a message, under a per-channel bucket.

Errors use Discord's shapes: 401 ``{"message": "401: Unauthorized", "code": 0}``, 429
``{"message": "You are being rate limited.", "retry_after": 0.5, "global": false}`` with
``Retry-After`` and ``X-RateLimit-*`` headers, 400 ``{"message": ..., "code": 50006}``,
404 ``{"message": "Unknown Channel", "code": 10003}``, 403 ``{"message": "Missing Access",
"code": 50001}``, 5xx ``{"message": "502: Bad Gateway", "code": 0}``.

The bucket model: each (bot, channel) pair gets a fixed window, as Discord's
``X-RateLimit-Reset`` describes: the first message opens a window of
``window_seconds``; up to ``per_window`` messages fit in it; the next one is refused
with ``retry_after`` = the time left in the window (a float, as Discord sends it).
Time comes from the injected clock.

Control endpoint: ``GET /_fake/bots/{token}/stats`` and ``POST /_fake/bots/{token}/faults``
with any of ``{"reset": true, "revoked": bool, "latency": s, "fail_5xx": {"rate", "code"}}``.

As a process: ``python -m botwatch.fakes.discord --port 0 --bot TOKEN:username
[--ready-file PATH]`` prints the base URL when serving and stops on SIGTERM.
"""

from __future__ import annotations

__all__ = ["FakeDiscord", "FakeDiscordBot", "main"]

import argparse
import asyncio
import hashlib
import json
import sys
import zlib
from collections import Counter
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web

from botwatch.clock import Clock, SystemClock

from ._common import HttpFake, TransportFaults, serve_until_signal

_DISCORD_EPOCH_MS = 1_420_070_400_000
_MAX_CONTENT = 2000


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body, separators=(",", ":")),
        content_type="application/json",
        headers=headers,
    )


class _Window:
    __slots__ = ("count", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.count = 0


class FakeDiscordBot(TransportFaults):
    """One bot token on the fake Discord: identity, sent messages, stats, fault switches.

    Attributes:
        sent: every message created, as the message objects returned.
        stats: ``requests``, ``ok``, ``sent``, one per error status (``"429"``...), ``5xx``.
    """

    def __init__(self, token: str, username: str, bot_id: int) -> None:
        super().__init__(token)
        self.token = token
        self.username = username
        self.id = bot_id
        self.sent: list[dict[str, Any]] = []
        self.stats: Counter[str] = Counter()
        self.channel_faults: dict[int, tuple[int, dict[str, Any]]] = {}
        self._windows: dict[int, _Window] = {}

    def user(self) -> dict[str, Any]:
        """The bot as a Discord user object."""
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "system": False,
            "mfa_enabled": False,
            "verified": True,
            "flags": 0,
            "public_flags": 0,
            "email": None,
            "locale": "en-US",
        }

    def remove_channel(self, channel_id: int) -> None:
        """Messages to ``channel_id`` fail 404 Unknown Channel."""
        self.channel_faults[channel_id] = (404, {"message": "Unknown Channel", "code": 10003})

    def forbid_channel(self, channel_id: int) -> None:
        """Messages to ``channel_id`` fail 403 Missing Access."""
        self.channel_faults[channel_id] = (403, {"message": "Missing Access", "code": 50001})

    def restore_channel(self, channel_id: int) -> None:
        """Undo remove_channel/forbid_channel."""
        self.channel_faults.pop(channel_id, None)

    def reset_faults(self) -> None:
        """Clear every fault switch and rate-limit window."""
        self.reset_transport_faults()
        self.channel_faults.clear()
        self._windows.clear()

    def snapshot(self) -> dict[str, Any]:
        """Statistics and fault switches as JSON-able data."""
        return {
            "username": self.username,
            "id": str(self.id),
            "stats": dict(self.stats),
            "sent": len(self.sent),
            "faults": {
                **self.transport_snapshot(),
                "channels": {str(k): v[1]["message"] for k, v in self.channel_faults.items()},
            },
        }


class FakeDiscord(HttpFake):
    """A local Discord REST API: ``{base}/api/v10/...``.

    Args:
        clock: drives rate-limit windows and timestamps (default: the system clock).
        per_window: messages allowed per channel per window.
        window_seconds: length of a channel's rate-limit window.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        per_window: int = 5,
        window_seconds: float = 5.0,
    ) -> None:
        super().__init__()
        self.clock: Clock = clock or SystemClock()
        self.per_window = per_window
        self.window_seconds = window_seconds
        self._bots: dict[str, FakeDiscordBot] = {}
        self._snowflake_seq = 0

    def add_bot(self, token: str, username: str, id: int | None = None) -> FakeDiscordBot:
        """Register a bot token and return its state (``id`` named as Discord names it)."""
        if token in self._bots:
            raise ValueError(f"bot token already registered for {self._bots[token].username}")
        bot_id = id if id is not None else 100_000_000_000_000_000 + zlib.crc32(token.encode())
        bot = FakeDiscordBot(token, username, bot_id)
        self._bots[token] = bot
        return bot

    def bot(self, token: str) -> FakeDiscordBot:
        """The state of a registered bot (KeyError if unknown)."""
        return self._bots[token]

    @property
    def api_base(self) -> str:
        """``{base}/api/v10``."""
        return f"{self.base_url}/api/v10"

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v10/users/@me", self._users_me)
        app.router.add_get("/api/v10/gateway", self._gateway)
        app.router.add_get("/api/v10/gateway/bot", self._gateway_bot)
        app.router.add_post("/api/v10/channels/{channel_id}/messages", self._create_message)
        app.router.add_get("/_fake/bots/{token}/stats", self._ctl_stats)
        app.router.add_post("/_fake/bots/{token}/faults", self._ctl_faults)
        app.router.add_route("*", "/api/{tail:.*}", self._not_found)
        return app

    # -- request plumbing ------------------------------------------------------

    async def _authorize(self, request: web.Request) -> FakeDiscordBot | web.Response:
        header = request.headers.get("Authorization", "")
        token = header[4:] if header.startswith("Bot ") else None
        bot = self._bots.get(token) if token else None
        if bot is not None:
            bot.stats["requests"] += 1
            await bot.delay()
        if bot is None or bot.revoked:
            return self._reply(bot, 401, {"message": "401: Unauthorized", "code": 0})
        code = bot.draw_5xx()
        if code is not None:
            phrase = HTTPStatus(code).phrase
            return self._reply(bot, code, {"message": f"{code}: {phrase}", "code": 0})
        return bot

    @staticmethod
    def _reply(
        bot: FakeDiscordBot | None,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        if bot is not None:
            if status < 300:
                bot.stats["ok"] += 1
            else:
                bot.stats[str(status)] += 1
                if status >= 500:
                    bot.stats["5xx"] += 1
        return _json(status, body, headers)

    def _snowflake(self) -> str:
        self._snowflake_seq = (self._snowflake_seq + 1) & 0xFFF
        millis = int(self.clock.time() * 1000) - _DISCORD_EPOCH_MS
        return str((millis << 22) | self._snowflake_seq)

    # -- routes ----------------------------------------------------------------

    async def _not_found(self, request: web.Request) -> web.Response:
        return _json(404, {"message": "404: Not Found", "code": 0})

    async def _users_me(self, request: web.Request) -> web.Response:
        bot = await self._authorize(request)
        if isinstance(bot, web.Response):
            return bot
        return self._reply(bot, 200, bot.user())

    async def _gateway(self, request: web.Request) -> web.Response:
        return _json(200, {"url": "wss://gateway.discord.gg"})

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        bot = await self._authorize(request)
        if isinstance(bot, web.Response):
            return bot
        body = {
            "url": "wss://gateway.discord.gg",
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }
        return self._reply(bot, 200, body)

    def _rate_limit(self, bot: FakeDiscordBot, channel_id: int) -> tuple[float, dict[str, str]]:
        """Count a message in the channel's window: (retry_after or 0, the headers)."""
        now = self.clock.monotonic()
        window = bot._windows.get(channel_id)
        if window is None or now >= window.start + self.window_seconds:
            window = bot._windows[channel_id] = _Window(now)
        reset_after = max(0.0, window.start + self.window_seconds - now)
        limited = window.count >= self.per_window
        if not limited:
            window.count += 1
        bucket = hashlib.sha1(f"{bot.token}/{channel_id}".encode()).hexdigest()[:32]
        headers = {
            "X-RateLimit-Limit": str(self.per_window),
            "X-RateLimit-Remaining": str(max(0, self.per_window - window.count)),
            "X-RateLimit-Reset": f"{self.clock.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }
        if limited:
            headers["Retry-After"] = str(max(1, int(reset_after + 0.999)))
            headers["X-RateLimit-Scope"] = "user"
            return max(0.001, round(reset_after, 3)), headers
        return 0.0, headers

    async def _create_message(self, request: web.Request) -> web.Response:
        bot = await self._authorize(request)
        if isinstance(bot, web.Response):
            return bot
        try:
            channel_id = int(request.match_info["channel_id"])
        except ValueError:
            return self._reply(bot, 404, {"message": "Unknown Channel", "code": 10003})
        retry_after, headers = self._rate_limit(bot, channel_id)
        if retry_after:
            body = {"message": "You are being rate limited.", "retry_after": retry_after}
            return self._reply(bot, 429, {**body, "global": False}, headers)
        fault = bot.channel_faults.get(channel_id)
        if fault is not None:
            return self._reply(bot, fault[0], fault[1], headers)
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return self._reply(bot, 400, {"message": "400: Bad Request", "code": 0}, headers)
        content = str(payload.get("content") or "")
        embeds = payload.get("embeds") or []
        if not content.strip() and not embeds:
            body = {"message": "Cannot send an empty message", "code": 50006}
            return self._reply(bot, 400, body, headers)
        if len(content) > _MAX_CONTENT:
            error = {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
            body = {
                "message": "Invalid Form Body",
                "code": 50035,
                "errors": {"content": {"_errors": [error]}},
            }
            return self._reply(bot, 400, body, headers)
        message = {
            "id": self._snowflake(),
            "type": 0,
            "channel_id": str(channel_id),
            "content": content,
            "author": {k: v for k, v in bot.user().items() if k not in ("email", "locale")},
            "timestamp": datetime.fromtimestamp(self.clock.time(), UTC).isoformat(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": embeds,
            "pinned": False,
            "flags": 0,
            "components": payload.get("components") or [],
        }
        bot.sent.append(message)
        bot.stats["sent"] += 1
        return self._reply(bot, 200, message, headers)

    # -- control endpoint ------------------------------------------------------

    async def _ctl_stats(self, request: web.Request) -> web.Response:
        bot = self._bots.get(request.match_info["token"])
        if bot is None:
            return _json(404, {"error": "no such bot"})
        return _json(200, bot.snapshot())

    async def _ctl_faults(self, request: web.Request) -> web.Response:
        bot = self._bots.get(request.match_info["token"])
        if bot is None:
            return _json(404, {"error": "no such bot"})
        try:
            spec = await request.json()
            if not isinstance(spec, dict):
                raise ValueError("expected a JSON object")
            unknown = set(spec) - {"reset", "revoked", "latency", "fail_5xx"}
            if unknown:
                raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
            if spec.get("reset"):
                bot.reset_faults()
            if spec.get("revoked") is True:
                bot.revoke()
            elif spec.get("revoked") is False:
                bot.unrevoke()
            if "latency" in spec:
                bot.set_latency(float(spec["latency"]))
            fail = spec.get("fail_5xx")
            if isinstance(fail, dict):
                bot.fail_with_5xx(float(fail.get("rate", 0.0)), int(fail.get("code", 502)))
            elif fail is not None:
                bot.fail_with_5xx(float(fail))
        except (TypeError, ValueError) as exc:
            return _json(400, {"error": str(exc)})
        return _json(200, bot.snapshot())


def _parse_bot(spec: str) -> tuple[str, str]:
    token, sep, username = spec.rpartition(":")
    if not sep or not token or not username:
        raise argparse.ArgumentTypeError(f"expected TOKEN:USERNAME, got {spec!r}")
    return token, username


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeDiscord()
    for token, username in args.bot:
        fake.add_bot(token, username)
    await serve_until_signal(fake, args.host, args.port, args.ready_file)


def main(argv: list[str] | None = None) -> int:
    """Run the fake as a process until SIGTERM or SIGINT; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m botwatch.fakes.discord",
        description="Serve a fake Discord REST API on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bot", action="append", default=[], type=_parse_bot)
    parser.add_argument("--ready-file")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except OSError as exc:
        print(f"fake discord: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
