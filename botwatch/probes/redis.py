"""Redis probe: PING, and how much memory Redis uses (against ``maxmemory`` if set).

Uses redis-py's asyncio client, so the hard timeout cancels it cleanly; the client and
its connection pool are closed in a ``finally``. A Redis at its ``maxmemory`` either
evicts the bot's keys or refuses writes, so memory use above 80% of it is a warning
and above 95% critical, unless the eviction policy is ``allkeys-*``: such a Redis is a
cache that is meant to sit at its limit.
"""

from __future__ import annotations

__all__ = ["RedisProbe"]

import os
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botwatch.config.loader import redact_text
from botwatch.config.units import format_size
from botwatch.probes.base import Outcome, Probe, ProbeContext, Status, check_settings, register

if TYPE_CHECKING:
    from botwatch.config import BotConfig, LoadedConfig

_SCHEMES = ("redis", "rediss")
_CONNECT_ERROR = re.compile(r"^Error (\d+) connecting to (\S+)\.(?:\s|$)")


def _reason(e: Exception, secret: str | None) -> str:
    """redis-py's message, made short: "Error 111 connecting to h:1. Connect call..."."""
    text = " ".join(str(e).split()) or e.__class__.__name__
    m = _CONNECT_ERROR.match(text)
    if m:
        text = f"cannot connect to {m[2]}: {os.strerror(int(m[1])).lower()}"
    if secret:
        text = text.replace(secret, "***")
    return redact_text(text)


@register
class RedisProbe(Probe):
    """``PING`` + ``INFO memory`` + ``INFO server``."""

    kind = "redis"

    def __init__(
        self, *, url: str, warn_ratio: float = 0.8, crit_ratio: float = 0.95, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self._url = url
        self._password = urlsplit(url).password
        self.warn_ratio = warn_ratio
        self.crit_ratio = crit_ratio

    @property
    def target(self) -> str:
        """The URL with its password hidden."""
        return redact_text(self._url)

    @classmethod
    def from_bot(cls, bot: str, spec: BotConfig, loaded: LoadedConfig) -> Sequence[Probe]:
        """One probe per ``redis://`` / ``rediss://`` dependency, named after it."""
        probes: list[Probe] = []
        for name, url in spec.depends.items():
            if url.split("://", 1)[0].lower() not in _SCHEMES:
                continue
            enabled, interval, timeout = check_settings(bot, spec, loaded.config.defaults, name)
            if enabled:
                probes.append(cls(bot=bot, name=name, url=url, interval=interval, timeout=timeout))
        return probes

    async def check(self, ctx: ProbeContext) -> Outcome:
        """Ping and read memory use; the client is always closed."""
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError

        # No retries: redis-py retries three times with backoff by default, which
        # would turn "refused" into a timeout and hide the real reason.
        client = aioredis.from_url(
            self._url,
            socket_connect_timeout=self.timeout,
            socket_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
            client_name="botwatch",
        )
        try:
            start = time.perf_counter()
            await client.ping()
            ping = time.perf_counter() - start
            memory = await client.info("memory")
            server = await client.info("server")
        except RedisError as e:
            return Outcome(Status.CRIT, _reason(e, self._password), values={"redis_up": 0})
        finally:
            await client.aclose()
        used = int(memory.get("used_memory", 0))
        maxmemory = int(memory.get("maxmemory", 0) or 0)
        version = str(server.get("redis_version", "?"))
        values: dict[str, float] = {
            "redis_up": 1,
            "redis_ping_seconds": ping,
            "redis_used_memory_bytes": used,
        }
        details: dict[str, Any] = {"version": version, "used_memory": used}
        if "used_memory_peak" in memory:
            details["used_memory_peak"] = int(memory["used_memory_peak"])
        if maxmemory <= 0:
            return Outcome(
                Status.OK,
                f"Redis {version}, {format_size(used)} used (no maxmemory)",
                details,
                values,
            )
        ratio = used / maxmemory
        policy = str(memory.get("maxmemory_policy", ""))
        details.update(maxmemory=maxmemory, maxmemory_policy=policy)
        values["redis_maxmemory_bytes"] = maxmemory
        values["redis_used_memory_ratio"] = ratio
        usage = f"{format_size(used)} of {format_size(maxmemory)} maxmemory used ({ratio:.0%})"
        if policy.startswith("allkeys-"):
            # A cache that evicts any key is meant to sit at maxmemory.
            return Outcome(
                Status.OK, f"Redis {version}, {usage}, evicting ({policy})", details, values
            )
        if ratio > self.crit_ratio:
            effect = "writes fail" if policy == "noeviction" else f"keys are evicted ({policy})"
            return Outcome(Status.CRIT, f"{usage}: near the limit, {effect}", details, values)
        if ratio > self.warn_ratio:
            return Outcome(Status.WARN, f"{usage}, above {self.warn_ratio:.0%}", details, values)
        return Outcome(Status.OK, f"Redis {version}, {usage}", details, values)
