"""The mongodb probe against FakeMongo (a wire-protocol fake) and a closed port."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from botwatch.config import LoadedConfig, parse_config
from botwatch.fakes import FakeMongo
from botwatch.probes import ProbeContext, ProbeResult, Status, build_probes
from botwatch.probes.mongodb import MongoProbe


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    c = ProbeContext()
    yield c
    await c.close()


@pytest.fixture
async def mongo() -> AsyncIterator[FakeMongo]:
    # pymongo runs in the probe's thread pool, so the fake can share the test's loop.
    async with FakeMongo(version="7.0.4") as fake:
        yield fake


def probe(url: str, **kw: object) -> MongoProbe:
    return MongoProbe(bot="b", name="mongo", url=url, **kw)  # type: ignore[arg-type]


def values(r: ProbeResult) -> dict[str, float]:
    return {s.name: s.value for s in r.samples}


async def test_ping_and_version(mongo: FakeMongo, ctx: ProbeContext) -> None:
    r = await probe(mongo.url).run(ctx)
    assert r.status is Status.OK, r.reason
    assert r.reason.startswith("MongoDB 7.0.4, ping ")
    assert r.details["version"] == "7.0.4"
    assert values(r)["mongodb_up"] == 1 and values(r)["mongodb_ping_seconds"] >= 0
    assert mongo.commands["ping"] == 1 and mongo.commands["buildInfo"] == 1


async def test_a_failing_command_is_critical_with_the_servers_message(
    mongo: FakeMongo, ctx: ProbeContext
) -> None:
    mongo.fail_commands(True, errmsg="not authorized on admin", code=13, code_name="Unauthorized")
    r = await probe(mongo.url).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == "not authorized on admin (code 13)"
    assert values(r)["mongodb_up"] == 0


async def test_a_server_that_hangs_up_is_critical(mongo: FakeMongo, ctx: ProbeContext) -> None:
    mongo.refuse()
    r = await probe(mongo.url, timeout=1.0).run(ctx)
    assert r.status is Status.CRIT
    host, port = mongo.address
    # "connection closed" or "Connection reset by peer", depending on the race.
    assert r.reason.startswith(f"{host}:{port}: ")
    assert "closed" in r.reason or "reset" in r.reason


async def test_refused_is_critical_with_the_drivers_reason(
    free_port: int, ctx: ProbeContext
) -> None:
    r = await probe(f"mongodb://bot:pa55word@127.0.0.1:{free_port}/?directConnection=true",
                    timeout=2.0).run(ctx)  # fmt: skip
    assert r.status is Status.CRIT
    assert r.reason == f"127.0.0.1:{free_port}: Connection refused"
    assert "pa55word" not in json.dumps(r.to_dict())


async def test_a_slow_server_is_cut_off(mongo: FakeMongo, ctx: ProbeContext) -> None:
    mongo.set_latency(1.0)
    r = await probe(mongo.url, timeout=0.3).run(ctx)
    assert r.status is Status.CRIT
    # pymongo's socket timeout sits just under the probe's, so its reason usually wins.
    host, port = mongo.address
    assert r.reason in (f"{host}:{port}: timed out", "timed out after 0.3s")
    mongo.set_latency(0.0)


async def test_a_malformed_url_is_critical(ctx: ProbeContext) -> None:
    r = await probe("mongodb://db:notaport/").run(ctx)
    assert r.status is Status.CRIT
    assert r.reason.startswith("invalid URL: Port contains non-digit characters.")


async def test_from_bot(tmp_path: Path, mongo: FakeMongo, ctx: ProbeContext) -> None:
    text = f"""
bots:
  alpha:
    depends:
      mongo: "{mongo.url}"
      atlas: "mongodb+srv://u:p@cluster0.example.net/app"
      db: "postgresql://localhost/x"
    checks: {{atlas: {{enabled: false}}, mongo: {{timeout: 5s}}}}
"""
    loaded = LoadedConfig(parse_config(text), tmp_path / "botwatch.yml", tmp_path)
    probes = [p for p in build_probes(loaded) if p.kind == "mongodb"]
    assert [(p.name, p.timeout) for p in probes] == [("mongo", 5.0)]
    assert (await probes[0].run(ctx)).status is Status.OK
