"""SQLite probe: does the database file exist, open, and pass ``PRAGMA quick_check``?

The file is opened read-only (``mode=ro``), so the probe can never create a missing
database or write to a live one. The check runs in the probe thread pool; if the hard
timeout fires during a long ``quick_check`` (large databases take a while), the
statement is interrupted (``sqlite3.Connection.interrupt`` is safe from any thread) and
the thread closes the connection.
"""

from __future__ import annotations

__all__ = ["SqliteProbe", "sqlite_path"]

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from botwatch.config.units import format_size
from botwatch.probes.base import Outcome, Probe, ProbeContext, Status, check_settings, register

if TYPE_CHECKING:
    from botwatch.config import BotConfig, LoadedConfig

_PREFIX = "sqlite:///"
_MAX_PROBLEMS = 3


def sqlite_path(url: str, loaded: LoadedConfig) -> Path:
    """``sqlite:///data/bot.db`` → ``<config folder>/data/bot.db``; ``sqlite:////abs`` stays.

    The same convention as SQLAlchemy and the ``storage`` setting: three slashes and a
    relative path, or four slashes for an absolute one. A query string is dropped.
    """
    rest = url[len(_PREFIX) :].split("?", 1)[0]
    return loaded.resolve(rest)


@register
class SqliteProbe(Probe):
    """Open read-only, ``PRAGMA quick_check``, report the file size."""

    kind = "sqlite"

    def __init__(self, *, path: str | Path, **kw: Any) -> None:
        super().__init__(**kw)
        self.path = Path(path)

    @property
    def target(self) -> str:
        """The database file."""
        return str(self.path)

    @classmethod
    def from_bot(cls, bot: str, spec: BotConfig, loaded: LoadedConfig) -> Sequence[Probe]:
        """One probe per ``sqlite:///`` dependency, named after it."""
        probes: list[Probe] = []
        for name, url in spec.depends.items():
            if not url.lower().startswith(_PREFIX):
                continue
            enabled, interval, timeout = check_settings(bot, spec, loaded.config.defaults, name)
            if enabled:
                probes.append(
                    cls(
                        bot=bot,
                        name=name,
                        path=sqlite_path(url, loaded),
                        interval=interval,
                        timeout=timeout,
                    )
                )
        return probes

    def _inspect(self, conns: list[sqlite3.Connection], cancelled: threading.Event) -> Outcome:
        """The blocking part, in the thread pool; owns (opens and closes) its connection."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return Outcome(
                Status.CRIT, f"database file missing: {self.path}", values={"sqlite_up": 0}
            )
        except OSError as e:
            return Outcome(
                Status.CRIT, f"cannot read {self.path}: {e.strerror}", values={"sqlite_up": 0}
            )
        if not self.path.is_file():
            return Outcome(Status.CRIT, f"not a file: {self.path}", values={"sqlite_up": 0})
        details: dict[str, Any] = {"path": str(self.path), "bytes": size}
        values: dict[str, float] = {"sqlite_up": 0, "sqlite_file_bytes": size}
        # The -wal file comes and goes (checkpoints, journal mode); report it when there.
        with contextlib.suppress(OSError):
            wal_bytes = self.path.with_name(self.path.name + "-wal").stat().st_size
            values["sqlite_wal_bytes"] = wal_bytes
            details["wal_bytes"] = wal_bytes
        uri = f"file:{quote(str(self.path))}?mode=ro"
        start = time.perf_counter()
        try:
            # Wait for a writer's lock for half the probe's time, so a locked database
            # reports as locked instead of as a timeout.
            conn = sqlite3.connect(uri, uri=True, timeout=self.timeout / 2, check_same_thread=False)
        except sqlite3.Error as e:
            return Outcome(Status.CRIT, f"cannot open {self.path.name}: {e}", details, values)
        conns.append(conn)
        try:
            # Checked after publishing the connection: either the canceller sees it and
            # interrupts, or we see the flag here; a check never starts unobserved.
            if cancelled.is_set():
                return Outcome(Status.UNKNOWN, "check cancelled", details, values)
            rows = conn.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as e:
            msg = str(e)
            if "locked" in msg or "busy" in msg:
                # A writer holding the lock for longer than the timeout: the database
                # is there and maybe fine, but the bot may be stuck too.
                return Outcome(
                    Status.WARN, f"cannot check {self.path.name}: {msg}", details, values
                )
            corrupt = any(w in msg for w in ("not a database", "malformed", "corrupt"))
            what = "corrupt database" if corrupt else "cannot check"
            return Outcome(Status.CRIT, f"{what} {self.path.name}: {msg}", details, values)
        finally:
            conn.close()
        elapsed = time.perf_counter() - start
        values["sqlite_check_seconds"] = elapsed
        problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
        if problems:
            details["problems"] = problems[:20]
            shown = "; ".join(problems[:_MAX_PROBLEMS])
            more = (
                f" (+{len(problems) - _MAX_PROBLEMS} more)" if len(problems) > _MAX_PROBLEMS else ""
            )
            return Outcome(
                Status.CRIT,
                f"quick_check failed on {self.path.name}: {shown}{more}",
                details,
                values,
            )
        values["sqlite_up"] = 1
        return Outcome(Status.OK, f"{self.path.name} ok ({format_size(size)})", details, values)

    async def check(self, ctx: ProbeContext) -> Outcome:
        """Run the check in a thread; interrupt it if this probe is cancelled."""
        conns: list[sqlite3.Connection] = []
        cancelled = threading.Event()
        try:
            return await ctx.to_thread(self._inspect, conns, cancelled)
        except asyncio.CancelledError:
            cancelled.set()
            for conn in conns:
                # ProgrammingError: the thread closed it already, nothing left to stop.
                with contextlib.suppress(sqlite3.ProgrammingError):
                    conn.interrupt()
            raise
