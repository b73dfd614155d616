"""A demo Telegram bot: python-telegram-bot polling, the SDK health server, injectable faults.

Run as::

    python -m botwatch.demo.bot --name NAME --token TOKEN --api-base URL \\
        --health-port PORT --log FILE --pidfile FILE [--control-file FILE] [--parent-pid PID]

It behaves like the bots botwatch is for: answers ``/start``, ``/help`` and echoes text,
logs in Python logging's common format (``%(asctime)s - %(name)s - %(levelname)s -
%(message)s``) with a "Bot is ready" line once polling runs and a steady trickle of
activity lines, serves ``/health`` and ``/health/json`` (components ``telegram`` and
``database``), keeps a pidfile while it runs and exits cleanly on SIGTERM. The faults of
:mod:`botwatch.demo.faults` are read from ``--control-file`` every second.
"""

from __future__ import annotations

__all__ = ["DemoBot", "main"]

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
import time
from pathlib import Path

from telegram import Update, User
from telegram.ext import (
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

import botwatch
from botwatch.demo.faults import ControlFileError, FaultSettings, read_control
from botwatch.sdk import CheckResult, HealthServer, HealthStatus

LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
READY_LINE = "Bot is ready"
_GETME_TTL = 30.0  # seconds a getMe answer is trusted; health is polled far more often
_MB = 1024 * 1024


class DemoBot:
    """One demo bot process: the Telegram application, its health server and its faults."""

    def __init__(
        self,
        *,
        name: str,
        token: str,
        api_base: str,
        health_port: int,
        pidfile: Path,
        control_file: Path | None = None,
        parent_pid: int | None = None,
        health_host: str = "127.0.0.1",
    ) -> None:
        self.name = name
        self.pidfile = pidfile
        self.control_file = control_file
        self.parent_pid = parent_pid
        self.log = logging.getLogger(name)
        self.app = ApplicationBuilder().token(token).base_url(api_base).build()
        self.app.add_handler(CommandHandler("start", self._on_start))
        self.app.add_handler(CommandHandler("help", self._on_help))
        self.app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self._on_text))
        self.health = HealthServer(health_host, health_port, version=botwatch.__version__)
        self.health.add_check("telegram", self._check_telegram)
        self.health.add_check("database", self._check_database, timeout=2.0)

        self.faults = FaultSettings()
        self._stop = asyncio.Event()
        # Deterministic per bot, so two runs of the demo tell the same story.
        self._rng = random.Random(name)
        self._me: User | None = None
        self._me_at = 0.0
        self._leaked: list[bytes] = []
        self._last_burst = 0.0
        self._crash_at: float | None = None
        self._control_problem: str | None = None

    # -- Telegram handlers -----------------------------------------------------------

    async def _on_start(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        self.log.info("Command: /start from user %s", user.id if user else "unknown")
        if update.effective_message is not None:
            await update.effective_message.reply_text(
                f"Welcome to {self.name}! Send /help to see what I can do."
            )

    async def _on_help(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        self.log.info("Command: /help from user %s", user.id if user else "unknown")
        if update.effective_message is not None:
            await update.effective_message.reply_text(
                "/start - say hello\n/help - this message\nAnything else is echoed back."
            )

    async def _on_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.text:
            await message.reply_text(message.text)

    # -- health components -----------------------------------------------------------

    async def _check_telegram(self) -> CheckResult:
        # getMe is cached: the health endpoint may be polled every few seconds and the
        # real API would count every call against the bot.
        now = time.monotonic()
        if self._me is None or now - self._me_at > _GETME_TTL:
            self._me = await self.app.bot.get_me()
            self._me_at = now
        return CheckResult(HealthStatus.HEALTHY, f"@{self._me.username}")

    async def _check_database(self) -> CheckResult:
        if self.faults.slow_db.on:
            latency = self.faults.slow_db.latency_seconds
        else:
            latency = self._rng.uniform(0.003, 0.025)
        await asyncio.sleep(latency)
        return CheckResult(HealthStatus.HEALTHY, f"SELECT 1 in {latency * 1000:.0f} ms")

    # -- lifecycle -------------------------------------------------------------------

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT (exit 0) or a start-up failure (exit 1)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        self._write_pidfile()
        self.log.info("Starting %s (pid %d)", self.name, os.getpid())
        self._apply_control()
        try:
            async with self.app:  # initialize() calls getMe: a bad token fails here
                me = self.app.bot.bot
                self._me, self._me_at = me, time.monotonic()
                self.log.info("Connected to Telegram as @%s (id %d)", me.username, me.id)
                await self.app.start()
                assert self.app.updater is not None  # ApplicationBuilder always makes one
                await self.app.updater.start_polling(poll_interval=0.0, timeout=10)
                try:
                    await self.health.start()
                    self.log.info("Health endpoint on %s", self.health.url)
                    self.log.info(READY_LINE)
                    await self._serve()
                finally:
                    self.log.info("Shutting down")
                    await self.health.stop()
                    await self.app.updater.stop()
                    await self.app.stop()
        except Exception:
            self.log.exception("Bot %s failed", self.name)
            self._remove_pidfile()
            return 1
        self._remove_pidfile()
        self.log.info("Stopped")
        return 0

    async def _serve(self) -> None:
        tasks = [
            asyncio.create_task(self._activity(), name="activity"),
            asyncio.create_task(self._control_loop(), name="control"),
        ]
        try:
            await self._stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _write_pidfile(self) -> None:
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.write_text(f"{os.getpid()}\n", encoding="ascii")

    def _remove_pidfile(self) -> None:
        # Only our own: a restarted instance may already have written its pid.
        with contextlib.suppress(OSError, ValueError):
            if int(self.pidfile.read_text(encoding="ascii").strip()) == os.getpid():
                self.pidfile.unlink()

    # -- background activity ---------------------------------------------------------

    async def _activity(self) -> None:
        """Log what a busy bot logs, every few seconds, so its log is never stale."""
        rng = self._rng
        while True:
            await asyncio.sleep(rng.uniform(1.5, 4.0))
            kind = rng.randrange(4)
            if kind == 0:
                command = rng.choice(["/start", "/help", "/price", "/subscribe", "/settings"])
                self.log.info("Command: %s from user %d", command, rng.randint(10_000, 99_999))
            elif kind == 1:
                self.log.info("API response time: %dms", int(rng.lognormvariate(4.8, 0.4)))
            elif kind == 2:
                sent = rng.randint(80, 200)
                self.log.info("Notifications sent: %d success, %d failed", sent, rng.randint(0, 6))
            else:
                self.log.info("Active users: %d", rng.randint(900, 1_500))

    async def _control_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                # The demo supervisor died without stopping us: don't linger as an orphan.
                self.log.warning("Supervisor (pid %d) is gone; shutting down", self.parent_pid)
                self._stop.set()
                return
            self._apply_control()
            self._tick_faults()

    def _apply_control(self) -> None:
        if self.control_file is None:
            return
        try:
            new = read_control(self.control_file)
        except ControlFileError as e:
            # Keep the last good settings; say so once, not every second.
            if str(e) != self._control_problem:
                self._control_problem = str(e)
                self.log.warning("Ignoring control file: %s", e)
            return
        self._control_problem = None
        for name in new.active():
            if not self.faults.fault(name).on:
                self.log.info("Fault injection: %s on", name)
        for name in self.faults.active():
            if not new.fault(name).on:
                self.log.info("Fault injection: %s off", name)
        self.faults = new

    def _tick_faults(self) -> None:
        now = time.monotonic()
        f = self.faults
        if f.leak.on and len(self._leaked) * _MB < f.leak.max_mb * _MB:
            # Filled bytes, not bytes(n): untouched pages would not count in RSS.
            chunk = max(1, round(f.leak.mb_per_min / 60 * _MB))
            self._leaked.append(b"\xa5" * chunk)
        if f.errors.on and now - self._last_burst >= f.errors.every_seconds:
            self._last_burst = now
            self._error_burst(f.errors.lines_per_burst)
        if f.crash.on:
            if self._crash_at is None:
                self._crash_at = now + f.crash.after_seconds
            elif now >= self._crash_at:
                self._crash(f.crash.exit_code)
        else:
            self._crash_at = None

    def _error_burst(self, lines: int) -> None:
        rng = self._rng
        messages = [
            "Failed to send message to user %d: Forbidden: bot was blocked by the user",
            "Database query failed: connection pool exhausted (timeout 5.0s), user %d",
            "Failed to fetch price feed for user %d: Cannot connect to host api.example.com:443",
        ]
        for _ in range(lines - 1):
            self.log.error(rng.choice(messages), rng.randint(10_000, 99_999))
        try:
            _format_quote({"symbol": "BTC"})
        except KeyError:
            self.log.exception("Error while handling update %d", rng.randint(100_000, 999_999))

    def _crash(self, code: int) -> None:
        try:
            raise RuntimeError("event loop is closed: worker pool died")
        except RuntimeError:
            self.log.critical("Unrecoverable error, exiting with code %d", code, exc_info=True)
        logging.shutdown()
        # A real crash: no cleanup, the pidfile stays behind and the port just closes.
        os._exit(code)


def _format_quote(quote: dict[str, str]) -> str:
    # The deliberate bug the "errors" fault trips over: the feed dropped "price".
    return f"{quote['symbol']}: ${quote['price']}"


def setup_logging(log_file: Path) -> None:
    """Log to ``log_file`` in the common format; quiet the HTTP client's request lines."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # httpx logs every request URL at INFO, and the URL contains the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m botwatch.demo.bot", description=__doc__.split("\n")[0]
    )
    p.add_argument("--name", required=True, help="the bot's name (logger name)")
    p.add_argument("--token", required=True, help="Telegram bot token")
    p.add_argument("--api-base", required=True, help="Bot API base, e.g. http://127.0.0.1:8081/bot")
    p.add_argument("--health-port", type=int, required=True, help="port of /health")
    p.add_argument("--health-host", default="127.0.0.1", help="address of /health")
    p.add_argument("--log", type=Path, required=True, help="log file")
    p.add_argument("--pidfile", type=Path, required=True, help="pidfile, removed on exit")
    p.add_argument("--control-file", type=Path, help="JSON fault switches, re-read every second")
    p.add_argument("--parent-pid", type=int, help="exit when this process is no longer the parent")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the demo bot; returns the exit status."""
    args = _parser().parse_args(argv)
    setup_logging(args.log)
    bot = DemoBot(
        name=args.name,
        token=args.token,
        api_base=args.api_base,
        health_port=args.health_port,
        health_host=args.health_host,
        pidfile=args.pidfile,
        control_file=args.control_file,
        parent_pid=args.parent_pid,
    )
    return asyncio.run(bot.run())


if __name__ == "__main__":
    sys.exit(main())
