"""Incidents end to end: a real health endpoint, the monitor stepped by tick(), a real
SQLite store, a webhook receiver and a fake PagerDuty on loopback."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from botwatch.channels.message import Notification
from botwatch.channels.pagerduty import dedup_key
from botwatch.clock import ManualClock
from botwatch.config import load_config
from botwatch.errors import IncidentError
from botwatch.fakes.receivers import FakePagerDuty, FakeWebhook
from botwatch.incidents import priority_of
from botwatch.monitor import Monitor
from botwatch.probes import ProbeContext
from botwatch.store import Store

PD_KEY = "0123456789abcdef0123456789abcdef"


class Health:
    def __init__(self) -> None:
        self.code = 200

    async def handle(self, request: web.Request) -> web.Response:
        status = "HEALTHY" if self.code == 200 else "UNHEALTHY"
        return web.json_response({"status": status}, status=self.code)


@dataclass
class World:
    monitor: Monitor
    clock: ManualClock
    store: Store
    health: Health
    hook: FakeWebhook
    pd: FakePagerDuty
    tmp: Path

    async def step(self, seconds: float, drain: float = 5) -> None:
        """Time passes; checks run; rules, incidents and notifications take a step."""
        m = self.monitor
        self.clock.advance(seconds)
        await m.tick()
        await m.scheduler.drain()
        await m.wait_background()
        m.alerting.tick()
        await m.alerting.wait()
        await m.alerting.drain(drain)
        m.alerting.tick()  # notes of what was just delivered
        await m.alerting.wait()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    health = Health()
    app = web.Application()
    app.router.add_get("/health", health.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with FakeWebhook() as hook, FakePagerDuty() as pd:
        (tmp_path / "botwatch.yml").write_text(f"""
storage: sqlite:///bw.db
defaults: {{interval: 10s, timeout: 2s}}
bots:
  alpha:
    health: http://127.0.0.1:{port}/health
    alerts: {{HealthUnhealthy: {{for: 20s}}}}
    checks: {{disk: {{enabled: false}}}}
channels:
  ops: {{kind: webhook, url: "{hook.base_url}/ops", allow_private: true}}
  lead: {{kind: pagerduty, routing_key: {PD_KEY}, url: "{pd.base_url}/v2/enqueue"}}
route: {{receiver: ops, group_by: [alertname, bot], group_wait: 0s, group_interval: 10s}}
alerting: {{interval: 1s}}  # every step evaluates every rule, however long it takes
incidents:
  escalation:
    - {{after: 60s, receiver: lead}}
