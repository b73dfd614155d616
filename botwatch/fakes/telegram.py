"""A faithful local fake of the Telegram Bot API, served by aiohttp on loopback.

Use it in-process::

    async with FakeTelegram() as fake:          # or: await fake.start() ... await fake.stop()
        bot = fake.add_bot("123456:TEST", "demo_bot")
        app = ApplicationBuilder().token(bot.token).base_url(fake.api_base).build()

or as a child process (the demo does)::

    python -m botwatch.fakes.telegram --port 0 --bot 123456:TEST:demo_bot \\
        [--bot ...] [--ready-file PATH] [--no-limits]

which prints the base URL (``http://127.0.0.1:PORT``) on stdout when it is serving,
writes it to ``--ready-file`` too (atomically), and stops cleanly on SIGTERM/SIGINT.

The API
-------
``{base}/bot{token}/{method}`` with GET or POST, parameters in the query string, a
urlencoded or multipart form, or a JSON body. Method names are case-insensitive.
Answers use the real envelopes: ``{"ok": true, "result": ...}`` and
``{"ok": false, "error_code": N, "description": "..."}``, with
``"parameters": {"retry_after": N}`` on 429. Unknown or revoked tokens get 401
``Unauthorized``, unknown methods 404 ``Not Found``.

Implemented: getMe, getWebhookInfo, setWebhook, deleteWebhook, getUpdates (long poll,
offset confirmation, 409 while a webhook is set, a newer getUpdates terminating a
waiting one with 409), sendMessage, editMessageText, deleteMessage, sendChatAction,
answerCallbackQuery, getChat, setMyCommands, getMyCommands, deleteMyCommands, close,
logOut. That covers what python-telegram-bot's ``Application`` calls from start-up to
shutdown.

Flood control (:class:`TelegramLimits`, details in ``_telegram_limits``): sliding
windows of at most 30 messages per second per bot, 1 per second per private chat and
20 per minute per group (negative ``chat_id``); over a limit, 429 with an integer
``retry_after`` >= 1. Defaults grant no burst in a private chat (the 2nd message within
a second is refused); ``TelegramLimits(private_chat_messages=3,
private_chat_window=3.0)`` models Telegram's tolerance of short bursts. A send to a
user who blocked the bot still counts (the conservative assumption).

While a webhook is set, pending updates are POSTed to it (with the
``X-Telegram-Bot-Api-Secret-Token`` header when a secret was given), one at a time;
failures show in getWebhookInfo's ``last_error_*``. Deliveries only go to literal IP
addresses and ``localhost``: any other host name fails with "Failed to resolve host".

Real time vs. the clock: the injected clock drives flood control and message dates;
latency and long-poll waits use real time because they are about the connection.

The control endpoint
--------------------
For a separate process (the demo's fault injector); JSON in and out:

* ``GET  /_fake/bots`` — registered bots and the count of requests with unknown tokens.
* ``POST /_fake/bots`` ``{"token", "username", "first_name"?, "id"?}`` — add a bot.
* ``GET  /_fake/bots/{token}/stats`` — counters (``requests``, ``ok``, ``sent``, one per
  error code such as ``"429"``, ``"5xx"``, ``webhook_delivered``...), per-method calls,
  pending updates, webhook URL and the fault switches.
* ``GET  /_fake/bots/{token}/sent[?chat_id=N]`` — ``{"sent": [Message, ...]}``.
* ``POST /_fake/bots/{token}/updates`` — a full Update, or ``{"text", "chat_id"?,
  "user_id"?, "first_name"?, "username"?}`` for a text message; answers the Update.
* ``POST /_fake/bots/{token}/faults`` — any of these keys, applied in this order::

      {"reset": true,                       # clear every fault first
       "revoked": true,                     # 401 Unauthorized (false restores)
       "conflict": true,                    # getUpdates 409 "terminated by other ..."
       "latency": 0.5,                      # seconds added to every answer
       "fail_5xx": {"rate": 0.2, "code": 502},   # or just 0.2
       "flood_wait": 30,                    # every send 429 retry_after 30 (null ends)
       "block": [chat_id, ...],             # 403 "Forbidden: bot was blocked by the user"
       "deactivate": [...],                 # 403 "Forbidden: user is deactivated"
       "kick": [...],                       # 403 "Forbidden: bot was kicked from the group chat"
       "remove_chat": [...],                # 400 "Bad Request: chat not found"
       "restore": [...],                    # undo the four above for these chats
       "webhook_error": {"message": "Connection refused", "at": 1700000000}}  # or null

  and answers the resulting fault switches.

The control endpoint has no authentication: the fake is meant for loopback only.
"""

from __future__ import annotations

__all__ = ["FakeBot", "FakeTelegram", "TelegramApiError", "TelegramLimits", "main"]

import argparse
import asyncio
import sys

from ._common import serve_until_signal
from ._telegram_bot import FakeBot, TelegramApiError
from ._telegram_limits import TelegramLimits
from ._telegram_server import FakeTelegram


def _parse_bot(spec: str) -> tuple[str, str]:
    # A token itself contains ':' ("123456:ABC"), so the username is after the last one.
    token, sep, username = spec.rpartition(":")
    if not sep or not token or not username:
        raise argparse.ArgumentTypeError(f"expected TOKEN:USERNAME, got {spec!r}")
    return token, username.lstrip("@")


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeTelegram(limits=TelegramLimits.unlimited() if args.no_limits else None)
    for token, username in args.bot:
        fake.add_bot(token, username)
    await serve_until_signal(fake, args.host, args.port, args.ready_file)


def main(argv: list[str] | None = None) -> int:
    """Run the fake as a process until SIGTERM or SIGINT; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m botwatch.fakes.telegram",
        description="Serve a fake Telegram Bot API on loopback.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="port, 0 for any free one (default)")
    parser.add_argument(
        "--bot",
        action="append",
        default=[],
        type=_parse_bot,
        metavar="TOKEN:USERNAME",
        help="register a bot; repeat for more",
    )
    parser.add_argument("--ready-file", help="write the base URL here once serving")
    parser.add_argument("--no-limits", action="store_true", help="switch flood control off")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except OSError as exc:
        print(f"fake telegram: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
