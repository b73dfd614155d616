"""What every probe is: a small class with one required method, ``check()``.

``Probe.run()`` wraps ``check()`` with the hard timeout, latency measurement and error
mapping, so a probe can never hang the monitor or crash it, and turns the outcome into
series values (``probe_up``, ``probe_status``, ``probe_duration_seconds`` and whatever
values the probe reports).
"""

from __future__ import annotations

__all__ = [
    "PROBES",
    "Item",
    "Outcome",
    "Probe",
    "ProbeContext",
    "ProbeResult",
    "Status",
    "check_settings",
    "register",
]

import asyncio
import enum
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar

from botwatch.clock import Clock, SystemClock
from botwatch.errors import BotwatchError
from botwatch.http import HttpClient
from botwatch.probes.deadline import Deadlines
from botwatch.series import Labels, Sample, SampleGroup

if TYPE_CHECKING:
    from botwatch.config import BotConfig, Defaults, LoadedConfig

T = TypeVar("T")


class Status(enum.IntEnum):
    """Nagios-style status; the int value is the exit code ``botwatch check`` uses."""

    OK = 0
    WARN = 1
    CRIT = 2
    UNKNOWN = 3

    @property
    def symbol(self) -> str:
        """✓ ⚠ ✗ ? for terminal reports."""
        return {0: "✓", 1: "⚠", 2: "✗", 3: "?"}[self.value]

    @property
    def label(self) -> str:
        """``ok``/``warn``/``crit``/``unknown``."""
        return self.name.lower()

    @staticmethod
    def worst(statuses: Iterable[Status]) -> Status:
        """The most severe status; UNKNOWN ranks below CRIT but above WARN, as in Nagios."""
        return max(statuses, key=_SEVERITY.__getitem__, default=Status.OK)


_SEVERITY = {Status.OK: 0, Status.WARN: 1, Status.UNKNOWN: 2, Status.CRIT: 3}


@dataclass(slots=True)
class Outcome:
    """What ``check()`` found. ``values`` become samples labelled with bot and check."""

    status: Status
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)


class Item(NamedTuple):
    """A sub-result shown under the check (a health component, one port)."""

    name: str
    status: Status
    reason: str = ""


