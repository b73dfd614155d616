"""The postgres probe against the real PostgreSQL, a closed port and a silent server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from botwatch.config import LoadedConfig, parse_config
from botwatch.probes import ProbeContext, ProbeResult, Status, build_probes
from botwatch.probes.postgres import PostgresProbe

pytestmark = pytest.mark.postgres


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    c = ProbeContext()
    yield c
    await c.close()


def probe(url: str, **kw: object) -> PostgresProbe:
    return PostgresProbe(bot="b", name="db", url=url, **kw)  # type: ignore[arg-type]


def values(r: ProbeResult) -> dict[str, float]:
    return {s.name: s.value for s in r.samples}


def with_database(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


async def test_a_working_database_is_ok(pg_url: str, ctx: ProbeContext) -> None:
    r = await probe(pg_url).run(ctx)
    assert r.status is Status.OK, r.reason
    assert r.reason.startswith(f"PostgreSQL {r.details['server_version']}, ")
    assert "connections in use" in r.reason
    v = values(r)
    assert v["postgres_up"] == 1
    assert 1 <= v["postgres_connections_used"] <= v["postgres_connections_max"]
    assert v["postgres_connections_used_ratio"] == pytest.approx(
        v["postgres_connections_used"] / v["postgres_connections_max"]
    )
    assert v["postgres_connect_seconds"] >= 0 and v["postgres_query_seconds"] >= 0


async def test_connection_usage_thresholds(pg_url: str, ctx: ProbeContext) -> None:
    # Our own connection is in use, so any ratio threshold of 0 is crossed.
    r = await probe(pg_url, warn_ratio=0.0).run(ctx)
    assert r.status is Status.WARN
    assert "connections in use (" in r.reason and r.reason.endswith("), above 0%")
    r = await probe(pg_url, crit_ratio=0.0).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason.endswith("above 0%: new connections will soon be refused")


async def test_refused_is_critical_with_the_drivers_reason(
    free_port: int, ctx: ProbeContext
) -> None:
    r = await probe(f"postgresql://bot:hunter2secret@127.0.0.1:{free_port}/app").run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == (
        f'cannot connect: connection to server at "127.0.0.1", port {free_port} failed: '
        "Connection refused"
    )
    assert values(r)["postgres_up"] == 0
    assert "hunter2secret" not in json.dumps(r.to_dict())
    assert "hunter2secret" not in probe("postgres://u:hunter2secret@h/db").target


async def test_a_missing_database_is_critical(pg_url: str, ctx: ProbeContext) -> None:
    r = await probe(with_database(pg_url, "botwatch_no_such_db")).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason.endswith('FATAL: database "botwatch_no_such_db" does not exist')
    assert "\n" not in r.reason


async def test_a_server_that_never_answers_times_out(ctx: ProbeContext) -> None:
    peers: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append((reader, writer))  # accept the TCP connection, never speak PostgreSQL

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        r = await probe(f"postgresql://u@127.0.0.1:{port}/x", timeout=0.3).run(ctx)
        assert r.status is Status.CRIT and r.reason == "timed out after 0.3s"
        # The cancelled connect closed its socket: the server reads to EOF (the bound
        # is only there so a leak fails the test instead of hanging it).
        assert len(peers) == 1
        await asyncio.wait_for(peers[0][0].read(), timeout=10)
        assert peers[0][0].at_eof()
    finally:
        for _, w in peers:
            w.close()
        server.close()
        await server.wait_closed()


async def test_from_bot_names_the_probe_after_the_dependency(
    tmp_path: Path, pg_url: str, ctx: ProbeContext
) -> None:
    text = f"""
bots:
  alpha:
    depends:
      db: "{pg_url}"
      legacy: "{pg_url.replace("postgresql://", "postgres://", 1)}"
      orm: "{pg_url.replace("postgresql://", "postgresql+psycopg://", 1)}"
      cache: redis://127.0.0.1:6379/0
    checks: {{legacy: {{timeout: 4s}}}}
"""
    loaded = LoadedConfig(parse_config(text), tmp_path / "botwatch.yml", tmp_path)
    probes = [p for p in build_probes(loaded) if p.kind == "postgres"]
    assert [p.name for p in probes] == ["db", "legacy", "orm"]
    assert probes[1].timeout == 4.0
    for p in probes:
        r = await p.run(ctx)
        assert r.status is Status.OK, r.reason


class HoldingProxy:
    """A TCP proxy to PostgreSQL that holds the first session's queries until released.

    The probe's query then hangs as on a wedged server, so the hard timeout fires
    mid-query. Other connections (psycopg's cancel request) pass straight through.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.released = asyncio.Event()
        self.client_closed = asyncio.Event()
        self.connections = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _on_connect(
        self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        first = self.connections == 1
        sreader, swriter = await asyncio.open_connection(*self.target)
        self._writers += [cwriter, swriter]
        session_up = asyncio.Event()

        async def upstream() -> None:
            while data := await creader.read(65536):
                if first and session_up.is_set():
                    await self.released.wait()
                swriter.write(data)
                await swriter.drain()
            if first:
                self.client_closed.set()
            swriter.close()

        async def downstream() -> None:
            while data := await sreader.read(65536):
                cwriter.write(data)
                await cwriter.drain()
                if b"Z\x00\x00\x00\x05" in data:  # ReadyForQuery: the session is up
                    session_up.set()
            cwriter.close()

        for coro in (upstream(), downstream()):
            task = asyncio.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for w in self._writers:
            w.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_a_hanging_query_is_cut_off_and_its_connection_closed(
    pg_url: str, ctx: ProbeContext
) -> None:
    pg = urlsplit(pg_url)
    proxy = HoldingProxy(pg.hostname or "127.0.0.1", pg.port or 5432)
    port = await proxy.start()
    try:
        url = urlunsplit(pg._replace(netloc=f"{pg.username}@127.0.0.1:{port}"))
        # The bound only turns a regression (run() waiting on psycopg's up-to-10-s
        # cleanup) into a failure instead of a slow pass.
        r = await asyncio.wait_for(probe(url, timeout=0.5).run(ctx), timeout=4)
        assert r.status is Status.CRIT and r.reason == "timed out after 0.5s"
        # The server comes back: the cleanup left running in the background finishes
        # and closes the connection.
        proxy.released.set()
        await asyncio.wait_for(proxy.client_closed.wait(), timeout=10)
    finally:
        await proxy.close()
