"""A health endpoint for a bot: ``GET /health`` and ``GET /health/json`` on aiohttp.

Runs inside the bot's own asyncio loop, next to python-telegram-bot, aiogram or
discord.py::

    health = HealthServer("127.0.0.1", 8080, version="1.4.2")
    health.add_check("telegram", check_telegram)
    health.add_check("cache", check_redis, critical=False)
    await health.start()
    ...
    await health.stop()

A check is an ``async def`` taking no arguments. It passes by returning ``None`` or
``True``, fails by returning ``False`` or raising, and may return a ``CheckResult`` to
say more (a degraded status, a message). Each run is bounded by its timeout, so a
hanging dependency shows up as "timed out after 2s" instead of hanging the endpoint.

The overall verdict: any failing *critical* component makes the bot UNHEALTHY (503);
a failing non-critical one, or a degraded one, makes it DEGRADED (still 200, so a load
balancer keeps it in rotation while monitoring warns).
"""

from __future__ import annotations

__all__ = [
    "CheckFn",
    "CheckResult",
    "ComponentReport",
    "ComponentStatus",
    "HealthReport",
    "HealthServer",
    "HealthStatus",
]

import asyncio
import enum
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from botwatch.clock import Clock, SystemClock


class HealthStatus(enum.StrEnum):
    """A component's status; the overall document uses the upper-case word."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"

    @property
    def word(self) -> str:
        """``HEALTHY``/``DEGRADED``/``UNHEALTHY``, as in the top-level ``status``."""
        return self.value.upper()


#: Kept as an alias so code reading "component status" reads naturally.
ComponentStatus = HealthStatus


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a check may return to say more than pass/fail."""

    status: HealthStatus = HealthStatus.HEALTHY
    message: str = ""

    def __post_init__(self) -> None:
        # Accept the plain words too (CheckResult("degraded", ...)): a typo then fails
        # loudly here, in the bot author's code, not as a broken health document.
        if not isinstance(self.status, HealthStatus):
            try:
                status = HealthStatus(str(self.status).lower())
            except ValueError:
                raise ValueError(
                    f"status must be healthy, degraded or unhealthy, not {self.status!r}"
                ) from None
            object.__setattr__(self, "status", status)


CheckFn = Callable[[], Awaitable["CheckResult | bool | None"]]
"""An async check: ``None``/``True`` pass, ``False`` or an exception fail."""


