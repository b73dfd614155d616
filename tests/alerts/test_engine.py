"""The alert state machine driven by the engine, one evaluation at a time."""

from __future__ import annotations

import math

from botwatch.alerts import AlertEngine, AlertState, Transition
from botwatch.alerts.engine import STATE_LABEL, series_names
from botwatch.clock import ManualClock
from botwatch.rules import MemorySeries, parse
from botwatch.rules.files import parse_rule_file


def rules(body: str) -> str:
    return "groups:\n  - name: g\n    rules:\n" + body


DOWN = rules(
    "      - alert: BotDown\n"
    "        expr: probe_up == 0\n"
    "        for: 1m\n"
    "        labels: {severity: critical}\n"
    '        annotations: {summary: "{{ $labels.bot }} down (up={{ $value }})"}\n'
)


class World:
    """A clock, series in memory and an engine over a rule file."""

    def __init__(self, text: str) -> None:
        self.clock = ManualClock()
        self.mem = MemorySeries()
        self.real = 0.0  # what evaluations cost in "real" time: nothing, unless a test says
        self.engine = AlertEngine(
            parse_rule_file(text, "r.yml"),
            self.mem,
            clock=self.clock,
            interval=15,
            timer=lambda: self.real,
        )
        self.log: list[Transition] = []

    def up(self, bot: str, value: float) -> None:
        self.mem.add("probe_up", {"bot": bot, "check": "health"}, self.clock.time(), value)

    def step(self, seconds: float = 15) -> list[tuple[str, str | None, str]]:
        self.clock.advance(seconds)
        changes = self.engine.tick()
        self.log += changes
        return [(t.alert.labels.get("bot", ""), t.before, t.after) for t in changes]


def test_pending_then_firing_after_for_then_resolved() -> None:
    w = World(DOWN)
    w.up("a", 1)
    assert w.step() == []
    w.up("a", 0)
    assert w.step() == [("a", None, AlertState.PENDING)]
    for _ in range(3):
        w.up("a", 0)
        assert w.step() == []  # 15, 30, 45 s of the minute
    w.up("a", 0)
    assert w.step() == [("a", AlertState.PENDING, AlertState.FIRING)]
    (alert,) = w.engine.alerts()
    assert alert.labels == {
        "bot": "a",
        "check": "health",
        "severity": "critical",
        "alertname": "BotDown",
    }
    assert alert.annotations == {"summary": "a down (up=0)"}
    assert alert.fired_at == w.clock.time() and alert.active_since == w.clock.time() - 60
    w.up("a", 1)
    assert w.step() == [("a", AlertState.FIRING, AlertState.RESOLVED)]
    assert w.engine.alerts() == [] and w.log[-1].alert.resolved_at == w.clock.time()


def test_a_condition_that_clears_while_pending_sends_nothing() -> None:
    w = World(DOWN)
    w.up("a", 0)
    assert w.step() == [("a", None, AlertState.PENDING)]
    w.up("a", 1)
    assert w.step() == []  # dropped silently
    assert w.engine.alerts() == []


def test_for_zero_fires_at_once_and_instances_are_per_label_set() -> None:
    w = World(rules("      - {alert: Down, expr: probe_up == 0}\n"))
    w.up("a", 0)
    w.up("b", 0)
    w.up("c", 1)
    got = w.step()
    assert sorted(got, key=lambda t: (t[0], t[1] is not None)) == [
        ("a", None, AlertState.PENDING),
        ("a", AlertState.PENDING, AlertState.FIRING),
        ("b", None, AlertState.PENDING),
        ("b", AlertState.PENDING, AlertState.FIRING),
    ]
    assert len({a.fingerprint for a in w.engine.alerts()}) == 2


def test_keep_firing_for_rides_out_flapping() -> None:
    w = World(rules("      - {alert: Down, expr: probe_up == 0, keep_firing_for: 40s}\n"))
    w.up("a", 0)
    w.step()
    for _ in range(2):  # recovered for 15 s, then 30 s: still firing
        w.up("a", 1)
        assert w.step() == []
        (alert,) = w.engine.alerts()
        assert alert.state is AlertState.FIRING and alert.recovering
    w.up("a", 0)  # bad again: the same alert, not a new one
    assert w.step() == []
    assert not w.engine.alerts()[0].recovering
    for _ in range(2):
        w.up("a", 1)
        assert w.step() == []
    w.up("a", 1)
    assert w.step() == [("a", AlertState.FIRING, AlertState.RESOLVED)]


def test_no_data_states() -> None:
    text = rules(
        "      - {alert: Quiet, expr: 'heartbeat > 0', no_data_state: alerting}\n"
        "      - {alert: Keep, expr: probe_up == 0, no_data_state: nodata}\n"
        "      - {alert: Ok, expr: probe_up == 0}\n"
    )
    w = World(text)
    w.up("a", 0)
    got = w.step()
    names = sorted((t.alert.rule, t.after.value) for t in w.log)
    assert (
        ("Quiet", "firing") in names and ("Keep", "firing") in names and ("Ok", "firing") in names
    )
    assert len(got) == 6
    quiet = next(a for a in w.engine.alerts() if a.rule == "Quiet")
    assert quiet.labels == {"alertname": "Quiet", STATE_LABEL: "nodata"}
    # probe_up goes stale (no value for over 5 minutes): no data for every rule.
    w.step(400)
    states = {rt.rule.name: rt.state.health for rt in w.engine.rules}
    assert states == {"Quiet": "nodata", "Keep": "nodata", "Ok": "nodata"}
    firing = sorted(a.rule for a in w.engine.alerts())
    assert firing == ["Keep", "Quiet"]  # "nodata" keeps its alert; "ok" resolved its own


