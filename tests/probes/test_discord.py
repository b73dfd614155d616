"""The discord probe against the fake Discord REST API (and a hand-made 429)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from botwatch.config import LoadedConfig, parse_config
from botwatch.fakes import FakeDiscord
from botwatch.probes import ProbeContext, ProbeResult, Status, build_probes
from botwatch.probes.discord import DiscordProbe

TOKEN = "MTIzNDU2Nzg5.secret-discord-token"


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    c = ProbeContext()
    yield c
    await c.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as f:
        f.add_bot(TOKEN, "watch-bot", id=424242)
        yield f


def probe(api_url: str, token: str = TOKEN, **kw: Any) -> DiscordProbe:
    return DiscordProbe(bot="b", name="discord", token=token, api_url=api_url, **kw)


def values(r: ProbeResult) -> dict[str, float]:
    return {s.name: s.value for s in r.samples}


async def test_a_valid_token_is_ok(fake: FakeDiscord, ctx: ProbeContext) -> None:
    r = await probe(fake.api_base).run(ctx)
    assert r.status is Status.OK
    assert r.reason == "logged in as watch-bot (424242)"
    assert r.details == {"status_code": 200, "username": "watch-bot", "id": "424242", "bot": True}
    assert values(r)["discord_up"] == 1 and values(r)["discord_response_seconds"] >= 0


async def test_a_revoked_token_is_critical(fake: FakeDiscord, ctx: ProbeContext) -> None:
    fake.bot(TOKEN).revoke()
    r = await probe(fake.api_base).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == "invalid token (401 Unauthorized)"
    assert values(r)["discord_up"] == 0
    assert "secret-discord-token" not in json.dumps(r.to_dict())


async def test_an_unknown_token_is_critical(fake: FakeDiscord, ctx: ProbeContext) -> None:
    r = await probe(fake.api_base, token="other").run(ctx)
    assert r.status is Status.CRIT and r.reason == "invalid token (401 Unauthorized)"


async def test_a_5xx_is_critical(fake: FakeDiscord, ctx: ProbeContext) -> None:
    fake.bot(TOKEN).fail_with_5xx(1.0, 503)
    r = await probe(fake.api_base).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == "Discord API unavailable (HTTP 503 Service Unavailable)"


async def test_a_slow_api_is_cut_off_by_the_timeout(fake: FakeDiscord, ctx: ProbeContext) -> None:
    fake.bot(TOKEN).set_latency(5.0)
    r = await probe(fake.api_base, timeout=0.3).run(ctx)
    assert r.status is Status.CRIT and r.reason == "timed out after 0.3s"


async def test_rate_limited_is_a_warning(ctx: ProbeContext) -> None:
    async def handler(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == f"Bot {TOKEN}"
        body = {"message": "You are being rate limited.", "retry_after": 1.5, "global": False}
        return web.json_response(body, status=429, headers={"Retry-After": "2"})

    app = web.Application()
    app.router.add_get("/api/v10/users/@me", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        r = await probe(str(server.make_url("/api/v10"))).run(ctx)
    finally:
        await server.close()
    assert r.status is Status.WARN
    assert r.reason == "rate limited by Discord (429), retry after 1.5s"
    assert r.details["retry_after"] == 1.5 and r.details["global"] is False


async def test_connection_refused_is_critical(free_port: int, ctx: ProbeContext) -> None:
    r = await probe(f"http://127.0.0.1:{free_port}/api/v10").run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == "cannot connect: Connection refused"


async def test_from_bot(tmp_path: Path, fake: FakeDiscord, ctx: ProbeContext) -> None:
    text = f"""
bots:
  alpha: {{kind: discord, token: "{TOKEN}", api_url: "{fake.api_base}/"}}
  beta: {{kind: discord, token: "x", checks: {{discord: {{enabled: false}}}}}}
  gamma: {{kind: telegram, token: "1:y"}}
"""
    loaded = LoadedConfig(parse_config(text), tmp_path / "botwatch.yml", tmp_path)
    probes = [p for p in build_probes(loaded) if p.kind == "discord"]
    assert [(p.bot, p.name) for p in probes] == [("alpha", "discord")]
    assert probes[0].target == f"{fake.api_base}/users/@me"
    assert (await probes[0].run(ctx)).status is Status.OK
