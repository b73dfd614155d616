"""`botwatch alerts`: what the monitor saved, as a table or JSON, exit 1 when firing."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from botwatch.alerts import Alert, AlertState
from botwatch.store import AlertRow, Store


def save(db: Path, *alerts: Alert) -> None:
    with Store.open(f"sqlite:///{db}") as store:
        store.save_alerts(
            [AlertRow("g", a.fingerprint, a.rule, a.state.value, 1.0, a.to_dict()) for a in alerts]
        )


def test_alerts_lists_what_is_firing_and_pending(
    tmp_path: Path, botwatch: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    (tmp_path / "botwatch.yml").write_text("storage: sqlite:///bw.db\nbots: {alpha: {}}\n")
    r = botwatch("alerts", cwd=tmp_path)
    assert r.returncode == 0 and "no alerts firing or pending" in r.stdout
    now = time.time()
    down = Alert(
        "BotProcessDown",
        {"alertname": "BotProcessDown", "bot": "alpha", "severity": "critical"},
        "f1",
        AlertState.FIRING,
        now - 600,
        0.0,
        {"summary": "alpha: its process is not running"},
        fired_at=now - 300,
    )
    slow = Alert(
        "SlowResponses",
        {"alertname": "SlowResponses", "bot": "alpha", "check": "health", "severity": "warning"},
        "f2",
        AlertState.PENDING,
        now - 60,
        6.5,
        {"summary": "alpha: health p95 response time 6s"},
    )
    save(tmp_path / "bw.db", slow, down)
    r = botwatch("alerts", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if "BotProcessDown" in line)
    assert "firing" in lines[first] and "critical" in lines[first] and "5m" in lines[first]
    assert "alpha: its process is not running" in lines[first]
    assert any("SlowResponses{check=health}" in line and "pending" in line for line in lines)
    r = botwatch("alerts", "--json", "--state", "pending", cwd=tmp_path)
    assert r.returncode == 0  # nothing firing among what is shown
    (shown,) = json.loads(r.stdout)
    assert shown["rule"] == "SlowResponses" and shown["value"] == 6.5
    bad = botwatch("alerts", "--state", "resolved", cwd=tmp_path)
    assert bad.returncode == 2 and "--state must be firing or pending" in bad.stderr
