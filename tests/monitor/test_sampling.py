"""The monitor's sampler loop against real child processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from botwatch.clock import ManualClock
from botwatch.config import load_config
from botwatch.monitor import SamplerLoop
from botwatch.probes import ProbeContext


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    code = "import time; x = b'x' * 30_000_000; print('ready', flush=True); time.sleep(60)"
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline() == b"ready\n"
    yield p
    p.kill()
    p.wait()
    p.stdout.close()


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    c = ProbeContext(clock=ManualClock())
    yield c
    await c.close()


async def test_samples_each_bot_when_due_and_skips_missing_ones(
    tmp_path: Path, child: subprocess.Popen[bytes], ctx: ProbeContext
) -> None:
    (tmp_path / "a.pid").write_text(f"{child.pid}\n")
    cfg = tmp_path / "botwatch.yml"
    cfg.write_text(
        "defaults: {sample_interval: 15s}\n"
        "bots:\n"
        "  a: {process: {pidfile: a.pid}}\n"
        "  gone: {process: {pidfile: nothing.pid}}\n"
        "  nothing: {health: http://127.0.0.1:1/health}\n"
    )
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    loop = SamplerLoop(load_config(cfg, env={}), ctx, clock=clock)
    assert loop.bots == ["a", "gone"]  # a bot with no process to find is not sampled
    first = await loop.tick()
    by_name = {s.name: s for s in first}
    assert by_name["process_rss_bytes"].labels == {"bot": "a"}
    assert by_name["process_rss_bytes"].value > 25_000_000
    assert {s.labels["bot"] for s in first} == {"a"}
    assert await loop.tick() == []  # not due yet
    assert loop.due_in() == pytest.approx(15)
    clock.advance(15)
    assert {s.name for s in await loop.tick()} >= {"process_cpu_percent", "process_threads"}
    assert loop.rounds == 2
