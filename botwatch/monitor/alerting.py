"""The monitor's alerting step: feed rules what arrives, evaluate, record, persist.

Every probe run and process sample goes into a ``MemorySeries`` holding just the
series the rules read, and marks the rules reading them, so a rule is evaluated as
soon as its data changes (and on its interval besides). State changes are logged,
written as ``alert`` events, and the live alerts are saved to the store, one save at
a time, in the background; at start the saved alerts and the recent past of every
series the rules read are loaded back, so a restart neither forgets a firing alert
nor starts a ``for`` clock over.
"""

from __future__ import annotations

__all__ = ["AlertLoop"]

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence

from botwatch.alerts.dispatch import Dispatcher, Flush
from botwatch.alerts.engine import AlertEngine, RuleRuntime, windows
from botwatch.alerts.state import Alert, AlertState, Transition
from botwatch.channels import build_channel
from botwatch.channels.outbox import Deliverer
from botwatch.clock import Clock
from botwatch.config import Config
from botwatch.errors import StoreError
from botwatch.http import HttpClient
from botwatch.incidents import IncidentTracker
from botwatch.rules.files import Rule
from botwatch.rules.source import MemorySeries
from botwatch.series import AnySample, Event, SampleGroup
from botwatch.store import AlertRow, Store

log = logging.getLogger("botwatch.alerts")

# Per labels dict: (the dict, its value names, the names kept, the rules to mark).
_Plan = tuple[Mapping[str, str], frozenset[str], tuple[str, ...], dict[int, RuleRuntime]]

TRIM_EVERY = 60.0
SILENCES_EVERY = 5.0
"""Silences are made by other processes (the CLI): reread this often, so a new one
holds notifications back within this many seconds."""


