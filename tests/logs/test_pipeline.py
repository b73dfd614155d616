"""The error scan with its byte search in a forked child: the same answer as without,
progress as the child reads, and no child left behind however the scan ends."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from botwatch.errors import LogSourceError
from botwatch.logs import pipeline
from botwatch.logs.read import LineReader

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or len(os.sched_getaffinity(0)) < 2, reason="needs fork and two CPUs"
)

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/bot.py", line 12, in handler\n'
    "    await send(chat)\n"
    "telegram.error.RetryAfter: Flood control exceeded. Retry in {n} seconds\n"
)


def _big_log(path: Path, size: int = pipeline.PIPELINE_OVER + (1 << 20)) -> Path:
    """A Python-logging log past the pipeline's threshold: errors, criticals, tracebacks
    (some across the 1 MB block edges), bare tracebacks, garbage and a long line."""
    rnd = random.Random(5)
    with path.open("w") as out:
        n = 0
        while out.tell() < size:
            n += 1
            ts = f"2026-11-{1 + n // 90000:02d} {n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d},{n % 1000:03d}"
            r = rnd.random()
            if r < 0.03:
                out.write(f"{ts} - bot - ERROR - Failed to send to user {rnd.randrange(10**9)}: "
                          "Forbidden: bot was blocked by the user\n")  # fmt: skip
            elif r < 0.04:
                out.write(f"{ts} - bot - ERROR - Unhandled error in update {n}\n")
                out.write(TRACEBACK.format(n=rnd.randrange(60)))
            elif r < 0.042:
                out.write(f"{ts} - bot - CRITICAL - HTTP error 429: Too Many Requests\n")
            elif r < 0.043:
                out.write(TRACEBACK.format(n=3))  # printed by Python itself, no log line
            elif r < 0.044:
                out.write("\x00\xff garbage Error \x01\n")
            else:
                out.write(f"{ts} - bot - INFO - Update id={n} is handled. Duration {n % 900} ms\n")
        out.write(f"{ts} - bot - ERROR - " + "x" * 300_000 + "\n")
    return path


# Run in a process of its own, as ``botwatch logs errors`` is: the test process may
# hold threads of earlier tests, and then ``usable`` rightly refuses to fork.
_BOTH_WAYS = """
import json, sys
from botwatch.logs import pipeline
from botwatch.logs.errors import scan_errors

def summary(scan):
    return [scan.lines, scan.bytes, scan.cut, scan.unparsed, scan.records, scan.format,
            scan.levels, [[p.text, p.count, p.first_line, p.first_seen, p.last_seen,
                           p.examples, dict(p.levels), p.by_hour, p.retry_after]
                          for p in scan.patterns.top()]]

read = []
with open(sys.argv[1], "rb") as f:
    assert pipeline.usable(f)
    forked = scan_errors(f, parallel=True, progress=read.append)
with open(sys.argv[1], "rb") as f:
    alone = scan_errors(f)
print(json.dumps({"forked": summary(forked), "alone": summary(alone), "read": read}))
"""


def test_a_forked_scan_finds_exactly_what_one_process_finds(tmp_path: Path) -> None:
    log = _big_log(tmp_path / "bot.log")
    got = subprocess.run([sys.executable, "-c", _BOTH_WAYS, str(log)], capture_output=True,
                         text=True, check=True)  # fmt: skip
    out = json.loads(got.stdout)
    assert out["forked"] == out["alone"]
    lines, size, _, _, _, fmt, _, patterns = out["forked"]
    assert size == log.stat().st_size and fmt == "python"
    assert lines == log.read_bytes().count(b"\n")
    assert sum(p[1] for p in patterns) > 3000 and len(patterns) >= 3
    # The progress bar moved as the child read, and reached the end of the file.
    assert len(out["read"]) > 5 and sum(out["read"]) == size


def test_only_large_regular_files_in_a_single_threaded_process_are_forked(
    tmp_path: Path,
) -> None:
    big = _big_log(tmp_path / "big.log")
    small = tmp_path / "small.log"
    small.write_text("2026-11-01 00:00:00,000 - bot - ERROR - boom\n")
    r, w = os.pipe()
    with big.open("rb") as f, small.open("rb") as s, os.fdopen(r, "rb") as p:
        assert pipeline.usable(f) == (threading.active_count() == 1)
        assert not pipeline.usable(s)
        assert not pipeline.usable(p)  # a pipe: read where it is
        assert not pipeline.usable(io.BytesIO(big.read_bytes()))
        stop = threading.Event()
        t = threading.Thread(target=stop.wait)
        t.start()
        try:
            assert not pipeline.usable(f)  # another thread: forking could hang the child
        finally:
            stop.set()
            t.join()
    os.close(w)


def test_an_error_in_the_child_is_raised_here() -> None:
    reader = LineReader(io.BytesIO(b"2026-11-01 00:00:00,000 - bot - ERROR - boom\n"))
    with pytest.raises(TypeError):
        list(pipeline.forked_error_blocks(reader, [None]))  # type: ignore[list-item]
    assert not psutil.Process().children()


def test_a_child_that_dies_is_an_error_not_a_short_answer() -> None:
    r, w = os.pipe()  # the child waits on it for ever: nothing is written
    try:
        with os.fdopen(r, "rb") as stream:
            reader = LineReader(stream)
            it = pipeline.forked_error_blocks(reader, [b"ERROR"])

            def kill_child() -> None:
                for _ in range(200):
                    children = psutil.Process().children()
                    if children:
                        children[0].kill()
                        return
                    time.sleep(0.05)

            killer = threading.Thread(target=kill_child)
            killer.start()
            with pytest.raises(
                LogSourceError, match=r"stopped before the end \(killed by signal 9\)"
            ):
                next(it)
            killer.join()
    finally:
        os.close(w)
    assert not psutil.Process().children()


def test_stopping_early_leaves_no_child(tmp_path: Path) -> None:
    log = _big_log(tmp_path / "bot.log")
    with log.open("rb") as f:
        it = pipeline.forked_error_blocks(LineReader(f), [b" - ERROR - "])
        first = next(it)
        assert first[1][0].startswith("2026-11-")
        it.close()
    assert not psutil.Process().children()


def test_the_command_reads_a_large_log_through_the_pipeline(tmp_path: Path) -> None:
    from botwatch.logs.errors import scan_errors

    log = _big_log(tmp_path / "bot.log")
    got = subprocess.run(
        [sys.executable, "-m", "botwatch", "logs", "errors", str(log), "--json"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    report = json.loads(got.stdout)
    with log.open("rb") as f:
        alone = scan_errors(f)
    assert report["lines"] == alone.lines and report["bytes"] == log.stat().st_size
    assert report["errors"] == alone.patterns.records
    assert [(p["template"], p["count"]) for p in report["patterns"]] == [
        (p.text, p.count) for p in alone.patterns.top()
    ]
