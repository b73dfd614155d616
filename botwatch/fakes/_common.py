"""Shared plumbing of the HTTP fakes: server lifecycle on loopback and transport faults."""

from __future__ import annotations

__all__ = ["HttpFake", "TransportFaults", "serve_until_signal", "write_atomically"]

import asyncio
import os
import random
import signal
import tempfile
import zlib
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web


class TransportFaults:
    """Faults every fake bot account can show: slow answers, 5xx answers, a revoked token.

    The 5xx draw uses a random generator seeded from the token, so a given fake answers
    the same sequence of requests the same way on every run.
    """

    def __init__(self, token: str) -> None:
        self.latency = 0.0
        self.fail_rate = 0.0
        self.fail_code = 502
        self.revoked = False
        self._rng = random.Random(zlib.crc32(token.encode()))

    def fail_with_5xx(self, rate: float, code: int = 502) -> None:
        """Answer the fraction ``rate`` (0..1) of requests with HTTP ``code`` (500-599)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate}")
        if not 500 <= code <= 599:
            raise ValueError(f"code must be a 5xx status, got {code}")
        self.fail_rate = rate
        self.fail_code = code

    def set_latency(self, seconds: float) -> None:
        """Delay every answer by ``seconds`` of real time (a slow network, not a slow clock)."""
        if seconds < 0:
            raise ValueError(f"latency must be >= 0, got {seconds}")
        self.latency = seconds

    def revoke(self) -> None:
        """Invalidate the token: every later request is answered 401."""
        self.revoked = True

    def unrevoke(self) -> None:
        """Make a revoked token valid again."""
        self.revoked = False

    def reset_transport_faults(self) -> None:
        """Clear latency, 5xx failures and revocation."""
        self.latency = 0.0
        self.fail_rate = 0.0
        self.fail_code = 502
        self.revoked = False

    def draw_5xx(self) -> int | None:
        """The 5xx code this request should fail with, or None to serve it."""
        if self.fail_rate <= 0.0:
            return None
        if self.fail_rate >= 1.0 or self._rng.random() < self.fail_rate:
            return self.fail_code
        return None

    async def delay(self) -> None:
        """Wait out the configured latency."""
        if self.latency > 0:
            await asyncio.sleep(self.latency)

    def transport_snapshot(self) -> dict[str, Any]:
        """The transport faults as JSON-able data."""
        return {
            "latency": self.latency,
            "fail_5xx": {"rate": self.fail_rate, "code": self.fail_code},
            "revoked": self.revoked,
        }


class HttpFake:
    """An aiohttp application served on loopback with start/stop and ``async with``."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    def _make_app(self) -> web.Application:
        raise NotImplementedError

    async def _before_cleanup(self) -> None:
        """Hook: release long-running handlers and tasks before the server shuts down."""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port) and return the base URL."""
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        # handler_cancellation: a client that gives up on a long poll must not leave the
        # handler waiting; shutdown_timeout: handlers are released in _before_cleanup,
        # so a stuck one should not hold up stop() for aiohttp's default 60 s.
        runner = web.AppRunner(
            self._make_app(),
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=2.0,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self._base_url = f"http://{shown}:{bound_port}"
        return self._base_url

    async def stop(self) -> None:
        """Stop serving; safe to call twice or before start."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            await self._before_cleanup()
        finally:
            await runner.cleanup()

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        if self._base_url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._base_url

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._runner is not None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` and a newline to ``path`` so no reader ever sees it half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def serve_until_signal(fake: HttpFake, host: str, port: int, ready_file: str | None) -> None:
    """Serve ``fake``, announce its base URL on stdout (and ``ready_file``), stop on SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    base = await fake.start(host, port)
    try:
        # The file first: a parent that saw the printed line may look for it at once.
        if ready_file:
            write_atomically(Path(ready_file), base)
        print(base, flush=True)
        await stop.wait()
    finally:
        await fake.stop()
