"""botwatch run reads the bots' log files: series for the rules, positions kept."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from botwatch.clock import ManualClock
from botwatch.config import LoadedConfig, load_config
from botwatch.monitor import Monitor
from botwatch.probes import ProbeContext
from botwatch.store import Store


def line(i: int, level: str, message: str) -> str:
    return f"2026-11-30 08:{i // 60:02d}:{i % 60:02d},000 - bot - {level} - {message}\n"


def latest(store: Store, series: str, **labels: str) -> float | None:
    rows = store.latest(series)
    for r in rows:
        if all(r.labels.get(k) == v for k, v in labels.items()):
            return r.value
    return None


async def test_log_lines_become_series_and_a_restart_resumes(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_text("".join(line(i, "ERROR", f"old failure {i}") for i in range(50)))
    (tmp_path / "botwatch.yml").write_text("""
storage: sqlite:///bw.db
bots:
  alpha:
    logs: [bot.log]
    checks: {disk: {enabled: false}, logs: {enabled: false}}
    alerts: {ErrorsPerHour: {threshold: 4}}
alerting: {interval: 1s}
""")
    loaded = load_config(tmp_path / "botwatch.yml", env={})
    clock = ManualClock(start=time.time())
    store = Store.open(loaded.storage_url, clock=clock)
    await store.start()

    async def step(m: Monitor, seconds: float = 11.0) -> None:
        clock.advance(seconds)
        await m.tick()
        await m.wait_background()
        m.alerting.tick()
        await m.alerting.wait()
        await store.flush()

    m = Monitor(loaded, store, ctx=ProbeContext(clock=clock), clock=clock)
    try:
        await m.restore()
        await step(m)
        assert latest(store, "log_lines_total", bot="alpha", level="error") == 0  # history
        with log.open("a") as f:
            for i in range(3):
                f.write(line(100 + i, "INFO", f"Update id={i} is handled. Duration 5 ms"))
            f.write(line(110, "ERROR", "HTTP error 429: Too Many Requests: retry after 5"))
            f.write(line(111, "ERROR", "Failed to send to user 1: Forbidden"))
        await step(m)
        await step(m)  # the last record waits one read for continuation lines
        assert latest(store, "log_lines_total", bot="alpha", level="error") == 2
        assert latest(store, "log_lines_total", bot="alpha", level="info") == 3
        assert latest(store, "log_rate_limit_events_total", bot="alpha") == 1
        assert latest(store, "log_error_ratio", bot="alpha") == 2 / 3  # errors / requests
        await step(m)  # positions saved
    finally:
        await m.close()

    # A restart: the five new lines are not counted again; new ones are.
    with log.open("a") as f:
        for i in range(3):
            f.write(line(200 + i, "ERROR", f"Database connection failed: attempt {i}"))
    again = Monitor(loaded, store, ctx=ProbeContext(clock=clock), clock=clock)
    try:
        await again.restore()
        await step(again)
        await step(again)
        assert latest(store, "log_lines_total", bot="alpha", level="error") == 3
        with log.open("a") as f:
            for i in range(3):
                f.write(line(300 + i, "ERROR", f"Database connection failed: attempt {i}"))
        for _ in range(3):
            await step(again)
        firing = [a.rule for a in again.alerting.alerts() if a.state.value == "firing"]
        assert "ErrorsPerHour" in firing  # 6 errors since the restart > 4 in an hour
    finally:
        await again.close()
        await store.close()


async def test_what_logs_say_becomes_series_and_a_missed_run_alerts(tmp_path: Path) -> None:
    start = time.time()
    slot = datetime.fromtimestamp(start + 180, UTC).replace(second=0, microsecond=0)
    log = tmp_path / "bot.log"
    log.write_text("")
    (tmp_path / "botwatch.yml").write_text(f"""
storage: sqlite:///bw.db
bots:
  alpha:
    logs: [bot.log]
    checks: {{disk: {{enabled: false}}, logs: {{enabled: false}}}}
    expect: [{{log: "Notifications sent", at: ["{slot:%H:%M}"], within: 2m, name: evening}}]