class AlertLoop:
    """Rules over what the monitor observes; ``tick()`` does one step."""

    def __init__(
        self,
        rules: Sequence[Rule],
        store: Store,
        *,
        clock: Clock,
        interval: float,
        config: Config | None = None,
        http: HttpClient | None = None,
        on_mark: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.on_mark = on_mark
        """Called when arrivals marked rules: the monitor's loop wakes to evaluate them."""
        self.clock = clock
        cfg = config if config is not None else Config()
        self.dispatcher = Dispatcher(cfg, external_url=f"http://{cfg.web.listen}/alerts")
        self.http = http or HttpClient()
        channels = {
            name: build_channel(name, spec, self.http) for name, spec in cfg.channels.items()
        }
        self.incidents = IncidentTracker(
            store, cfg, clock=clock, external_url=f"http://{cfg.web.listen}/incidents",
            on_queued=self._queued,
        )  # fmt: skip
        self.deliverer = Deliverer(store, channels, clock=clock, on_sent=self.incidents.note_sent)
        self._flushes: deque[Flush] = deque()
        self._wake = asyncio.Event()
        self._notify_task: asyncio.Task[None] | None = None
        self._silences_task: asyncio.Task[None] | None = None
        self._next_silences = 0.0
        need = windows(rules)
        self.series = MemorySeries(
            keep=max(need.values(), default=0.0), keep_by_name=need, only=need
        )
        self.engine = AlertEngine(rules, self.series, clock=clock, interval=interval)
        self._wanted = frozenset(need)
        """The series names some rule reads: nothing else is kept or marked."""
        self._plans: dict[int, _Plan] = {}
        self._save_task: asyncio.Task[None] | None = None
        self._next_trim = 0.0

    # ---- feeding ----------------------------------------------------------------

    def observe_group(self, group: SampleGroup) -> None:
        """A probe run's values arrived (called for every check: kept lean).

        What to keep and which rules to mark is worked out once per labels dict (a
        probe labels every run with the same dict) and again only when its value
        names change.
        """
        labels, values = group.labels, group.values
        plan = self._plans.get(id(labels))
        if plan is None or plan[0] is not labels or values.keys() != plan[1]:
            plan = self._plan(labels, values)
        names, readers = plan[2], plan[3]
        if names:
            self.series.add_values(labels, group.ts, values, names)
            self.engine.mark_readers(readers)
            self.on_mark()

    def _plan(self, labels: Mapping[str, str], values: Mapping[str, float]) -> _Plan:
        if len(self._plans) > 100_000:
            self._plans.clear()  # a producer making a new labels dict per run
        names = tuple(n for n in values if n in self._wanted)
        plan = (labels, frozenset(values), names, self.engine.readers(names))
        self._plans[id(labels)] = plan
        return plan

    def observe(self, samples: Iterable[AnySample]) -> None:
        """Samples or groups arrived (the sampler's)."""
        items = list(samples)
        self.series.extend(items)
        names: set[str] = set()
        for s in items:
            names.update(s.values if isinstance(s, SampleGroup) else (s.name,))
        self.engine.mark(names)
        self.on_mark()

    # ---- stepping ---------------------------------------------------------------

    def due_in(self) -> float:
        """Seconds until a rule or a notification group is due (0: arrivals marked one)."""
        now = self.clock.time()
        return min(self.engine.due_in(), self.dispatcher.due_in(now), self.incidents.due_in(now))

    def tick(self) -> list[Transition]:
        """Evaluate what is due, record state changes, start saving them."""
        now = self.clock.time()
        changes = self.engine.tick(now)
        events = [_event(t) for t in changes]
        for t in changes:
            _log(t)
        if events:
            self.store.write(events=events)
        self.dispatcher.observe(changes)
        self.incidents.observe(changes)
        self.incidents.tick(now)
        flush = self.dispatcher.tick(now)
        if flush:
            self._flushes.append(flush)
            self._ensure_notifier()
            self._wake.set()
        if now >= self._next_silences and (
            self._silences_task is None or self._silences_task.done()
        ):
            self._next_silences = now + SILENCES_EVERY
            self._silences_task = asyncio.create_task(
                self.reload_silences(), name="botwatch-silences"
            )
        if self._save_task is None or self._save_task.done():
            # While a save runs, changes keep accumulating in the engine for the next.
            pending = self.engine.changes(now)
            if pending:
                self._save_task = asyncio.create_task(
                    self._save(pending.upserts, pending.deletes), name="botwatch-alert-save"
                )
        if now >= self._next_trim:
            self._next_trim = now + TRIM_EVERY
            self.series.trim(now)
        return changes

    async def _save(self, upserts: list[AlertRow], deletes: list[tuple[str, str]]) -> None:
        try:
            await self.store.aio.save_alerts(upserts, deletes)
        except StoreError as e:
            log.error("could not save alert state (will retry): %s", e)
            self.engine.unsaved(upserts, deletes)

    async def wait(self) -> None:
        """Wait for a running save, silences reload and incident step."""
        for task in (self._save_task, self._silences_task):
            if task is not None:
                await task
        await self.incidents.wait()

    # ---- notifying ----------------------------------------------------------------

    def _queued(self) -> None:
        """Something else (incidents) queued notifications: deliver them now."""
        self._ensure_notifier()
        self._wake.set()

    def _ensure_notifier(self) -> None:
        if self._notify_task is None or self._notify_task.done():
            self._notify_task = asyncio.create_task(self._notify_loop(), name="botwatch-notify")

    async def _notify_loop(self) -> None:
        """Queue decided notifications, deliver the outbox, reload silences; until
        there is nothing left to do (``tick`` starts it again)."""
        while True:
            self._wake.clear()
            while self._flushes:
                flush = self._flushes[0]
                try:
                    await asyncio.to_thread(
                        self.store.outbox.enqueue, flush.rows, flush.log, self.clock.time()
                    )
                except StoreError as e:
                    log.error("cannot queue notifications (will retry): %s", e)
                    await asyncio.sleep(1.0)
                    continue
                self._flushes.popleft()
            await self.deliverer.tick()
            try:
                due = await asyncio.to_thread(self.deliverer.due_in)
            except StoreError:
                due = 1.0
            if due is None and not self._flushes:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(due if due is not None else 1.0, 1.0))

    async def reload_silences(self) -> None:
        """Read the silences in force from the store (others add them: the CLI)."""
        try:
            rows = await self.store.aio.silences(self.clock.time())
        except StoreError as e:
            log.warning("cannot read silences: %s", e)
            return
        self.dispatcher.silencer.load(rows)

    async def drain(self, timeout: float = 10.0) -> None:
        """Queue and try to deliver what is decided (at shutdown), for up to ``timeout``."""
        await self.incidents.flush()
        if self._flushes or self._notify_task is not None:
            self._ensure_notifier()
            self._wake.set()
            task = self._notify_task
            assert task is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout)

    # ---- start-up ---------------------------------------------------------------

    async def restore(self, grace: float = 0.0) -> None:
        """Load the saved alerts and the recent past of the series rules read; for
        ``grace`` seconds missing data does not resolve what was restored."""
        now = self.clock.time()
        try:
            self.dispatcher.log = await asyncio.to_thread(self.store.outbox.log)
            orphans = self.engine.restore(await self.store.aio.alerts(), grace=grace)
            if orphans:
                await self.store.aio.save_alerts([], orphans)
            for name, span in self.series.keep_by_name.items():
                for s in await self.store.aio.range(name, None, now - span, now):
                    for ts, value in s.points:
                        self.series.add(name, s.labels, ts, value)
        except StoreError as e:
            log.error("could not load alert state from the store: %s", e)
        self.dispatcher.seed(self.engine.alerts())
        await self.incidents.restore(self.engine.alerts())
        # Notifications queued before a restart (or a crash) go out now.
        self._ensure_notifier()
        alive = self.engine.alerts()
        if alive:
            firing = sum(1 for a in alive if a.state is AlertState.FIRING)
            log.info("resumed %d firing and %d pending alert(s)", firing, len(alive) - firing)

    def alerts(self) -> list[Alert]:
        """The live alerts."""
        return self.engine.alerts()


def _event(t: Transition) -> Event:
    a = t.alert
    before = t.before.value if t.before is not None else "inactive"
    return Event(
        "alert",
        t.at,
        a.labels.get("bot"),
        f"{a.rule} {before} → {t.after.value}" + _summary(a),
        {
            "rule": a.rule,
            "fingerprint": a.fingerprint,
            "from": before,
            "to": t.after.value,
            "labels": a.labels,
            "annotations": a.annotations,
            "value": None if a.value != a.value else a.value,
        },
    )


def _summary(a: Alert) -> str:
    text = a.annotations.get("summary")
    return f": {text}" if text else ""


def _log(t: Transition) -> None:
    a = t.alert
    labels = ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()) if k != "alertname")
    what = f"alert {a.rule}{{{labels}}} {t.after.value}{_summary(a)}"
    if t.after is AlertState.FIRING:
        log.warning(what)
    elif t.after is AlertState.RESOLVED:
        log.info(what)
    else:
        log.debug(what)