@dataclass(frozen=True, slots=True)
class ComponentReport:
    """One component's verdict in a report."""

    status: HealthStatus
    message: str
    latency_ms: float | None
    critical: bool

    def to_dict(self) -> dict[str, Any]:
        """The component as it appears under ``checks`` in ``/health/json``."""
        return {"status": self.status.value, "message": self.message, "latency_ms": self.latency_ms}


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The result of running every check once."""

    status: HealthStatus
    version: str
    uptime_seconds: float
    checks: Mapping[str, ComponentReport] = field(default_factory=dict)

    @property
    def http_status(self) -> int:
        """503 when UNHEALTHY, 200 otherwise."""
        return 503 if self.status is HealthStatus.UNHEALTHY else 200

    def to_dict(self) -> dict[str, Any]:
        """The ``/health/json`` document."""
        return {
            "status": self.status.word,
            "version": self.version,
            "uptime_seconds": round(self.uptime_seconds, 3),
            "checks": {name: c.to_dict() for name, c in self.checks.items()},
        }


@dataclass(slots=True)
class _Check:
    fn: CheckFn
    critical: bool
    timeout: float


@dataclass(slots=True)
class _Pushed:
    status: HealthStatus
    message: str
    critical: bool


class HealthServer:
    """An aiohttp server answering ``/health`` and ``/health/json`` from registered checks.

    ``port=0`` picks a free port; read it from ``port`` after ``start()``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        version: str = "",
        clock: Clock | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.version = version
        self._clock: Clock = clock or SystemClock()
        self._started_at = self._clock.monotonic()
        self._checks: dict[str, _Check] = {}
        self._pushed: dict[str, _Pushed] = {}
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- components ------------------------------------------------------------------

    def add_check(
        self, name: str, fn: CheckFn, *, critical: bool = True, timeout: float = 2.0
    ) -> None:
        """Register ``fn`` as component ``name``, run on every ``/health`` request.

        A failing ``critical`` component makes the bot UNHEALTHY; a failing non-critical
        one makes it DEGRADED. ``timeout`` (seconds) bounds one run.
        """
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        if name in self._pushed:
            raise ValueError(f"component {name!r} is already set with set_status()")
        self._checks[name] = _Check(fn, critical, timeout)

    def remove_check(self, name: str) -> None:
        """Forget component ``name`` (a check or a pushed status); unknown names are ignored."""
        self._checks.pop(name, None)
        self._pushed.pop(name, None)

    def set_status(
        self,
        name: str,
        status: HealthStatus | str,
        message: str = "",
        *,
        critical: bool = True,
    ) -> None:
        """Set a push-style component: its status stays until set again.

        For things the bot learns about itself (a worker loop stalled, a queue backed
        up) rather than something to poll.
        """
        if name in self._checks:
            raise ValueError(f"component {name!r} is already registered with add_check()")
        try:
            value = HealthStatus(str(status).lower())
        except ValueError:
            raise ValueError(
                f"status must be healthy, degraded or unhealthy, not {status!r}"
            ) from None
        self._pushed[name] = _Pushed(value, message, critical)

    # -- evaluation ------------------------------------------------------------------

    async def check_health(self) -> HealthReport:
        """Run every check concurrently (each within its timeout) and judge the whole."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(self._checks[n]) for n in names))
        components: dict[str, ComponentReport] = dict(zip(names, results, strict=True))
        for name, p in self._pushed.items():
            components[name] = ComponentReport(p.status, p.message, None, p.critical)
        return HealthReport(
            status=_overall(components.values()),
            version=self.version,
            uptime_seconds=self._clock.monotonic() - self._started_at,
            checks=dict(sorted(components.items())),
        )

    async def _run(self, check: _Check) -> ComponentReport:
        started = self._clock.monotonic()
        try:
            async with asyncio.timeout(check.timeout):
                outcome = await check.fn()
        except TimeoutError:
            return ComponentReport(
                HealthStatus.UNHEALTHY, f"timed out after {check.timeout:g}s", None, check.critical
            )
        except Exception as e:  # a check's failure is data, not a crash
            detail = str(e)
            message = f"{type(e).__name__}: {detail}" if detail else type(e).__name__
            status = HealthStatus.UNHEALTHY
        else:
            if isinstance(outcome, CheckResult):
                status, message = outcome.status, outcome.message
            elif outcome is False:
                status, message = HealthStatus.UNHEALTHY, "check failed"
            else:
                status, message = HealthStatus.HEALTHY, ""
        latency = round((self._clock.monotonic() - started) * 1000, 1)
        return ComponentReport(status, message, latency, check.critical)

    # -- HTTP ------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The aiohttp application, to mount in an existing server instead of ``start()``."""
        app = web.Application()
        app.router.add_get("/health", self._plain)
        app.router.add_get("/health/json", self._json)
        return app

    async def _plain(self, _request: web.Request) -> web.Response:
        report = await self.check_health()
        text = "OK" if report.http_status == 200 else report.status.word
        return web.Response(text=text, status=report.http_status, headers=_NO_STORE)

    async def _json(self, _request: web.Request) -> web.Response:
        report = await self.check_health()
        return web.json_response(report.to_dict(), status=report.http_status, headers=_NO_STORE)

    async def start(self) -> None:
        """Listen on ``host:port``. Raises ``OSError`` if the port is taken."""
        if self._runner is not None:
            raise RuntimeError("HealthServer is already started")
        # No access log: a monitor polling every few seconds would drown the bot's log.
        runner = web.AppRunner(self.make_app(), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening; safe to call when not started."""
        runner, self._runner = self._runner, None
        self._port = None
        if runner is not None:
            await runner.cleanup()

    @property
    def port(self) -> int:
        """The port listened on (the chosen one when started with ``port=0``)."""
        if self._port is None:
            raise RuntimeError("HealthServer is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port/health/json``."""
        return f"http://{self.host}:{self.port}/health/json"

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()


_NO_STORE = {"Cache-Control": "no-store"}


def _overall(components: Iterable[ComponentReport]) -> HealthStatus:
    worst = HealthStatus.HEALTHY
    for c in components:
        if c.status is HealthStatus.HEALTHY:
            continue
        if c.status is HealthStatus.UNHEALTHY and c.critical:
            return HealthStatus.UNHEALTHY
        worst = HealthStatus.DEGRADED
    return worst