alerting: {{interval: 1s}}
""")
    loaded = load_config(tmp_path / "botwatch.yml", env={})
    clock = ManualClock(start=start)
    store = Store.open(loaded.storage_url, clock=clock)
    await store.start()
    m = Monitor(loaded, store, ctx=ProbeContext(clock=clock), clock=clock)

    async def step(seconds: float = 11.0) -> None:
        clock.advance(seconds)
        await m.tick()
        await m.wait_background()
        m.alerting.tick()
        await m.alerting.wait()
        await store.flush()

    try:
        await m.restore()
        await step()
        with log.open("a") as f:
            for i in range(10):
                f.write(line(i, "INFO", f"Update id={i} is handled. Duration {10 * (i + 1)} ms"))
                f.write(line(i, "INFO", "Command: /start" if i % 2 else "Command: /price"))
            f.write(
                line(
                    20, "ERROR", "Failed to send to user 5: Forbidden: bot was blocked by the user"
                )
            )
            f.write(line(21, "INFO", "Message sent to user 6"))
            f.write(line(21, "INFO", "Message sent to user 7"))
            f.write(line(22, "WARNING", "Failed auth attempt from user 4242"))
        await step()
        await step()  # the last record waits one read for continuation lines
        assert (
            latest(store, "log_latency_seconds", bot="alpha", name="update", quantile="0.5") == 0.06
        )
        assert (
            latest(store, "log_latency_seconds", bot="alpha", name="update", quantile="0.99") == 0.1
        )
        assert latest(store, "log_commands_total", bot="alpha", command="/start") == 5
        assert latest(store, "delivery_success_ratio", bot="alpha") == 2 / 3
        assert latest(store, "log_delivery_failures_total", bot="alpha", reason="blocked") == 1
        assert latest(store, "log_api_errors_total", bot="alpha", code="403") == 1
        assert latest(store, "log_security_events_total", bot="alpha", event="auth_failed") == 1
        assert latest(store, "log_expected_missed", bot="alpha") is None  # nothing judged yet
        # The slot passes and its window closes without the line.
        while clock.time() < slot.timestamp() + 130:
            await step()
        assert latest(store, "log_expected_missed", bot="alpha", expect="evening") == 1
        firing = {a.rule: a for a in m.alerting.alerts() if a.state.value == "firing"}
        assert firing["ExpectedLogMissing"].labels["expect"] == "evening"
    finally:
        await m.close()
        await store.close()


async def _file_world(tmp_path: Path) -> tuple[LoadedConfig, ManualClock, Store]:
    """A config whose bot ``alpha`` reads ``bot.log``, a clock and a started store."""
    (tmp_path / "botwatch.yml").write_text("""
storage: sqlite:///bw.db
bots:
  alpha:
    logs: [bot.log]
    checks: {disk: {enabled: false}, logs: {enabled: false}}
""")
    loaded = load_config(tmp_path / "botwatch.yml", env={})
    clock = ManualClock(start=time.time())
    store = Store.open(loaded.storage_url, clock=clock)
    await store.start()
    return loaded, clock, store


async def _tick(m: Monitor, clock: ManualClock, seconds: float = 11.0) -> None:
    """Time passes (a save of positions is due every 10 s) and the monitor ticks."""
    clock.advance(seconds)
    await m.tick()
    await m.wait_background()


async def test_error_patterns_are_kept_per_bot_across_restarts(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_text("")
    loaded, clock, store = await _file_world(tmp_path)
    t0 = clock.time()

    async def run_once(lines: list[str]) -> None:
        m = Monitor(loaded, store, ctx=ProbeContext(clock=clock), clock=clock)
        try:
            await m.restore()
            await _tick(m, clock)
            with log.open("a") as f:
                f.writelines(lines)
            await _tick(m, clock)
        finally:
            await m.close()
            await store.flush()

    await run_once([line(i, "ERROR", f"Failed to send to user {500 + i}: Forbidden: bot was "
                                    "blocked by the user") for i in range(4)]
                   + [line(9, "ERROR", "Database connection failed: timeout after 5s")])  # fmt: skip
    stored = {p.category: p for p in store.log_positions.patterns("alpha")}
    assert stored["blocked"].count == 4 and stored["database"].count == 1
    assert (
        stored["blocked"].text
        == "Failed to send to user <*>: Forbidden: bot was blocked by the user"
    )
    new = store.events(t0, kind="log_pattern_new", bot="alpha")
    assert len(new) == 2 and "new error pattern" in new[0].message

    # After a restart the same kind of error (other ids) joins its row: no new pattern.
    await run_once([line(20, "ERROR", "Failed to send to user 999: Forbidden: bot was blocked by the user"),
                    line(21, "ERROR", "Out of memory: cannot allocate 512MB")])  # fmt: skip
    again = {p.category: p for p in store.log_positions.patterns("alpha")}
    assert len(again) == 3
    assert again["blocked"].count == 5 and again["blocked"].key == stored["blocked"].key
    assert [e.message for e in store.events(t0, kind="log_pattern_new", bot="alpha")][2:] == [
        "new error pattern: Out of memory: cannot allocate <*>"
    ]
    # First seen is the record's own time: "new since" the second run's lines.
    recent = store.log_positions.patterns(
        "alpha", since=datetime(2026, 11, 30, 8, 0, 20, tzinfo=UTC).timestamp()
    )
    assert [p.category for p in recent] == ["out_of_memory"]
    await store.close()


async def test_only_positions_that_moved_are_saved_again(tmp_path: Path) -> None:
    import sqlite3

    log = tmp_path / "bot.log"
    log.write_text(line(0, "INFO", "started"))
    loaded, clock, store = await _file_world(tmp_path)

    def saved() -> tuple[int, float]:
        with sqlite3.connect(tmp_path / "bw.db") as db:
            offset, at = db.execute("SELECT offset, updated_at FROM log_positions").fetchone()
        return offset, at

    m = Monitor(loaded, store, ctx=ProbeContext(clock=clock), clock=clock)
    try:
        await m.restore()
        await _tick(m, clock)
        await _tick(m, clock)
        first = saved()
        assert first[0] == log.stat().st_size
        await _tick(m, clock)  # nothing new: the row is not written again
        assert saved() == first
        with log.open("a") as f:
            f.write(line(1, "INFO", "Command: /start"))
        await _tick(m, clock)
        offset, at = saved()
        assert offset == log.stat().st_size > first[0] and at > first[1]
    finally:
        await m.close()
        await store.close()


JOURNALCTL = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/args"
printf '%s\\n' '{"MESSAGE":"2026-11-30 08:00:01,000 - bot - ERROR - Database connection failed","PRIORITY":"3","__REALTIME_TIMESTAMP":"1764489601000000"}'
printf '%s\\n' '{"MESSAGE":"2026-11-30 08:00:02,000 - bot - INFO - Command: /start","PRIORITY":"6","__REALTIME_TIMESTAMP":"1764489602500000","__CURSOR":"s=ab;i=2"}'
exec sleep 60
"""


