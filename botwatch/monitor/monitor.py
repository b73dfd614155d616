"""``botwatch run``: probes and the sampler on schedule, results into the store.

The monitor is assembled from small parts that each do one step per ``tick()``: the
probe scheduler, the process sampler, rule evaluation (alerts), and store upkeep
(rollups, retention). Tests call ``tick()`` directly; ``run()`` is the loop around it.
"""

from __future__ import annotations

__all__ = ["COALESCE", "STORE_LINGER", "Monitor", "run_monitor"]

import asyncio
import contextlib
import functools
import logging
import math
import signal
from collections.abc import Sequence
from typing import Any

from botwatch.actions import Supervisor
from botwatch.actions.remediate import Remediator
from botwatch.clock import Clock, SystemClock
from botwatch.config import LoadedConfig
from botwatch.errors import StoreError
from botwatch.logs.tailer import LogTailer
from botwatch.monitor.alerting import AlertLoop
from botwatch.monitor.sampling import SamplerLoop
from botwatch.monitor.scheduler import ProbeScheduler
from botwatch.probes import Probe, ProbeContext, ProbeResult, Status, build_probes
from botwatch.rules.files import Rule, config_rules
from botwatch.series import AnySample, Event, SampleGroup
from botwatch.store import ProbeResultRow, Store
from botwatch.store.logpos import SavedPosition

log = logging.getLogger("botwatch.monitor")

ROLLUP_EVERY = 60.0
RETENTION_EVERY = 3600.0
COALESCE = 0.025
"""Shortest sleep of the monitor loop (seconds): probes due within it start together.

Starting checks in small batches lets one event-loop pass handle several responses;
at 10,000 checks every 30 s, 25 ms batches cost about half the CPU of 10 ms ones, and
a check starts at most this much late."""
STORE_LINGER = 0.5
"""How long the store's writer lets a batch grow (seconds). Fewer, larger transactions
cost far less CPU; a crash loses at most this much of the newest samples."""
RESULT_EVERY = 300.0
LOGS_EVERY = 1.0
"""How often the bots' log files are looked at (seconds)."""
LOG_SAMPLES_EVERY = 10.0
"""How often the log series (counters, error ratio) are written."""
LOG_POSITIONS_EVERY = 10.0
"""How often how far each log file was read is saved (a crash re-reads at most this)."""
CONTROL_EVERY = 0.5
"""How often the monitor looks for actions asked of it (``botwatch restart BOT``)."""
"""Seconds between stored result rows of a check whose status has not changed."""


