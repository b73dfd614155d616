"""The http probe against real aiohttp servers on loopback: honest, lying and broken."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from botwatch.config import LoadedConfig, parse_config
from botwatch.http import HttpResponse
from botwatch.probes import ProbeContext, ProbeResult, Status, build_probes
from botwatch.probes.http import HttpProbe, word_status

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TEN_MB = 10 * 1024 * 1024


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    c = ProbeContext()
    yield c
    await c.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Serve one handler at /health; returns its URL. Servers are closed after the test."""
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_get("/health", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/health"))

    yield start
    for server in servers:
        await server.close()


def json_handler(doc: Any, status: int = 200) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(doc, status=status)

    return handler


async def probe(url: str, ctx: ProbeContext, **kw: Any) -> ProbeResult:
    return await HttpProbe(bot="b", name="health", url=url, **kw).run(ctx)


def values(r: ProbeResult) -> dict[str, float]:
    return {s.name: s.value for s in r.samples}


async def test_healthy_json_is_ok_with_its_values(serve: Any, ctx: ProbeContext) -> None:
    url = await serve(json_handler({"status": "HEALTHY", "version": "1.4.2"}))
    r = await probe(url, ctx)
    assert r.status is Status.OK
    assert r.reason == "HTTP 200, status HEALTHY"
    assert r.details["version"] == "1.4.2"
    v = values(r)
    assert v["http_status_code"] == 200
    assert v["health_status"] == float(Status.OK)
    assert v["probe_duration_seconds"] >= 0 and r.details["bytes"] > 0
    assert all(s.labels == {"bot": "b", "check": "health"} for s in r.samples)


async def test_status_words_are_case_insensitive(serve: Any, ctx: ProbeContext) -> None:
    r = await probe(await serve(json_handler({"status": "healthy"})), ctx)
    assert r.status is Status.OK and r.reason == "HTTP 200, status healthy"


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("HEALTHY", Status.OK),
        ("Healthy", Status.OK),
        (" hEaLtHy\n", Status.OK),
        ("Degraded", Status.WARN),
        ("DOWN", Status.CRIT),
        (True, Status.OK),
        (False, Status.CRIT),
        ({"state": "degraded"}, Status.WARN),
    ],
)
def test_status_words_in_any_spelling(word: Any, expected: Status) -> None:
    assert word_status(word) is expected


@pytest.mark.parametrize("word", ["maybe", 1, None, [], {"status": 3}])
def test_what_is_not_a_status_word_says_nothing(word: Any) -> None:
    assert word_status(word) is None


def judge_body(body: bytes, content_type: str = "application/json") -> Any:
    resp = HttpResponse(200, "OK", {"Content-Type": content_type}, body, False, 0.002)
    return HttpProbe(bot="b", name="health", url="http://127.0.0.1:1/").judge(resp)


def test_components_read_every_common_shape() -> None:
    doc = {
        "status": "ok",
        "checks": {
            "db": {"status": " Up ", "response_time_ms": 7},
            "cache": {"status": "DOWN", "latency_ms": 2, "message": "OOM"},
            "queue": {"healthy": False},
            "mail": "Degraded",
            "note": "not a status",
            "worker": {"status": 5},
        },
    }
    out = judge_body(json.dumps(doc).encode())
    items = {i.name: (i.status, i.reason) for i in out.items}
    assert items == {
        "db": (Status.OK, "7 ms"),
        "cache": (Status.CRIT, "OOM"),
        "queue": (Status.CRIT, ""),
        "mail": (Status.WARN, ""),
    }
    assert out.status is Status.WARN  # "ok" overall, but components are not
    assert out.reason == "HTTP 200, status ok; cache crit, queue crit, mail warn"


def test_a_json_document_is_read_whatever_its_content_type_or_leading_space() -> None:
    out = judge_body(b'  \n{"status": "UNHEALTHY"}', content_type="text/plain")
    assert out.status is Status.CRIT and out.reason == "HTTP 200, status UNHEALTHY"
    assert judge_body(b"OK", content_type="text/plain").reason == "HTTP 200"


async def test_degraded_is_a_warning_even_with_200(serve: Any, ctx: ProbeContext) -> None:
    r = await probe(await serve(json_handler({"status": "DEGRADED"})), ctx)
    assert r.status is Status.WARN
    assert r.reason == "HTTP 200, status DEGRADED"
    assert values(r)["health_status"] == float(Status.WARN)


async def test_unhealthy_with_503_is_critical(serve: Any, ctx: ProbeContext) -> None:
    url = await serve(json_handler({"status": "UNHEALTHY"}, status=503))
    r = await probe(url, ctx)
    assert r.status is Status.CRIT
    assert r.reason == "HTTP 503 Service Unavailable (expected 200), status UNHEALTHY"
    assert values(r)["http_status_code"] == 503  # it answered; the answer is bad


async def test_one_failing_component_degrades_a_healthy_document(
    serve: Any, ctx: ProbeContext
) -> None:
    doc = {
        "status": "healthy",
        "checks": {
            "database": {"status": "up", "latency_ms": 3},
            "redis": {"status": "down", "error": "Connection refused"},
            "telegram": "ok",
        },
    }
    r = await probe(await serve(json_handler(doc)), ctx)
    assert r.status is Status.WARN
    assert r.reason == "HTTP 200, status healthy; redis crit"
    items = {i.name: i for i in r.items}
    assert items["database"].status is Status.OK and items["database"].reason == "3 ms"
    assert items["redis"].status is Status.CRIT and items["redis"].reason == "Connection refused"
    assert items["telegram"].status is Status.OK