async def _standin_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool: str, script: str, source: str
) -> tuple[Path, LoadedConfig, ManualClock, Store]:
    """A stand-in ``tool`` first on PATH and a config whose bot reads ``source``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / tool).write_text(script)
    (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "botwatch.yml").write_text(f"""
storage: sqlite:///bw.db
bots:
  alpha:
    logs: ["{source}"]
    checks: {{disk: {{enabled: false}}}}
""")
    loaded = load_config(tmp_path / "botwatch.yml", env={})
    clock = ManualClock(start=time.time())
    store = Store.open(loaded.storage_url, clock=clock)
    await store.start()
    return bin_dir, loaded, clock, store


async def _until_read(m: Monitor, clock: ManualClock, lines: int) -> None:
    """Tick until the monitor has read ``lines`` lines (a real child: time to start)."""
    for _ in range(400):
        clock.advance(1.1)
        await m.tick()
        await m.wait_background()
        if m.logs.lines >= lines:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the stand-in was never read: {m.logs.errors()}")


async def test_a_journald_unit_is_followed_and_resumed_from_its_last_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir, loaded, clock, store = await _standin_world(
        tmp_path, monkeypatch, "journalctl", JOURNALCTL, "journald:alpha.service"
    )

    m = Monitor(loaded, store, ctx=ProbeContext(clock=clock), clock=clock)
    try:
        await m.restore()
        await _until_read(m, clock, 2)
        clock.advance(11)
        await m.tick()
        await m.wait_background()
        await store.flush()
        assert latest(store, "log_lines_total", bot="alpha", level="error") == 1
        assert latest(store, "log_commands_total", bot="alpha", command="/start") == 1
    finally:
        await m.close()
    first = (bin_dir / "args").read_text().splitlines()
    assert first == ["-u alpha.service -o json --no-pager --follow --lines=0"]

    # Restarted, it asks journald for what came after the last entry it read, exactly.
    again = Monitor(loaded, store, ctx=ProbeContext(clock=clock), clock=clock)
    try:
        await again.restore()
        await _until_read(again, clock, 2)
    finally:
        await again.close()
        await store.close()
    assert (bin_dir / "args").read_text().splitlines()[1].endswith("--after-cursor=s=ab;i=2")


RAILWAY = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/args"
# As railway logs does: recent history first, then what is new.
echo '2026-11-30 08:00:01,000 - bot - ERROR - Database connection failed'
echo '2026-11-30 08:00:02,000 - bot - INFO - Command: /start'
if [ "$(wc -l < "$(dirname "$0")/args")" -gt 1 ]; then
  echo '2026-11-30 08:05:00,000 - bot - ERROR - Database connection failed'
fi
exec sleep 60
"""


async def test_a_cmd_source_restarted_with_the_monitor_does_not_count_its_history_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir, loaded, clock, store = await _standin_world(
        tmp_path, monkeypatch, "railway", RAILWAY, "cmd:railway logs --follow"
    )

    m = Monitor(loaded, store, ctx=ProbeContext(clock=clock), clock=clock)
    try:
        await m.restore()
        await _until_read(m, clock, 2)
    finally:
        await m.close()
    again = Monitor(loaded, store, ctx=ProbeContext(clock=clock), clock=clock)
    try:
        await again.restore()
        await _until_read(again, clock, 1)
        # The two lines it printed again were dropped: only the new one was read.
        assert again.logs.lines == 1
    finally:
        await again.close()
        await store.close()
    assert len((bin_dir / "args").read_text().splitlines()) == 2
