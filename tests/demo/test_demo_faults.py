"""The demo's fault control file: what ``botwatch demo fault`` writes and the bot reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from botwatch.demo.faults import (
    FAULTS,
    ControlFileError,
    FaultSettings,
    read_control,
    set_fault,
    write_control,
)


def test_missing_file_means_every_fault_off(tmp_path: Path) -> None:
    settings = read_control(tmp_path / "none.json")
    assert settings.active() == []


def test_set_fault_round_trip_keeps_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "run" / "bot.control.json"
    settings = FaultSettings()
    settings.slow_db.latency_seconds = 7.5
    write_control(path, settings)

    set_fault(path, "slow-db", True)
    set_fault(path, "errors", True)
    set_fault(path, "errors", False)

    doc = json.loads(path.read_text())
    assert list(doc) == list(FAULTS)  # the file uses the command's fault names
    assert doc["slow-db"] == {"on": True, "latency_seconds": 7.5}
    assert read_control(path).active() == ["slow-db"]
    assert [p.name for p in path.parent.iterdir()] == ["bot.control.json"]  # no temp files


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "Invalid JSON"),
        ('{"leak": {"on": true, "mb_per_minute": 3}}', "leak.mb_per_minute"),
        ('{"crash": {"exit_code": 0}}', "crash.exit_code"),
    ],
)
def test_bad_control_file_is_an_error_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(ControlFileError, match=message) as info:
        read_control(path)
    assert str(path) in str(info.value)


def test_unknown_fault_name(tmp_path: Path) -> None:
    with pytest.raises(ControlFileError, match="unknown fault 'oom'"):
        set_fault(tmp_path / "c.json", "oom", True)  # type: ignore[arg-type]
