"""``botwatch logs errors``: from a file, a glob or a pipe, as tables or JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

Cli = Callable[..., subprocess.CompletedProcess[str]]
TOKEN = "5723194461:AAHk9dX2pQ_vB7yZ3mN8rT1sU4wE6fG0hJ2"


def write_log(path: Path, start: datetime, hours: int = 4) -> None:
    """A bot's log: info lines, three kinds of errors (one with a traceback)."""
    lines = []
    t = start
    for i in range(hours * 60):
        t += timedelta(minutes=1)
        ts = t.strftime("%Y-%m-%d %H:%M:%S,000")
        lines.append(
            f"{ts} - bot.core - INFO - Update id={1000 + i} is handled. Duration {i % 50} ms"
        )
        if i % 10 == 0:
            lines.append(f"{ts} - bot.send - ERROR - Failed to send to user {99000 + i}: "
                         "Forbidden: bot was blocked by the user")  # fmt: skip
        if i % 30 == 0:
            lines.append(f"{ts} - bot.api - ERROR - Flood control exceeded. Retry in {i % 7 + 3} seconds "
                         "(HTTP error 429: Too Many Requests)")  # fmt: skip
        if i % 60 == 0:
            lines += [
                f"{ts} - bot.core - ERROR - Error while handling update {i}",
                "Traceback (most recent call last):",
                '  File "/app/db.py", line 8, in fetch',
                "    conn = await pool.acquire()",
                "asyncpg.exceptions.TooManyConnectionsError: sorry, too many clients already",
            ]
    path.write_text("\n".join(lines) + "\n")


