"""The telegram probe against the fake Bot API (and a few hand-made answers)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from botwatch.clock import ManualClock
from botwatch.config import LoadedConfig, parse_config
from botwatch.fakes import FakeTelegram
from botwatch.probes import ProbeContext, ProbeResult, Status, build_probes
from botwatch.probes.telegram import TelegramProbe, redact_token

TOKEN = "123456:AAF-secret-part-of-the-token"
SECRET = "AAF-secret-part-of-the-token"
CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def ctx(clock: ManualClock) -> AsyncIterator[ProbeContext]:
    c = ProbeContext(clock=clock)
    yield c
    await c.close()


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(clock=clock) as f:
        f.add_bot(TOKEN, "watch_bot")
        yield f


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Serve a hand-made Bot API; returns its base URL."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


def answering(status: int, body: dict[str, Any]) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_get("/bot{token}/{method}", handler)
    return app


def probe(api_url: str, token: str = TOKEN, **kw: Any) -> TelegramProbe:
    return TelegramProbe(bot="b", name="telegram", token=token, api_url=api_url, **kw)


def values(r: ProbeResult) -> dict[str, float]:
    return {s.name: s.value for s in r.samples}


def assert_no_secret(r: ProbeResult) -> None:
    assert SECRET not in json.dumps(r.to_dict())


async def test_a_working_polling_bot_is_ok(fake: FakeTelegram, ctx: ProbeContext) -> None:
    r = await probe(fake.base_url).run(ctx)
    assert r.status is Status.OK
    assert r.reason == "@watch_bot ok, polling, 0 pending updates"
    assert r.details["username"] == "watch_bot" and r.details["mode"] == "polling"
    v = values(r)
    assert v["telegram_up"] == 1 and v["telegram_pending_updates"] == 0
    assert v["telegram_error_code"] == 0
    assert v["telegram_response_seconds"] >= 0
    assert_no_secret(r)


async def test_the_ptb_style_base_url_works_too(fake: FakeTelegram, ctx: ProbeContext) -> None:
    p = probe(fake.api_base)  # ".../bot", as python-telegram-bot's base_url
    assert p.target == f"{fake.base_url}/bot123456:***"
    assert (await p.run(ctx)).status is Status.OK


async def test_a_revoked_token_is_critical(fake: FakeTelegram, ctx: ProbeContext) -> None:
    fake.bot(TOKEN).revoke()
    r = await probe(fake.base_url).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == "invalid token (401 Unauthorized)"
    assert values(r)["telegram_up"] == 0 and values(r)["telegram_error_code"] == 401
    assert_no_secret(r)


async def test_an_unknown_token_is_critical(fake: FakeTelegram, ctx: ProbeContext) -> None:
    r = await probe(fake.base_url, token="999:nope").run(ctx)
    assert r.status is Status.CRIT and r.reason == "invalid token (401 Unauthorized)"


async def test_pending_updates_warn_then_go_critical(fake: FakeTelegram, ctx: ProbeContext) -> None:
    bot = fake.bot(TOKEN)
    for i in range(101):
        bot.push_update(f"hello {i}")
    r = await probe(fake.base_url).run(ctx)
    assert r.status is Status.WARN
    assert r.reason == "@watch_bot: 101 updates waiting to be fetched (more than 100)"
    assert values(r)["telegram_pending_updates"] == 101
    for i in range(900):
        bot.push_update(f"more {i}")
    r = await probe(fake.base_url).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == "@watch_bot: 1001 updates waiting to be fetched (more than 1000)"


async def set_webhook(fake: FakeTelegram, url: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(fake.api_url(TOKEN, "setWebhook"), json={"url": url}) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def test_a_recent_webhook_error_is_a_warning(
    fake: FakeTelegram, ctx: ProbeContext, clock: ManualClock, free_port: int
) -> None:
    # Bots often put the token in the webhook path: it must not leak from there either.
    await set_webhook(fake, f"http://127.0.0.1:{free_port}/hook/{TOKEN}")
    fake.bot(TOKEN).set_webhook_error(
        "Wrong response from the webhook: 502 Bad Gateway", at=clock.time() - 120
    )
    r = await probe(fake.base_url).run(ctx)
    assert r.status is Status.WARN
    assert r.reason == (
        "@watch_bot: webhook error 2m ago: Wrong response from the webhook: 502 Bad Gateway"
    )
    assert r.details["mode"] == "webhook"
    assert r.details["webhook_url"] == f"http://127.0.0.1:{free_port}/hook/123456:***"
    assert values(r)["telegram_webhook_last_error_age_seconds"] == 120
    assert_no_secret(r)

    clock.advance(3600)  # an hour later the same error is history, not a problem
    r = await probe(fake.base_url).run(ctx)
    assert r.status is Status.OK
    assert r.reason == "@watch_bot ok, webhook, 0 pending updates"
    assert r.details["last_error"] == "Wrong response from the webhook: 502 Bad Gateway"


async def test_a_5xx_from_the_api_is_critical(fake: FakeTelegram, ctx: ProbeContext) -> None:
    fake.bot(TOKEN).fail_with_5xx(1.0, 502)
    r = await probe(fake.base_url).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == "getMe: Telegram API unavailable (HTTP 502 Bad Gateway)"


async def test_a_conflict_is_critical_with_the_exact_description(
    serve: Any, ctx: ProbeContext
) -> None:
    # The probe never calls getUpdates (that would steal a polling bot's updates), so
    # the fake's conflict switch can't reach it; a Bot API answering 409 to any call
    # is reported verbatim.
    body = {"ok": False, "error_code": 409, "description": CONFLICT}
    r = await probe(await serve(answering(409, body))).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == CONFLICT
    assert values(r)["telegram_error_code"] == 409


async def test_rate_limited_is_a_warning_with_retry_after(serve: Any, ctx: ProbeContext) -> None:
    body = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 5",
        "parameters": {"retry_after": 5},
    }
    r = await probe(await serve(answering(429, body))).run(ctx)
    assert r.status is Status.WARN
    assert r.reason == "rate limited by Telegram (429), retry after 5s"
    assert r.details["retry_after"] == 5
    assert values(r)["telegram_up"] == 1


async def test_a_non_api_answer_is_critical(serve: Any, ctx: ProbeContext) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="<h1>Welcome to nginx</h1>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/bot{token}/{method}", handler)
    r = await probe(await serve(app)).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == "getMe: Telegram API unavailable (HTTP 200 OK, not a Bot API response)"


async def test_an_api_that_never_answers_times_out(ctx: ProbeContext) -> None:
    held: list[asyncio.StreamWriter] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        r = await probe(f"http://127.0.0.1:{port}", timeout=0.3).run(ctx)
    finally:
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()
    assert r.status is Status.CRIT
    assert r.reason == "timed out after 0.3s"


async def test_connection_refused_is_critical_and_redacted(
    free_port: int, ctx: ProbeContext
) -> None:
    r = await probe(f"http://127.0.0.1:{free_port}").run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == "getMe: cannot connect: Connection refused"
    assert_no_secret(r)


def test_redact_token() -> None:
    assert redact_token(f"GET /bot{TOKEN}/getMe", TOKEN) == "GET /bot123456:***/getMe"
    assert redact_token("no token here", TOKEN) == "no token here"
    assert redact_token("x abc y", "abc") == "x *** y"


async def test_from_bot_reads_kind_token_api_url_and_overrides(
    tmp_path: Path, fake: FakeTelegram, ctx: ProbeContext
) -> None:
    text = f"""
bots:
  alpha: {{kind: telegram, token: "${{ALPHA_TOKEN}}", api_url: "{fake.base_url}",
           checks: {{telegram: {{interval: 1m}}}}}}
  beta: {{kind: telegram, token: "1:x", checks: {{telegram: {{enabled: false}}}}}}
  gamma: {{kind: telegram}}
  delta: {{kind: generic, token: "2:y"}}
"""
    config = parse_config(text, env={"ALPHA_TOKEN": TOKEN})
    probes = [
        p
        for p in build_probes(LoadedConfig(config, tmp_path / "b.yml", tmp_path))
        if p.kind == "telegram"
    ]
    assert [(p.bot, p.name, p.interval) for p in probes] == [("alpha", "telegram", 60.0)]
    assert SECRET not in repr(probes[0]) and SECRET not in probes[0].target
    r = await probes[0].run(ctx)
    assert r.status is Status.OK and r.details["username"] == "watch_bot"


async def test_errors_that_quote_the_url_are_redacted(ctx: ProbeContext) -> None:
    r = await probe("http://127.0.0.1:notaport").run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == "getMe: invalid URL: http://127.0.0.1:notaport/bot123456:***/getMe"
    assert_no_secret(r)
