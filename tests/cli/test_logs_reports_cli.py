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


def test_a_bots_patterns_know_since_when_they_exist(tmp_path: Path, botwatch: Cli) -> None:
    from botwatch.logs.known import BotPatterns
    from botwatch.logs.record import LogRecord
    from botwatch.store import Store

    week_ago = (datetime.now(UTC) - timedelta(days=7)).timestamp()
    old = BotPatterns("alpha")
    old.add(LogRecord("Failed to send to user 1: Forbidden: bot was blocked by the user",
                      "error", week_ago), week_ago)  # fmt: skip
    rows, _ = old.take()
    with Store.open(f"sqlite:///{tmp_path}/bw.db") as store:
        store.log_positions.save({}, week_ago, rows)
    now = datetime.now(UTC)
    (tmp_path / "bot.log").write_text(
        f"{now:%Y-%m-%d %H:%M:%S},000 - bot - ERROR - Failed to send to user 77: Forbidden: "
        "bot was blocked by the user\n"
        f"{now:%Y-%m-%d %H:%M:%S},000 - bot - ERROR - Out of memory: cannot allocate 512MB\n"
    )
    (tmp_path / "botwatch.yml").write_text(
        f"storage: sqlite:///{tmp_path}/bw.db\nbots:\n  alpha:\n    logs: [bot.log]\n"
    )
    got = botwatch("logs", "errors", "alpha", "--json", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    by = {p["category"]: p for p in json.loads(got.stdout)["patterns"]}
    assert by["blocked"]["known_since"] == week_ago and by["blocked"]["new"] is False
    assert by["out_of_memory"]["known_since"] is None and by["out_of_memory"]["new"] is True
    only_new = json.loads(botwatch("logs", "errors", "alpha", "--json", "--new",
                                   cwd=tmp_path).stdout)["patterns"]  # fmt: skip
    assert [p["category"] for p in only_new] == ["out_of_memory"]
    table = botwatch("logs", "errors", "alpha", cwd=tmp_path).stdout
    assert "known since" in table and "new" in table

    stored = json.loads(botwatch("logs", "patterns", "alpha", "--json", cwd=tmp_path).stdout)
    assert [(p["category"], p["count"]) for p in stored] == [("blocked", 1)]
    assert json.loads(botwatch("logs", "patterns", "--since", "1d", "--json",
                               cwd=tmp_path).stdout) == []  # fmt: skip
    missing = botwatch("logs", "patterns", "gamma", cwd=tmp_path)
    assert missing.returncode == 2 and "no bot 'gamma'" in missing.stderr


JOURNALCTL = """#!/bin/sh
echo "$@" > "$(dirname "$0")/args"
printf '%s\\n' '{"MESSAGE":"2026-11-30 08:00:01,000 - bot - ERROR - Failed to send to user 5: Forbidden: bot was blocked by the user","PRIORITY":"6","__REALTIME_TIMESTAMP":"1764489601000000"}'
printf '%s\\n' '{"MESSAGE":"Command: /start","PRIORITY":"6","__REALTIME_TIMESTAMP":"1764489602000000"}'
"""


def test_named_sources_journald_pm2_and_commands(tmp_path: Path, botwatch: Cli) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "journalctl").write_text(JOURNALCTL)
    (bin_dir / "journalctl").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PM2_HOME": str(tmp_path / "pm2")}
    got = botwatch("logs", "errors", "journald:bot.service", "--json", env=env)
    assert got.returncode == 0, got.stderr
    [pattern] = json.loads(got.stdout)["patterns"]
    assert pattern["category"] == "blocked"
    assert (bin_dir / "args").read_text().split() == [
        "-u", "bot.service", "-o", "json", "--no-pager"]  # fmt: skip
    cmds = json.loads(botwatch("logs", "commands", "journald:bot.service", "--json",
                               env=env).stdout)  # fmt: skip
    assert cmds["commands"] == {"/start": 1}

    (tmp_path / "pm2" / "logs").mkdir(parents=True)
    (tmp_path / "pm2" / "logs" / "my-bot-error.log").write_text(
        "0|my_bot  | 2026-11-30T08:00:01: ERROR:bot:Database connection failed\n")  # fmt: skip
    got = botwatch("logs", "errors", "pm2:my_bot", "--json", env=env)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["patterns"][0]["category"] == "database"

    echo = botwatch("logs", "stats", "cmd:printf 'ERROR:bot:boom\\nINFO:bot:ok\\n'", "--json",
                    env=env)  # fmt: skip
    assert json.loads(echo.stdout)["levels"] == {"error": 1, "info": 1}
    missing = botwatch("logs", "errors", "cmd:no-such-tool --follow", env=env)
    assert missing.returncode == 2
    assert "no-such-tool not found: it must be installed and on PATH" in missing.stderr


def test_a_misspelt_source_in_the_config_names_file_line_and_key(
    tmp_path: Path, botwatch: Cli
) -> None:
    (tmp_path / "botwatch.yml").write_text(
        "bots:\n  alpha:\n    logs:\n      - bot.log\n      - 'jornald:alpha.service'\n"
    )
    got = botwatch("logs", "errors", "alpha", cwd=tmp_path)
    assert got.returncode == 2
    assert "botwatch.yml" in got.stderr and "logs" in got.stderr
    assert "unknown log source 'jornald:'" in got.stderr


def test_level_leaves_out_quieter_records(tmp_path: Path, botwatch: Cli) -> None:
    log = tmp_path / "bot.log"
    write_log(log)
    got = json.loads(botwatch("logs", "stats", str(log), "--json", "--level", "warning").stdout)
    # The info line the crash's traceback hangs on counts, as in `logs errors`.
    assert got["levels"] == {"error": 3, "warning": 2, "info": 1}
    assert got["lifecycle"] == {"shutdown": 1, "crash": 1}  # not the info "Start polling"
    bad = botwatch("logs", "stats", str(log), "--level", "loud")
    assert bad.returncode == 2 and "--level must be one of" in bad.stderr
