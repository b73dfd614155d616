"""Fixtures for the fakes' tests: real servers on loopback, a manual clock, a real client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from botwatch.clock import ManualClock
from botwatch.fakes import FakeTelegram

TOKEN = "123456:AAF-fake-token"

ApiCall = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def telegram(clock: ManualClock) -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(clock=clock)
    fake.add_bot(TOKEN, "watch_test_bot", first_name="Watch Test")
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def api(http: aiohttp.ClientSession, telegram: FakeTelegram) -> ApiCall:
    """POST a Bot API method with a JSON body; returns (HTTP status, decoded body)."""

    async def call(method: str, token: str = TOKEN, **params: Any) -> tuple[int, dict[str, Any]]:
        async with http.post(telegram.api_url(token, method), json=params) as response:
            assert response.content_type == "application/json"
            return response.status, await response.json()

    return call
