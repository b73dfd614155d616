"""Actions bound to rules, end to end: ``botwatch run`` in-process with real time, a
managed bot with a real health endpoint, real log files, a real SQLite store."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from botwatch.actions import Supervisor
from botwatch.actions.remediate import Remediator
from botwatch.alerts.state import Alert, AlertState, Transition
from botwatch.clock import ManualClock
from botwatch.config import LoadedConfig, load_config
from botwatch.monitor import run_monitor
from botwatch.probes import ProbeContext
from botwatch.rules.files import load_rule_file
from botwatch.series import Event, SampleGroup
from botwatch.store import Store

PY = sys.executable

SICKBOT = """
import http.server, pathlib, sys
port, d = int(sys.argv[1]), pathlib.Path(sys.argv[2])
if (d / "cure_on_restart").exists():
    (d / "sick").unlink(missing_ok=True)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        sick = (d / "sick").exists()
        self.send_response(503 if sick else 200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "UNHEALTHY"}' if sick else b'{"status": "HEALTHY"}')
    def log_message(self, *a):
        pass
print("ready", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""

RULES = """
groups:
  - name: heal
    rules:
      - alert: BotSick
        expr: probe_status{check="health"} == 2
        for: 2s
        labels: {severity: critical}
        annotations: {summary: "{{ $labels.bot }} answers 503"}
        action: {do: restart, verify: 4s, cooldown: 1h}
"""


def write(tmp: Path, port: int) -> LoadedConfig:
    (tmp / "sickbot.py").write_text(SICKBOT)
    (tmp / "rules.yml").write_text(RULES)
    (tmp / "botwatch.yml").write_text(f"""
storage: sqlite:///bw.db
defaults: {{interval: 1s, timeout: 1s, sample_interval: 1s}}
rules: [rules.yml]
alerting: {{interval: 1s}}
bots:
  alpha:
    run: {{command: "{PY} {tmp / "sickbot.py"} {port} {tmp}", stop_timeout: 2s, min_uptime: 1s}}
    health: http://127.0.0.1:{port}/health
    checks: {{disk: {{enabled: false}}}}
""")
    return load_config(tmp / "botwatch.yml", env={})


async def until(cond: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.1)


@pytest.fixture
async def running(tmp_path: Path, free_port: int) -> AsyncIterator[tuple[Path, Store]]:
    loaded = write(tmp_path, free_port)
    stop = asyncio.Event()
    task = asyncio.create_task(run_monitor(loaded, stop=stop, install_signals=False))
    await until(lambda: (tmp_path / "bw.db").exists())
    with Store.open(loaded.storage_url) as reader:
        try:
            yield tmp_path, reader
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)


def actions(store: Store) -> list[Event]:
    return store.events(0, time.time() + 60, kind="action")


def healthy_results(store: Store) -> bool:
    return any(r.status == 0 for r in store.probe_results(0, time.time() + 60, check="health"))


async def test_a_rule_restarts_a_sick_bot_and_verifies_it_is_healthy(
    running: tuple[Path, Store],
) -> None:
    tmp, store = running
    await until(lambda: healthy_results(store))
    (tmp / "cure_on_restart").touch()
    (tmp / "sick").touch()
    await until(lambda: any(e.data["action"] == "verify" for e in actions(store)), 45)
    moves = [(e.data["action"], e.data["by"]) for e in actions(store)]
    assert ("restart", "rule BotSick") in moves
    (verify,) = [e for e in actions(store) if e.data["action"] == "verify"]
    assert verify.data["healthy"] is True and "healthy after" in verify.data["why"]
    restart = next(e for e in actions(store) if e.data["action"] == "restart")
    assert restart.data["why"] == "alpha answers 503"
    # The incident the critical alert opened has the action and its check on its timeline.
    # The verification may end after the alert cleared: it still joins the incident.
    await until(lambda: store.incidents.find(status=("resolved",)), 30)
    (inc,) = store.incidents.find()

    def timeline() -> list[str]:
        return [e.text for e in store.incidents.timeline(inc.id) if e.kind == "action"]

    await until(lambda: len(timeline()) == 2, 10)
    restart_line, verify_line = timeline()
    assert restart_line == "restart alpha by rule BotSick: alpha answers 503"
    assert verify_line.startswith("verify alpha by rule BotSick: after restart: healthy after")


async def test_a_restart_that_does_not_help_raises_action_failed_and_is_not_repeated(
    running: tuple[Path, Store],
) -> None:
    tmp, store = running
    await until(lambda: healthy_results(store))
    (tmp / "sick").touch()  # and no cure: the restart cannot help
    await until(lambda: any(a.rule == "ActionFailed" and a.state == "firing"
                            for a in store.alerts()), 60)  # fmt: skip
    (failed,) = [a for a in store.alerts() if a.rule == "ActionFailed"]
    assert failed.data["labels"]["bot"] == "alpha" and failed.data["labels"]["action"] == "restart"
    await until(lambda: any(e.data["action"] == "verify" for e in actions(store)))
    (verify,) = [e for e in actions(store) if e.data["action"] == "verify"]
    assert verify.data["healthy"] is False and "still unhealthy after 4s" in verify.data["why"]
    await asyncio.sleep(4)  # BotSick keeps firing: the cooldown (1h) holds a second restart
    restarts = [e for e in actions(store) if e.data["action"] == "restart"]
    assert len(restarts) == 1

    (tmp / "sick").unlink()  # fixed by hand: BotSick resolves, and ActionFailed with it
    await until(lambda: not any(a.rule in ("BotSick", "ActionFailed") for a in store.alerts()), 60)


