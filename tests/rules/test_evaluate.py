"""Evaluating expressions over an in-memory window of series, as Prometheus would."""

from __future__ import annotations

import math

import pytest

from botwatch.errors import RuleEvalError
from botwatch.rules import Element, Evaluator, MemorySeries, Value, parse
from botwatch.series import Sample, SampleGroup

T = 1_700_000_000.0


def ev(mem: MemorySeries, text: str, at: float = T) -> Value:
    return Evaluator(mem).evaluate(parse(text), at)


def by_bot(v: Value) -> dict[str, float]:
    assert isinstance(v, list)
    return {e.labels.get("bot", ""): e.value for e in v}


@pytest.fixture
def mem() -> MemorySeries:
    m = MemorySeries(keep=7200)
    for bot, up in (("a", 1.0), ("b", 0.0), ("c", 1.0)):
        labels = {"bot": bot, "check": "health"}
        m.extend([SampleGroup(labels, T - 10, {"probe_up": up, "probe_status": 2 - 2 * up})])
    for i in range(11):  # a counter climbing 6/min, reset once
        value = 6.0 * i if i < 6 else 6.0 * (i - 6)
        m.add("restarts_total", {"bot": "a"}, T - 600 + 60 * i, value)
    for i in range(10):
        m.add("rss", {"bot": "a"}, T - 540 + 60 * i, 100e6 + 10e6 * i)
        m.add("rss", {"bot": "b"}, T - 540 + 60 * i, 50e6)
    return m


def test_selector_takes_the_newest_value_within_the_lookback(mem: MemorySeries) -> None:
    assert by_bot(ev(mem, "probe_up")) == {"a": 1.0, "b": 0.0, "c": 1.0}
    assert by_bot(ev(mem, 'probe_up{bot!="a"}')) == {"b": 0.0, "c": 1.0}
    assert by_bot(ev(mem, 'probe_up{bot=~"a|c"}')) == {"a": 1.0, "c": 1.0}
    assert by_bot(ev(mem, "rss", at=T - 300)) == {"a": 1.4e8, "b": 5e7}
    # Older than 5 minutes is stale: the series has no value "now".
    assert ev(mem, "probe_up", at=T + 400) == []


def test_comparison_filters_and_keeps_the_series(mem: MemorySeries) -> None:
    v = ev(mem, "probe_up == 0")
    assert isinstance(v, list) and len(v) == 1
    assert v[0].name == "probe_up" and v[0].labels == {"bot": "b", "check": "health"}
    assert by_bot(ev(mem, "probe_up == bool 0")) == {"a": 0.0, "b": 1.0, "c": 0.0}
    assert by_bot(ev(mem, "rss > 150MB")) == {"a": 1.9e8}
    assert by_bot(ev(mem, "200MB < rss")) == {}


def test_arithmetic_drops_the_name(mem: MemorySeries) -> None:
    v = ev(mem, "rss / 1MB")
    assert isinstance(v, list) and all(e.name is None for e in v)
    assert by_bot(v) == {"a": 190.0, "b": 50.0}
    assert ev(mem, "1 + 2 * 3 ^ 2") == 19.0
    assert ev(mem, "2 > 1") == 1.0
    assert ev(mem, "1 / 0") == math.inf and math.isnan(float(ev(mem, "0 / 0")))  # type: ignore[arg-type]
    assert ev(mem, "-2 ^ 2") == -4.0


def test_over_time_functions(mem: MemorySeries) -> None:
    assert by_bot(ev(mem, 'avg_over_time(rss{bot="a"}[5m])')) == {"a": pytest.approx(1.7e8)}
    assert by_bot(ev(mem, "max(rss[10m])")) == {"a": 1.9e8, "b": 5e7}
    assert by_bot(ev(mem, "min_over_time(rss[10m])")) == {"a": 1e8, "b": 5e7}
    assert by_bot(ev(mem, "count_over_time(rss[3m])")) == {"a": 3.0, "b": 3.0}
    assert by_bot(ev(mem, "last_over_time(rss[3m])")) == {"a": 1.9e8, "b": 5e7}
    assert by_bot(ev(mem, 'quantile_over_time(0.5, rss{bot="a"}[10m])')) == {"a": 1.45e8}
    assert by_bot(ev(mem, "changes(rss[10m])")) == {"a": 9.0, "b": 0.0}
    assert by_bot(ev(mem, "delta(rss[10m])")) == {"a": 9e7, "b": 0.0}


def test_increase_counts_through_a_counter_reset(mem: MemorySeries) -> None:
    # 0,6,..,30 then reset to 0,6,..,24: 30 + 24 = 54 over the 10 minutes sampled.
    inc = by_bot(ev(mem, "increase(restarts_total[10m])"))["a"]
    assert inc == pytest.approx(54.0, rel=0.1)
    assert by_bot(ev(mem, "resets(restarts_total[15m])")) == {"a": 1.0}
    rate = by_bot(ev(mem, "rate(restarts_total[10m])"))["a"]
    assert rate == pytest.approx(inc / 600)
    # One point in the window: no rate at all.
    assert ev(mem, "rate(restarts_total[1m])") == []


