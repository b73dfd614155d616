"""The fake Discord REST API over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from botwatch.clock import ManualClock
from botwatch.fakes import FakeDiscord

TOKEN = "MTIzNDU2Nzg5.fake.token"
AUTH = {"Authorization": f"Bot {TOKEN}"}
UNAUTHORIZED = {"message": "401: Unauthorized", "code": 0}


@pytest.fixture
async def discord(clock: ManualClock) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(clock=clock) as fake:
        fake.add_bot(TOKEN, "watchbot", id=987654321012345678)
        yield fake


async def _get(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.get(url, headers=headers) as response:
        return response.status, await response.json()


async def _post(
    http: aiohttp.ClientSession, discord: FakeDiscord, channel: int, body: Any
) -> tuple[int, Any, dict[str, str]]:
    url = f"{discord.api_base}/channels/{channel}/messages"
    async with http.post(url, json=body, headers=AUTH) as response:
        return response.status, await response.json(), dict(response.headers)


async def test_users_me(http: aiohttp.ClientSession, discord: FakeDiscord) -> None:
    status, user = await _get(http, f"{discord.api_base}/users/@me", AUTH)
    assert status == 200
    assert user["id"] == "987654321012345678"
    assert user["username"] == "watchbot"
    assert user["bot"] is True
    assert user["discriminator"] == "0"


async def test_unauthorized(http: aiohttp.ClientSession, discord: FakeDiscord) -> None:
    url = f"{discord.api_base}/users/@me"
    assert await _get(http, url) == (401, UNAUTHORIZED)
    assert await _get(http, url, {"Authorization": "Bot wrong"}) == (401, UNAUTHORIZED)
    assert await _get(http, url, {"Authorization": TOKEN}) == (401, UNAUTHORIZED)  # no "Bot "
    discord.bot(TOKEN).revoke()
    assert await _get(http, url, AUTH) == (401, UNAUTHORIZED)


async def test_gateway_bot(http: aiohttp.ClientSession, discord: FakeDiscord) -> None:
    status, body = await _get(http, f"{discord.api_base}/gateway/bot", AUTH)
    assert status == 200
    assert body["url"].startswith("wss://")
    assert body["shards"] == 1
    assert set(body["session_start_limit"]) == {
        "total",
        "remaining",
        "reset_after",
        "max_concurrency",
    }
    assert (await _get(http, f"{discord.api_base}/nowhere", AUTH)) == (
        404,
        {"message": "404: Not Found", "code": 0},
    )


async def test_messages_and_rate_limit(
    http: aiohttp.ClientSession, discord: FakeDiscord, clock: ManualClock
) -> None:
    for i in range(5):
        status, message, headers = await _post(http, discord, 42, {"content": f"m{i}"})
        assert status == 200
        assert message["content"] == f"m{i}" and message["channel_id"] == "42"
        assert message["author"]["bot"] is True
        assert headers["X-RateLimit-Limit"] == "5"
        assert headers["X-RateLimit-Remaining"] == str(4 - i)
    clock.advance(1.5)
    status, body, headers = await _post(http, discord, 42, {"content": "m5"})
    assert status == 429
    assert body == {"message": "You are being rate limited.", "retry_after": 3.5, "global": False}
    assert headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Reset-After"] == "3.500"
    assert headers["Retry-After"] == "4"
    assert "X-RateLimit-Bucket" in headers
    # Another channel has its own bucket.
    assert (await _post(http, discord, 43, {"content": "elsewhere"}))[0] == 200
    clock.advance(3.5)
    assert (await _post(http, discord, 42, {"content": "m5"}))[0] == 200
    bot = discord.bot(TOKEN)
    assert len(bot.sent) == 7 and bot.stats["429"] == 1


async def test_message_validation_and_channel_faults(
    http: aiohttp.ClientSession, discord: FakeDiscord
) -> None:
    status, body, _ = await _post(http, discord, 1, {"content": ""})
    assert (status, body) == (400, {"message": "Cannot send an empty message", "code": 50006})
    status, body, _ = await _post(http, discord, 2, {"content": "x" * 2001})
    assert status == 400 and body["code"] == 50035
    discord.bot(TOKEN).remove_channel(3)
    assert (await _post(http, discord, 3, {"content": "x"}))[:2] == (
        404,
        {"message": "Unknown Channel", "code": 10003},
    )
    discord.bot(TOKEN).forbid_channel(4)
    assert (await _post(http, discord, 4, {"content": "x"}))[:2] == (
        403,
        {"message": "Missing Access", "code": 50001},
    )


async def test_5xx_and_latency(http: aiohttp.ClientSession, discord: FakeDiscord) -> None:
    bot = discord.bot(TOKEN)
    bot.set_latency(0.01)
    bot.fail_with_5xx(1.0, code=503)
    assert await _get(http, f"{discord.api_base}/users/@me", AUTH) == (
        503,
        {"message": "503: Service Unavailable", "code": 0},
    )
    bot.fail_with_5xx(0.0)
    assert (await _get(http, f"{discord.api_base}/users/@me", AUTH))[0] == 200
    assert bot.stats["5xx"] == 1


async def test_control_endpoint(http: aiohttp.ClientSession, discord: FakeDiscord) -> None:
    control = f"{discord.base_url}/_fake/bots/{TOKEN}"
    async with http.post(f"{control}/faults", json={"revoked": True}) as response:
        assert (await response.json())["faults"]["revoked"] is True
    assert (await _get(http, f"{discord.api_base}/users/@me", AUTH))[0] == 401
    async with http.post(f"{control}/faults", json={"reset": True}) as response:
        assert response.status == 200
    status, stats = await _get(http, f"{control}/stats")
    assert status == 200 and stats["stats"]["401"] == 1
