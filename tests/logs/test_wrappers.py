"""Docker json-file, journald and pm2 lines: the bot's own line comes out."""

from __future__ import annotations

import io
import json

import pytest

from botwatch.logs.errors import scan_errors
from botwatch.logs.parse import LogParser


def docker(text: str, stream: str = "stderr", t: str = "2026-11-30T08:00:01.123456789Z") -> str:
    return json.dumps({"log": text, "stream": stream, "time": t})


def test_docker_json_file_with_a_split_long_line_and_a_traceback() -> None:
    long = "x" * 20000
    lines = [
        docker("\x1b[32mINFO\x1b[0m:bot:started\n", "stdout"),
        docker(f"ERROR:bot:payload {long[:16384]}"),  # split by Docker at 16 KB...
        docker(f"{long[16384:]} rejected\n"),  # ...the rest in the next entry
        docker("ERROR:bot:update failed\n"),
        docker("Traceback (most recent call last):\n"),
        docker('  File "/app/bot.py", line 3, in run\n'),
        docker("KeyError: 'chat'\n"),
    ]
    recs = list(LogParser().records(lines))
    assert [r.level for r in recs] == ["info", "error", "error"]
    assert recs[1].message == f"payload {long} rejected"
    assert recs[2].exc_type == "KeyError" and len(recs[2].extra) == 3
    assert recs[0].ts == pytest.approx(1796025601.123456)  # Docker's ns, to the µs


def test_docker_logs_through_errors_join_tracebacks() -> None:
    data = "\n".join(
        [docker("ERROR:bot:update failed\n"), docker("Traceback (most recent call last):\n"),
         docker("KeyError: 'chat'\n")] * 3
    )  # fmt: skip
    scan = scan_errors(io.BytesIO(data.encode()))
    (p,) = scan.patterns.top()
    assert p.count == 3 and p.exc_type == "KeyError"


def test_journald_priority_is_a_hint_the_text_overrides() -> None:
    def entry(message: str, priority: str) -> str:
        return json.dumps({"MESSAGE": message, "PRIORITY": priority,
                           "__REALTIME_TIMESTAMP": "1796025601500000",
                           "SYSLOG_IDENTIFIER": "mybot"})  # fmt: skip

    lines = [
        entry("2026-11-30 08:00:01,000 - bot - ERROR - db down", "6"),  # stderr, filed as info
        entry("plain text the bot printed", "3"),  # the priority is all there is
        entry("Started mybot.service.", "6"),
    ]
    recs = list(LogParser().records(lines))
    assert [r.level for r in recs] == ["error", "error", "info"]
    assert recs[0].message == "db down"
    assert recs[2].ts == 1796025601.5


def test_pm2_prefixes_and_time_stamps() -> None:
    lines = [
        "0|cryptobot  | 2026-11-30T08:00:01: ERROR:bot:price feed down",
        "0|cryptobot  | INFO:bot:ok",
    ]
    recs = list(LogParser().records(lines))
    assert [(r.level, r.message) for r in recs] == [("error", "price feed down"), ("info", "ok")]
    assert recs[0].ts is not None and recs[1].ts == recs[0].ts  # the neighbour's time
