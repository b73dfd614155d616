"""The logfile probe on real files with set mtimes, against a manual clock."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from botwatch.clock import ManualClock
from botwatch.config import LoadedConfig, parse_config
from botwatch.probes import ProbeContext, ProbeResult, Status, build_probes
from botwatch.probes.logfile import LogfileProbe, find_from_end

READY = "Bot is ready"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def ctx(clock: ManualClock) -> AsyncIterator[ProbeContext]:
    c = ProbeContext(clock=clock)
    yield c
    await c.close()


def write_log(path: Path, text: str | bytes, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    os.utime(path, (mtime, mtime))
    return path


def probe(path: Path, **kw: object) -> LogfileProbe:
    return LogfileProbe(bot="b", name="logs", path=path, **kw)  # type: ignore[arg-type]


def values(r: ProbeResult) -> dict[str, float]:
    return {s.name: s.value for s in r.samples}


async def test_a_fresh_log_is_ok(tmp_path: Path, clock: ManualClock, ctx: ProbeContext) -> None:
    log = write_log(tmp_path / "bot.log", "started\nworking\n", clock.time() - 30)
    r = await probe(log, max_age=600).run(ctx)
    assert r.status is Status.OK
    assert r.reason == "bot.log last written 30s ago (16B)"
    v = values(r)
    assert v["log_age_seconds"] == 30 and v["log_file_bytes"] == 16
    assert "log_ready_line_seen" not in v


async def test_a_stale_log_warns_then_goes_critical(
    tmp_path: Path, clock: ManualClock, ctx: ProbeContext
) -> None:
    log = write_log(tmp_path / "bot.log", "last words\n", clock.time() - 900)
    r = await probe(log, max_age=600).run(ctx)
    assert r.status is Status.WARN
    assert r.reason == "bot.log last written 15m ago (max 10m)"
    clock.advance(600)  # 25 minutes: more than twice max_age
    r = await probe(log, max_age=600).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == "bot.log last written 25m ago (max 10m)"
    assert values(r)["log_age_seconds"] == 1500


async def test_an_mtime_in_the_future_counts_as_fresh(
    tmp_path: Path, clock: ManualClock, ctx: ProbeContext
) -> None:
    log = write_log(tmp_path / "bot.log", "x\n", clock.time() + 3600)
    r = await probe(log).run(ctx)
    assert r.status is Status.OK and values(r)["log_age_seconds"] == 0


async def test_a_missing_log_is_critical(tmp_path: Path, ctx: ProbeContext) -> None:
    r = await probe(tmp_path / "bot.log").run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == f"log file missing: {tmp_path / 'bot.log'}"
    r = await probe(tmp_path / "logs" / "*.log").run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == f"no log file matches {tmp_path / 'logs' / '*.log'}"


async def test_a_glob_takes_the_newest_file(
    tmp_path: Path, clock: ManualClock, ctx: ProbeContext
) -> None:
    now = clock.time()
    write_log(tmp_path / "logs" / "bot-1.log", "old\n", now - 86400)
    write_log(tmp_path / "logs" / "bot-2.log", "new\n", now - 5)
    write_log(tmp_path / "logs" / "bot-0.log", "older\n", now - 90000)
    (tmp_path / "logs" / "dir.log").mkdir()
    os.utime(tmp_path / "logs" / "dir.log", (now, now))  # a directory never counts
    r = await probe(tmp_path / "logs" / "bot-*.log").run(ctx)
    assert r.status is Status.OK
    assert r.details["path"] == str(tmp_path / "logs" / "bot-2.log")
    assert values(r)["log_age_seconds"] == 5
    r = await probe(tmp_path / "logs" / "*.log").run(ctx)
    assert r.details["path"] == str(tmp_path / "logs" / "bot-2.log")


async def test_the_ready_line_seen_or_not(
    tmp_path: Path, clock: ManualClock, ctx: ProbeContext
) -> None:
    now = clock.time()
    seen = write_log(tmp_path / "a.log", f"starting\nINFO {READY} as @x\nupdate\n", now - 1)
    r = await probe(seen, ready_line=READY).run(ctx)
    assert r.status is Status.OK
    assert r.reason == "a.log last written 1s ago (40B), ready line seen"
    assert r.details["ready_line_seen"] is True and values(r)["log_ready_line_seen"] == 1

    not_seen = write_log(tmp_path / "b.log", "starting\nTraceback ...\n", now - 1)
    r = await probe(not_seen, ready_line=READY).run(ctx)
    assert r.status is Status.WARN
    assert r.reason == "startup line 'Bot is ready' not seen"
    assert values(r)["log_ready_line_seen"] == 0

    stale = write_log(tmp_path / "c.log", "starting\n", now - 7200)
    r = await probe(stale, ready_line=READY, max_age=600).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == ("c.log last written 2h ago (max 10m); startup line 'Bot is ready' not seen")


async def test_a_huge_log_with_invalid_utf8_is_searched_from_the_end(
    tmp_path: Path, clock: ManualClock, ctx: ProbeContext
) -> None:
    junk = (b"\xff\xfe garbage \xc3 line\n" * 1000) + b"\x00" * 10
    body = b"boot\n" + junk * 300 + f"{READY} ✓\n".encode() + junk * 10
    log = write_log(tmp_path / "big.log", body, clock.time())
    assert log.stat().st_size > 5_000_000
    r = await probe(log, ready_line=f"{READY} ✓").run(ctx)
    assert r.status is Status.OK, r.reason
    # A line only in the head, beyond the tail that is read, is not found.
    r = await probe(log, ready_line="boot", tail_bytes=1_000_000).run(ctx)
    assert r.status is Status.WARN


def test_find_from_end_across_block_boundaries() -> None:
    needle = b"Bot is ready"
    for offset in range(-len(needle), 1):
        # Put the needle across the last 64 KiB block boundary in every position.
        data = b"a" * (200_000 + offset) + needle + b"b" * (65536 - len(needle) - offset)
        assert find_from_end(io.BytesIO(data), needle, len(data), 10_000_000), offset
    data = b"x" * 100 + needle + b"y" * 1000
    assert not find_from_end(io.BytesIO(data), needle, len(data), 1000)
    assert find_from_end(io.BytesIO(data), needle, len(data), 1013)


async def test_from_bot_file_entries_names_and_settings(
    tmp_path: Path, clock: ManualClock, ctx: ProbeContext
) -> None:
    now = clock.time()
    write_log(tmp_path / "logs" / "alpha.log", f"{READY}\n", now - 10)
    write_log(tmp_path / "logs" / "errors.log", "", now - 10)
    write_log(tmp_path / "other" / "alpha.log", "", now - 10)
    text = """
