"""The fake Bot API over real HTTP: envelopes, errors, faults, updates, webhooks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from botwatch.clock import ManualClock
from botwatch.fakes import FakeTelegram, TelegramLimits

BLOCKED = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
UNAUTHORIZED = {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_get_me_envelope(api: Any, telegram: FakeTelegram) -> None:
    status, body = await api("getMe")
    assert status == 200
    assert body["ok"] is True
    me = body["result"]
    assert me["id"] == 123456  # the numeric head of the token, as on Telegram
    assert me["is_bot"] is True
    assert me["username"] == "watch_test_bot"
    assert me["first_name"] == "Watch Test"


async def test_unknown_token_and_method(api: Any, telegram: FakeTelegram) -> None:
    assert await api("getMe", token="999:nope") == (401, UNAUTHORIZED)
    assert telegram.unknown_token_requests == 1
    status, body = await api("noSuchMethod")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})


async def test_method_names_are_case_insensitive(api: Any) -> None:
    status, body = await api("getme")
    assert status == 200 and body["result"]["username"] == "watch_test_bot"


async def test_revoked_token(api: Any, telegram: FakeTelegram, token: str) -> None:
    telegram.bot(token).revoke()
    assert await api("getMe") == (401, UNAUTHORIZED)
    assert await api("sendMessage", chat_id=1, text="x") == (401, UNAUTHORIZED)
    telegram.bot(token).unrevoke()
    assert (await api("getMe"))[0] == 200


async def test_send_message_returns_a_message(
    api: Any, telegram: FakeTelegram, token: str, clock: ManualClock
) -> None:
    status, body = await api("sendMessage", chat_id=42, text="hello")
    assert status == 200
    message = body["result"]
    assert message["message_id"] == 1
    assert message["date"] == int(clock.time())
    assert message["text"] == "hello"
    assert message["chat"] == {"id": 42, "type": "private", "first_name": "User 42"}
    assert message["from"]["username"] == "watch_test_bot"
    assert message["from"]["is_bot"] is True
    assert telegram.bot(token).sent == [message]
    assert telegram.bot(token).stats["sent"] == 1


@pytest.mark.parametrize("encoding", ["query", "form", "multipart", "json"])
async def test_parameters_in_every_encoding(
    http: aiohttp.ClientSession, telegram: FakeTelegram, token: str, encoding: str
) -> None:
    url = telegram.api_url(token, "sendMessage")
    params = {"chat_id": "-100777", "text": "héllo"}
    if encoding == "query":
        request = http.get(url, params=params)
    elif encoding == "form":
        request = http.post(url, data=params)
    elif encoding == "multipart":
        form = aiohttp.FormData()
        for key, value in params.items():
            form.add_field(key, value)
        form.add_field("document", b"binary", filename="a.bin")  # forces multipart
        request = http.post(url, data=form)
    else:
        request = http.post(url, json={"chat_id": -100777, "text": "héllo"})
    async with request as response:
        body = await response.json()
    assert response.status == 200, body
    assert body["result"]["chat"]["id"] == -100777
    assert body["result"]["text"] == "héllo"


async def test_json_encoded_values_in_forms(
    http: aiohttp.ClientSession, telegram: FakeTelegram, token: str
) -> None:
    # python-telegram-bot sends a urlencoded form whose non-string values are JSON.
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    data = {"chat_id": "5", "text": "pick", "reply_markup": json.dumps(markup)}
    async with http.post(telegram.api_url(token, "sendMessage"), data=data) as response:
        body = await response.json()
    assert body["result"]["reply_markup"] == markup


async def test_send_message_validation(api: Any) -> None:
    empty = {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
    assert await api("sendMessage", chat_id=1, text="") == (400, empty)
    assert await api("sendMessage", chat_id=1, text="  \n ") == (400, empty)
    assert await api("sendMessage", chat_id=1) == (400, empty)
    too_long = {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
    assert await api("sendMessage", chat_id=1, text="x" * 4097) == (400, too_long)
    assert (await api("sendMessage", chat_id=1, text="x" * 4096))[0] == 200
    no_chat = {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"}
    assert await api("sendMessage", text="hi") == (400, no_chat)


async def test_chat_faults(
    api: Any, telegram: FakeTelegram, token: str, clock: ManualClock
) -> None:
    bot = telegram.bot(token)
    bot.block_user(10)
    bot.deactivate_user(11)
    bot.remove_chat(12)
    bot.kick_from_chat(-13)
    assert await api("sendMessage", chat_id=10, text="x") == (403, BLOCKED)
    assert await api("sendMessage", chat_id=11, text="x") == (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: user is deactivated"},
    )
    assert await api("sendMessage", chat_id=12, text="x") == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
    )
    assert await api("sendMessage", chat_id=-13, text="x") == (
        403,
        {
            "ok": False,
            "error_code": 403,
            "description": "Forbidden: bot was kicked from the group chat",
        },
    )
    assert bot.stats["403"] == 3 and bot.stats["400"] == 1
    assert bot.sent == []
    bot.restore_chat(10)
    clock.advance(1.0)  # the refused send still used the chat's one message a second
    assert (await api("sendMessage", chat_id=10, text="x"))[0] == 200


async def test_5xx_faults(api: Any, telegram: FakeTelegram, token: str) -> None:
    bot = telegram.bot(token)
    bot.fail_with_5xx(1.0)
    assert await api("getMe") == (
        502,
        {"ok": False, "error_code": 502, "description": "Bad Gateway"},
    )
    bot.fail_with_5xx(1.0, code=500)
    assert await api("getMe") == (
        500,
        {"ok": False, "error_code": 500, "description": "Internal Server Error"},
    )
    bot.fail_with_5xx(0.5)
    statuses = [(await api("getMe"))[0] for _ in range(60)]
    assert set(statuses) == {200, 502}
    assert bot.stats["5xx"] == 2 + statuses.count(502)
    bot.fail_with_5xx(0.0)
    assert (await api("getMe"))[0] == 200
    with pytest.raises(ValueError):
        bot.fail_with_5xx(1.5)


async def test_latency_still_answers(api: Any, telegram: FakeTelegram, token: str) -> None:
    telegram.bot(token).set_latency(0.01)
    assert (await api("getMe"))[0] == 200


# -- flood control -------------------------------------------------------------


def _too_many(retry_after: int) -> dict[str, Any]:
    return {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


async def test_31st_message_in_a_second_is_refused(
    api: Any, telegram: FakeTelegram, token: str, clock: ManualClock
) -> None:
    for chat_id in range(1, 31):
        status, body = await api("sendMessage", chat_id=chat_id, text="hi")
        assert status == 200, body
    assert await api("sendMessage", chat_id=31, text="hi") == (429, _too_many(1))
    clock.advance(0.5)
    assert (await api("sendMessage", chat_id=31, text="hi"))[0] == 429
    clock.advance(0.5)
    assert (await api("sendMessage", chat_id=31, text="hi"))[0] == 200
    bot = telegram.bot(token)
    assert bot.stats["429"] == 2
    assert bot.stats["sent"] == 31


async def test_second_message_to_a_private_chat_within_a_second(
    api: Any, clock: ManualClock
) -> None:
    assert (await api("sendMessage", chat_id=7, text="one"))[0] == 200
    assert await api("sendMessage", chat_id=7, text="two") == (429, _too_many(1))
    assert (await api("sendMessage", chat_id=8, text="other chat"))[0] == 200
    clock.advance(1.0)
    assert (await api("sendMessage", chat_id=7, text="two"))[0] == 200


async def test_21st_message_to_a_group_in_a_minute(api: Any, clock: ManualClock) -> None:
    # Spread over the minute, so only the per-group limit can refuse it.
    for _ in range(20):
        assert (await api("sendMessage", chat_id=-500, text="news"))[0] == 200
        clock.advance(2.0)
    # 40 s have passed; the first message leaves the window at 60 s.
    assert await api("sendMessage", chat_id=-500, text="news") == (429, _too_many(20))
    clock.advance(20.0)
    assert (await api("sendMessage", chat_id=-500, text="news"))[0] == 200


async def test_private_chat_burst_is_configurable(http: aiohttp.ClientSession) -> None:
    clock = ManualClock()
    limits = TelegramLimits(private_chat_messages=3, private_chat_window=3.0)
    async with FakeTelegram(clock=clock, limits=limits) as fake:
        fake.add_bot("1:a", "a_bot")
        statuses = []
        for _ in range(4):
            url = fake.api_url("1:a", "sendMessage")
            async with http.post(url, json={"chat_id": 1, "text": "x"}) as response:
                statuses.append(response.status)
        assert statuses == [200, 200, 200, 429]


async def test_flood_wait_switch(api: Any, telegram: FakeTelegram, token: str) -> None:
    telegram.bot(token).set_flood_wait(35)
    assert await api("sendMessage", chat_id=1, text="x") == (429, _too_many(35))
    telegram.bot(token).set_flood_wait(None)
    assert (await api("sendMessage", chat_id=1, text="x"))[0] == 200


async def test_unlimited(http: aiohttp.ClientSession) -> None:
    async with FakeTelegram(clock=ManualClock(), limits=TelegramLimits.unlimited()) as fake:
        fake.add_bot("1:a", "a_bot")
        for _ in range(50):
            url = fake.api_url("1:a", "sendMessage")
            async with http.post(url, json={"chat_id": 1, "text": "x"}) as response:
                assert response.status == 200
        assert len(fake.bot("1:a").sent) == 50


# -- updates -------------------------------------------------------------------


async def test_get_updates_offset_confirms(api: Any, telegram: FakeTelegram, token: str) -> None:
    bot = telegram.bot(token)
    first = bot.push_update("/start", chat_id=77)
    second = bot.push_update("hello", chat_id=77)
    assert first["update_id"] + 1 == second["update_id"]
    message = first["message"]
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert message["chat"]["type"] == "private" and message["from"]["id"] == 77

    status, body = await api("getUpdates")
    assert status == 200 and body["result"] == [first, second]
    # Without confirmation the same updates come again.
    assert (await api("getUpdates", limit=1))[1]["result"] == [first]
    assert (await api("getUpdates", offset=second["update_id"]))[1]["result"] == [second]
    assert bot.pending_update_count == 1
    assert (await api("getUpdates", offset=second["update_id"] + 1))[1]["result"] == []
    assert bot.pending_update_count == 0


async def test_get_updates_negative_offset(api: Any, telegram: FakeTelegram, token: str) -> None:
    bot = telegram.bot(token)
    updates = [bot.push_update(f"m{i}") for i in range(3)]
    assert (await api("getUpdates", offset=-1))[1]["result"] == [updates[2]]
    assert bot.pending_update_count == 1


async def test_long_poll_returns_when_an_update_arrives(
    api: Any, telegram: FakeTelegram, token: str
) -> None:
    poll = asyncio.create_task(api("getUpdates", timeout=30))
    await asyncio.sleep(0.05)
    assert not poll.done()
    update = telegram.bot(token).push_update("ping")
    status, body = await poll
    assert status == 200 and body["result"] == [update]


async def test_long_poll_times_out_empty(api: Any) -> None:
    assert await api("getUpdates", timeout=0.05) == (200, {"ok": True, "result": []})


async def test_newer_get_updates_terminates_the_waiting_one(api: Any) -> None:
    first = asyncio.create_task(api("getUpdates", timeout=30))
    await asyncio.sleep(0.05)
    second = await api("getUpdates", timeout=0)
    assert second == (200, {"ok": True, "result": []})
    conflict = (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    )
    assert await first == (409, {"ok": False, "error_code": 409, "description": conflict})


async def test_conflict_switch(api: Any, telegram: FakeTelegram, token: str) -> None:
    telegram.bot(token).set_conflict(True)
    status, body = await api("getUpdates")
    assert status == 409
    assert body["description"].startswith("Conflict: terminated by other getUpdates request")
    telegram.bot(token).set_conflict(False)
    assert (await api("getUpdates"))[0] == 200


async def test_stop_releases_a_waiting_long_poll(
    http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    fake = FakeTelegram(clock=clock)
    fake.add_bot("1:a", "a_bot")
    await fake.start()
    url = fake.api_url("1:a", "getUpdates")

    async def poll() -> dict[str, Any]:
        async with http.post(url, json={"timeout": 50}) as response:
            result: dict[str, Any] = await response.json()
            return result

    waiting = asyncio.create_task(poll())
    await asyncio.sleep(0.05)
    await fake.stop()
    assert await waiting == {"ok": True, "result": []}


# -- webhooks ------------------------------------------------------------------


async def test_webhook_info_and_conflict(
    api: Any, telegram: FakeTelegram, token: str, clock: ManualClock
) -> None:
    bot = telegram.bot(token)
    bot.push_update("queued")
    assert await api("getWebhookInfo") == (
        200,
        {
            "ok": True,
            "result": {"url": "", "has_custom_certificate": False, "pending_update_count": 1},
        },
    )
    hook = "https://bots.example.com/hook"
    assert await api("setWebhook", url=hook, ip_address="203.0.113.5", max_connections=10) == (
        200,
        {"ok": True, "result": True, "description": "Webhook was set"},
    )
    conflict = (
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first"
    )
    assert await api("getUpdates") == (
        409,
        {"ok": False, "error_code": 409, "description": conflict},
    )
    bot.set_webhook_error("Wrong response from the webhook: 502 Bad Gateway", at=1_700_000_100)
    info = (await api("getWebhookInfo"))[1]["result"]
    assert info["url"] == hook
    assert info["ip_address"] == "203.0.113.5"
    assert info["max_connections"] == 10
    assert info["pending_update_count"] == 1  # the host cannot be reached from the fake
    assert info["last_error_date"] == 1_700_000_100
    assert info["last_error_message"] == "Wrong response from the webhook: 502 Bad Gateway"

    assert await api("deleteWebhook", drop_pending_updates=True) == (
        200,
        {"ok": True, "result": True, "description": "Webhook was deleted"},
    )
    info = (await api("getWebhookInfo"))[1]["result"]
    assert info["url"] == "" and info["pending_update_count"] == 0
    assert (await api("getUpdates"))[0] == 200


async def test_set_webhook_validation(api: Any) -> None:
    status, body = await api("setWebhook", url="ftp://x")
    assert status == 400
    assert (
        body["description"] == "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
    )
    status, body = await api("setWebhook", url="https://x.example/h", secret_token="bad token!")
    assert (status, body["description"]) == (
        400,
        "Bad Request: secret token contains unallowed characters",
    )


async def test_webhook_delivery(api: Any, telegram: FakeTelegram, token: str) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []
    fail = {"on": True}

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        return web.Response(status=500 if fail["on"] else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        telegram.webhook_retry_interval = 0.01
        await api("setWebhook", url=f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        bot = telegram.bot(token)
        update = bot.push_update("via webhook")
        for _ in range(200):
            if bot.last_error_message:
                break
            await asyncio.sleep(0.01)
        info = (await api("getWebhookInfo"))[1]["result"]
        assert (
            info["last_error_message"]
            == "Wrong response from the webhook: 500 Internal Server Error"
        )
        assert info["pending_update_count"] == 1
        fail["on"] = False
        for _ in range(200):
            if bot.pending_update_count == 0:
                break
            await asyncio.sleep(0.01)
        assert bot.pending_update_count == 0
        assert received[-1] == (update, "s3cret")
        assert bot.stats["webhook_delivered"] == 1 and bot.stats["webhook_failed"] >= 1
    finally:
        await api("deleteWebhook")
        await runner.cleanup()


# -- other methods -------------------------------------------------------------


async def test_commands_and_small_methods(api: Any, telegram: FakeTelegram, token: str) -> None:
    commands = [{"command": "start", "description": "Start the bot"}]
    assert await api("setMyCommands", commands=commands) == (200, {"ok": True, "result": True})
    assert (await api("getMyCommands"))[1]["result"] == commands
    bad = [{"command": "Bad!", "description": "x"}]
    assert await api("setMyCommands", commands=bad) == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: BOT_COMMAND_INVALID"},
    )
    assert (await api("deleteMyCommands"))[1]["result"] is True
    assert (await api("getMyCommands"))[1]["result"] == []
    assert (await api("sendChatAction", chat_id=5, action="typing"))[1]["result"] is True
    assert (await api("close"))[1]["result"] is True
    assert (await api("logOut"))[1]["result"] is True

    sent = (await api("sendMessage", chat_id=5, text="draft"))[1]["result"]
    edited = await api("editMessageText", chat_id=5, message_id=sent["message_id"], text="final")
    assert edited[1]["result"]["text"] == "final"
    assert (await api("deleteMessage", chat_id=5, message_id=sent["message_id"]))[0] == 200
    assert await api("deleteMessage", chat_id=5, message_id=sent["message_id"]) == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: message to delete not found"},
    )
    assert (await api("getChat", chat_id=5))[0] == 400
    telegram.bot(token).push_update("hi", chat_id=5)
    assert (await api("getChat", chat_id=5))[1]["result"]["id"] == 5


# -- control endpoint ----------------------------------------------------------


async def test_control_endpoint(
    http: aiohttp.ClientSession, api: Any, telegram: FakeTelegram, token: str
) -> None:
    control = f"{telegram.base_url}/_fake/bots/{token}"
    faults = {"block": [10], "conflict": True, "fail_5xx": {"rate": 0.0, "code": 503}}
    async with http.post(f"{control}/faults", json=faults) as response:
        assert response.status == 200
        state = await response.json()
    assert state["conflict"] is True
    assert state["chats"] == {"10": "Forbidden: bot was blocked by the user"}
    assert await api("sendMessage", chat_id=10, text="x") == (403, BLOCKED)

    async with http.post(f"{control}/updates", json={"text": "/help", "chat_id": 9}) as response:
        update = await response.json()
    assert update["message"]["text"] == "/help"

    async with http.get(f"{control}/stats") as response:
        stats = await response.json()
    assert stats["stats"]["403"] == 1
    assert stats["methods"] == {"sendMessage": 1}
    assert stats["pending_update_count"] == 1

    async with http.post(f"{control}/faults", json={"reset": True}) as response:
        assert (await response.json())["conflict"] is False
    async with http.post(f"{control}/faults", json={"nonsense": 1}) as response:
        assert response.status == 400
    async with http.get(f"{telegram.base_url}/_fake/bots/nope/stats") as response:
        assert response.status == 404

    async with http.post(
        f"{telegram.base_url}/_fake/bots", json={"token": "42:new", "username": "new_bot"}
    ) as response:
        assert response.status == 201
    assert (await api("getMe", token="42:new"))[1]["result"]["username"] == "new_bot"
    async with http.get(f"{control}/sent") as response:
        assert (await response.json()) == {"sent": []}


async def test_other_paths_get_the_api_404(
    http: aiohttp.ClientSession, telegram: FakeTelegram
) -> None:
    for path in ("/", "/bot123456:AAF-fake-token", "/nothing/here"):
        async with http.get(f"{telegram.base_url}{path}") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