def test_errors_from_a_file_grouped_with_categories(tmp_path: Path, botwatch: Cli) -> None:
    log = tmp_path / "bot.log"
    write_log(log, datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    got = botwatch("logs", "errors", str(log), "--json")
    assert got.returncode == 0, got.stderr
    report = json.loads(got.stdout)
    assert report["format"] == "python" and report["unparsed"] == 0
    by = {p["category"]: p for p in report["patterns"]}
    assert set(by) == {"blocked", "rate_limited", "database"}
    assert by["blocked"]["count"] == 24
    assert by["blocked"]["template"] == (
        "Failed to send to user <*>: Forbidden: bot was blocked by the user"
    )
    assert by["rate_limited"]["count"] == 8 and by["rate_limited"]["retry_after"] is None
    db = by["database"]
    assert db["count"] == 4 and db["exception"] == "asyncpg.exceptions.TooManyConnectionsError"
    assert db["first_line"] == 2 + 1 + 1  # after the first info, blocked and flood lines
    assert "TooManyConnectionsError" in db["examples"][0]
    table = botwatch("logs", "errors", str(log), env={"COLUMNS": "250"})
    assert "blocked by user / deactivated (403)" in table.stdout
    assert "mark them inactive" in table.stdout  # the runbook's advice


def test_errors_from_a_pipe_like_railway_logs(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    write_log(log, datetime(2026, 11, 30, 8, 0, tzinfo=UTC), hours=1)
    with subprocess.Popen(["cat", str(log)], stdout=subprocess.PIPE) as cat:
        got = subprocess.run([sys.executable, "-m", "botwatch", "logs", "errors", "-", "--json"],
                             stdin=cat.stdout, capture_output=True, text=True, timeout=60,
                             env={**os.environ})  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["source"] == "-"
    assert sum(p["count"] for p in json.loads(got.stdout)["patterns"]) == 6 + 2 + 1


def test_a_window_and_its_trend(tmp_path: Path, botwatch: Cli) -> None:
    log = tmp_path / "bot.log"
    write_log(log, datetime(2026, 11, 30, 8, 0, tzinfo=UTC), hours=4)
    got = botwatch("logs", "errors", str(log), "--since", "2026-11-30T10:01:00+00:00",
                   "--until", "2026-11-30T12:01:00+00:00", "--json")  # fmt: skip
    by = {p["category"]: p for p in json.loads(got.stdout)["patterns"]}
    assert by["blocked"]["count"] == 12 and by["blocked"]["previous"] == 12
    assert by["blocked"]["trend"] == 1.0


def test_records_mode_gives_every_record_its_pattern(tmp_path: Path, botwatch: Cli) -> None:
    log = tmp_path / "bot.log"
    write_log(log, datetime(2026, 11, 30, 8, 0, tzinfo=UTC), hours=1)
    got = botwatch("logs", "errors", str(log), "--records")
    rows = [json.loads(line) for line in got.stdout.splitlines()]
    assert len(rows) == 60 + 6 + 2 + 1  # every record, tracebacks joined to theirs
    info = {r["pattern"] for r in rows if r["level"] == "info"}
    errors = {r["pattern"] for r in rows if r["level"] == "error"}
    assert len(info) == 1 and len(errors) == 3 and not info & errors


def test_records_carry_the_final_pattern_ids(tmp_path: Path, botwatch: Cli) -> None:
    log = tmp_path / "nova.log"
    vm = "[instance: b9000564-fe1a-409b-b8cc-1e88b294cd{n:02d}] VM {word} (Lifecycle Event)"
    words = ["Paused", "Resumed", "Paused", "Started", "Resumed", "Stopped", "Paused"]
    log.write_text("".join(f"2026-11-30 08:00:0{i},000 - nova - INFO - "
                           f"{vm.format(n=i, word=w)}\n" for i, w in enumerate(words)))  # fmt: skip
    got = botwatch("logs", "errors", str(log), "--records")
    assert got.returncode == 0, got.stderr
    rows = [json.loads(line) for line in got.stdout.splitlines()]
    # The event word's position saw a fourth word on line 6: every line is in one
    # pattern, the one line 1 started (ids written as lines came would be 1, 2, 1, 3…).
    assert [r["line"] for r in rows] == list(range(1, 8))
    assert {r["pattern"] for r in rows} == {rows[0]["pattern"]}
    assert {r["level"] for r in rows} == {"info"} and all(r["parsed"] for r in rows)


def test_bad_input_is_a_clear_error(tmp_path: Path, botwatch: Cli) -> None:
    got = botwatch("logs", "errors", str(tmp_path / "nope.log"))
    assert got.returncode == 2 and "no such file" in got.stderr
    got = botwatch("logs", "errors", str(tmp_path / "*.log"))
    assert got.returncode == 2 and "no file matches" in got.stderr
    (tmp_path / "a.log").write_text("x\n")
    got = botwatch("logs", "errors", str(tmp_path / "a.log"), "--since", "yesterday-ish")
    assert got.returncode == 2 and "give a duration (1h, 7d) or an ISO time" in got.stderr
    got = botwatch("logs", "errors", str(tmp_path / "a.log"), "--format", "<Date> <Level>")
    assert got.returncode == 2 and "needs a <Content> field" in got.stderr


@pytest.mark.parametrize("as_json", [False, True])
def test_the_command_exits_1_and_prints_nothing_usable(
    tmp_path: Path, botwatch: Cli, as_json: bool
) -> None:
    log = tmp_path / "bot.log"
    log.write_text(
        f"INFO starting with {TOKEN}\nINFO db {'postgresql://bot:hunter2secret@db.internal:5432'}/x\n"
    )
    got = botwatch("logs", "secrets", str(log), *(["--json"] if as_json else []))
    assert got.returncode == 1, got.stderr
    assert "hk9dX2pQ" not in got.stdout and "hunter2secret" not in got.stdout
    if as_json:
        kinds = [f["kind"] for f in json.loads(got.stdout)["findings"]]
        assert kinds == ["telegram_token", "password_in_url"]
    else:
        assert "2 secret(s) leaked" in got.stdout
    (tmp_path / "clean.log").write_text("INFO all good\n")
    clean = botwatch("logs", "secrets", str(tmp_path / "clean.log"))
    assert clean.returncode == 0 and "no secrets in 1 lines" in clean.stdout


def test_tail_shows_the_last_records_and_follows_through_rotation(tmp_path: Path) -> None:
    import time as _time

    log = tmp_path / "bot.log"
    log.write_text("".join(f"2026-11-30 08:00:{i:02d},000 - bot - INFO - line {i}\n"
                           for i in range(20)))  # fmt: skip
    last = subprocess.run([sys.executable, "-m", "botwatch", "logs", "tail", str(log), "-n", "3",
                           "--json"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert [json.loads(x)["message"] for x in last.stdout.splitlines()] == [
        "line 17", "line 18", "line 19",
    ]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "botwatch", "logs", "tail", str(log), "-n", "0", "-f", "--json",
         "--level", "warning", "--interval", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _time.sleep(1.5)  # started and watching
        with log.open("a") as f:
            f.write("2026-11-30 08:01:00,000 - bot - INFO - quiet\n")
            f.write("2026-11-30 08:01:01,000 - bot - ERROR - before rotation\n")
        _time.sleep(0.5)
        log.rename(tmp_path / "bot.log.1")
        log.write_text("2026-11-30 08:01:02,000 - bot - ERROR - after rotation\nTraceback (most "
                       "recent call last):\nValueError: x\n")  # fmt: skip
        _time.sleep(1.5)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    shown = [json.loads(x) for x in out.splitlines()]
    assert [r["message"] for r in shown] == ["before rotation", "after rotation"], err
    assert shown[1]["exception"] == "ValueError"


def test_a_bot_name_reads_its_log_files_from_the_config(tmp_path: Path, botwatch: Cli) -> None:
    (tmp_path / "logs").mkdir()
    write_log(tmp_path / "logs" / "alpha.log", datetime(2026, 11, 30, 8, 0, tzinfo=UTC), hours=1)
    (tmp_path / "botwatch.yml").write_text(
        "storage: sqlite:///bw.db\nbots:\n  alpha: {logs: ['logs/*.log']}\n  beta: {}\n"
    )
    got = botwatch("logs", "errors", "alpha", "--json", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    report = json.loads(got.stdout)
    assert report["source"].endswith("alpha.log") and report["errors"] == 6 + 2 + 1
    none = botwatch("logs", "errors", "beta", cwd=tmp_path)
    assert (
        none.returncode == 2
        and "has no logs in botwatch.yml: add logs: [path] to it" in none.stderr
    )
