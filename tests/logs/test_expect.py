"""Lines expected on a schedule: a slot is judged once its window closes, in the
configured time zone, and never before botwatch was watching."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from botwatch.config.logs import ExpectLine
from botwatch.logs.expect import Expectation
from botwatch.logs.record import LogRecord

JAKARTA = ZoneInfo("Asia/Jakarta")
SPEC = ExpectLine(log="Notifications sent", at=["08:00", "14:00", "20:00"], within=600)


def at(hhmm: str, day: int = 30) -> float:
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 11, day, h, m, tzinfo=JAKARTA).timestamp()


def sent(ts: float) -> LogRecord:
    return LogRecord("Notifications sent: 150 success, 5 failed", "info", ts)


def test_a_run_inside_its_window_is_not_missed_one_outside_is() -> None:
    e = Expectation(SPEC, JAKARTA, watching_since=at("07:00"))
    assert e.missed(at("08:05")) is None  # the 08:00 window is still open
    assert e.feed(sent(at("08:03")), at("08:03"))
    assert e.missed(at("08:11")) is False
    # 14:00 run never happens; judged once 14:10 has passed, not before.
    assert e.missed(at("14:09")) is False  # still about 08:00
    assert e.missed(at("14:11")) is True
    # An early line (13:55) does not count for 14:00; the 20:00 run does count.
    e.feed(sent(at("19:55")), at("19:55"))
    assert e.missed(at("20:11")) is True
    e.feed(sent(at("20:02")), at("20:02"))
    assert e.missed(at("20:11")) is False
    assert e.last_seen == at("20:02")


def test_slots_before_botwatch_watched_are_not_judged() -> None:
    e = Expectation(SPEC, JAKARTA, watching_since=at("08:05"))
    assert e.missed(at("08:30")) is None  # 08:00 began before we were reading
    assert e.missed(at("14:11")) is True


def test_the_window_is_in_the_configured_zone_and_reaches_past_midnight() -> None:
    late = ExpectLine(log="backup done", at="23:55", within=900)
    e = Expectation(late, JAKARTA, watching_since=0)
    # At 00:05 the 23:55 window is still open: the last closed slot is the day before's.
    assert e.last_slot(at("00:05", day=30)) == at("23:55", day=28)
    e.feed(LogRecord("backup done", "info", at("00:04", day=30)), 0)
    assert e.last_slot(at("00:11", day=30)) == at("23:55", day=29)
    assert e.missed(at("00:11", day=30)) is False


def test_a_line_without_a_time_counts_when_it_was_read() -> None:
    e = Expectation(SPEC, JAKARTA, watching_since=0)
    e.feed(LogRecord("Notifications sent: 3 success, 0 failed", "info", None), at("14:01"))
    assert e.missed(at("14:20")) is False


@pytest.mark.parametrize(("at_", "msg"), [("8am", "HH:MM"), ("25:00", "HH:MM")])
def test_bad_times_are_refused(at_: str, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        ExpectLine(log="x", at=[at_])