class Monitor:
    """The long-running service for one config: schedule, sample, store, upkeep."""

    def __init__(
        self,
        loaded: LoadedConfig,
        store: Store,
        *,
        ctx: ProbeContext | None = None,
        clock: Clock | None = None,
        probes: Sequence[Probe] | None = None,
        rules: Sequence[Rule] | None = None,
        concurrency: int = 100,
        result_every: float = RESULT_EVERY,
    ) -> None:
        self.loaded = loaded
        self.store = store
        self.clock = clock or SystemClock()
        self.ctx = ctx or ProbeContext(clock=self.clock)
        self.probes = list(probes) if probes is not None else build_probes(loaded)
        self.scheduler = ProbeScheduler(
            self.probes,
            self.ctx,
            self.handle_result,
            clock=self.clock,
            concurrency=concurrency,
            jitter=loaded.config.defaults.jitter,
        )
        self.sampler = SamplerLoop(loaded, self.ctx, clock=self.clock)
        self.supervisor = Supervisor(
            {name: spec.run for name, spec in loaded.config.bots.items() if spec.run is not None},
            base_dir=loaded.base,
            on_event=self._action_event,
        )
        self.alerting = AlertLoop(
            config_rules(loaded) if rules is None else rules,
            store,
            clock=self.clock,
            interval=loaded.config.alerting.interval,
            config=loaded.config,
            http=self.ctx.http,
            on_mark=self._on_mark,
        )
        self.remediator = Remediator(
            loaded, self.supervisor, self.ctx, clock=self.clock, on_event=self._action_event,
            emit=self._emit,
        )  # fmt: skip
        self.logs = LogTailer(loaded)
        self._logs_wanted = self.logs.active
        self._logs_task: asyncio.Task[None] | None = None
        self._next_logs = 0.0
        self._next_log_save = 0.0
        self._saved_positions: dict[str, SavedPosition] = {}
        """Each log's position as last saved (only moved ones are saved again)."""
        self._next_log_sample = 0.0
        self._log_errors: dict[str, str] = {}
        self._logs_closed = False
        self.last_status: dict[tuple[str, str], Status] = {}
        self.latest: dict[tuple[str, str], ProbeResult] = {}
        """The newest result of every check, by (bot, check)."""
        self.result_every = result_every
        self._row_written: dict[tuple[str, str], float] = {}
        self._next_upkeep = {"rollup": 0.0, "retention": 0.0}
        self._upkeep_task: asyncio.Task[None] | None = None
        self._sampling_task: asyncio.Task[None] | None = None
        self._store_was_healthy = True
        self._control_task: asyncio.Task[None] | None = None
        self._next_control = 0.0
        self._arrived = asyncio.Event()
        """Set when a result marks rules for evaluation; wakes ``run()``."""

    def handle_result(self, r: ProbeResult) -> None:
        """Record one probe result: samples, the result row, and a state-change event."""
        events: list[Event] | tuple[()] = ()  # the usual case: nothing changed
        key = (r.bot, r.check)
        before = self.last_status.get(key)
        if before is not r.status:
            self.last_status[key] = r.status
            was = before.label if before is not None else "new"
            level = logging.INFO if r.status in (Status.OK, Status.WARN) else logging.WARNING
            log.log(level, "%s/%s %s → %s: %s", r.bot, r.check, was, r.status.label, r.reason)
            events = [
                Event(
                    "probe_state",
                    r.ts,
                    r.bot,
                    f"{r.check} {was} → {r.status.label}: {r.reason}",
                    {"check": r.check, "kind": r.kind, "from": was, "to": r.status.label},
                )
            ]
        self.latest[key] = r
        # Every run's values go into series; the full row (reason, details) is kept on
        # every change and otherwise once per `result_every`, so 10,000 checks every
        # 30 s don't write 29 million rows a day that say the same thing.
        rows: list[ProbeResultRow] | tuple[()] = ()
        if events or r.ts - self._row_written.get(key, -math.inf) >= self.result_every:
            self._row_written[key] = r.ts
            rows = [self._row(r)]
        group = r.group()
        self.store.write(samples=(group,), events=events, probe_results=rows)
        self.alerting.observe_group(group)

    def _on_mark(self) -> None:
        if not self._arrived.is_set():
            self._arrived.set()

    def _action_event(self, event: Event) -> None:
        self.store.write(events=[event])
        self.alerting.incidents.note_action(event)

    def _emit(self, samples: list[SampleGroup]) -> None:
        """Values made outside the sampler's rounds (an action's outcome): stored and
        shown to the rules at once."""
        self.store.write(samples=samples)
        self.alerting.observe(samples)

    @staticmethod
    def _row(r: ProbeResult) -> ProbeResultRow:
        return ProbeResultRow(
            ts=r.ts,
            bot=r.bot,
            check=r.check,
            kind=r.kind,
            status=int(r.status),
            latency=r.latency,
            reason=r.reason,
            details=r.details,
        )

    async def tick(self) -> None:
        """One step: start due probes, sample due processes, run due store upkeep.

        Sampling and upkeep run as background tasks (one of each at a time): a round of
        200 process trees or a minute's rollup takes a few hundred ms, and checks due
        meanwhile must still start on time. ``wait_background()`` waits for them.
        """
        self.scheduler.tick()
        if self.supervisor.due_in() == 0:
            await self.supervisor.tick()
        if self.alerting.due_in() == 0:
            changes = self.alerting.tick()
            if changes:
                self.remediator.observe(changes, self.alerting.engine.rule_of)
        self.remediator.tick(self.clock.time())
        if not _busy(self._sampling_task) and self.sampler.due_in() == 0:
            self._sampling_task = asyncio.create_task(self._sample(), name="botwatch-sampler")
        if self._logs_wanted:
            now_mono = self.clock.monotonic()
            if now_mono >= self._next_logs and not _busy(self._logs_task):
                self._next_logs = now_mono + LOGS_EVERY
                self._logs_task = asyncio.create_task(self._read_logs(), name="botwatch-logs")
        self._start_upkeep()
        self._watch_store()
        now = self.clock.monotonic()
        # Requests are only for bots this monitor runs: without any, nothing to poll for.
        if self.supervisor.bots and now >= self._next_control and not _busy(self._control_task):
            self._next_control = now + CONTROL_EVERY
            self._control_task = asyncio.create_task(self._control(), name="botwatch-control")

    async def _sample(self) -> None:
        try:
            samples = await self.sampler.tick()
        except Exception:
            log.exception("sampling processes failed")
            return
        now = self.clock.time()
        observed: list[AnySample] = [
            *samples,
            *self.supervisor.samples(now),
            *self.remediator.samples(now),
        ]
        if observed:
            self.store.write(samples=observed)
            self.alerting.observe(observed)

    async def _read_logs(self) -> None:
        """Read what the bots' log files gained; their series to the store and rules."""
        now = self.clock.time()
        # Read every second (a tail), recorded every LOG_SAMPLES_EVERY: counters over
        # hours need no per-second points, so the series are only made when written.
        due = now >= self._next_log_sample
        try:
            samples = await asyncio.to_thread(self.logs.tick if due else self.logs.read, now)
        except Exception:
            log.exception("reading log files failed")
            return
        failing = self.logs.errors()
        for name, why in failing.items():
            if self._log_errors.get(name) != why:
                log.warning("log source %s: %s (retrying with backoff)", name, why)
        self._log_errors = failing
        if samples:
            self._next_log_sample = now + LOG_SAMPLES_EVERY
            self.store.write(samples=samples)
            self.alerting.observe(samples)
        if now >= self._next_log_save and self.logs.sources:
            self._next_log_save = now + LOG_POSITIONS_EVERY
            await self._save_log_positions()

    async def _save_log_positions(self) -> None:
        """Save how far each log was read and what its error patterns gained, together;
        note every pattern seen for the first time as an event."""
        now = self.clock.time()
        rows, new = self.logs.take_patterns()
        events = [
            Event("log_secret_leaked", now, bot, f"{kind} leaked into the logs: {redacted}",
                  {"kind": kind, "redacted": redacted})
            for bot, kind, redacted in self.logs.take_leaks()
        ] + [
            Event("log_pattern_new", now, bot, f"new error pattern: {text}",
                  {"category": category, "example": example})
            for bot, text, category, example in new
        ]  # fmt: skip
        if events:
            self.store.write(events=events)
        # Only positions that moved: a command's resume text is up to 16 KB, and most
        # logs are quiet most of the time.
        moved = {source: at for source, at in self.logs.positions().items()
                 if self._saved_positions.get(source) != at}  # fmt: skip
        try:
            await asyncio.to_thread(self.store.log_positions.save, moved, now, rows)
        except StoreError as e:
            self.logs.give_back(rows)
            log.warning("cannot save log positions (will retry): %s", e)
        else:
            self._saved_positions.update(moved)

    async def _control(self) -> None:
        """Carry out what ``botwatch start|stop|restart`` asked of this monitor."""
        try:
            pending = await asyncio.to_thread(self.store.control.pending)
        except StoreError:
            return  # the store's own health reporting says why
        for req in pending:
            if not await asyncio.to_thread(self.store.control.take, req.id):
                continue  # the CLI gave up on it meanwhile
            ok, result = await self._act(req.bot, req.action, req.requested_by, req.why)
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(
                    self.store.control.finish, req.id, ok, result, self.clock.time()
                )

    async def _act(self, bot: str, action: str, by: str, why: str) -> tuple[bool, str]:
        if bot not in self.supervisor.bots:
            return False, f"{bot} is not a bot this monitor manages (run:)"
        if action not in ("start", "stop", "restart"):
            return False, f"unknown action {action!r}"
        fn = getattr(self.supervisor, action)
        result = await fn(bot, by=by, why=why)
        pid = self.supervisor.bots[bot].child.pid
        return True, f"{action} done" + (f"; pid {pid}" if pid else "") + (
            f"; exit code {result}" if action == "stop" and result is not None else ""
        )

    def _start_upkeep(self) -> None:
        """Start due rollup/retention in the background, one run at a time."""
        if self.upkeep_running:
            return
        now = self.clock.monotonic()
        jobs: list[tuple[str, Any]] = []
        if now >= self._next_upkeep["rollup"]:
            self._next_upkeep["rollup"] = now + ROLLUP_EVERY
            jobs.append(("rollup", self.store.aio.rollup))
        if now >= self._next_upkeep["retention"]:
            self._next_upkeep["retention"] = now + RETENTION_EVERY
            jobs.append(("retention", self.store.aio.retention))
        if jobs:
            self._upkeep_task = asyncio.create_task(self._upkeep(jobs), name="botwatch-upkeep")

    async def _upkeep(self, jobs: list[tuple[str, Any]]) -> None:
        for what, fn in jobs:
            await self._guard(what, fn)

    @property
    def upkeep_running(self) -> bool:
        """Whether a rollup/retention run is in progress."""
        return _busy(self._upkeep_task)

    async def wait_background(self) -> None:
        """Wait for a running sampling round, rollup/retention and alert save."""
        for task in (self._sampling_task, self._upkeep_task, self._control_task, self._logs_task):
            if task is not None:
                await task
        await self.alerting.wait()
        await self.remediator.wait()

    async def _guard(self, what: str, fn: Any) -> None:
        try:
            await fn()
        except Exception as e:
            log.warning("store %s failed: %s", what, e)

    def _watch_store(self) -> None:
        healthy = self.store.healthy
        if healthy != self._store_was_healthy:
            self._store_was_healthy = healthy
            if healthy:
                log.warning("store is writable again; buffered results are being written")
            else:
                log.error(
                    "store cannot be written (%s); buffering %d items in memory",
                    self.store.last_error,
                    self.store.pending,
                )

    async def restore(self, grace: float = 0.0) -> None:
        """Pick up where the last run left off: alerts, incidents, notifications (see
        ``AlertLoop.restore``) and how far each log file was read."""
        await self.alerting.restore(grace=grace)
        try:
            self.logs.saved = await asyncio.to_thread(self.store.log_positions.load)
            stored = await asyncio.to_thread(self.store.log_positions.patterns)
            for p in reversed(stored):  # oldest first: the miner learns them in order
                self.logs.stored_patterns.setdefault(p.bot, []).append(p)
        except StoreError as e:
            log.warning("cannot read log positions (files are read from their end): %s", e)

    def restore_grace(self) -> float:
        """How long after a start the first results may take: every check's interval
        and timeout (capped at 10 minutes)."""
        slowest = max((p.interval + p.timeout for p in self.probes), default=0.0)
        return min(600.0, max(slowest, self.loaded.config.defaults.sample_interval))

    def next_wake(self) -> float:
        """Seconds until something is due."""
        return min(
            self.scheduler.due_in(),
            self.sampler.due_in(),
            self.alerting.due_in(),
            self.supervisor.due_in(),
            1.0,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set, then drain probes and flush the store."""
        log.info(
            "monitoring %d bot(s) with %d check(s); storage %s",
            len(self.loaded.config.bots),
            len(self.probes),
            _safe_url(self.loaded.storage_url),
        )
        # One long-lived waiter on `stop` instead of a wait_for task per wake-up, and
        # wake-ups at most every COALESCE seconds so probes due close together start
        # together: at 10,000 checks every 30 s, per-wake overhead was a large part of
        # the monitor's CPU. Lateness grows by at most COALESCE.
        await self.restore(grace=self.restore_grace())
        if self.supervisor.bots:
            log.info("starting %d managed bot(s)", len(self.supervisor.bots))
            await self.supervisor.start_all()
        stopped = asyncio.ensure_future(stop.wait())
        # A result that a rule reads wakes the loop at once (the plan was made before
        # it arrived), but never sooner than COALESCE after the last step.
        woken = asyncio.ensure_future(self._arrived.wait())
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                await self.tick()
                began = loop.time()
                done, _ = await asyncio.wait(
                    {stopped, woken},
                    timeout=max(self.next_wake(), COALESCE),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if woken in done:
                    self._arrived.clear()
                    woken = asyncio.ensure_future(self._arrived.wait())
                    rest = COALESCE - (loop.time() - began)
                    if rest > 0:
                        await asyncio.sleep(rest)
        finally:
            stopped.cancel()
            woken.cancel()
        log.info("stopping: waiting for %d running check(s)", self.scheduler.running)
        await self.scheduler.drain(
            timeout=max(p.timeout for p in self.probes) if self.probes else 0
        )
        await self.wait_background()
        await self._close_logs()
        self.alerting.tick()  # record and save what the last results changed
        await self.alerting.wait()
        await self.alerting.drain()
        if self.supervisor.bots:
            log.info("stopping %d managed bot(s)", len(self.supervisor.bots))
            await self.supervisor.stop_all()

    async def close(self) -> None:
        """Save where the logs were read and stop following them; release the probe
        context (after background sampling/upkeep finish)."""
        await self.wait_background()
        await self._close_logs()
        await self.ctx.close()

    async def _close_logs(self) -> None:
        """Save log positions and patterns one last time and close every log source
        (stops the commands that follow journald and docker). Once."""
        if self._logs_closed:
            return
        self._logs_closed = True
        if self.logs.sources:
            samples = self.logs.drain(self.clock.time())
            self.store.write(samples=samples)
            await self._save_log_positions()
        self.logs.close()


def _busy(task: asyncio.Task[None] | None) -> bool:
    return task is not None and not task.done()


def _safe_url(url: str) -> str:
    from botwatch.config.loader import redact_text

    return redact_text(url)


async def run_monitor(
    loaded: LoadedConfig,
    *,
    stop: asyncio.Event | None = None,
    install_signals: bool = True,
    rules: Sequence[Rule] | None = None,
) -> None:
    """Run the monitor for ``loaded`` until ``stop`` is set or SIGTERM/SIGINT arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if install_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            # Not possible off the main thread (e.g. inside tests); the caller stops us then.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
    store = await asyncio.to_thread(
        functools.partial(
            Store.open, loaded.storage_url, linger=STORE_LINGER, migrate_in_child=True
        )
    )
    monitor = Monitor(loaded, store, rules=rules)
    try:
        await store.start()
        await monitor.run(stop)
    finally:
        await monitor.close()
        await store.close()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("stopped; %d check(s) run", monitor.scheduler.completed)
