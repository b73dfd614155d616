"""The tcp probe against a real listener and a closed port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from botwatch.config import LoadedConfig, parse_config
from botwatch.probes import ProbeContext, ProbeResult, Status, build_probes
from botwatch.probes.tcp import TcpProbe, parse_hostport


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    c = ProbeContext()
    yield c
    await c.close()


@pytest.fixture
async def listener() -> AsyncIterator[int]:
    """A port on 127.0.0.1 that accepts connections (and closes them)."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


def load(tmp_path: Path, text: str) -> LoadedConfig:
    return LoadedConfig(parse_config(text), tmp_path / "botwatch.yml", tmp_path)


def values(r: ProbeResult) -> dict[str, float]:
    return {s.name: s.value for s in r.samples}


def test_port_entries() -> None:
    assert parse_hostport("8080") == ("127.0.0.1", 8080)
    assert parse_hostport("db.internal:5432") == ("db.internal", 5432)
    assert parse_hostport("[::1]:8443") == ("::1", 8443)


async def test_an_open_port_is_ok(listener: int, ctx: ProbeContext) -> None:
    r = await TcpProbe(bot="b", name=f"port:{listener}", host="127.0.0.1", port=listener).run(ctx)
    assert r.status is Status.OK
    assert r.reason.startswith(f"127.0.0.1:{listener} accepts connections (")
    v = values(r)
    assert v["tcp_up"] == 1 and v["tcp_connect_seconds"] >= 0
    assert r.details["target"] == f"127.0.0.1:{listener}"


async def test_a_closed_port_is_critical(free_port: int, ctx: ProbeContext) -> None:
    r = await TcpProbe(bot="b", name="port", host="127.0.0.1", port=free_port).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == f"cannot connect to 127.0.0.1:{free_port}: connection refused"
    assert values(r)["tcp_up"] == 0 and values(r)["probe_up"] == 0


async def test_from_bot_ports_and_tcp_dependencies(
    tmp_path: Path, listener: int, free_port: int, ctx: ProbeContext
) -> None:
    loaded = load(
        tmp_path,
        f"""
bots:
  alpha:
    ports: [{listener}, "127.0.0.1:{free_port}", 9]
    depends:
      broker: tcp://127.0.0.1:{listener}
      broken: tcp://no-port.example
      db: postgresql://localhost/x
    checks:
      "port:9": {{enabled: false}}
      broker: {{interval: 7s, timeout: 3s}}
""",
    )
    probes = [p for p in build_probes(loaded) if p.kind == "tcp"]
    assert [p.name for p in probes] == [
        f"port:{listener}",
        f"port:127.0.0.1:{free_port}",
        "broker",
        "broken",
    ]
    assert [p.target for p in probes] == [
        f"127.0.0.1:{listener}",
        f"127.0.0.1:{free_port}",
        f"127.0.0.1:{listener}",
        "no-port.example",
    ]
    assert (probes[2].interval, probes[2].timeout) == (7.0, 3.0)
    results = [await p.run(ctx) for p in probes]
    assert [r.status for r in results] == [Status.OK, Status.CRIT, Status.OK, Status.CRIT]
    assert results[3].reason == (
        "'tcp://no-port.example' has no valid host and port; use tcp://host:port"
    )
    assert all(s.labels["bot"] == "alpha" for r in results for s in r.samples)
