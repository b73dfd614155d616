"""Managed children and the supervisor, with real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from botwatch.actions import ManagedChild, RestartPolicy, Supervisor
from botwatch.actions.managed import RotatingOutput
from botwatch.config.models import RunSpec
from botwatch.series import Event

PY = sys.executable


def spec(code: str, **kw: object) -> RunSpec:
    return RunSpec(command=f"{PY} -c {code!r}", **kw)  # type: ignore[arg-type]


async def until(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)


async def test_a_child_runs_writes_its_output_and_stops_with_its_tree(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print('Bot is ready', flush=True); time.sleep(60)"
    )
    child = ManagedChild(
        "alpha", f"{PY} -c {code!r}", output=tmp_path / "alpha.log", stop_timeout=2
    )
    pid = await child.start()
    await until(
        lambda: (
            (tmp_path / "alpha.log").exists()
            and b"Bot is ready" in (tmp_path / "alpha.log").read_bytes()
        )
    )
    tree = [pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))]
    assert len(tree) == 2
    assert await child.stop() == -signal.SIGTERM
    await until(
        lambda: (
            not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in tree)
        )
    )
    child.close()


async def test_sigterm_ignored_means_sigkill_after_the_timeout(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    child = ManagedChild(
        "stubborn", f"{PY} -c {code!r}", output=tmp_path / "s.log", stop_timeout=0.5
    )
    await child.start()
    await until(lambda: b"up" in (tmp_path / "s.log").read_bytes())
    started = time.monotonic()
    assert await child.stop() == -signal.SIGKILL
    assert 0.4 < time.monotonic() - started < 5
    child.close()


async def test_a_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    from botwatch.errors import ProcessNotFound

    child = ManagedChild("ghost", "/nonexistent/bot --flag", output=tmp_path / "g.log")
    with pytest.raises(ProcessNotFound, match="ghost: cannot start '/nonexistent/bot'"):
        await child.start()


def test_output_rotates_by_size(tmp_path: Path) -> None:
    out = RotatingOutput(tmp_path / "b.log", max_bytes=100, keep=2)
    for i in range(5):
        out.write(f"{i}".encode() * 60)
    out.close()
    assert (tmp_path / "b.log").read_bytes() == b"4" * 60
    assert (tmp_path / "b.log.1").read_bytes() == b"3" * 60
    assert (tmp_path / "b.log.2").read_bytes() == b"2" * 60
    assert not (tmp_path / "b.log.3").exists()


def test_backoff_grows_by_half_up_to_the_cap() -> None:
    p = RestartPolicy(backoff=1.0, backoff_max=3.0)
    assert [p.delay(n) for n in range(5)] == [0.0, 1.0, 1.5, 2.25, 3.0]


async def test_a_killed_bot_is_back_at_once_and_it_is_recorded(tmp_path: Path) -> None:
    events: list[Event] = []
    sup = Supervisor({"alpha": spec("import time; time.sleep(60)", min_uptime=0.0)},
                     base_dir=tmp_path, on_event=events.append)  # fmt: skip
    try:
        await sup.start_all()
        first = sup.bots["alpha"].child.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        started = time.monotonic()
        await until(lambda: sup.bots["alpha"].child.pid not in (None, first))
        assert time.monotonic() - started < 2  # typically a few ms
        bot = sup.bots["alpha"]
        assert bot.state == "running" and bot.restarts_total == 1
        actions = [(e.data["action"], e.data["by"], e.data["why"]) for e in events]
        assert actions == [
            ("start", "botwatch", "botwatch started"),
            ("start", "supervisor", f"exited with code {-signal.SIGKILL}"),
        ]
        (group,) = sup.samples(time.time())
        assert group.values == {
            "managed_up": 1.0,
            "managed_restarts_total": 1.0,
            "managed_gave_up": 0.0,
        }
    finally:
        await sup.stop_all()
    assert not sup.bots["alpha"].child.running


async def test_a_crash_loop_backs_off_then_gives_up_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[Event] = []
    crashing = spec("import sys; sys.exit(3)", min_uptime=5.0, backoff=0.05, backoff_max=0.2,
                    max_restarts_per_hour=3)  # fmt: skip
    sup = Supervisor({"beta": crashing}, base_dir=tmp_path, on_event=events.append)
    try:
        await sup.start_all()
        bot = sup.bots["beta"]
        for _ in range(200):
            await asyncio.sleep(0.02)
            await sup.tick()
            if bot.state == "gave_up":
                break
        assert bot.state == "gave_up" and bot.restarts_total == 3
        assert "beta exited with code 3; 3 restarts in the last hour: giving up" in caplog.text
        assert events[-1].data["action"] == "give_up"
        (group,) = sup.samples(time.time())
        assert group.values["managed_gave_up"] == 1.0 and group.values["managed_up"] == 0.0
        # Starting it by hand clears the give-up.
        await sup.start("beta", by="ana", why="fixed the config")
        assert events[-1].data["by"] == "ana" and bot.state in ("running", "backoff")
    finally:
        await sup.stop_all()


async def test_stop_means_no_restart_and_autorestart_off_is_respected(tmp_path: Path) -> None:
    sup = Supervisor({
        "a": spec("import time; time.sleep(60)"),
        "b": spec("import sys; sys.exit(0)", autorestart=False),
    }, base_dir=tmp_path)  # fmt: skip
    try:
        await sup.start_all()
        await sup.stop("a", by="ana", why="maintenance")
        await until(lambda: not sup.bots["b"].child.running)
        await asyncio.sleep(0.2)
        await sup.tick()
        assert sup.bots["a"].state == "stopped" and not sup.bots["a"].child.running
        assert sup.bots["b"].state == "stopped" and sup.bots["b"].restarts_total == 0
    finally:
        await sup.stop_all()


def test_botwatch_run_supervises_managed_bots_end_to_end(tmp_path: Path) -> None:
    import subprocess

    from botwatch.store import Store

    bot = tmp_path / "bot.py"
    bot.write_text("import time\nprint('Bot is ready', flush=True)\nwhile True: time.sleep(1)\n")
    (tmp_path / "botwatch.yml").write_text(
        f"storage: sqlite:///bw.db\n"
        f"defaults: {{interval: 1s, sample_interval: 1s}}\n"
        f"bots:\n  alpha:\n    run: {{command: '{PY} {bot}', min_uptime: 0s, stop_timeout: 2s}}\n"
    )
    monitor = subprocess.Popen(
        [PY, "-m", "botwatch", "run", "-c", "botwatch.yml"], cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    def managed() -> list[psutil.Process]:
        found = []
        for p in psutil.Process(monitor.pid).children():
            try:
                if str(bot) in " ".join(p.cmdline()):
                    found.append(p)
            except (psutil.ZombieProcess, psutil.NoSuchProcess):
                pass  # the killed one, before the monitor has reaped it
        return found

    try:
        deadline = time.monotonic() + 60  # generous: the whole suite may be running
        while not managed():
            assert time.monotonic() < deadline and monitor.poll() is None, monitor.stderr
            time.sleep(0.05)
        (first,) = managed()
        first.kill()
        while not [p for p in managed() if p.pid != first.pid]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        (second,) = [p for p in managed() if p.pid != first.pid]
        log = tmp_path / ".botwatch" / "logs" / "alpha.log"
        while b"Bot is ready" not in (log.read_bytes() if log.exists() else b""):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        monitor.send_signal(signal.SIGTERM)
        _, err = monitor.communicate(timeout=30)
    assert monitor.returncode == 0, err
    assert not psutil.pid_exists(second.pid) or second.status() == psutil.STATUS_ZOMBIE
    with Store.open(f"sqlite:///{tmp_path / 'bw.db'}") as store:
        actions = [(e.data["action"], e.data["by"]) for e in store.events(0, kind="action")]
    assert actions[:2] == [("start", "botwatch"), ("start", "supervisor")]
    assert actions[-1] == ("stop", "botwatch")


def test_restart_from_the_command_line(tmp_path: Path) -> None:
    import subprocess

    from botwatch.store import Store

    bot = tmp_path / "bot.py"
    bot.write_text("import time\nwhile True: time.sleep(1)\n")
    (tmp_path / "botwatch.yml").write_text(
        "storage: sqlite:///bw.db\n"
        f"bots:\n  alpha:\n    run: {{command: '{PY} {bot}', stop_timeout: 2s}}\n"
        "  gamma: {health: 'http://127.0.0.1:9/h'}\n"
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PY, "-m", "botwatch", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60, env={**os.environ, "USER": "ana"})  # fmt: skip

    # No monitor running: the request is not left behind to surprise anyone later.
    alone = cli("restart", "alpha", "--wait", "1")
    assert alone.returncode == 1 and "no running monitor took the request within 1s" in alone.stderr
    nothing = cli("restart", "gamma")
    assert nothing.returncode == 2 and "botwatch has no way to restart it" in nothing.stderr

    monitor = subprocess.Popen([PY, "-m", "botwatch", "run"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    def pids() -> list[int]:
        return [
            p.pid
            for p in psutil.Process(monitor.pid).children()
            if str(bot) in " ".join(p.cmdline())
        ]

    try:
        deadline = time.monotonic() + 60  # generous: the whole suite may be running
        while not pids():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (first,) = pids()
        r = cli("restart", "alpha", "--why", "deploy v2")
        assert r.returncode == 0, r.stderr
        assert "restart done; pid" in r.stdout
        (second,) = pids()
        assert second != first
        assert cli("stop", "alpha").returncode == 0
        assert pids() == []
    finally:
        monitor.send_signal(signal.SIGTERM)
        monitor.wait(30)
    with Store.open(f"sqlite:///{tmp_path / 'bw.db'}") as store:
        actions = [
            (e.data["action"], e.data["by"], e.data["why"]) for e in store.events(0, kind="action")
        ]
    assert actions == [
        ("start", "botwatch", "botwatch started"),
        ("restart", "ana", "deploy v2"),
        ("stop", "ana", "stop from the command line"),
        ("stop", "botwatch", "botwatch stopping"),
    ]
