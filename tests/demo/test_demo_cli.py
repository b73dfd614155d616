"""``botwatch demo`` as a user runs it: a real process, stopped with Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psutil
import pytest
from typer.testing import CliRunner

from botwatch.cli import app

pytestmark = pytest.mark.slow

T = TypeVar("T")


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def run_demo(tmp_path: Path, *args: str, stop: signal.Signals) -> tuple[int, str, list[int]]:
    """Start ``botwatch demo``, wait until its fleet runs, send ``stop``; return the exit
    code, the output and the pids of the fleet's processes."""
    out = tmp_path / "out.txt"
    demo_dir = tmp_path / "demo"
    with out.open("wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "botwatch", "demo", "--dir", str(demo_dir), *args],
            stdout=f,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
        )
    try:
        state_file = demo_dir / "run" / "fleet.json"

        def started() -> bool:
            assert proc.poll() is None, out.read_text()
            return state_file.exists() and "Ctrl-C" in out.read_text()

        wait_for("the demo fleet to start", started)
        state = json.loads(state_file.read_text())
        pids = [state["fake_pid"], *(b["pid"] for b in state["bots"].values())]
        if "--monitor" in args:
            wait_for("the monitor's store", (demo_dir / ".botwatch" / "botwatch.db").exists)
        proc.send_signal(stop)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, out.read_text(), pids


def assert_gone(pids: list[int]) -> None:
    for pid in pids:
        try:
            p = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        # The pid may be reused by now, but never by one of the fleet's programs.
        assert "botwatch" not in " ".join(p.cmdline()), p


def test_demo_runs_until_ctrl_c_and_stops_everything(tmp_path: Path) -> None:
    code, output, pids = run_demo(tmp_path, stop=signal.SIGINT)

    assert code == 0, output
    for name in ("telegram-fake", "cryptomentor", "newsdigest", "flakybot"):
        assert name in output
    assert f"botwatch check -c {tmp_path / 'demo' / 'botwatch.yml'}" in output
    assert f"botwatch demo fault flakybot errors on --dir {tmp_path / 'demo'}" in output
    assert "demo fleet stopped" in output
    assert len(pids) == 4
    assert_gone(pids)


def test_demo_with_monitor_stops_on_sigterm(tmp_path: Path) -> None:
    code, output, pids = run_demo(tmp_path, "--monitor", stop=signal.SIGTERM)

    assert code == 0, output
    assert "demo fleet stopped" in output
    assert_gone(pids)


def test_fault_without_a_fleet_says_how_to_start_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "fault", "flakybot", "crash", "on", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "no demo fleet in" in result.output
    assert "botwatch demo --dir" in result.output


def test_fault_rejects_unknown_fault_names(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "fault", "flakybot", "bogus", "on", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "slow-db" in result.output