def test_evaluation_errors_keep_alerts_and_limits_are_errors() -> None:
    text = "groups:\n  - name: g\n    limit: 2\n    rules:\n      - {alert: Down, expr: probe_up == 0}\n"
    w = World(text)
    w.up("a", 0)
    w.up("b", 0)
    w.step()
    assert len(w.engine.alerts()) == 2
    for bot in "abc":
        w.up(bot, 0)
    assert w.step() == []  # over the limit: an error, and the two alerts keep firing
    rt = w.engine.rules[0]
    assert rt.state.health == "error"
    assert rt.state.last_error == "3 alert instances exceed the group's limit of 2"
    assert len(w.engine.alerts()) == 2


def test_error_alerting_raises_its_own_instance() -> None:
    text = rules("      - {alert: Ratio, expr: 'rss / on () probe_up', exec_err_state: alerting}\n")
    w = World(text)
    w.mem.add("rss", {"bot": "a"}, w.clock.time(), 1.0)
    w.up("a", 1)
    w.up("b", 1)
    got = [(x.alert.labels, x.after) for x in w.engine.tick()]
    labels = {"alertname": "Ratio", STATE_LABEL: "error"}
    assert got == [(labels, AlertState.PENDING), (labels, AlertState.FIRING)]
    assert "more than one series on the right" in (w.engine.rules[0].state.last_error or "")


def test_marking_a_series_evaluates_its_rules_before_they_are_due() -> None:
    w = World(DOWN + "      - {alert: Other, expr: rss > 1}\n")
    w.step()  # both evaluated; next due in 15 s
    w.clock.advance(1)
    w.up("a", 0)
    assert w.engine.due_in() == 14
    w.engine.mark(["probe_up"])
    assert w.engine.due_in() == 0
    changes = w.engine.tick()
    assert [(t.alert.rule, t.after) for t in changes] == [("BotDown", AlertState.PENDING)]
    assert {rt.rule.name: rt.state.last_eval for rt in w.engine.rules} == {
        "BotDown": w.clock.time(),
        "Other": w.clock.time() - 1,
    }


def test_aggregate_and_number_rules() -> None:
    text = rules(
        "      - {alert: Few, expr: 'count(probe_up == 1) < 3'}\n"
        "      - {alert: Late, expr: 'time() - scalar(max(timestamp(probe_up))) > 60'}\n"
    )
    w = World(text)
    w.up("a", 1)
    changes = w.engine.tick()
    assert [(t.alert.rule, t.after) for t in changes] == [
        ("Few", AlertState.PENDING),
        ("Few", AlertState.FIRING),
    ]
    assert changes[1].alert.labels == {"alertname": "Few"} and changes[1].alert.value == 1.0
    w.clock.advance(90)  # a number rule: true (1) once the newest probe_up is 90 s old
    late = [t.alert for t in w.engine.tick() if t.alert.rule == "Late"]
    assert late and late[-1].labels == {"alertname": "Late"} and late[-1].value == 1.0
    assert not math.isnan(late[-1].value)


def test_series_names_of_an_expression() -> None:
    assert series_names(parse("rate(a[5m]) / on(bot) b + absent(c) - sum(d)")) == {
        "a",
        "b",
        "c",
        "d",
    }
    assert series_names(parse("time() > 5")) == frozenset()


def test_eager_evaluation_is_held_to_a_share_of_real_time() -> None:
    w = World(DOWN)
    rt = w.engine.rules[0]
    w.step()
    rt.cost = 0.005  # pretend the last run took 5 ms of real time
    w.clock.advance(1)
    w.up("a", 0)
    w.engine.mark(["probe_up"])
    assert w.engine.tick() == []  # no real time has passed: held back, still marked
    assert w.engine.due_in() == 0
    w.real += 0.05  # ten times its cost later
    assert [(t.alert.rule, t.after) for t in w.engine.tick()] == [("BotDown", AlertState.PENDING)]


def test_a_costly_rule_waits_for_its_interval_instead_of_arrivals() -> None:
    w = World(DOWN)
    w.step()
    w.engine.rules[0].cost = 0.05  # 50 ms a run: too much to repeat on every result
    w.clock.advance(1)
    w.up("a", 0)
    w.engine.mark(["probe_up"])
    w.real += 10
    assert w.engine.tick() == []
    w.clock.advance(14)  # its 15 s interval is up
    assert [(t.alert.rule, t.after) for t in w.engine.tick()] == [("BotDown", AlertState.PENDING)]


def test_labels_and_annotations_follow_the_value() -> None:
    text = rules(
        "      - alert: Load\n"
        "        expr: load > 1\n"
        '        labels: {level: "{{ $value }}"}\n'
        '        annotations: {summary: "load {{ $value }}"}\n'
        "      - alert: Busy\n"
        "        expr: load > 1\n"
        '        annotations: {summary: "{{ $labels.bot }} at {{ $value }}"}\n'
    )
    w = World(text)
    w.mem.add("load", {"bot": "a"}, w.clock.time(), 2.0)
    w.engine.tick()
    w.clock.advance(15)
    w.mem.add("load", {"bot": "a"}, w.clock.time(), 3.0)
    w.engine.tick()
    by_rule: dict[str, list[tuple[dict[str, str], dict[str, str]]]] = {}
    for a in w.engine.alerts():
        by_rule.setdefault(a.rule, []).append((a.labels, a.annotations))
    # $value in a label makes each value its own instance (as in Prometheus).
    assert sorted(lbl["level"] for lbl, _ in by_rule["Load"]) == ["3"]
    ((labels, notes),) = by_rule["Busy"]
    assert notes == {"summary": "a at 3"} and labels == {"bot": "a", "alertname": "Busy"}