bots:
  alpha:
    logs: ["cmd:railway logs --follow", journald:alpha, docker:alpha, pm2:alpha,
           logs/alpha.log, logs/errors.log, other/alpha.log]
    log_freshness: {max_age: 5m, ready_line: "Bot is ready"}
    checks: {"logs:errors.log": {interval: 1m}}
  beta:
    logs: logs/alpha.log
  gamma:
    logs: [journald:gamma]
"""
    loaded = LoadedConfig(parse_config(text), tmp_path / "botwatch.yml", tmp_path)
    probes = [p for p in build_probes(loaded) if p.kind == "logfile"]
    assert [(p.bot, p.name) for p in probes] == [
        ("alpha", "logs:logs/alpha.log"),
        ("alpha", "logs:errors.log"),
        ("alpha", "logs:other/alpha.log"),
        ("beta", "logs"),
    ]
    assert probes[1].interval == 60.0
    first = probes[0]
    assert isinstance(first, LogfileProbe)
    assert (first.max_age, first.ready_line) == (300.0, READY)
    assert first.target == str(tmp_path / "logs" / "alpha.log")
    statuses = [(await p.run(ctx)).status for p in probes]
    # errors.log and other/alpha.log have no ready line; beta has none configured.
    assert statuses == [Status.OK, Status.WARN, Status.WARN, Status.OK]
