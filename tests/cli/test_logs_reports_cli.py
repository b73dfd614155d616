"""``botwatch logs stats|latency|commands|delivery|security``: a log's facts, from a
file, a bot or a pipe, as tables or JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

Cli = Callable[..., subprocess.CompletedProcess[str]]
TOKEN = "5723194461:AAHk9dX2pQ_vB7yZ3mN8rT1sU4wE6fG0hJ2"


def write_log(path: Path) -> None:
    """Two hours of a bot: updates with durations, commands, two notification runs,
    failed sends, security events, a restart and a crash."""
    t = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    lines = [f"{t:%Y-%m-%d %H:%M:%S},000 - aiogram.dispatcher - INFO - Start polling"]
    for i in range(120):
        t += timedelta(minutes=1)
        ts = f"{t:%Y-%m-%d %H:%M:%S},000"
        lines.append(f"{ts} - aiogram.event - INFO - Update id={i} is handled. "
                     f"Duration {10 + i} ms by bot id=1")  # fmt: skip
        lines.append(f"{ts} - bot.handlers - INFO - Command: /{'start' if i % 3 else 'price'}")
        if i in (30, 90):
            lines.append(f"{ts} - bot.notify - INFO - Notifications sent: 95 success, 5 failed")
        if i % 40 == 0:
            lines.append(f"{ts} - bot.notify - ERROR - Failed to send to user {i}: "
                         "Forbidden: bot was blocked by the user")  # fmt: skip
        if i % 60 == 0:
            lines.append(f"{ts} - bot.guard - WARNING - Rate limit exceeded for user 777 "
                         f"(token {TOKEN})")  # fmt: skip
    lines += [
        f"{t:%Y-%m-%d %H:%M:%S},500 - bot - INFO - Shutting down",
        "Traceback (most recent call last):",
        '  File "bot.py", line 9, in <module>',
        "RuntimeError: boom",
    ]
    path.write_text("\n".join(lines) + "\n")


def test_latency_quantiles_per_kind_of_work(tmp_path: Path, botwatch: Cli) -> None:
    log = tmp_path / "bot.log"
    write_log(log)
    got = botwatch("logs", "latency", str(log), "--json")
    assert got.returncode == 0, got.stderr
    lat = json.loads(got.stdout)["latency"]["update"]
    assert lat["count"] == 120 and lat["max"] == 0.129
    assert abs(lat["p50"] - 0.0695) < 1e-9  # 10..129 ms: the median is 69.5 ms
    table = botwatch("logs", "latency", str(log)).stdout
    assert "update" in table and "p95" in table and "129 ms" in table


def test_commands_and_since(tmp_path: Path, botwatch: Cli) -> None:
    log = tmp_path / "bot.log"
    write_log(log)
    got = json.loads(botwatch("logs", "commands", str(log), "--json").stdout)
    assert got["commands"] == {"/start": 80, "/price": 40}
    got = json.loads(botwatch("logs", "commands", str(log), "--json", "--since",
                              "2026-11-30T09:00:30+00:00").stdout)  # fmt: skip
    assert sum(got["commands"].values()) == 60


def test_delivery_rate_runs_and_reasons(tmp_path: Path, botwatch: Cli) -> None:
    log = tmp_path / "bot.log"
    write_log(log)
    got = json.loads(botwatch("logs", "delivery", str(log), "--json").stdout)["delivery"]
    # Summary lines win over the per-message ones (the bot writes both).
    assert got["success"] == 190 and got["failed"] == 10 and got["rate"] == 0.95
    assert [r["success"] for r in got["runs"]] == [95, 95]
    assert got["reasons"] == {"blocked": 3}
    out = botwatch("logs", "delivery", str(log)).stdout
    assert "95.0% delivered" in out and "blocked by user" in out


def test_security_events_are_shown_redacted(tmp_path: Path, botwatch: Cli) -> None:
    log = tmp_path / "bot.log"
    write_log(log)
    got = botwatch("logs", "security", str(log), "--json")
    sec = json.loads(got.stdout)["security"]
    assert sec["rate_limit"]["count"] == 2 and sec["rate_limit"]["users"] == {"777": 2}
    assert TOKEN not in got.stdout and "5723194461:AA…J2" in sec["rate_limit"]["example"]
    table = botwatch("logs", "security", str(log))
    assert "rate_limit" in table.stdout and TOKEN not in table.stdout


def test_stats_from_a_pipe(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    write_log(log)
    got = subprocess.run([sys.executable, "-m", "botwatch", "logs", "stats", "-", "--json"],
                         input=log.read_bytes(), capture_output=True, timeout=60)  # fmt: skip
    assert got.returncode == 0, got.stderr
    stats = json.loads(got.stdout)
    assert stats["levels"] == {"info": 244, "error": 3, "warning": 2}
    assert stats["lifecycle"] == {"startup": 1, "shutdown": 1, "crash": 1}
    # 08:00..08:59: the start, 59 minutes of update + command, a run, 2 failed sends,
    # a security warning.
    assert stats["by_hour"][8] == 1 + 59 * 2 + 1 + 2 + 1
    assert stats["api_errors"] == [{"platform": "telegram", "code": "403", "count": 3}]


def test_stats_table_names_the_last_crash(tmp_path: Path, botwatch: Cli) -> None:
    log = tmp_path / "bot.log"
    write_log(log)
    got = botwatch("logs", "stats", str(log))
    assert got.returncode == 0, got.stderr
    assert "last crash" in got.stdout and "crash 1" in got.stdout
    assert "delivery: 190 sent, 10 failed (95.0%)" in got.stdout


def test_a_bots_own_rules_from_the_config(tmp_path: Path, botwatch: Cli) -> None:
    (tmp_path / "bot.log").write_text(
        "2026-11-30 08:00:01,000 - bot - INFO - chart rendered in 2500us\n"
        "2026-11-30 08:00:02,000 - bot - INFO - chart rendered in 1500us\n"
    )
    (tmp_path / "botwatch.yml").write_text(
        "bots:\n  alpha:\n    logs: [bot.log]\n"
        "log_extract:\n"
        "  - {kind: latency, match: 'chart rendered in (?P<value>\\d+)us', name: chart, unit: us}\n"
    )
    got = botwatch("logs", "latency", "alpha", "--json", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["latency"]["chart"]["max"] == 0.0025


def test_a_broken_rule_names_file_line_and_key(tmp_path: Path, botwatch: Cli) -> None:
    (tmp_path / "bot.log").write_text("x\n")
    (tmp_path / "botwatch.yml").write_text(
        "bots:\n  alpha:\n    logs: [bot.log]\n"
        "log_extract:\n"
        "  - kind: latency\n"
        "    match: 'took (\\d+'\n"
    )
    got = botwatch("logs", "latency", "alpha", cwd=tmp_path)
    assert got.returncode != 0
    assert "botwatch.yml" in got.stderr and ":6" in got.stderr and "match" in got.stderr
    assert "not a valid regex" in got.stderr