""")
        loaded = load_config(tmp_path / "botwatch.yml", env={})
        clock = ManualClock(start=time.time())
        store = Store.open(
            loaded.storage_url, clock=clock, busy_timeout=0.1, retry_initial=0.01, retry_max=0.05
        )
        await store.start()
        m = Monitor(loaded, store, ctx=ProbeContext(clock=clock), clock=clock)
        await m.alerting.restore()
        w = World(m, clock, store, health, hook, pd, tmp_path)
        try:
            yield w
        finally:
            await w.monitor.close()
            await store.close()
            await runner.cleanup()


def test_priority_comes_from_the_label_or_the_severity() -> None:
    assert priority_of({"priority": "p2", "severity": "critical"}) == "P2"
    assert priority_of({"severity": "critical"}) == "P1"
    assert priority_of({"severity": "warning"}) == "P3"
    assert priority_of({"priority": "urgent", "severity": "info"}) == "P4"


async def test_an_outage_opens_escalates_is_acknowledged_and_resolves(world: World) -> None:
    w = world
    await w.step(1)
    w.health.code = 503
    started = w.clock.time() + 10
    for _ in range(3):  # pending for 20 s, then firing
        await w.step(10)
    (inc,) = w.store.incidents.find()
    assert (inc.bot, inc.priority, inc.status) == ("alpha", "P1", "open")
    assert inc.title == "alpha: health endpoint unhealthy"
    assert inc.started_at == pytest.approx(started, abs=1)
    assert inc.mttd == pytest.approx(20, abs=1)  # the rule's `for`
    assert [b["status"] for _, b, _ in w.hook.received] == ["firing"]
    kinds = [e.kind for e in w.store.incidents.timeline(inc.id)]
    assert kinds == ["started", "pending", "fired", "notified"]
    assert w.pd.events == []  # not escalated yet

    for _ in range(6):  # a minute without acknowledgement
        await w.step(10)
    (event,) = w.pd.events
    assert event["event_action"] == "trigger"
    assert event["payload"]["summary"].startswith("[ESCALATED] [FIRING:1] HealthUnhealthy alpha")
    assert "not acknowledged after 1m" in event["payload"]["custom_details"]["alerts"]
    inc = w.store.incidents.get(inc.id)  # type: ignore[assignment]
    assert inc.escalated_to == ["lead"] and inc.escalation_level == 1
    for _ in range(3):  # escalated once, not once per step
        await w.step(10)
    assert len(w.pd.events) == 1

    acked = w.store.incidents.ack(inc.id, "dana", "looking at it", w.clock.time())
    assert acked.status == "acknowledged" and acked.mtta == pytest.approx(
        w.clock.time() - inc.opened_at
    )
    with pytest.raises(IncidentError, match="already acknowledged by dana"):
        w.store.incidents.ack(inc.id, "eve", "", w.clock.time())
    await w.step(10)
    ack = w.pd.events[-1]
    assert ack["event_action"] == "acknowledge"
    assert ack["dedup_key"] == event["dedup_key"]  # the same PagerDuty incident
    assert w.pd.incidents[event["dedup_key"]] == "acknowledged"

    w.health.code = 200

    def told() -> list[str]:
        return [b["status"] for _, b, _ in w.hook.received]

    for _ in range(4):  # the next check sees it; the group's next flush tells the hook
        await w.step(10)
        if told() == ["firing", "resolved"]:
            break
    inc = w.store.incidents.get(inc.id)  # type: ignore[assignment]
    assert inc.status == "resolved" and inc.resolved_by == "botwatch"
    assert inc.mttr == pytest.approx(inc.resolved_at - started, abs=0.01)  # type: ignore[operator]
    assert w.pd.incidents[event["dedup_key"]] == "resolved"
    assert told() == ["firing", "resolved"]
    kinds = [e.kind for e in w.store.incidents.timeline(inc.id)]
    assert kinds[:4] == ["started", "pending", "fired", "notified"]
    assert "escalated" in kinds and "acknowledged" in kinds
    assert kinds.index("escalated") < kinds.index("acknowledged") < kinds.index("alert_resolved")
    assert kinds[-1] == "resolved" or kinds[-2] == "resolved"  # the resolved notice may follow
    stats = w.store.incidents.stats(0)
    assert stats["incidents"] == 1 and stats["resolved"] == 1
    assert stats["mttd"] == pytest.approx(inc.mttd) and stats["mttr"] == pytest.approx(inc.mttr)


async def test_acknowledged_in_time_means_no_escalation(world: World) -> None:
    w = world
    await w.step(1)
    w.health.code = 503
    for _ in range(3):
        await w.step(10)
    (inc,) = w.store.incidents.find()
    w.store.incidents.ack(inc.id, "dana", "", w.clock.time())
    for _ in range(9):
        await w.step(10)
    assert w.pd.events == []  # the webhook cannot take acks and nobody was escalated to
    assert w.store.incidents.get(inc.id).escalation_level == 0  # type: ignore[union-attr]


async def test_alerts_of_one_bot_join_its_incident_and_warnings_open_none(world: World) -> None:
    w = world
    from botwatch.store.incidents import AlertChange

    def change(kind: str, fp: str, priority: str, rule: str, at: float) -> AlertChange:
        labels = {"alertname": rule, "bot": "beta", "priority": priority}
        return AlertChange(kind, at, "beta", fp, rule, priority, labels, {}, at - 5, at, 1.0)

    t0 = w.clock.time()
    w.store.incidents.record([change("fired", "a" * 16, "P2", "DependencyDown", t0)])
    w.store.incidents.record([change("fired", "b" * 16, "P1", "BotProcessDown", t0 + 10)])
    (inc,) = w.store.incidents.find(bot="beta")
    assert inc.priority == "P1"  # raised by the worse alert that joined
    assert [a.rule for a in w.store.incidents.alerts(inc.id)] == [
        "DependencyDown",
        "BotProcessDown",
    ]
    w.store.incidents.record([change("resolved", "a" * 16, "P2", "DependencyDown", t0 + 20)])
    assert w.store.incidents.get(inc.id).status == "open"  # type: ignore[union-attr]
    w.store.incidents.record([change("resolved", "b" * 16, "P1", "BotProcessDown", t0 + 30)])
    assert w.store.incidents.get(inc.id).status == "resolved"  # type: ignore[union-attr]
    # The same firing spell recorded twice (a replay after a restart) is one spell.
    w.store.incidents.record([change("fired", "b" * 16, "P1", "BotProcessDown", t0 + 10)])
    assert len(w.store.incidents.find(bot="beta")) == 1

    # A warning (P3 by default) opens nothing.
    w.health.code = 200
    tracker = w.monitor.alerting.incidents
    from botwatch.alerts.state import Alert, AlertState, Transition

    warn = Alert("HealthDegraded", {"alertname": "HealthDegraded", "bot": "alpha",
                 "severity": "warning"}, "c" * 16, AlertState.FIRING, t0, fired_at=t0)  # fmt: skip
    tracker.observe([Transition(warn, AlertState.PENDING, AlertState.FIRING, t0)])
    await w.step(1)
    assert w.store.incidents.find(bot="alpha") == []


async def test_a_crash_before_the_incident_was_written_is_replayed_once(world: World) -> None:
    from botwatch.store.tables import incident_alerts, incident_events, incidents

    w = world
    await w.step(1)
    w.health.code = 503
    for _ in range(3):
        await w.step(10)
    (first,) = w.store.incidents.find()
    # What a crash between saving the alert state and writing the incident leaves: a
    # firing alert in the store and no incident.
    with w.store.engine.begin() as conn:
        for table in (incident_events, incident_alerts, incidents):
            conn.execute(table.delete())
    for _ in range(2):  # restarted twice: one incident, not two
        again = Monitor(w.monitor.loaded, w.store, ctx=w.monitor.ctx, clock=w.clock)
        await again.alerting.restore()
        again.alerting.incidents.tick(w.clock.time())
        await again.alerting.incidents.wait()
        (inc,) = w.store.incidents.find()
        assert (inc.status, inc.bot, inc.started_at) == ("open", "alpha", first.started_at)
        assert inc.opened_at == pytest.approx(first.opened_at)


async def test_a_hand_resolved_incident_is_not_reopened_by_a_restart(world: World) -> None:
    w = world
    await w.step(1)
    w.health.code = 503
    for _ in range(3):
        await w.step(10)
    (inc,) = w.store.incidents.find()
    done = w.store.incidents.resolve(inc.id, "dana", "known outage", w.clock.time())
    assert done.status == "resolved" and done.resolved_by == "dana"
    with pytest.raises(IncidentError, match="already resolved"):
        w.store.incidents.ack(inc.id, "dana", "", w.clock.time())
    again = Monitor(w.monitor.loaded, w.store, ctx=w.monitor.ctx, clock=w.clock)
    await again.alerting.restore()
    again.alerting.incidents.tick(w.clock.time())
    await again.alerting.incidents.wait()
    assert len(w.store.incidents.find()) == 1  # the alert still fires; same spell


def test_acknowledgement_and_escalation_read_well() -> None:
    n = Notification("lead", "incident/3", "acknowledged", {"bot": "alpha"}, [], "k", 0.0,
                     kind="ack", note="acknowledged by dana")  # fmt: skip
    assert n.title().startswith("[ACKNOWLEDGED]")
    assert n.text().startswith("acknowledged by dana")
    assert dedup_key(n) == dedup_key(
        Notification("lead", "incident/3", "firing", {}, [], "other", 0.0)
    )


async def test_the_store_down_mid_alert_loses_and_repeats_nothing(world: World) -> None:
    w = world
    await w.step(1)
    await w.store.flush()
    locker = sqlite3.connect(w.tmp / "bw.db", timeout=0)
    locker.execute("BEGIN EXCLUSIVE")  # nothing can be read or written meanwhile
    try:
        w.health.code = 503
        for _ in range(4):  # the alert goes pending, then fires, with the store down
            await w.step(10, drain=0.5)
        firing = [a for a in w.monitor.alerting.alerts() if a.rule == "HealthUnhealthy"]
        assert [a.state.value for a in firing] == ["firing"]
        assert w.hook.received == []  # the notification could not even be queued
    finally:
        locker.rollback()
        locker.close()
    for _ in range(3):
        await w.step(10)
    assert [b["status"] for _, b, _ in w.hook.received] == ["firing"]  # once
    (saved,) = [r for r in w.store.alerts() if r.rule == "HealthUnhealthy"]
    assert saved.state == "firing"
    (inc,) = w.store.incidents.find()
    assert inc.status == "open" and inc.opened_at == pytest.approx(firing[0].fired_at)
    kinds = [e.kind for e in w.store.incidents.timeline(inc.id)]
    assert kinds == ["started", "pending", "fired", "notified"]
