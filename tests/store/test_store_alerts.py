"""Saving and loading live alert instances (on SQLite and PostgreSQL)."""

from __future__ import annotations

from botwatch.alerts import AlertEngine, AlertState
from botwatch.clock import ManualClock
from botwatch.rules import MemorySeries
from botwatch.rules.files import parse_rule_file
from botwatch.store import AlertRow, Store


def row(fp: str, state: str = "firing", updated: float = 1.0, group: str = "g") -> AlertRow:
    return AlertRow(
        group, fp, "BotDown", state, updated, {"fingerprint": fp, "labels": {"bot": fp}}
    )


async def test_alerts_round_trip_upsert_and_delete(store: Store) -> None:
    assert store.alerts() == []
    store.save_alerts([row("a", "pending", 1.0), row("b", updated=2.0), row("a", group="h")])
    assert [(r.group, r.fingerprint, r.state) for r in store.alerts()] == [
        ("g", "a", "pending"),
        ("h", "a", "firing"),
        ("g", "b", "firing"),
    ]
    # The same key again replaces the row; deletes take (group, fingerprint).
    store.save_alerts([row("a", "firing", 3.0)], deletes=[("g", "b"), ("h", "a"), ("g", "zz")])
    (only,) = store.alerts()
    assert only == row("a", "firing", 3.0)
    assert await store.aio.alerts() == [only]
    await store.aio.save_alerts([], [("g", "a")])
    assert store.alerts() == []


RULES = """\
groups:
  - name: bots
    rules:
      - alert: BotDown
        expr: probe_up == 0
        for: 1m
        labels: {severity: critical}
      - alert: Flappy
        expr: flap == 0
        keep_firing_for: 5m
"""


async def test_a_restart_resumes_alerts_without_repeating_them(store: Store) -> None:
    clock = ManualClock()
    mem = MemorySeries()
    rules = parse_rule_file(RULES, "r.yml")
    start = clock.time()

    def step(engine: AlertEngine) -> set[tuple[str, AlertState]]:
        now = clock.time()
        mem.add("probe_up", {"bot": "a"}, now, 0.0)  # down from the start
        mem.add("probe_up", {"bot": "b"}, now, 0.0 if now >= start + 45 else 1.0)
        mem.add("flap", {"bot": "c"}, now, 0.0 if now < start + 30 else 1.0)
        changes = engine.tick()
        saved = engine.changes()
        store.save_alerts(saved.upserts, saved.deletes)
        clock.advance(15)
        return {(t.alert.labels["bot"], t.after) for t in changes}

    before = AlertEngine(rules, mem, clock=clock, interval=15)
    seen = set().union(*(step(before) for _ in range(5)))  # t = 0 .. 60 s
    assert ("a", AlertState.FIRING) in seen and ("c", AlertState.FIRING) in seen
    states = {a.labels["bot"]: a.state for a in before.alerts()}
    assert states == {"a": AlertState.FIRING, "b": AlertState.PENDING, "c": AlertState.FIRING}

    # botwatch restarts at t = 75 s: a new engine, the same store.
    after = AlertEngine(rules, mem, clock=clock, interval=15)
    assert after.restore(store.alerts()) == []
    assert {a.labels["bot"]: a.state for a in after.alerts()} == states
    assert step(after) == set()  # a still down, c riding out keep_firing_for: nothing new
    # b has been pending since 45 s: it fires at 105 s, not a minute after the restart.
    assert step(after) == set()  # 90 s
    assert step(after) == {("b", AlertState.FIRING)}  # 105 s
    clock.advance(300 - 15)
    mem.add("probe_up", {"bot": "a"}, clock.time(), 1.0)
    mem.add("probe_up", {"bot": "b"}, clock.time(), 0.0)  # b still down (and not stale)
    resolved = {(t.alert.labels["bot"], t.after) for t in after.tick()}
    assert resolved == {("a", AlertState.RESOLVED), ("c", AlertState.RESOLVED)}
    saved = after.changes()
    store.save_alerts(saved.upserts, saved.deletes)
    assert [r.data["labels"]["bot"] for r in store.alerts()] == ["b"]


async def test_saved_alerts_of_removed_rules_are_orphans(store: Store) -> None:
    store.save_alerts([row("x")])
    engine = AlertEngine(parse_rule_file(RULES, "r.yml"), MemorySeries())
    assert engine.restore(store.alerts()) == [("g", "x")]
    assert engine.alerts() == []


async def test_silences_round_trip_and_expire(store: Store) -> None:
    from botwatch.alerts.silences import new_silence

    now = 1_700_000_000.0
    a = new_silence(
        ['bot="a"'], starts_at=now, ends_at=now + 60, created_by="x", comment="c", now=now
    )
    later = new_silence(['bot="b"'], starts_at=now + 100, ends_at=now + 200, created_by="x",
                        comment="later", now=now + 1)  # fmt: skip
    store.add_silence(a)
    store.add_silence(later)
    assert [s.id for s in store.silences(now)] == [later.id, a.id]  # newest first
    assert [s.id for s in await store.aio.silences(now + 61)] == [later.id]
    assert store.expire_silence(later.id, now + 10)  # before it started: ends unstarted
    (gone,) = [s for s in store.silences() if s.id == later.id]
    assert gone.starts_at == gone.ends_at == now + 10 and not gone.active(now + 10)
    assert not store.expire_silence(later.id, now + 11)
    assert not store.expire_silence("nope", now)
