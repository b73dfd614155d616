"""PostgreSQL probe: can we connect and query, and how full is the connection table?

Uses psycopg's async API so the probe's hard timeout cancels it cleanly: a cancelled
connect frees its half-open libpq connection, and an open connection is closed in a
``finally`` (after a cancelled query, in the background: see ``PostgresProbe.check``). Running out of connections is the classic way a bot fleet takes its
database down, so connections in use vs ``max_connections`` is reported: above 80%
is a warning, above 95% critical.
"""

from __future__ import annotations

__all__ = ["PostgresProbe"]

import asyncio
import math
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botwatch.config.loader import redact_text
from botwatch.probes.base import Outcome, Probe, ProbeContext, Status, check_settings, register

if TYPE_CHECKING:
    from botwatch.config import BotConfig, LoadedConfig

_SCHEMES = ("postgresql", "postgres")
_STATS = """
SELECT current_setting('server_version'),
       (SELECT coalesce(sum(numbackends), 0) FROM pg_stat_database)::int,
       current_setting('max_connections')::int
"""


_CLEANUPS: set[asyncio.Task[Outcome]] = set()
"""Checks given up on by the hard timeout, still closing their connection."""


def _reap(task: asyncio.Task[Outcome]) -> None:
    _CLEANUPS.discard(task)
    if not task.cancelled():
        task.exception()  # retrieve it, so asyncio doesn't log "never retrieved"


def _is_postgres(url: str) -> bool:
    scheme = url.split("://", 1)[0].lower()
    return scheme in _SCHEMES or scheme.startswith("postgresql+")


def _one_line(message: str, secret: str | None = None) -> str:
    """The first line of a driver message, whitespace collapsed, passwords hidden."""
    first = next((ln for ln in message.splitlines() if ln.strip()), message)
    first = re.sub(r"\s+", " ", first).strip()
    if secret:
        first = first.replace(secret, "***")
    return redact_text(first)


@register
class PostgresProbe(Probe):
    """Connect, ``SELECT 1``, then read the server version and connection usage."""

    kind = "postgres"

    def __init__(
        self, *, url: str, warn_ratio: float = 0.8, crit_ratio: float = 0.95, **kw: Any
    ) -> None:
        super().__init__(**kw)
        scheme, rest = url.split("://", 1)
        # SQLAlchemy-style "postgresql+psycopg://" is common in bot configs; libpq
        # only knows the plain scheme.
        self._url = (
            "postgresql://" if scheme.lower().startswith("postgresql+") else f"{scheme}://"
        ) + rest
        self._password = urlsplit(self._url).password
        self.warn_ratio = warn_ratio
        self.crit_ratio = crit_ratio

    @property
    def target(self) -> str:
        """The URL with its password hidden."""
        return redact_text(self._url)

    @classmethod
    def from_bot(cls, bot: str, spec: BotConfig, loaded: LoadedConfig) -> Sequence[Probe]:
        """One probe per ``postgresql://`` / ``postgres://`` dependency, named after it."""
        probes: list[Probe] = []
        for name, url in spec.depends.items():
            if not _is_postgres(url):
                continue
            enabled, interval, timeout = check_settings(bot, spec, loaded.config.defaults, name)
            if enabled:
                probes.append(cls(bot=bot, name=name, url=url, interval=interval, timeout=timeout))
        return probes

    async def check(self, ctx: ProbeContext) -> Outcome:
        """Connect, query, close, in a task of its own so a timeout never waits on it.

        When the hard timeout cancels a query, psycopg politely asks the server to
        cancel it too and waits for that, up to 10 s: longer than any probe may take.
        So the work runs in its own task; on cancellation that task is cancelled but
        not awaited, and finishes its cleanup (closing the connection) in the background.
        """
        task = asyncio.create_task(self._inspect(), name=f"postgres probe {self.bot}/{self.name}")
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.cancel()
            _CLEANUPS.add(task)
            task.add_done_callback(_reap)
            raise

    async def _inspect(self) -> Outcome:
        import psycopg  # imported here: loading libpq is slow and most runs don't need it

        start = time.perf_counter()
        try:
            # libpq's own connect timeout is whole seconds, at least 2; the hard timeout
            # in Probe.run() is what really bounds this.
            conn = await psycopg.AsyncConnection.connect(
                self._url,
                autocommit=True,
                connect_timeout=max(2, math.ceil(self.timeout)),
                application_name="botwatch",
            )
        except psycopg.Error as e:
            reason = _one_line(str(e), self._password).removeprefix("connection failed: ")
            return Outcome(Status.CRIT, f"cannot connect: {reason}", values={"postgres_up": 0})
        connected = time.perf_counter()
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT 1")
                await cur.fetchone()
                queried = time.perf_counter()
                await cur.execute(_STATS)
                row = await cur.fetchone()
        except psycopg.Error as e:
            return Outcome(
                Status.CRIT,
                f"query failed: {_one_line(str(e), self._password)}",
                values={"postgres_up": 0},
            )
        finally:
            await conn.close()
        if row is None:  # pragma: no cover - the stats query always returns one row
            return Outcome(
                Status.UNKNOWN, "no answer to the statistics query", values={"postgres_up": 1}
            )
        version, used, max_conn = str(row[0]), int(row[1]), int(row[2])
        ratio = used / max_conn if max_conn > 0 else 0.0
        values: dict[str, float] = {
            "postgres_up": 1,
            "postgres_connect_seconds": connected - start,
            "postgres_query_seconds": queried - connected,
            "postgres_connections_used": used,
            "postgres_connections_max": max_conn,
            "postgres_connections_used_ratio": ratio,
        }
        details: dict[str, Any] = {
            "server_version": version,
            "connections_used": used,
            "max_connections": max_conn,
        }
        usage = f"{used}/{max_conn} connections in use ({ratio:.0%})"
        if ratio > self.crit_ratio:
            return Outcome(
                Status.CRIT,
                f"{usage}, above {self.crit_ratio:.0%}: new connections will soon be refused",
                details,
                values,
            )
        if ratio > self.warn_ratio:
            return Outcome(Status.WARN, f"{usage}, above {self.warn_ratio:.0%}", details, values)
        return Outcome(Status.OK, f"PostgreSQL {version}, {usage}", details, values)
