"""Acting on many bots: ``restart --rolling`` behind a health gate, ``stop --errored``.

The bots are real HTTP servers started and stopped by the bots' own shell commands
(``process.commands``), as a user without systemd or pm2 would write them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from botwatch.alerts import Alert, AlertState
from botwatch.store import AlertRow, Store

Cli = Callable[..., subprocess.CompletedProcess[str]]

SERVER = """
import http.server, pathlib, sys
broken = pathlib.Path(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503 if broken.exists() else 200)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


CTL = """
start() { nohup PYTHON srv.py "$2" "$1.broken" >/dev/null 2>&1 & echo $! > "$1.pid"; }
stop() { kill "$(cat "$1.pid")"; echo stopped >> "$1.log"; }
case "$1" in
  start) start "$2" "$3" ;;
  stop) stop "$2" ;;
  restart) stop "$2"; sleep 0.2; start "$2" "$3"; echo restarted >> "$2.log" ;;
esac
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "srv.py").write_text(SERVER)
    (tmp_path / "ctl.sh").write_text(CTL.replace("PYTHON", sys.executable))
    bots = []
    for name in ("a", "b", "c"):
        port = _port()
        bots.append(f"""  {name}:
    labels: {{team: {"blue" if name != "c" else "red"}}}
    health: http://127.0.0.1:{port}/
    process:
      pidfile: {name}.pid
      commands:
        start: sh ctl.sh start {name} {port}
        stop: sh ctl.sh stop {name} {port}
        restart: sh ctl.sh restart {name} {port}
""")
        subprocess.run(["sh", "ctl.sh", "start", name, str(port)], cwd=tmp_path, check=True)
    (tmp_path / "botwatch.yml").write_text("storage: sqlite:///bw.db\nbots:\n" + "".join(bots))
    yield tmp_path
    for name in ("a", "b", "c"):
        pid = int((tmp_path / f"{name}.pid").read_text())
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def log(tmp: Path, bot: str) -> list[str]:
    p = tmp / f"{bot}.log"
    return p.read_text().split() if p.exists() else []


def test_rolling_restart_stops_at_the_first_unhealthy_bot(fleet: Path, botwatch: Cli) -> None:
    (fleet / "b.broken").touch()  # b comes back broken after its restart
    got = botwatch("restart", "--all", "--rolling", "--timeout", "3", "-m", "deploy 1.4",
                   cwd=fleet)  # fmt: skip
    assert got.returncode == 1
    assert "a: restart via command" in got.stdout and "✓ health: healthy after" in got.stdout
    assert "✗ health: still unhealthy after 3s (health: HTTP 503" in got.stdout
    assert "not restarted: c" in got.stderr
    assert log(fleet, "a") == ["stopped", "restarted"]
    assert log(fleet, "b") == ["stopped", "restarted"]
    assert log(fleet, "c") == []
    with Store.open(f"sqlite:///{fleet / 'bw.db'}") as store:
        events = store.events(0, time.time() + 5, kind="action")
    assert [(e.bot, e.data["action"], e.data["why"]) for e in events] == [
        ("a", "restart", "deploy 1.4"), ("b", "restart", "deploy 1.4"),
    ]  # fmt: skip


def test_rolling_restart_of_a_group(fleet: Path, botwatch: Cli) -> None:
    got = botwatch("restart", "--label", "team=blue", "--rolling", cwd=fleet)
    assert got.returncode == 0, got.stderr
    assert got.stdout.count("✓ health: healthy after") == 2
    assert log(fleet, "c") == []


def test_stop_errored_stops_the_bots_with_critical_alerts(fleet: Path, botwatch: Cli) -> None:
    now = time.time()

    def alert(bot: str, severity: str, fp: str) -> AlertRow:
        a = Alert("X", {"alertname": "X", "bot": bot, "severity": severity}, fp,
                  AlertState.FIRING, now, fired_at=now)  # fmt: skip
        return AlertRow("g", fp, "X", "firing", now, a.to_dict())

    with Store.open(f"sqlite:///{fleet / 'bw.db'}") as store:
        store.save_alerts([alert("b", "critical", "f1"), alert("c", "warning", "f2")])
    got = botwatch("stop", "--errored", "-m", "stop the bleeding", cwd=fleet)
    assert got.returncode == 0, got.stderr
    assert "b: stop via command" in got.stdout
    assert (log(fleet, "a"), log(fleet, "b"), log(fleet, "c")) == ([], ["stopped"], [])
    with Store.open(f"sqlite:///{fleet / 'bw.db'}") as store:
        store.save_alerts([], [("g", "f1")])
    again = botwatch("stop", "--errored", cwd=fleet)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_naming_nothing_or_an_unknown_bot_is_a_clear_error(fleet: Path, botwatch: Cli) -> None:
    got = botwatch("restart", cwd=fleet)
    assert got.returncode == 2 and "name the bots, or use --all" in got.stderr
    got = botwatch("restart", "zed", cwd=fleet)
    assert got.returncode == 2 and "no bot 'zed'" in got.stderr
