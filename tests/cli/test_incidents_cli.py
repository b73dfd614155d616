"""``botwatch incidents``: list, show, ack and resolve what the monitor recorded."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from botwatch.store import Store
from botwatch.store.incidents import AlertChange

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _setup(tmp_path: Path) -> int:
    (tmp_path / "botwatch.yml").write_text("storage: sqlite:///bw.db\nbots:\n  alpha: {}\n")
    now = time.time()
    labels = {"alertname": "HealthUnhealthy", "bot": "alpha", "severity": "critical"}
    with Store.open(f"sqlite:///{tmp_path / 'bw.db'}") as store:
        store.incidents.record([
            AlertChange("fired", now - 60, "alpha", "f" * 16, "HealthUnhealthy", "P1", labels,
                        {"summary": "alpha: health endpoint unhealthy"}, now - 180, now - 60, 2.0),
        ])  # fmt: skip
        (inc,) = store.incidents.find()
        return inc.id


def test_list_show_ack_resolve(tmp_path: Path, botwatch: Cli) -> None:
    n = _setup(tmp_path)
    got = botwatch("incidents", "list", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert f"#{n}" in got.stdout and "open" in got.stdout and "P1" in got.stdout
    assert "alpha: health endpoint unhealthy" in got.stdout
    assert "MTTD 2m" in got.stdout  # first bad sample 3 minutes ago, fired 1 minute ago

    acked = botwatch("incidents", "ack", str(n), "-m", "on it", "--by", "dana", cwd=tmp_path)
    assert acked.returncode == 0, acked.stderr
    assert "acknowledged by dana" in acked.stdout
    again = botwatch("incidents", "ack", str(n), cwd=tmp_path)
    assert again.returncode == 1 and "already acknowledged by dana" in again.stderr

    shown = botwatch("incidents", "show", str(n), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    timeline = lines[lines.index("Timeline") + 1 :]
    assert [line.split()[2] for line in timeline] == ["started", "pending", "fired", "acknowledged"]
    assert "acknowledged by dana: on it" in timeline[-1]

    done = botwatch("incidents", "resolve", str(n), "-m", "fixed the DB", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert botwatch("incidents", "list", cwd=tmp_path).stdout.strip() == "✓ no open incidents"
    listed = json.loads(botwatch("incidents", "list", "--all", "--json", cwd=tmp_path).stdout)
    (inc,) = listed["incidents"]
    assert inc["status"] == "resolved" and inc["mtta"] is not None and inc["mttr"] >= 180
    assert listed["summary"]["incidents"] == 1


def test_unknown_incident_is_a_clear_error(tmp_path: Path, botwatch: Cli) -> None:
    _setup(tmp_path)
    got = botwatch("incidents", "show", "999", cwd=tmp_path)
    assert got.returncode == 2 and "no incident #999" in got.stderr
    got = botwatch("incidents", "resolve", "999", cwd=tmp_path)
    assert got.returncode == 1 and "no incident #999" in got.stderr
