"""Silences: kept in the store, matched against alerts, managed from the CLI."""

from __future__ import annotations

import functools
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from botwatch.alerts.silences import Silencer, new_silence
from botwatch.store import Store


def test_silencer_matches_active_silences_only() -> None:
    now = 1_000_000.0
    maint = new_silence(['bot="alpha"', 'alertname=~"Health.*"'], starts_at=now, ends_at=now + 3600,
                        created_by="ana", comment="deploy", now=now)  # fmt: skip
    later = new_silence(['bot="beta"'], starts_at=now + 600, ends_at=now + 700,
                        created_by="ana", comment="later", now=now)  # fmt: skip
    s = Silencer([maint, later])
    assert s.silenced_by({"bot": "alpha", "alertname": "HealthUnhealthy"}, now + 1) == maint.id
    assert s.silenced_by({"bot": "alpha", "alertname": "HighCpu"}, now + 1) is None
    assert s.silenced_by({"bot": "alpha", "alertname": "HealthUnhealthy"}, now + 3600) is None
    assert s.silenced_by({"bot": "beta"}, now + 1) is None
    assert s.silenced_by({"bot": "beta"}, now + 650) == later.id


@pytest.mark.parametrize(
    ("matchers", "kw", "message"),
    [
        ([], {}, "at least one matcher"),
        (["bot=alpha"], {}, 'expected a quoted string like "x"'),
        (['bot="a"'], {"ends_at": 5.0}, "must end after it starts"),
        (['bot="a"'], {"comment": " "}, "say why"),
    ],
)
def test_bad_silences(matchers: list[str], kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"starts_at": 10.0, "ends_at": 100.0, "created_by": "a",
                               "comment": "c", "now": 10.0, **kw}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        new_silence(matchers, **args)  # type: ignore[arg-type]


def test_silence_commands(
    tmp_path: Path, botwatch: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    botwatch = functools.partial(botwatch, env={"USER": "ops-ana"})
    (tmp_path / "botwatch.yml").write_text("storage: sqlite:///bw.db\nbots: {alpha: {}}\n")
    assert botwatch("silence", "list", cwd=tmp_path).stdout.strip() == "no silences"
    r = botwatch("silence", "add", 'bot="alpha"', "-d", "2h", "-m", "deploying v2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    sid = r.stdout.strip()
    shown = json.loads(botwatch("silence", "list", "--json", cwd=tmp_path).stdout)
    assert [(s["id"], s["state"], s["matchers"], s["created_by"]) for s in shown] == [
        (sid, "active", ['bot="alpha"'], "ops-ana")
    ]
    assert 7190 < shown[0]["ends_at"] - time.time() <= 7200
    table = botwatch("silence", "list", cwd=tmp_path).stdout
    assert sid[:8] in table and "deploying v2" in table and "in 1h59m" in table
    bad = botwatch("silence", "add", "bot=alpha", "-m", "x", cwd=tmp_path)
    assert bad.returncode == 2 and 'expected a quoted string like "x"' in bad.stderr
    assert "say why" in botwatch("silence", "add", 'bot="a"', cwd=tmp_path).stderr
    r = botwatch("silence", "expire", sid[:8], cwd=tmp_path)
    assert r.returncode == 0 and f"expired {sid}" in r.stdout
    assert botwatch("silence", "list", cwd=tmp_path).stdout.strip() == "no silences"
    history = json.loads(botwatch("silence", "list", "--all", "--json", cwd=tmp_path).stdout)
    assert [s["state"] for s in history] == ["expired"]
    again = botwatch("silence", "expire", sid, cwd=tmp_path)
    assert again.returncode == 2 and "no active or pending silence" in again.stderr
    with Store.open(f"sqlite:///{tmp_path / 'bw.db'}") as store:
        assert len(store.silences()) == 1  # kept as history
