"""The SDK health server, for real on loopback, read with an aiohttp client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from botwatch.clock import ManualClock
from botwatch.sdk import CheckResult, HealthServer, HealthStatus


@pytest.fixture
async def server() -> AsyncIterator[HealthServer]:
    s = HealthServer("127.0.0.1", 0, version="1.2.3")
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def get_json(session: aiohttp.ClientSession, server: HealthServer) -> tuple[int, Any]:
    async with session.get(f"http://127.0.0.1:{server.port}/health/json") as r:
        return r.status, await r.json()


async def get_plain(session: aiohttp.ClientSession, server: HealthServer) -> tuple[int, str]:
    async with session.get(f"http://127.0.0.1:{server.port}/health") as r:
        return r.status, await r.text()


async def ok() -> None:
    return None


async def broken() -> None:
    raise ConnectionRefusedError("connection refused")


async def test_healthy_with_every_component(
    server: HealthServer, session: aiohttp.ClientSession
) -> None:
    server.add_check("telegram", ok)
    server.add_check("cache", ok, critical=False)

    code, doc = await get_json(session, server)

    assert code == 200
    assert doc["status"] == "HEALTHY"
    assert doc["version"] == "1.2.3"
    assert doc["uptime_seconds"] >= 0
    assert set(doc["checks"]) == {"telegram", "cache"}
    for component in doc["checks"].values():
        assert component["status"] == "healthy"
        assert component["message"] == ""
        assert isinstance(component["latency_ms"], float | int)
    assert await get_plain(session, server) == (200, "OK")


async def test_no_components_is_healthy(
    server: HealthServer, session: aiohttp.ClientSession
) -> None:
    code, doc = await get_json(session, server)
    assert (code, doc["status"], doc["checks"]) == (200, "HEALTHY", {})


async def test_failing_non_critical_component_degrades(
    server: HealthServer, session: aiohttp.ClientSession
) -> None:
    server.add_check("telegram", ok)
    server.add_check("cache", broken, critical=False)

    code, doc = await get_json(session, server)

    assert code == 200
    assert doc["status"] == "DEGRADED"
    assert doc["checks"]["cache"]["status"] == "unhealthy"
    assert doc["checks"]["cache"]["message"] == "ConnectionRefusedError: connection refused"
    assert doc["checks"]["telegram"]["status"] == "healthy"
    assert (await get_plain(session, server))[0] == 200


async def test_failing_critical_component_is_unhealthy(
    server: HealthServer, session: aiohttp.ClientSession
) -> None:
    async def says_no() -> bool:
        return False

    server.add_check("telegram", ok)
    server.add_check("database", says_no)

    code, doc = await get_json(session, server)

    assert code == 503
    assert doc["status"] == "UNHEALTHY"
    assert doc["checks"]["database"] == {
        "status": "unhealthy",
        "message": "check failed",
        "latency_ms": doc["checks"]["database"]["latency_ms"],
    }
    assert await get_plain(session, server) == (503, "UNHEALTHY")


async def test_hanging_check_times_out(
    server: HealthServer, session: aiohttp.ClientSession
) -> None:
    hang = asyncio.Event()  # never set

    async def hangs() -> None:
        await hang.wait()

    server.add_check("database", hangs, timeout=0.2)

    code, doc = await get_json(session, server)

    assert code == 503
    assert doc["status"] == "UNHEALTHY"
    assert doc["checks"]["database"]["status"] == "unhealthy"
    assert doc["checks"]["database"]["message"] == "timed out after 0.2s"
    assert doc["checks"]["database"]["latency_ms"] is None


async def test_check_reporting_degraded_degrades_even_when_critical(
    server: HealthServer, session: aiohttp.ClientSession
) -> None:
    async def slow() -> CheckResult:
        return CheckResult(HealthStatus.DEGRADED, "p95 1200 ms")

    server.add_check("database", slow)

    code, doc = await get_json(session, server)

    assert (code, doc["status"]) == (200, "DEGRADED")
    assert doc["checks"]["database"]["message"] == "p95 1200 ms"


async def test_pushed_status(server: HealthServer, session: aiohttp.ClientSession) -> None:
    server.set_status("worker", "unhealthy", "queue stalled", critical=False)
    code, doc = await get_json(session, server)
    assert (code, doc["status"]) == (200, "DEGRADED")
    assert doc["checks"]["worker"] == {
        "status": "unhealthy",
        "message": "queue stalled",
        "latency_ms": None,
    }

    server.set_status("worker", HealthStatus.UNHEALTHY, "queue stalled")
    assert (await get_json(session, server))[0] == 503

    server.set_status("worker", "HEALTHY")
    code, doc = await get_json(session, server)
    assert (code, doc["status"]) == (200, "HEALTHY")


async def test_component_names_are_one_kind_each(server: HealthServer) -> None:
    server.add_check("db", ok)
    with pytest.raises(ValueError, match="already registered"):
        server.set_status("db", "healthy")
    with pytest.raises(ValueError, match="must be healthy, degraded or unhealthy, not 'bogus'"):
        server.set_status("other", "bogus")
    with pytest.raises(ValueError, match="timeout"):
        server.add_check("x", ok, timeout=0)


async def test_uptime_uses_the_injected_clock() -> None:
    clock = ManualClock()
    s = HealthServer(port=0, version="v", clock=clock)
    clock.advance(42.5)
    report = await s.check_health()
    assert report.uptime_seconds == 42.5
    assert report.to_dict()["uptime_seconds"] == 42.5


async def test_start_twice_and_stop_when_stopped() -> None:
    s = HealthServer(port=0)
    await s.stop()  # not started: nothing to do
    async with s:
        with pytest.raises(RuntimeError, match="already started"):
            await s.start()
        assert s.url == f"http://127.0.0.1:{s.port}/health/json"
    with pytest.raises(RuntimeError, match="not started"):
        _ = s.port


async def test_port_in_use_raises_oserror(server: HealthServer) -> None:
    other = HealthServer("127.0.0.1", server.port)
    with pytest.raises(OSError):
        await other.start()
    await other.stop()
