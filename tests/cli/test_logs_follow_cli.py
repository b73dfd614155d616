"""``--follow``: errors and tail kept live as a file grows, from a pipe that never ends
(``railway logs --follow | botwatch logs errors - --follow``), and from commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from botwatch.logs.live import StreamFollower

ERR = "2026-11-30 08:00:0{i},000 - bot - ERROR - Failed to send to user {u}: Forbidden: bot was blocked by the user\n"


def botwatch(*args: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "botwatch", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "COLUMNS": "200"}, **kw)  # type: ignore[call-overload]  # fmt: skip


def read_json_line(proc: subprocess.Popen[str]) -> dict:
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the next error; the test's timeout guards
    assert line, proc.stderr.read() if proc.stderr else ""
    return json.loads(line)


def test_errors_follow_a_pipe_as_it_comes_and_end_with_it() -> None:
    with botwatch("logs", "errors", "-", "--follow", "--json", "--interval", "0.05",
                  stdin=subprocess.PIPE) as proc:  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(ERR.format(i=1, u=10))
        proc.stdin.write("2026-11-30 08:00:02,000 - bot - INFO - fine\n")
        proc.stdin.flush()
        # The first error is out while the pipe is still open: nothing waits for its end.
        first = read_json_line(proc)
        assert first["category"] == "blocked" and first["source"] == "-"
        proc.stdin.write(ERR.format(i=3, u=11))
        proc.stdin.close()
        second = read_json_line(proc)
        assert second["pattern"] == first["pattern"]  # one pattern, two records
        assert proc.wait(timeout=30) == 0


def test_errors_follow_a_growing_file_until_ctrl_c(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_text(ERR.format(i=1, u=10))
    with botwatch("logs", "errors", str(log), "--follow", "--json", "--interval", "0.05") as proc:
        assert read_json_line(proc)["message"].startswith("Failed to send to user 10")  # history
        with log.open("a") as f:
            f.write("2026-11-30 08:00:05,000 - db - CRITICAL - Database connection lost\n")
        assert read_json_line(proc)["category"] == "database"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


def test_errors_follow_draws_the_table(tmp_path: Path) -> None:
    got = subprocess.run([sys.executable, "-m", "botwatch", "logs", "errors", "-", "--follow",
                          "--interval", "0.05"], input=ERR.format(i=1, u=1) * 3, text=True,
                         capture_output=True, timeout=60, env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert "(following): 3 lines, 3 error records in 1 patterns" in got.stdout
    assert "Failed to send to user <*>: Forbidden: bot was blocked by the user" in got.stdout


def test_tail_follows_a_pipe_and_reads_a_command_once(tmp_path: Path) -> None:
    got = subprocess.run([sys.executable, "-m", "botwatch", "logs", "tail", "-", "-f", "--json",
                          "--interval", "0.05"], input="ERROR:bot:one\nINFO:bot:two\n", text=True,
                         capture_output=True, timeout=60)  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert [json.loads(x)["message"] for x in got.stdout.splitlines()] == ["one", "two"]
    once = subprocess.run([sys.executable, "-m", "botwatch", "logs", "tail",
                           "cmd:printf 'ERROR:bot:one\\nINFO:bot:two\\nINFO:bot:three\\n'",
                           "-n", "2", "--json"], text=True, capture_output=True, timeout=60)  # fmt: skip
    assert [json.loads(x)["message"] for x in once.stdout.splitlines()] == ["two", "three"]


def test_a_pipe_is_read_in_whole_lines_without_blocking() -> None:
    r, w = os.pipe()
    s = StreamFollower(r)
    try:
        assert s.poll() == []  # nothing yet: no waiting either
        os.write(w, b"first line\nsecond ha")
        assert s.poll() == [b"first line"]
        os.write(w, b"lf\nlast without newline")
        assert s.poll() == [b"second half"]
        os.close(w)
        deadline = time.monotonic() + 10
        got: list[bytes] = []
        while not s.eof and time.monotonic() < deadline:
            got += s.poll()
        assert got == [b"last without newline"] and s.eof
    finally:
        s.close()
        os.close(r)


def test_reports_follow_a_growing_file(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_text(
        "2026-11-30 08:00:01,000 - bot - INFO - Notifications sent: 9 success, 1 failed\n"
    )
    with botwatch("logs", "delivery", str(log), "--follow", "--json", "--interval", "0.05") as proc:
        assert read_json_line(proc)["delivery"]["rate"] == 0.9
        with log.open("a") as f:
            f.write(
                "2026-11-30 14:00:01,000 - bot - INFO - Notifications sent: 10 success, 0 failed\n"
            )
        now = read_json_line(proc)["delivery"]
        assert now["success"] == 19 and now["rate"] == 0.95 and len(now["runs"]) == 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
