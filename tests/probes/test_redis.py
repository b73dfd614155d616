"""The redis probe against the real Redis, a private redis-server with maxmemory, a closed
port and a server that never answers."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from botwatch.config import LoadedConfig, parse_config
from botwatch.probes import ProbeContext, ProbeResult, Status, build_probes
from botwatch.probes.redis import RedisProbe

pytestmark = pytest.mark.redis


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    c = ProbeContext()
    yield c
    await c.close()


@pytest.fixture
def private_redis(free_port: int, tmp_path: Path) -> Iterator[str]:
    """A redis-server of our own with ``maxmemory`` set (the shared one must not change)."""
    binary = shutil.which("redis-server")
    if binary is None:
        # As tests/conftest.py's require_service: a skip locally, a failure in CI.
        reason = "redis-server not on PATH"
        if os.environ.get("BOTWATCH_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " (BOTWATCH_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(reason)
    proc = subprocess.Popen(
        [binary, "--port", str(free_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path), "--maxmemory", "100000000",
         "--maxmemory-policy", "noeviction"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", free_port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{free_port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def probe(url: str, **kw: object) -> RedisProbe:
    return RedisProbe(bot="b", name="cache", url=url, **kw)  # type: ignore[arg-type]


def values(r: ProbeResult) -> dict[str, float]:
    return {s.name: s.value for s in r.samples}


async def test_the_shared_redis_answers(redis_url: str, ctx: ProbeContext) -> None:
    r = await probe(redis_url).run(ctx)
    assert r.status is Status.OK, r.reason
    assert r.reason.startswith(f"Redis {r.details['version']}, ")
    v = values(r)
    assert v["redis_up"] == 1 and v["redis_ping_seconds"] >= 0
    assert v["redis_used_memory_bytes"] == r.details["used_memory"] > 0


async def test_memory_against_maxmemory(private_redis: str, ctx: ProbeContext) -> None:
    r = await probe(private_redis).run(ctx)
    assert r.status is Status.OK, r.reason
    assert "of 100MB maxmemory used" in r.reason
    v = values(r)
    assert v["redis_maxmemory_bytes"] == 100_000_000
    assert v["redis_used_memory_ratio"] == pytest.approx(
        v["redis_used_memory_bytes"] / v["redis_maxmemory_bytes"]
    )
    assert r.details["maxmemory_policy"] == "noeviction"

    r = await probe(private_redis, warn_ratio=0.0).run(ctx)
    assert r.status is Status.WARN and r.reason.endswith(", above 0%")
    r = await probe(private_redis, crit_ratio=0.0).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason.endswith("): near the limit, writes fail")


async def test_an_evicting_cache_may_sit_at_its_limit(
    private_redis: str, ctx: ProbeContext
) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(private_redis)
    try:
        await client.config_set("maxmemory-policy", "allkeys-lru")
    finally:
        await client.aclose()
    r = await probe(private_redis, crit_ratio=0.0).run(ctx)
    assert r.status is Status.OK
    assert r.reason.endswith("evicting (allkeys-lru)")


async def test_refused_is_critical(free_port: int, ctx: ProbeContext) -> None:
    r = await probe(f"redis://:s3cretpw@127.0.0.1:{free_port}/0").run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == f"cannot connect to 127.0.0.1:{free_port}: connection refused"
    assert values(r)["redis_up"] == 0
    assert "s3cretpw" not in json.dumps(r.to_dict())
    assert probe(f"redis://:s3cretpw@127.0.0.1:{free_port}/0").target == (
        f"redis://:***@127.0.0.1:{free_port}/0"
    )


async def test_a_server_that_never_answers_times_out(ctx: ProbeContext) -> None:
    peers: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append((reader, writer))

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        r = await probe(f"redis://127.0.0.1:{port}/0", timeout=0.3).run(ctx)
        assert r.status is Status.CRIT and r.reason == "timed out after 0.3s"
        # The client was closed although the check was cancelled: the server sees EOF.
        await asyncio.wait_for(peers[0][0].read(), timeout=10)
        assert peers[0][0].at_eof()
    finally:
        for _, w in peers:
            w.close()
        server.close()
        await server.wait_closed()


async def test_from_bot(tmp_path: Path, redis_url: str, ctx: ProbeContext) -> None:
    text = f"""
bots:
  alpha:
    depends: {{cache: "{redis_url}", tls: "rediss://127.0.0.1:1/0", db: "sqlite:///x.db"}}
    checks: {{tls: {{enabled: false}}}}
"""
    loaded = LoadedConfig(parse_config(text), tmp_path / "botwatch.yml", tmp_path)
    probes = [p for p in build_probes(loaded) if p.kind == "redis"]
    assert [p.name for p in probes] == ["cache"]
    assert (await probes[0].run(ctx)).status is Status.OK