async def test_components_without_an_overall_status_decide(serve: Any, ctx: ProbeContext) -> None:
    doc = {"components": {"db": {"healthy": True}, "queue": {"healthy": False}}}
    r = await probe(await serve(json_handler(doc)), ctx)
    assert r.status is Status.CRIT
    assert r.reason == "HTTP 200; queue crit"


async def test_html_is_plain_http_ok(serve: Any, ctx: ProbeContext) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>It works</body></html>", content_type="text/html")

    r = await probe(await serve(handler), ctx)
    assert r.status is Status.OK
    assert r.reason == "HTTP 200"
    assert r.items == []
    assert "health_status" not in values(r)


async def test_invalid_json_with_a_json_content_type_is_a_warning(
    serve: Any, ctx: ProbeContext
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text='{"status": "HEALTHY",', content_type="application/json")

    r = await probe(await serve(handler), ctx)
    assert r.status is Status.WARN
    assert r.reason == "HTTP 200, body is not valid JSON"


async def test_json_that_python_accepts_beyond_the_standard_is_still_read(
    serve: Any, ctx: ProbeContext
) -> None:
    # NaN and 2**70 are not strict JSON, but Python services emit them (json.dumps does).
    body = '{"status": "DEGRADED", "load": NaN, "requests": 1180591620717411303424}'

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    r = await probe(await serve(handler), ctx)
    assert r.status is Status.WARN
    assert r.reason == "HTTP 200, status DEGRADED"


async def test_a_huge_body_is_cut_off_at_max_body(serve: Any, ctx: ProbeContext) -> None:
    chunk = b"x" * 65536

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        try:
            for _ in range(TEN_MB // len(chunk)):
                await resp.write(chunk)
        except (ConnectionResetError, ConnectionError):
            pass  # the probe hung up after max_body bytes, as it should
        return resp

    r = await probe(await serve(handler), ctx, max_body=200_000)
    assert r.status is Status.WARN
    assert r.reason == "HTTP 200, body larger than 200000 bytes (cut off)"
    assert r.details["truncated"] is True
    # Exactly max_body bytes were kept, however the body arrived in chunks.
    assert r.details["bytes"] == 200_000


async def test_a_json_body_in_many_chunks_is_read_whole(serve: Any, ctx: ProbeContext) -> None:
    doc = {"status": "HEALTHY", "padding": "y" * 300_000}
    body = json.dumps(doc).encode()

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = len(body)
        await resp.prepare(request)
        for i in range(0, len(body), 1000):
            await resp.write(body[i : i + 1000])
            await asyncio.sleep(0)
        return resp

    r = await probe(await serve(handler), ctx)
    assert r.status is Status.OK, r.reason
    assert r.details["bytes"] == len(body)


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """A TCP server that accepts and then either never answers or hangs up."""
    servers: list[asyncio.Server] = []
    held: list[asyncio.StreamWriter] = []

    async def start(behaviour: str) -> str:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            if behaviour == "hang-up":
                writer.close()
            else:
                held.append(writer)  # keep it open, say nothing

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/health"

    yield start
    for w in held:
        w.close()
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_a_server_that_never_answers_times_out(raw_server: Any, ctx: ProbeContext) -> None:
    r = await probe(await raw_server("silent"), ctx, timeout=0.3)
    assert r.status is Status.CRIT
    assert r.reason in ("timed out after 0.3s", "no response within 0.3s")
    assert values(r)["probe_up"] == 0


async def test_a_connection_closed_without_response_is_critical(
    raw_server: Any, ctx: ProbeContext
) -> None:
    r = await probe(await raw_server("hang-up"), ctx)
    assert r.status is Status.CRIT
    assert r.reason == "server closed the connection without a response"
    assert values(r)["http_status_code"] == 0  # no response at all


async def test_connection_refused_is_critical(free_port: int, ctx: ProbeContext) -> None:
    r = await probe(f"http://127.0.0.1:{free_port}/health", ctx)
    assert r.status is Status.CRIT
    assert r.reason == "cannot connect: Connection refused"
    assert values(r)["http_status_code"] == 0  # no response at all


async def test_from_bot_uses_the_health_spec_and_overrides(serve: Any, ctx: ProbeContext) -> None:
    url = await serve(json_handler({"status": "DEGRADED"}))
    config = parse_config(
        f"""
bots:
  alpha:
    health: {{url: "{url}", expect_status: [200, 204], max_body: 5KB}}
    checks: {{health: {{interval: 5s, timeout: 2s}}}}
  beta:
    health: {url}
    checks: {{health: {{enabled: false}}}}
"""
    )
    probes = [
        p
        for p in build_probes(LoadedConfig(config, Path("botwatch.yml"), Path(".")))
        if p.kind == "http"
    ]
    assert [(p.bot, p.name) for p in probes] == [("alpha", "health")]
    (p,) = probes
    assert isinstance(p, HttpProbe)
    assert (p.interval, p.timeout, p.max_body, p.expect_status) == (5.0, 2.0, 5000, (200, 204))
    assert (await p.run(ctx)).status is Status.WARN