def test_aggregations_group_by_labels(mem: MemorySeries) -> None:
    assert by_bot(ev(mem, "sum(probe_up)")) == {"": 2.0}
    assert by_bot(ev(mem, "count(probe_up == 1) < 3")) == {"": 2.0}
    assert by_bot(ev(mem, "sum by (bot) (probe_up)")) == {"a": 1.0, "b": 0.0, "c": 1.0}
    v = ev(mem, "max without (bot) (probe_status)")
    assert isinstance(v, list) and [(dict(e.labels), e.value) for e in v] == [
        ({"check": "health"}, 2.0)
    ]
    assert by_bot(ev(mem, "avg(probe_up)")) == {"": pytest.approx(2 / 3)}
    assert by_bot(ev(mem, "quantile(0.5, rss)")) == {"": pytest.approx(1.2e8)}


def test_set_operations(mem: MemorySeries) -> None:
    assert by_bot(ev(mem, "probe_up and probe_status > 1")) == {"b": 0.0}
    assert by_bot(ev(mem, "probe_up unless probe_status > 1")) == {"a": 1.0, "c": 1.0}
    assert by_bot(ev(mem, 'probe_up{bot="a"} or probe_up')) == {"a": 1.0, "b": 0.0, "c": 1.0}
    # Matching on fewer labels: rss has no "check" label, probe_up does.
    assert by_bot(ev(mem, "rss and on (bot) probe_up == 0")) == {"b": 5e7}


def test_vector_matching_one_to_one(mem: MemorySeries) -> None:
    mem.add("limit_bytes", {"bot": "a"}, T - 30, 200e6)
    mem.add("limit_bytes", {"bot": "b"}, T - 30, 100e6)
    ratio = ev(mem, "rss / limit_bytes")
    assert by_bot(ratio) == {"a": 0.95, "b": 0.5}
    assert by_bot(ev(mem, "rss / limit_bytes > 90%")) == {"a": 0.95}  # the ratio, filtered
    # Labels that differ stop a match unless ignored.
    assert ev(mem, "probe_up * rss") == []
    assert by_bot(ev(mem, "probe_up * ignoring (check) rss")) == {"a": 1.9e8, "b": 0.0}


def test_duplicates_on_one_side_are_an_error(mem: MemorySeries) -> None:
    with pytest.raises(RuleEvalError, match="more than one series on the right"):
        ev(mem, "rss / on () probe_up")


def test_absent_reports_the_selector_labels(mem: MemorySeries) -> None:
    assert ev(mem, 'absent(probe_up{bot="a"})') == []
    v = ev(mem, 'absent(heartbeat{bot="z", job=~".*"})')
    assert isinstance(v, list) and [dict(e.labels) for e in v] == [{"bot": "z"}]
    assert ev(mem, "absent_over_time(rss[1m])", at=T + 120) == [Element(None, {}, 1.0, T + 120)]
    assert ev(mem, "absent_over_time(rss[5m])", at=T + 120) == []


def test_time_timestamp_and_elementwise(mem: MemorySeries) -> None:
    assert ev(mem, "time()") == T
    assert by_bot(ev(mem, "time() - timestamp(probe_up) > 5s")) == {"a": 10, "b": 10, "c": 10}
    assert by_bot(ev(mem, "clamp_max(rss, 100MB)")) == {"a": 1e8, "b": 5e7}
    assert by_bot(ev(mem, 'round(rss{bot="a"} / 3e7)')) == {"a": 6.0}
    assert ev(mem, 'scalar(probe_up{bot="a"}) + 1') == 2.0
    assert ev(mem, "scalar(probe_up)") != ev(mem, "scalar(probe_up)")  # NaN: not exactly one


def test_memory_window_orders_late_points_and_trims() -> None:
    m = MemorySeries(keep=100)
    m.extend([Sample("x", {"k": "v"}, T, 1.0), Sample("x", {"k": "v"}, T - 50, 0.5)])
    m.add("x", {"k": "v"}, T, 2.0)  # the same instant again: the last write wins
    m.add("x", {"k": "v"}, T - 20, math.nan)  # not a measurement
    (s,) = list(m.window("x", (), T - 60, T))
    assert list(s.points) == [(T - 50, 0.5), (T, 2.0)]
    m.add("x", {"k": "v"}, T + 60, 3.0)
    assert m.trim() == 1  # T - 50 is more than 100 s before the newest point
    assert m.names() == ["x"]
    assert m.trim(now=T + 500) == 2 and m.names() == []


def test_memory_keeps_only_what_rules_read_for_as_long_as_they_need() -> None:
    m = MemorySeries(keep=60, keep_by_name={"slow": 600}, only={"fast", "slow"})
    labels = {"bot": "a"}
    for i in range(20):  # one value a minute for 20 minutes
        m.extend([SampleGroup(labels, T + 60 * i, {"fast": i, "slow": i, "ignored": i})])
    assert m.names() == ["fast", "slow"]
    m.trim()
    assert [len(s.points) for s in m.window("fast", (), 0, T + 9999)] == [1]
    assert [len(s.points) for s in m.window("slow", (), 0, T + 9999)] == [10]
    m.trim(now=T + 10_000)
    assert m.names() == []
    m.add("fast", labels, T + 10_000, 1.0)  # the same labels dict after its series went
    assert [s.points for s in m.window("fast", (), 0, T + 99_999)] == [[(T + 10_000, 1.0)]]
