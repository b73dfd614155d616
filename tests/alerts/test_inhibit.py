"""Inhibit rules keep the pager to the cause."""

from __future__ import annotations

from botwatch.alerts.inhibit import Inhibitor
from botwatch.config.notify import InhibitRule


def key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_a_firing_cause_inhibits_its_symptoms_for_the_same_bot() -> None:
    rule = InhibitRule(
        source_matchers=['alertname="BotProcessDown"'],
        target_matchers=['alertname=~"Health.*|BotUnresponsive"'],
        equal=["bot"],
    )
    down_a = {"alertname": "BotProcessDown", "bot": "a"}
    health_a = {"alertname": "HealthUnhealthy", "bot": "a"}
    health_b = {"alertname": "HealthUnhealthy", "bot": "b"}
    cpu_a = {"alertname": "HighCpu", "bot": "a"}
    got = Inhibitor([rule]).inhibited([down_a, health_a, health_b, cpu_a])
    assert got == {key(health_a): down_a}
    # Nothing fires the source: nothing is inhibited.
    assert Inhibitor([rule]).inhibited([health_a, health_b]) == {}


def test_an_alert_never_inhibits_itself_and_missing_labels_count_as_equal() -> None:
    rule = InhibitRule(
        source_matchers=['severity="critical"'], target_matchers=['severity=~".+"'], equal=["zone"]
    )
    crit = {"alertname": "A", "severity": "critical"}
    warn = {"alertname": "B", "severity": "warning"}
    got = Inhibitor([rule]).inhibited([crit, warn])
    assert got == {key(warn): crit}  # the critical one is not inhibited by itself
