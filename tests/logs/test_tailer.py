"""The monitor's log tailer, one ``tick()`` at a time: records that span reads, and
garbage that must never stop it."""

from __future__ import annotations

from pathlib import Path

from botwatch.config import load_config
from botwatch.logs.tailer import LogTailer
from botwatch.series import SampleGroup


def value(samples: list[SampleGroup], series: str, **labels: str) -> float | None:
    for g in samples:
        if series in g.values and all(g.labels.get(k) == v for k, v in labels.items()):
            return g.values[series]
    return None


def tailer(tmp_path: Path) -> tuple[LogTailer, Path]:
    log = tmp_path / "bot.log"
    log.write_text("")
    (tmp_path / "botwatch.yml").write_text("bots:\n  alpha:\n    logs: [bot.log]\n")
    t = LogTailer(load_config(tmp_path / "botwatch.yml", env={}))
    t.tick(1000.0)
    return t, log


def test_a_traceback_written_across_two_reads_is_one_record(tmp_path: Path) -> None:
    t, log = tailer(tmp_path)
    with log.open("a") as f:
        f.write("2026-11-30 08:00:01,000 - bot - ERROR - Error while handling update 7\n"
                "Traceback (most recent call last):\n")  # fmt: skip
    t.tick(1001.0)
    with log.open("a") as f:
        f.write('  File "bot.py", line 3, in handle\n'
                "asyncpg.exceptions.TooManyConnectionsError: sorry, too many clients\n")  # fmt: skip
    t.tick(1002.0)
    samples = t.tick(1003.0)  # a quiet read releases the record
    assert value(samples, "log_lines_total", bot="alpha", level="error") == 1
    assert value(samples, "log_lines_total", bot="alpha", level="unknown") is None
    rows, new = t.take_patterns()
    assert len(new) == 1  # first seen: an event
    assert len(rows) == 1 and rows[0]["exc_type"] == "asyncpg.exceptions.TooManyConnectionsError"
    assert rows[0]["category"] == "database"
    t.close()


def test_a_held_record_is_counted_when_the_tailer_stops(tmp_path: Path) -> None:
    t, log = tailer(tmp_path)
    with log.open("a") as f:
        f.write("2026-11-30 08:00:01,000 - bot - ERROR - last words\n")
    t.tick(1001.0)
    assert value(t.samples(1001.0), "log_lines_total", bot="alpha", level="error") == 0
    assert value(t.drain(1002.0), "log_lines_total", bot="alpha", level="error") == 1
    t.close()


def test_garbage_and_time_travel_never_stop_it(tmp_path: Path) -> None:
    t, log = tailer(tmp_path)
    with log.open("ab") as f:
        f.write(b"\xff\xfe\x00 binary\x00 \xc3\x28\n"
                b'{"event": "truncated json", "level": "err\n'
                + b"B" * (3 * 1024 * 1024) + b" ERROR inside a long line\n"
                b"9999-12-31 23:59:59,000 - bot - ERROR - from the far future\n"
                b"1970-01-01 00:00:01,000 - bot - ERROR - from the distant past\n"
                b"2026-11-30 08:00:01,000 - bot - INFO - Command: /start\n")  # fmt: skip
    t.tick(1001.0)
    samples = t.tick(1002.0)
    assert value(samples, "log_lines_total", bot="alpha", level="error") == 2  # past, future
    assert value(samples, "log_lines_total", bot="alpha", level="unknown") >= 2  # the garbage
    assert value(samples, "log_error_ratio", bot="alpha") == 1.0  # capped: never over 100 %
    assert value(samples, "log_commands_total", bot="alpha", command="/start") == 1
    assert t.lines == 6
    t.close()


def test_leaked_secrets_are_counted_once_each_and_only_redacted(tmp_path: Path) -> None:
    token = "5723194461:AAHk9dX2pQ_vB7yZ3mN8rT1sU4wE6fG0hJ2"
    t, log = tailer(tmp_path)
    with log.open("a") as f:
        f.write(f"2026-11-30 08:00:01,000 - bot - INFO - starting with token {token}\n")
        f.write(f"2026-11-30 08:00:02,000 - bot - INFO - retrying with token {token}\n")
        f.write(
            "2026-11-30 08:00:03,000 - bot - INFO - db at postgresql://bot:hunter2secret@db/x\n"
        )
    samples = t.tick(1001.0)
    assert value(samples, "log_secrets_leaked", bot="alpha", kind="telegram_token") == 1
    assert value(samples, "log_secrets_leaked", bot="alpha", kind="password_in_url") == 1
    leaks = t.take_leaks()
    assert [(k, r) for _, k, r in leaks] == [
        ("telegram_token", "5723194461:AA…J2"), ("password_in_url", "postgresql://bot:****@db")]  # fmt: skip
    assert token not in repr(samples) + repr(leaks) and "hunter2secret" not in repr(leaks)
    assert t.take_leaks() == []  # each reported once
    t.close()


def test_label_values_a_bot_controls_are_capped(tmp_path: Path) -> None:
    from botwatch.logs.tailer import MAX_KEYS

    t, log = tailer(tmp_path)
    with log.open("a") as f:
        for i in range(MAX_KEYS + 10):
            f.write(f"2026-11-30 08:00:01,000 - bot - INFO - Command: /cmd{i}\n")
    t.tick(1001.0)
    samples = t.tick(1002.0)
    commands = {g.labels["command"]: g.values["log_commands_total"]
                for g in samples if "log_commands_total" in g.values}  # fmt: skip
    assert len(commands) == MAX_KEYS + 1 and commands["other"] == 10
    assert sum(commands.values()) == MAX_KEYS + 10  # nothing lost, only lumped
    t.close()


def test_memory_stays_flat_as_the_tailer_writes_series_every_second(tmp_path: Path) -> None:
    """The rules' memory of series is keyed by the labels dict's identity: the tailer
    hands the same dicts every time, and a producer that does not cannot grow it
    without end either."""
    from botwatch.rules.source import MemorySeries

    t, log = tailer(tmp_path)
    series = MemorySeries()
    with log.open("a") as f:
        f.write("2026-11-30 08:00:01,000 - bot - INFO - Command: /start\n")
    for i in range(300):
        series.extend(t.tick(1001.0 + i))
    assert len(series._by_labels) == len({id(g.labels) for g in t.samples(1400.0)})
    for i in range(5000):  # someone else's fresh dict per value
        series.add("x", {"bot": "alpha"}, 2000.0 + i, 1.0)
    assert len(series._by_labels) <= 1_001 + sum(len(d) for d in series._series.values())
    t.close()
