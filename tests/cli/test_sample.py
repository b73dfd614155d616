"""``botwatch sample`` against real child processes: CSV, summary, early stops, errors."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from botwatch.cli import app

HEADER = ["timestamp", "pid", "cpu_percent", "mem_percent", "rss_mb", "vms_mb", "threads",
          "open_files"]  # fmt: skip
# The CLI run as a real process. SIGINT is reset to Python's handler in case the test
# runner was started with it ignored (as background jobs are), so Ctrl-C can be tested.
CLI = [
    sys.executable, "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'botwatch'; from botwatch.cli import main; main()",
]  # fmt: skip


class Children:
    """``python -c`` children in their own process groups, killed with them at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def spawn(self, body: str = "") -> subprocess.Popen[str]:
        code = f"import time\n{body}\nprint('ready', flush=True)\ntime.sleep(600)\n"
        p = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        self.procs.append(p)
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        return p

    def close(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            if p.stdout is not None:
                p.stdout.close()


@pytest.fixture
def children() -> Iterator[Children]:
    kids = Children()
    try:
        yield kids
    finally:
        kids.close()


@pytest.fixture
def bot(children: Children, tmp_path: Path) -> tuple[Path, int]:
    """A config with bots ``bot`` (a live child holding ~20MB), ``ghost`` and ``svc``."""
    child = children.spawn(f"blob = b'x' * {20 * 1024 * 1024}")
    (tmp_path / "bot.pid").write_text(f"{child.pid}\n")
    config = tmp_path / "botwatch.yml"
    config.write_text(
        "bots:\n"
        "  bot: {process: {pidfile: bot.pid}}\n"
        "  ghost: {process: {pidfile: ghost.pid}}\n"
        "  svc: {process: {systemd: svc.service}}\n"
    )
    return config, child.pid


def rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def wait_rows(path: Path, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists() or len(rows(path)) < n + 1:
        assert proc.poll() is None, "botwatch sample stopped early"
        assert time.monotonic() < deadline, "no rows written"
        time.sleep(0.05)


def test_samples_to_csv_and_summarizes(bot: tuple[Path, int], tmp_path: Path) -> None:
    config, pid = bot
    out = tmp_path / "out.csv"
    done = subprocess.run(
        [*CLI, "sample", "bot", "-c", str(config), "--duration", "2s", "--interval", "0.5s",
         "--csv", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = rows(out)
    assert table[0] == HEADER
    data = table[1:]
    assert len(data) == 5  # at 0, 0.5, 1, 1.5 and 2 seconds
    for row in data:
        assert len(row) == len(HEADER)
        ts = datetime.fromisoformat(row[0])
        assert ts.tzinfo is not None  # local time, with its offset
        assert int(row[1]) == pid
        assert float(row[2]) >= 0
        assert 0 < float(row[3]) < 100
        assert float(row[4]) >= 20  # MB (1024*1024) held by the child
        assert len(row[4].split(".")[1]) == 2
        assert float(row[5]) >= float(row[4])
        assert int(row[6]) >= 1
        assert int(row[7]) >= 3
    stamps = [datetime.fromisoformat(r[0]) for r in data]
    assert stamps == sorted(stamps)
    for col in (
        "cpu_percent",
        "mem_percent",
        "rss_mb",
        "vms_mb",
        "threads",
        "open_files",
        "avg",
        "min",
        "max",
        "p95",
    ):
        assert col in done.stdout
    assert f"bot (pid {pid}): 5 sample(s)" in done.stdout
    assert f"wrote 5 row(s) to {out}" in done.stderr


def test_json_summary_with_count(bot: tuple[Path, int]) -> None:
    config, pid = bot
    result = CliRunner().invoke(
        app, ["sample", "bot", "-c", str(config), "--count", "3", "--interval", "0.1s", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["bot"], doc["pid"], doc["samples"], doc["stopped"]) == ("bot", pid, 3, "completed")
    assert doc["found_by"] == "pidfile"
    cols = doc["columns"]
    assert set(cols) == {"cpu_percent", "mem_percent", "rss_mb", "vms_mb", "threads",
                         "open_files"}  # fmt: skip
    rss = cols["rss_mb"]
    assert rss["count"] == 3
    assert rss["min"] <= rss["avg"] <= rss["max"] and rss["p95"] <= rss["max"]
    assert rss["min"] >= 20


def test_unknown_bot_lists_known_bots(bot: tuple[Path, int]) -> None:
    config, _ = bot
    result = CliRunner().invoke(app, ["sample", "nope", "-c", str(config), "-n", "1"])
    assert result.exit_code == 2
    assert "no bot named 'nope'" in result.stderr
    assert "known bots: bot, ghost, svc" in result.stderr


def test_process_not_found(bot: tuple[Path, int], tmp_path: Path) -> None:
    config, _ = bot
    out = tmp_path / "never.csv"
    result = CliRunner().invoke(app, ["sample", "ghost", "-c", str(config), "-n", "1",
                                      "--csv", str(out)])  # fmt: skip
    assert result.exit_code == 2
    assert "ghost: process not found: pidfile" in result.stderr
    assert "does not exist" in result.stderr
    assert not out.exists()


def test_unsupported_controller(bot: tuple[Path, int]) -> None:
    config, _ = bot
    result = CliRunner().invoke(app, ["sample", "svc", "-c", str(config), "-n", "1"])
    assert result.exit_code == 2
    assert "not supported yet" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--count", "2", "--duration", "1s"], "use --duration or --count, not both"),
    (["--interval", "soon"], "--interval: 'soon' is not a duration"),
    (["--duration", "forever"], "--duration: 'forever' is not a duration"),
    (["--interval", "0s"], "--interval must be more than 0"),
])  # fmt: skip
def test_bad_options(bot: tuple[Path, int], args: list[str], message: str) -> None:
    config, _ = bot
    result = CliRunner().invoke(app, ["sample", "bot", "-c", str(config), *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_csv_that_cannot_be_written(bot: tuple[Path, int], tmp_path: Path) -> None:
    config, _ = bot
    target = tmp_path / "no" / "such" / "dir.csv"
    result = CliRunner().invoke(app, ["sample", "bot", "-c", str(config), "-n", "1",
                                      "--csv", str(target)])  # fmt: skip
    assert result.exit_code == 2
    assert f"cannot write {target}" in result.stderr


def test_process_exiting_mid_run(children: Children, tmp_path: Path) -> None:
    child = children.spawn()
    (tmp_path / "bot.pid").write_text(f"{child.pid}\n")
    config = tmp_path / "botwatch.yml"
    config.write_text("bots:\n  bot: {process: {pidfile: bot.pid}}\n")
    out = tmp_path / "out.csv"
    with subprocess.Popen(
        [*CLI, "sample", "bot", "-c", str(config), "--count", "100000", "--interval", "0.05s",
         "--csv", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as cli:  # fmt: skip
        try:
            wait_rows(out, 2, cli)
            child.kill()
            child.wait()  # reaped: the pid is gone
            stdout, stderr = cli.communicate(timeout=60)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.communicate()
    assert cli.returncode == 1, stderr
    data = rows(out)[1:]
    assert len(data) >= 2
    assert f"process {child.pid} has exited after {len(data)} sample(s)" in " ".join(stderr.split())
    assert f"bot (pid {child.pid}): {len(data)} sample(s)" in stdout


def test_ctrl_c_stops_and_still_summarizes(bot: tuple[Path, int], tmp_path: Path) -> None:
    config, pid = bot
    out = tmp_path / "out.csv"
    with subprocess.Popen(
        [*CLI, "sample", "bot", "-c", str(config), "--duration", "1h", "--interval", "0.05s",
         "--csv", str(out), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as cli:  # fmt: skip
        try:
            wait_rows(out, 2, cli)
            cli.send_signal(signal.SIGINT)
            stdout, stderr = cli.communicate(timeout=60)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.communicate()
    assert cli.returncode == 0, stderr
    doc = json.loads(stdout)
    data = rows(out)[1:]
    assert doc["stopped"] == "interrupted"
    assert doc["samples"] == len(data) >= 2
    assert doc["pid"] == pid
    assert "interrupted after" in stderr
