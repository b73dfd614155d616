"""A real python-telegram-bot client against the fake: what a bot author's code sees."""

from __future__ import annotations

import asyncio
import datetime as dtm
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import Bot, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from botwatch.fakes import FakeTelegram


@pytest.fixture
async def ptb_bot(telegram: FakeTelegram, token: str) -> AsyncIterator[Bot]:
    async with Bot(token, base_url=telegram.api_base) as bot:
        yield bot


async def test_get_me_and_send_message(ptb_bot: Bot, telegram: FakeTelegram, token: str) -> None:
    me = await ptb_bot.get_me()
    assert me.username == "watch_test_bot" and me.is_bot
    message = await ptb_bot.send_message(chat_id=42, text="hello from PTB")
    assert message.text == "hello from PTB"
    assert message.chat.id == 42
    assert message.from_user is not None and message.from_user.id == me.id
    sent = telegram.bot(token).sent
    assert [(m["chat"]["id"], m["text"]) for m in sent] == [(42, "hello from PTB")]


async def test_blocked_user_raises_forbidden(
    ptb_bot: Bot, telegram: FakeTelegram, token: str
) -> None:
    telegram.bot(token).block_user(42)
    with pytest.raises(Forbidden, match=r"^Forbidden: bot was blocked by the user$"):
        await ptb_bot.send_message(chat_id=42, text="hi")


async def test_flood_control_raises_retry_after(
    ptb_bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB 22's future type, without a warning
    await ptb_bot.send_message(chat_id=42, text="one")
    with pytest.raises(RetryAfter) as caught:
        await ptb_bot.send_message(chat_id=42, text="two")
    assert caught.value.retry_after == dtm.timedelta(seconds=1)


async def test_other_errors_map_to_ptb_exceptions(
    ptb_bot: Bot, telegram: FakeTelegram, token: str
) -> None:
    fake_bot = telegram.bot(token)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await ptb_bot.send_message(chat_id=1, text="")
    fake_bot.set_conflict(True)
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await ptb_bot.get_updates()
    fake_bot.set_conflict(False)
    fake_bot.fail_with_5xx(1.0)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await ptb_bot.get_me()
    fake_bot.fail_with_5xx(0.0)
    fake_bot.revoke()
    with pytest.raises(InvalidToken, match="Unauthorized"):
        await ptb_bot.get_me()


async def test_webhook_info(ptb_bot: Bot, telegram: FakeTelegram, token: str) -> None:
    assert await ptb_bot.set_webhook("https://hooks.example.org/bot", max_connections=5)
    telegram.bot(token).set_webhook_error("Connection refused", at=1_700_000_000)
    info = await ptb_bot.get_webhook_info()
    assert info.url == "https://hooks.example.org/bot"
    assert info.max_connections == 5
    assert info.last_error_message == "Connection refused"
    assert info.last_error_date == dtm.datetime.fromtimestamp(1_700_000_000, dtm.UTC)
    assert await ptb_bot.delete_webhook()


async def test_application_answers_start_command(telegram: FakeTelegram, token: str) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_user is not None
        await update.effective_message.reply_text(f"Hi {update.effective_user.first_name}!")

    app = ApplicationBuilder().token(token).base_url(telegram.api_base).build()
    app.add_handler(CommandHandler("start", start))
    fake_bot = telegram.bot(token)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=10)
        fake_bot.push_update("/start", chat_id=555, first_name="Ada")
        for _ in range(500):
            if fake_bot.messages_to(555):
                break
            await asyncio.sleep(0.01)
        await app.updater.stop()
        await app.stop()

    assert [m["text"] for m in fake_bot.messages_to(555)] == ["Hi Ada!"]
    # The updater confirmed what it processed on the way out.
    assert fake_bot.pending_update_count == 0
    assert fake_bot.method_calls["deleteWebhook"] == 1
    assert fake_bot.stats["409"] == 0 and fake_bot.stats["404"] == 0


_POLLING_BOT = """
import sys
from telegram.ext import ApplicationBuilder, CommandHandler

async def start(update, context):
    await update.effective_message.reply_text("pong")

async def announce(app):
    print("ready", flush=True)

app = ApplicationBuilder().token(sys.argv[2]).base_url(sys.argv[1]).post_init(announce).build()
app.add_handler(CommandHandler("start", start))
app.run_polling(timeout=10)
"""


async def test_run_polling_bot_process(telegram: FakeTelegram, token: str, tmp_path: Path) -> None:
    script = tmp_path / "polling_bot.py"
    script.write_text(_POLLING_BOT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        str(script),
        telegram.api_base,
        token,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    fake_bot = telegram.bot(token)
    try:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), timeout=60) == b"ready\n"
        fake_bot.push_update("/start", chat_id=31)
        for _ in range(3000):
            if fake_bot.messages_to(31):
                break
            await asyncio.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, stderr.decode()
    assert stderr == b""
    assert [m["text"] for m in fake_bot.messages_to(31)] == ["pong"]
    assert fake_bot.pending_update_count == 0
    assert fake_bot.stats["ok"] >= 4  # getMe, deleteWebhook, getUpdates..., sendMessage