# ---- one step at a time: the remediator with a manual clock -----------------------------


def _remediator(tmp: Path, extra: str = "") -> tuple[Remediator, list[Event], LoadedConfig]:
    (tmp / "botwatch.yml").write_text(f"""
storage: sqlite:///bw.db
bots:
  beta:
    logs: [app.log, "more/*.log"]
{extra}
""")
    loaded = load_config(tmp / "botwatch.yml", env={})
    events: list[Event] = []
    emitted: list[SampleGroup] = []
    r = Remediator(loaded, Supervisor({}, base_dir=tmp), ProbeContext(),
                   clock=ManualClock(start=time.time()), on_event=events.append,
                   emit=emitted.extend)  # fmt: skip
    return r, events, loaded


def _fire(r: Remediator, rule_text: str, tmp: Path) -> Alert:
    (tmp / "r.yml").write_text(rule_text)
    (rule,) = load_rule_file(tmp / "r.yml")
    alert = Alert(rule.name, {"alertname": rule.name, "bot": "beta"}, "f" * 16,
                  AlertState.FIRING, time.time(), value=3.0, fired_at=time.time())  # fmt: skip
    r.observe([Transition(alert, AlertState.PENDING, AlertState.FIRING, time.time())],
              lambda a: rule)  # fmt: skip
    return alert


RUN_RULE = """
groups:
  - name: g
    rules:
      - alert: DiskFilling
        expr: vector(1)
        action: {do: run, command: 'echo "$BOTWATCH_BOT $BOTWATCH_ALERT $BOTWATCH_VALUE" > ran.txt'}
"""


async def test_run_action_gets_the_alert_in_its_environment(tmp_path: Path) -> None:
    r, events, _ = _remediator(tmp_path)
    _fire(r, RUN_RULE, tmp_path)
    r.tick(time.time())
    await r.wait()
    assert (tmp_path / "ran.txt").read_text() == "beta DiskFilling 3\n"
    (e,) = events
    assert e.data["action"] == "run" and e.data["by"] == "rule DiskFilling" and e.data["code"] == 0


async def test_a_failing_command_is_an_action_failure(tmp_path: Path) -> None:
    r, events, _ = _remediator(tmp_path)
    _fire(r, RUN_RULE.replace("echo", "exit 3; echo"), tmp_path)
    r.tick(time.time())
    await r.wait()
    assert [e.data.get("error", "") for e in events][-1].endswith("exited with code 3: ")
    assert [s.values for s in r.samples(0)] == [{"action_failed": 1.0}]


async def test_maintenance_windows_pause_actions_until_they_end(tmp_path: Path) -> None:
    window = """time_intervals:
  - name: maint
    time_intervals: [{times: [{start_time: "00:00", end_time: "24:00"}]}]
alerting: {pause_actions_during: [maint]}
"""
    r, events, _ = _remediator(tmp_path, window)
    _fire(r, RUN_RULE, tmp_path)
    r.tick(time.time())
    await r.wait()
    assert events == [] and len(r.due) == 1  # waiting, not dropped
    r._pause = []  # the window is over (what the next day's tick would see)
    r.tick(time.time())
    await r.wait()
    assert [e.data["action"] for e in events] == ["run"]


async def test_rotate_logs_copies_then_truncates_every_log_file(tmp_path: Path) -> None:
    r, events, _ = _remediator(tmp_path)
    (tmp_path / "app.log").write_text("x" * 5000)
    (tmp_path / "app.log.1").write_text("older")
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "a.log").write_text("y" * 100)
    rule = """
groups:
  - name: g
    rules:
      - alert: Big
        expr: vector(1)
        action: {do: rotate_logs, keep: 2}
"""
    _fire(r, rule, tmp_path)
    r.tick(time.time())
    await r.wait()
    assert (tmp_path / "app.log").stat().st_size == 0
    assert (tmp_path / "app.log.1").read_text() == "x" * 5000
    assert (tmp_path / "app.log.2").read_text() == "older"
    assert (tmp_path / "more" / "a.log.1").read_text() == "y" * 100
    (e,) = events
    assert sorted(Path(p).name for p in e.data["rotated"]) == ["a.log", "app.log"]


def test_builtin_actions_can_be_changed_or_turned_off(tmp_path: Path) -> None:
    from botwatch.rules.pack import builtin_rules

    (tmp_path / "botwatch.yml").write_text("""
bots:
  a: {limits: {memory: 100MB}}
  b: {limits: {memory: 100MB}, alerts: {RssAboveLimit: {action: none}}}
  c: {limits: {memory: 100MB}, alerts: {RssAboveLimit: {action: {do: run, command: ./dump.sh}}}}
""")
    cfg = load_config(tmp_path / "botwatch.yml", env={}).config
    copies = [r for r in builtin_rules(cfg) if r.name == "RssAboveLimit"]
    by_bot = {r.source.split('"')[1]: r.action.do if r.action else None for r in copies}
    assert by_bot == {"a": "restart", "b": None, "c": "run"}