@dataclass(slots=True)
class ProbeResult:
    """One run of one probe."""

    bot: str
    check: str
    kind: str
    status: Status
    reason: str
    latency: float
    ts: float
    details: dict[str, Any] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)
    labels: Labels = field(default_factory=dict)
    """The labels of every series this run wrote (the probe's own dict, shared)."""
    values: dict[str, float] = field(default_factory=dict)
    """Series name → value: ``probe_up``, ``probe_status``, ``probe_duration_seconds``
    and the check's own values."""

    @property
    def samples(self) -> list[Sample]:
        """The values as samples labelled with ``labels`` at ``ts``."""
        return self.group().samples()

    def group(self) -> SampleGroup:
        """The values as one ``SampleGroup`` (what the monitor hands the store)."""
        return SampleGroup(self.labels, self.ts, self.values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used by ``botwatch check --json`` and the API)."""
        return {
            "bot": self.bot,
            "check": self.check,
            "kind": self.kind,
            "status": self.status.label,
            "reason": self.reason,
            "latency": round(self.latency, 6),
            "ts": self.ts,
            "details": self.details,
            "items": [
                {"name": i.name, "status": i.status.label, "reason": i.reason} for i in self.items
            ],
        }


class ProbeContext:
    """What probes share: the clock, the HTTP client, a thread pool for blocking drivers.

    Injected so tests pass a ``ManualClock`` or their own ``HttpClient`` instead of
    patching. ``state`` lets a probe remember things between runs (last pid, restarts).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        http: HttpClient | None = None,
        max_threads: int = 32,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.http = http or HttpClient()
        # Blocking drivers (psutil, sqlite3, pymongo, psycopg) run here. A hung driver
        # holds a thread, never the event loop; the pool is sized so a few hung ones
        # can't starve the rest.
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="probe")
        self.deadlines = Deadlines()
        """The hard timeouts of running checks (one loop timer for all of them)."""
        self.state: dict[tuple[str, str], dict[str, Any]] = {}

    async def to_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking ``fn(*args)`` in the probe thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def close(self) -> None:
        """Close the HTTP client and the thread pool (without waiting for hung threads)."""
        await self.http.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class Probe(ABC):
    """One check of one bot. Subclasses set ``kind`` and implement ``check()``.

    A subclass also implements ``from_bot()`` to say which probes of its kind a bot's
    config asks for; that is how a new probe kind plugs in without touching the rest.
    """

    kind: ClassVar[str]

    def __init__(
        self,
        *,
        bot: str,
        name: str,
        timeout: float = 10.0,
        interval: float = 30.0,
        labels: Labels | None = None,
    ) -> None:
        self.bot = bot
        self.name = name
        self.timeout = timeout
        self.interval = interval
        self.labels: Labels = {"bot": bot, "check": name, **(labels or {})}

    @abstractmethod
    async def check(self, ctx: ProbeContext) -> Outcome:
        """Look at the target once and say what was found."""

    @classmethod
    def from_bot(cls, bot: str, spec: BotConfig, loaded: LoadedConfig) -> Sequence[Probe]:
        """The probes of this kind that ``spec`` asks for (none by default)."""
        return ()

    @property
    def target(self) -> str:
        """What is checked, for reports (a URL, a path, a pid)."""
        return ""

    async def run(self, ctx: ProbeContext) -> ProbeResult:
        """Run ``check()`` under the hard timeout; never raises (except cancellation)."""
        ts = ctx.clock.time()
        start = time.perf_counter()
        deadline = ctx.deadlines.start(self.timeout)
        try:
            outcome = await self.check(ctx)
        except asyncio.CancelledError:
            if not deadline.owns_cancellation():
                raise  # cancelled by someone else (shutdown): not ours to swallow
        except BotwatchError as e:
            outcome = Outcome(Status.CRIT, str(e))
        except Exception as e:
            outcome = Outcome(Status.UNKNOWN, f"probe failed: {e.__class__.__name__}: {e}")
        finally:
            ctx.deadlines.finish(deadline)
        if deadline.undo():
            # Out of time, whatever the check made of the cancellation (raised it,
            # turned it into its own error, or swallowed it).
            outcome = Outcome(Status.CRIT, f"timed out after {self.timeout:g}s")
        latency = time.perf_counter() - start
        status = outcome.status
        # One dict per run, no Sample objects: the store takes it as a SampleGroup.
        values = {
            "probe_up": 1.0 if status is Status.OK or status is Status.WARN else 0.0,
            "probe_status": float(status),
            "probe_duration_seconds": latency,
        }
        for k, v in outcome.values.items():
            values[k] = float(v)
        # Positional: this runs for every check, and keyword calls cost more.
        return ProbeResult(
            self.bot,
            self.name,
            self.kind,
            status,
            outcome.reason,
            latency,
            ts,
            outcome.details,
            outcome.items,
            self.labels,
            values,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.bot}/{self.name}>"


PROBES: dict[str, type[Probe]] = {}
"""Every probe kind by name. Modules register theirs on import (see ``botwatch.probes``)."""

P = TypeVar("P", bound=type[Probe])


def register(cls: P) -> P:
    """Class decorator adding a probe kind to ``PROBES``."""
    if cls.kind in PROBES and PROBES[cls.kind] is not cls:
        raise ValueError(f"probe kind {cls.kind!r} is registered twice")
    PROBES[cls.kind] = cls
    return cls


def check_settings(
    bot: str, spec: BotConfig, defaults: Defaults, check: str, timeout: float | None = None
) -> tuple[bool, float, float]:
    """(enabled, interval, timeout) for ``check`` of ``bot`` after per-check overrides."""
    o = spec.checks.get(check)
    interval = (o.interval if o and o.interval else None) or defaults.interval
    t = (o.timeout if o and o.timeout else None) or timeout or defaults.timeout
    return (o.enabled if o else True), interval, t
