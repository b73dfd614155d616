"""The real demo fleet: a fake Telegram API and three PTB bots as child processes.

Started once for the module (it takes a couple of seconds); the tests run in file order
and the last ones break the fleet on purpose (crash, stop).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
from typer.testing import CliRunner

from botwatch.cli import app
from botwatch.config import load_config
from botwatch.demo import DEMO_BOTS, DemoBotSpec, DemoFleet, FleetError, RunningBot
from botwatch.demo.faults import read_control, write_control

pytestmark = pytest.mark.slow

T = TypeVar("T")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - [\w.]+ - (INFO|WARNING|ERROR) - ")


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 15.0) -> T:
    """Poll ``fn`` until it returns something truthy, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def http(method: str, url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def health(bot: RunningBot) -> tuple[int, dict[str, Any]]:
    return http("GET", bot.health_url)


def fake_stats(fleet: DemoFleet, token: str) -> dict[str, Any]:
    code, doc = http("GET", f"{fleet.api_url}/_fake/bots/{token}/stats")
    assert code == 200, doc
    return dict(doc)


def by_name(fleet: DemoFleet, name: str) -> RunningBot:
    return next(b for b in fleet.bots if b.name == name)


def cli_fault(fleet: DemoFleet, *args: str) -> str:
    result = CliRunner().invoke(app, ["demo", "fault", *args, "--dir", str(fleet.dir)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFleet]:
    f = DemoFleet(tmp_path_factory.mktemp("demo"))
    f.start()
    try:
        yield f
    finally:
        f.stop()


def test_every_bot_is_healthy(fleet: DemoFleet) -> None:
    assert [b.name for b in fleet.bots] == ["cryptomentor", "newsdigest", "flakybot"]
    for bot in fleet.bots:
        code, doc = health(bot)
        assert code == 200, doc
        assert doc["status"] == "HEALTHY", doc
        assert set(doc["checks"]) == {"telegram", "database"}
        assert doc["checks"]["telegram"]["status"] == "healthy"
        assert doc["checks"]["telegram"]["message"].startswith("@")


def test_pidfiles_hold_the_bot_pids(fleet: DemoFleet) -> None:
    for bot in fleet.bots:
        assert bot.pidfile == fleet.dir / "run" / f"{bot.name}.pid"
        assert int(bot.pidfile.read_text().strip()) == bot.pid
        assert psutil.Process(bot.pid).is_running()


def test_fake_saw_get_updates_from_each_bot(fleet: DemoFleet) -> None:
    for bot in fleet.bots:

        def polled(token: str = bot.token) -> dict[str, Any] | None:
            stats = fake_stats(fleet, token)
            return stats if stats["methods"].get("getUpdates") else None

        stats = wait_for(f"getUpdates from {bot.name}", polled)
        assert stats["methods"]["getMe"] >= 1


def test_start_command_gets_a_reply(fleet: DemoFleet) -> None:
    bot = by_name(fleet, "cryptomentor")
    chat = 424242
    code, update = http(
        "POST",
        f"{fleet.api_url}/_fake/bots/{bot.token}/updates",
        {"text": "/start", "chat_id": chat},
    )
    assert code == 201, update

    def reply() -> list[dict[str, Any]]:
        _, doc = http("GET", f"{fleet.api_url}/_fake/bots/{bot.token}/sent?chat_id={chat}")
        return list(doc["sent"])

    sent = wait_for("the reply to /start", reply)
    assert sent[0]["text"].startswith("Welcome to cryptomentor!")
    assert fake_stats(fleet, bot.token)["stats"]["sent"] >= 1
    wait_for(
        "the /start log line", lambda: f"Command: /start from user {chat}" in bot.log.read_text()
    )


def test_echo(fleet: DemoFleet) -> None:
    bot = by_name(fleet, "newsdigest")
    chat = 5151
    http("POST", f"{fleet.api_url}/_fake/bots/{bot.token}/updates", {"text": "hi", "chat_id": chat})

    def reply() -> list[dict[str, Any]]:
        _, doc = http("GET", f"{fleet.api_url}/_fake/bots/{bot.token}/sent?chat_id={chat}")
        return list(doc["sent"])

    assert wait_for("the echo", reply)[0]["text"] == "hi"


def test_logs_use_the_common_format_and_say_ready(fleet: DemoFleet) -> None:
    for bot in fleet.bots:
        assert bot.log == fleet.dir / "logs" / f"{bot.name}.log"
        text = bot.log.read_text()
        assert "Bot is ready" in text
        first = text.splitlines()[0]
        assert LOG_LINE.match(first), first
        # The HTTP client's request lines carry the token; they must not reach the log.
        assert bot.token not in text


def test_written_config_loads(fleet: DemoFleet) -> None:
    loaded = load_config(fleet.config_path)
    cfg = loaded.config
    assert list(cfg.bots) == ["cryptomentor", "newsdigest", "flakybot"]
    assert cfg.defaults.interval == 10.0
    assert loaded.storage_url == f"sqlite:///{fleet.dir.resolve()}/.botwatch/botwatch.db"
    for bot in fleet.bots:
        spec = cfg.bots[bot.name]
        assert spec.kind == "telegram"
        assert spec.token is not None and spec.token.get_secret_value() == bot.token
        assert spec.api_url == fleet.api_url
        assert spec.process is not None and spec.process.pidfile is not None
        assert loaded.resolve(spec.process.pidfile) == bot.pidfile.resolve()
        assert spec.health is not None and spec.health.url == bot.health_url
        assert spec.ports == [f"127.0.0.1:{bot.health_port}"]
        assert [loaded.resolve(p) for p in spec.logs] == [bot.log.resolve()]
        assert spec.log_freshness.max_age == 120.0
        assert spec.log_freshness.ready_line == "Bot is ready"
        assert spec.limits.memory == 300_000_000


def test_a_second_fleet_in_the_same_folder_is_refused(fleet: DemoFleet) -> None:
    # The state file names a live supervisor; this process is it, so fake another one.
    state = json.loads(fleet.state_file.read_text())
    assert state["supervisor_pid"] > 0
    other = psutil.Process().parent()
    assert other is not None
    fleet.state_file.write_text(json.dumps(state | {"supervisor_pid": other.pid}))
    try:
        with pytest.raises(FleetError, match="already runs"):
            DemoFleet(fleet.dir).start()
    finally:
        fleet.state_file.write_text(json.dumps(state))


def test_errors_fault_logs_errors_with_a_traceback(fleet: DemoFleet) -> None:
    bot = by_name(fleet, "flakybot")
    out = cli_fault(fleet, "flakybot", "errors", "on")
    assert "flakybot: errors on" in out
    try:

        def burst() -> str | None:
            text = bot.log.read_text()
            return text if "Traceback" in text else None

        text = wait_for("an error burst", burst)
        assert " - flakybot - ERROR - " in text
        assert "KeyError: 'price'" in text
    finally:
        cli_fault(fleet, "flakybot", "errors", "off")


def test_slow_db_fault_makes_health_unhealthy(fleet: DemoFleet) -> None:
    bot = by_name(fleet, "flakybot")
    cli_fault(fleet, "flakybot", "slow-db", "on")

    def sick() -> tuple[int, dict[str, Any]] | None:
        code, doc = health(bot)
        return (code, doc) if doc["status"] != "HEALTHY" else None

    code, doc = wait_for("flakybot's health to turn bad", sick)
    assert (code, doc["status"]) == (503, "UNHEALTHY")
    assert doc["checks"]["database"] == {
        "status": "unhealthy",
        "message": "timed out after 2s",
        "latency_ms": None,
    }
    # Only flakybot is affected.
    assert health(by_name(fleet, "cryptomentor"))[1]["status"] == "HEALTHY"

    cli_fault(fleet, "flakybot", "slow-db", "off")
    wait_for("flakybot to recover", lambda: health(bot)[1]["status"] == "HEALTHY")


def test_fault_command_rejects_unknown_bots(fleet: DemoFleet) -> None:
    result = CliRunner().invoke(
        app, ["demo", "fault", "nosuchbot", "leak", "on", "--dir", str(fleet.dir)]
    )
    assert result.exit_code == 2
    assert "no demo bot 'nosuchbot'" in result.output
    assert "cryptomentor, flakybot, newsdigest" in result.output


def test_crash_fault_makes_the_process_exit(fleet: DemoFleet) -> None:
    bot = by_name(fleet, "flakybot")
    proc = psutil.Process(bot.pid)
    assert fleet.poll() == []
    # A shorter fuse than the demo's default, so the test need not wait for it.
    settings = read_control(bot.control_file)
    settings.crash.after_seconds = 0.2
    write_control(bot.control_file, settings)
    cli_fault(fleet, "flakybot", "crash", "on")
    exited = wait_for("flakybot to exit", fleet.poll)
    assert exited == [("flakybot", 1)]
    assert fleet.poll() == []  # reported once
    assert not proc.is_running()  # exited, and reaped by poll()
    # A crash leaves the pidfile behind, pointing at a dead process.
    assert int(bot.pidfile.read_text()) == bot.pid
    assert "CRITICAL - Unrecoverable error" in bot.log.read_text()
    # The others keep running.
    assert health(by_name(fleet, "newsdigest"))[1]["status"] == "HEALTHY"


def test_stop_leaves_no_child_process(fleet: DemoFleet) -> None:
    procs = [psutil.Process(pid) for pid in fleet.pids.values() if psutil.pid_exists(pid)]
    assert len(procs) >= 3
    healthy = [b for b in fleet.bots if b.name != "flakybot"]

    fleet.stop()

    for p in procs:
        assert not p.is_running(), p  # exited and reaped
    mine = {c.pid for c in psutil.Process().children(recursive=True)}
    assert mine.isdisjoint(p.pid for p in procs)
    for bot in healthy:
        assert not bot.pidfile.exists()  # a clean exit removes its pidfile
        assert bot.log.read_text().rstrip().endswith("Stopped")
    assert not fleet.state_file.exists()
    fleet.stop()  # twice is fine


def test_a_bot_that_cannot_start_is_named_with_its_log(tmp_path: Path) -> None:
    broken = DemoBotSpec(
        "brokenbot",
        "100009:DEMO-broken-not-a-real-token",
        "broken_bot",
        extra_args=("--health-host", "192.0.2.1"),  # TEST-NET: not an address of ours
    )
    fleet = DemoFleet(tmp_path, bots=[DEMO_BOTS[0], broken])
    with pytest.raises(FleetError) as info:
        fleet.start()
    message = str(info.value)
    assert message.startswith("demo bot brokenbot exited with code 1 while starting")
    assert f"last lines of {tmp_path / 'logs' / 'brokenbot.log'}" in message
    assert "Bot brokenbot failed" in message
    assert fleet.pids == {}  # everything started was stopped again
