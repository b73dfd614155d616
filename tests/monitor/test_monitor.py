"""The monitor end to end: real HTTP endpoints, a real SQLite store, stepped by tick()."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from botwatch.clock import ManualClock
from botwatch.config import LoadedConfig, load_config
from botwatch.monitor import Monitor
from botwatch.probes import ProbeContext
from botwatch.store import Store


class Health:
    """A bot's health endpoint whose answer the test controls."""

    def __init__(self) -> None:
        self.status = "HEALTHY"
        self.code = 200

    async def handle(self, request: web.Request) -> web.Response:
        return web.json_response({"status": self.status, "version": "1.2.3"}, status=self.code)


@pytest.fixture
async def health() -> AsyncIterator[tuple[Health, int]]:
    h = Health()
    app = web.Application()
    app.router.add_get("/health/json", h.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield h, port
    await runner.cleanup()


def write_config(tmp_path: Path, port: int, also: str | None = None) -> LoadedConfig:
    """Bot `alpha` with its health endpoint and ``also`` (default: its port checked)."""
    cfg = tmp_path / "botwatch.yml"
    cfg.write_text(
        f"""
storage: sqlite:///data/bw.db
defaults: {{interval: 10s, timeout: 2s, sample_interval: 15s}}
bots:
  alpha:
    health: http://127.0.0.1:{port}/health/json
    {also or f"ports: [{port}]"}
"""
    )
    return load_config(cfg, env={})


@pytest.fixture
async def monitor(
    tmp_path: Path, health: tuple[Health, int]
) -> AsyncIterator[tuple[Monitor, ManualClock, Health]]:
    loaded = write_config(tmp_path, health[1])
    clock = ManualClock(start=time.time())
    store = Store.open(
        loaded.storage_url, clock=clock, busy_timeout=0.1, retry_initial=0.01, retry_max=0.05
    )
    await store.start()
    ctx = ProbeContext(clock=clock)
    m = Monitor(loaded, store, ctx=ctx, clock=clock, result_every=0)
    yield m, clock, health[0]
    await m.close()
    await store.close()


def health_port(m: Monitor) -> int:
    spec = m.loaded.config.bots["alpha"]
    return int(spec.ports[0])


async def step(m: Monitor, clock: ManualClock, seconds: float) -> None:
    clock.advance(seconds)
    await m.tick()
    await m.scheduler.drain()
    await m.wait_background()  # sampling and upkeep run in the background


async def test_results_samples_and_state_changes_reach_the_store(
    monitor: tuple[Monitor, ManualClock, Health],
) -> None:
    m, clock, health = monitor
    await step(m, clock, 1)
    await m.store.flush()
    rows = m.store.probe_results(0, clock.time() + 1)
    checks = {r.check for r in rows}
    assert {"health", f"port:{health_port(m)}", "disk"} <= checks
    health_rows = [r for r in rows if r.check == "health"]
    assert health_rows[0].status == 0 and health_rows[0].reason == "HTTP 200, status HEALTHY"
    assert health_rows[0].details["version"] == "1.2.3"
    (code,) = m.store.latest("http_status_code", {"bot": "alpha"})
    assert code.value == 200

    health.status, health.code = "UNHEALTHY", 503
    await step(m, clock, 10.5)
    await m.store.flush()
    (code,) = m.store.latest("http_status_code", {"bot": "alpha"})
    assert code.value == 503
    changes = [e for e in m.store.events(0, clock.time() + 1, kind="probe_state")]
    messages = [e.message for e in changes]
    assert any(msg.startswith("health new → ok") for msg in messages)
    assert any(msg.startswith("health ok → crit: HTTP 503") for msg in messages)

    # No change, no new event.
    await step(m, clock, 10.5)
    await m.store.flush()
    assert len(m.store.events(0, clock.time() + 1, kind="probe_state")) == len(changes)


async def test_store_locked_keeps_probing_and_loses_nothing(
    monitor: tuple[Monitor, ManualClock, Health], caplog: pytest.LogCaptureFixture
) -> None:
    m, clock, _ = monitor
    await step(m, clock, 1)
    await m.store.flush()
    db = m.loaded.storage_url.removeprefix("sqlite:///")
    locker = sqlite3.connect(db, timeout=0)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        caplog.set_level(logging.ERROR, "botwatch.monitor")
        for _ in range(5):
            await step(m, clock, 10.5)
            await asyncio.sleep(0.05)  # let the writer try (and fail) in between
        # The writer notices the lock when its next batch times out.
        for _ in range(200):
            if not m.store.healthy:
                break
            await asyncio.sleep(0.05)
        await m.tick()
        assert not m.store.healthy
        assert m.store.pending > 0
        assert "store cannot be written" in caplog.text
    finally:
        locker.rollback()
        locker.close()
    await m.store.flush(timeout=30)
    await m.tick()
    assert m.store.healthy
    rows = m.store.probe_results(0, clock.time() + 1, check="health")
    assert len(rows) == 6  # every run while locked landed once the lock was gone


def test_botwatch_run_stops_cleanly_on_sigterm(tmp_path: Path, free_port: int) -> None:
    loaded = write_config(tmp_path, free_port)  # nothing listens: checks fail, run goes on
    proc = subprocess.Popen(
        [sys.executable, "-m", "botwatch", "run", "-c", str(loaded.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        db = Path(loaded.storage_url.removeprefix("sqlite:///"))
        deadline = time.monotonic() + 60
        rows = 0
        while time.monotonic() < deadline and rows == 0:
            time.sleep(0.2)
            if db.exists():
                with sqlite3.connect(db) as c:
                    try:
                        rows = c.execute("select count(*) from probe_results").fetchone()[0]
                    except sqlite3.OperationalError:
                        rows = 0
        assert rows > 0, "the monitor wrote no probe result"
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "monitoring 1 bot(s) with 3 check(s)" in err
    assert "stopped;" in err
    assert "ok → crit" in err or "new → crit" in err


async def test_unchanged_results_store_a_row_per_interval_but_every_value(
    tmp_path: Path, health: tuple[Health, int]
) -> None:
    loaded = write_config(tmp_path, health[1])
    clock = ManualClock(start=time.time())
    store = Store.open(loaded.storage_url, clock=clock)
    await store.start()
    ctx = ProbeContext(clock=clock)
    m = Monitor(loaded, store, ctx=ctx, clock=clock, result_every=300)
    try:
        for _ in range(10):  # 10 runs, 10.5 s apart: 105 s, all healthy
            await step(m, clock, 10.5)
        health[0].status = "DEGRADED"
        await step(m, clock, 10.5)
        await store.flush()
        rows = store.probe_results(0, clock.time() + 1, check="health")
        # The first run, then the change to DEGRADED; nothing in between.
        assert [r.status for r in rows] == [0, 1]
        (series,) = store.range(
            "probe_status", {"bot": "alpha", "check": "health"}, 0, clock.time() + 1
        )
        assert len(series.points) == 11  # but every run's value is kept
        assert m.latest[("alpha", "health")].reason == "HTTP 200, status DEGRADED"
    finally:
        await m.close()
        await store.close()


async def test_a_slow_rollup_does_not_hold_up_checks(
    tmp_path: Path, health: tuple[Health, int]
) -> None:
    loaded = write_config(tmp_path, health[1])
    clock = ManualClock(start=time.time())
    # Rollup waits up to 5 s for a lock; checks must start meanwhile.
    store = Store.open(loaded.storage_url, clock=clock, busy_timeout=5.0)
    await store.start()
    m = Monitor(loaded, store, ctx=ProbeContext(clock=clock), clock=clock)
    await step(m, clock, 1)  # the first rollup runs on the first tick
    await store.flush()
    db = loaded.storage_url.removeprefix("sqlite:///")
    locker = sqlite3.connect(db, timeout=0)
    locker.execute("BEGIN EXCLUSIVE")  # the rollup cannot finish while this is held
    try:
        started = m.scheduler.started
        clock.advance(61)  # a rollup and every check are due
        await m.tick()
        assert m.scheduler.started > started  # checks started...
        assert m.upkeep_running  # ...while the rollup still waits for the database
        await m.scheduler.drain()
    finally:
        locker.rollback()
        locker.close()
    await m.wait_background()
    await m.close()
    await store.close()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A child process standing in for a bot."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child
    child.kill()
    child.wait()


async def test_process_samples_reach_the_store_without_holding_up_checks(
    tmp_path: Path, health: tuple[Health, int], sleeper: subprocess.Popen[bytes]
) -> None:
    (tmp_path / "bot.pid").write_text(f"{sleeper.pid}\n")
    loaded = write_config(tmp_path, health[1], also="process: {pidfile: bot.pid}")
    clock = ManualClock(start=time.time())
    store = Store.open(loaded.storage_url, clock=clock)
    await store.start()
    m = Monitor(loaded, store, ctx=ProbeContext(clock=clock), clock=clock)
    try:
        clock.advance(1)
        await m.tick()
        # The sampling round runs in the background; the checks were started anyway.
        assert m.scheduler.started >= 2
        await m.scheduler.drain()
        await m.wait_background()
        await store.flush()
        (rss,) = store.latest("process_rss_bytes", {"bot": "alpha"})
        assert rss.value > 1_000_000
        assert m.sampler.rounds == 1
    finally:
        await m.close()
        await store.close()


async def test_alerts_fire_from_results_and_survive_a_restart(
    tmp_path: Path, monitor: tuple[Monitor, ManualClock, Health]
) -> None:
    m, clock, health = monitor
    await step(m, clock, 1)
    health.status, health.code = "UNHEALTHY", 503
    await step(m, clock, 10.5)
    m.alerting.tick()  # the built-in HealthUnhealthy rule sees the 503 at once
    (pending,) = [a for a in m.alerting.alerts() if a.rule == "HealthUnhealthy"]
    assert pending.state.value == "pending" and pending.labels["bot"] == "alpha"
    for _ in range(12):  # two minutes of failing checks
        await step(m, clock, 10.5)
    m.alerting.tick()
    await m.alerting.wait()
    (firing,) = [a for a in m.alerting.alerts() if a.rule == "HealthUnhealthy"]
    assert firing.state.value == "firing"
    assert firing.annotations["summary"] == "alpha: health endpoint unhealthy"
    await m.store.flush()
    moves = [e.data["to"] for e in m.store.events(0, clock.time() + 1, kind="alert")]
    assert moves == ["pending", "firing"]
    (saved,) = [r for r in m.store.alerts() if r.rule == "HealthUnhealthy"]
    assert saved.state == "firing" and saved.fingerprint == firing.fingerprint

    # A new monitor on the same store (botwatch restarted): the alert is still firing
    # and nothing is said about it again while the endpoint stays down.
    again = Monitor(m.loaded, m.store, ctx=m.ctx, clock=clock, result_every=0)
    await again.alerting.restore()
    (resumed,) = [a for a in again.alerting.alerts() if a.rule == "HealthUnhealthy"]
    assert resumed.state.value == "firing" and resumed.fired_at == firing.fired_at
    await step(again, clock, 10.5)
    assert [t for t in again.alerting.tick() if t.alert.rule == "HealthUnhealthy"] == []
    health.status, health.code = "HEALTHY", 200
    await step(again, clock, 10.5)
    done = [t.after.value for t in again.alerting.tick() if t.alert.rule == "HealthUnhealthy"]
    assert done == ["resolved"]
    await again.alerting.wait()
    assert [r for r in m.store.alerts() if r.rule == "HealthUnhealthy"] == []


async def test_a_503_reaches_a_webhook_once_and_its_resolution_too(
    tmp_path: Path, health: tuple[Health, int]
) -> None:
    from botwatch.alerts.silences import new_silence
    from botwatch.fakes.receivers import FakeWebhook

    async with FakeWebhook() as hook:
        loaded = write_config(
            tmp_path,
            health[1],
            f"""alerts: {{HealthUnhealthy: {{for: 0s}}}}
channels:
  ops: {{kind: webhook, url: "{hook.base_url}/ops", allow_private: true}}
route: {{receiver: ops, group_by: [alertname, bot], group_wait: 0s, group_interval: 10s}}
""",
        )
        clock = ManualClock(start=time.time())
        store = Store.open(loaded.storage_url, clock=clock)
        await store.start()
        ctx = ProbeContext(clock=clock)
        m = Monitor(loaded, store, ctx=ctx, clock=clock)

        async def step_and_notify(seconds: float) -> None:
            clock.advance(seconds)
            await m.tick()
            await m.scheduler.drain()
            await m.wait_background()
            m.alerting.tick()
            await m.alerting.drain(5)

        try:
            await m.alerting.restore()
            await step_and_notify(1)
            health[0].status, health[0].code = "UNHEALTHY", 503
            await step_and_notify(10.5)
            ((path, body, _),) = hook.received
            assert path == "/ops" and body["status"] == "firing"
            (alert,) = body["alerts"]
            assert (
                alert["labels"]["alertname"] == "HealthUnhealthy"
                and alert["labels"]["bot"] == "alpha"
            )
            assert alert["annotations"]["summary"] == "alpha: health endpoint unhealthy"
            for _ in range(3):  # still down: nothing new to say (repeat_interval is 4h)
                await step_and_notify(10.5)
            assert len(hook.received) == 1

            # botwatch is killed (its last buffered samples lost) and restarts: it
            # remembers what it told the receiver, and waits for data before judging.
            again = Monitor(loaded, store, ctx=ctx, clock=clock)
            await again.alerting.restore(grace=again.restore_grace())
            m = again
            await step_and_notify(10.5)
            assert len(hook.received) == 1

            health[0].status, health[0].code = "HEALTHY", 200
            await step_and_notify(10.5)
            await step_and_notify(10.5)
            assert [b["status"] for _, b, _ in hook.received] == ["firing", "resolved"]
            assert store.outbox.counts() == {"sent": 2}

            # A silence holds the next outage back.
            silence = new_silence(['bot="alpha"'], starts_at=clock.time(), ends_at=clock.time() + 3600,
                                  created_by="t", comment="maintenance", now=clock.time())  # fmt: skip
            store.add_silence(silence)
            await m.alerting.reload_silences()  # what the monitor does every 5 seconds
            health[0].status, health[0].code = "UNHEALTHY", 503
            for _ in range(3):
                await step_and_notify(10.5)
            assert len(hook.received) == 2
            assert any(a.rule == "HealthUnhealthy" for a in m.alerting.alerts())  # still firing
        finally:
            await m.close()
            await store.close()
