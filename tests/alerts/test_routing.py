"""Routing tree, matchers and time intervals, as Alertmanager defines them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from botwatch.alerts.matchers import matches, parse_matchers
from botwatch.alerts.routing import build_routes
from botwatch.alerts.timeintervals import in_interval
from botwatch.config import parse_config
from botwatch.errors import ConfigError

CONFIG = """\
channels:
  ops: {url: "json://127.0.0.1:9/ops"}
  oncall: {kind: pagerduty, routing_key: abc}
  db: {kind: webhook, url: "http://127.0.0.1:9/hook", allow_private: true}
route:
  receiver: ops
  group_by: [alertname, bot]
  group_wait: 10s
  routes:
    - matchers: ['severity="critical"']
      receiver: oncall
      repeat_interval: 1h
      continue: true
    - matchers: ['alertname=~"Dependency.*"']
      receiver: db
      group_by: [...]
      mute_time_intervals: [nights]
    - matchers: ['bot="alpha"', 'severity!="critical"']
      routes:
        - matchers: ['alertname="HighCpu"']
          receiver: db
time_intervals:
  - name: nights
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "06:00"}]
        location: Asia/Jakarta
"""


def receivers(labels: dict[str, str]) -> list[tuple[str, str]]:
    root = build_routes(parse_config(CONFIG, "bw.yml", {}).route)  # type: ignore[arg-type]
    return [(r.receiver, r.path) for r in root.match(labels)]


def test_first_matching_child_takes_the_alert_unless_it_continues() -> None:
    crit = {"alertname": "DependencyDown", "bot": "a", "severity": "critical"}
    assert receivers(crit) == [("oncall", "0.0"), ("db", "0.1")]  # continue: true
    warn = {"alertname": "DependencyDown", "bot": "a", "severity": "warning"}
    assert receivers(warn) == [("db", "0.1")]
    assert receivers({"alertname": "HighCpu", "bot": "alpha", "severity": "warning"}) == [
        ("db", "0.2.0")
    ]
    # Matches the third child but none of its children: it ends there, with the
    # receiver it inherited.
    assert receivers({"alertname": "Other", "bot": "alpha"}) == [("ops", "0.2")]
    assert receivers({"alertname": "Other", "bot": "beta"}) == [("ops", "0")]


def test_settings_are_inherited_and_time_intervals_are_not() -> None:
    root = build_routes(parse_config(CONFIG, "bw.yml", {}).route)  # type: ignore[arg-type]
    oncall, db, alpha = root.routes
    assert (oncall.group_wait, oncall.group_interval, oncall.repeat_interval) == (10, 300, 3600)
    assert oncall.group_by == ("alertname", "bot") and db.group_by == ("...",)
    assert db.mute_time_intervals == ("nights",) and alpha.routes[0].mute_time_intervals == ()
    labels = {"alertname": "X", "bot": "a", "check": "c"}
    assert oncall.group_key(labels) == (("alertname", "X"), ("bot", "a"))
    assert db.group_key(labels) == (("alertname", "X"), ("bot", "a"), ("check", "c"))


def test_matchers() -> None:
    m = parse_matchers('{bot=~"a|b", env!="dev", team!~"x.*"}')
    assert matches(m, {"bot": "a", "env": "prod", "team": "ops"})
    assert not matches(m, {"bot": "ab", "env": "prod"})  # regexes match whole values
    assert not matches(m, {"bot": "b", "env": "dev"})
    assert matches(parse_matchers('missing=""'), {"bot": "a"})
    with pytest.raises(ValueError, match='column 10: expected a quoted string like "x"'):
        parse_matchers("severity=critical")


def at(text: str, tz: str = "Asia/Jakarta") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def test_time_intervals() -> None:
    cfg = parse_config(
        CONFIG
        + """\
  - name: maintenance
    time_intervals:
      - weekdays: ["saturday:sunday"]
        times: [{start_time: "02:00", end_time: "04:00"}]
      - days_of_month: ["-1"]
        months: ["december"]
        years: ["2026"]
""",
        "bw.yml",
        {},
    )
    nights, maint = cfg.time_intervals
    assert in_interval(nights, at("2026-12-02T23:30:00"))
    assert in_interval(nights, at("2026-12-02T05:59:00"))
    assert not in_interval(nights, at("2026-12-02T06:00:00"))  # end is exclusive
    assert not in_interval(nights, at("2026-12-02T23:30:00", "UTC"))  # 06:30 in Jakarta
    # Saturday 5 Dec 2026, 03:00 UTC (the config's zone): in; a Wednesday is not.
    assert in_interval(maint, at("2026-12-05T03:00:00", "UTC"))
    assert not in_interval(maint, at("2026-12-02T03:00:00", "UTC"))
    assert in_interval(maint, at("2026-12-31T12:00:00", "UTC"))  # the last day of December
    assert not in_interval(maint, at("2025-12-31T12:00:00", "UTC"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("route: {receiver: nobody}\n", "receiver 'nobody' is not a channel"),
        ("route: {receiver: ops, mute_time_intervals: [x]}\n", "time interval 'x' is not defined"),
        ("route: {receiver: ops, matchers: ['a=b']}\n", 'expected a quoted string like "x"'),
        ("route: {group_by: [bot]}\n", "the root route needs a receiver"),
        (
            "time_intervals: [{name: t, time_intervals: [{times: [{start_time: '25:00', end_time: '26:00'}]}]}]\n",
            "'25:00' is not a time of day",
        ),
        (
            "time_intervals: [{name: t, time_intervals: [{weekdays: [funday]}]}]\n",
            "'funday' is not a weekday",
        ),
    ],
)
def test_routing_mistakes_are_config_errors(extra: str, message: str) -> None:
    text = "channels: {ops: {url: 'json://x'}, pd: {kind: pagerduty}}\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text.replace(", pd: {kind: pagerduty}", "") + extra, "bw.yml", {})
    assert any(message in str(i) for i in info.value.issues), info.value.issues


def test_channels_need_what_their_kind_needs() -> None:
    with pytest.raises(ConfigError, match="a pagerduty channel needs routing_key"):
        parse_config("channels: {pd: {kind: pagerduty}}\n", "bw.yml", {})
    with pytest.raises(ConfigError, match="a webhook url must be http"):
        parse_config("channels: {w: {kind: webhook, url: 'ftp://x'}}\n", "bw.yml", {})
