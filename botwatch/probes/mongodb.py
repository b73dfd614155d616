"""MongoDB probe: ``ping`` and the server version (``buildInfo``).

pymongo is synchronous, so the whole check (client, commands, close) runs in the probe
thread pool. Its server-selection, connect and socket timeouts are set below the
probe's hard timeout, so the thread finishes, and closes its client, soon after the
probe has given up on it even when the server never answers.
"""

from __future__ import annotations

__all__ = ["MongoProbe"]

import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botwatch.config.loader import redact_text
from botwatch.probes.base import Outcome, Probe, ProbeContext, Status, check_settings, register

if TYPE_CHECKING:
    from botwatch.config import BotConfig, LoadedConfig

_SCHEMES = ("mongodb", "mongodb+srv")
_HEARTBEAT_MS = 500  # pymongo's minimum heartbeat interval
# pymongo appends its configured timeouts and a whole topology dump to the cause.
_NOISE = re.compile(r"\s*\(configured timeouts:[^)]*\)|, Timeout: .*$|, full error: .*$", re.S)


_ERRNO = re.compile(r"\[Errno -?\d+\] ")


def _reason(e: Exception, secret: str | None) -> str:
    from pymongo.errors import OperationFailure

    if isinstance(e, OperationFailure) and isinstance(e.details, dict) and e.details.get("errmsg"):
        text = f"{e.details['errmsg']} (code {e.code})"
    else:
        text = _ERRNO.sub("", _NOISE.sub("", str(e)))
    text = " ".join(text.split()) or e.__class__.__name__
    if secret:
        text = text.replace(secret, "***")
    return redact_text(text)


@register
class MongoProbe(Probe):
    """``admin.command("ping")`` and ``buildInfo`` through a short-lived client."""

    kind = "mongodb"

    def __init__(self, *, url: str, **kw: Any) -> None:
        super().__init__(**kw)
        # Imported when the probe is planned, not in its first check: a cold import of
        # pymongo takes a good part of a second on a busy machine, and inside the check
        # it counted against the hard timeout.
        import pymongo  # noqa: F401

        self._url = url
        try:
            self._password = urlsplit(url).password
        except ValueError:
            self._password = None

    @property
    def target(self) -> str:
        """The URL with its password hidden."""
        return redact_text(self._url)

    @classmethod
    def from_bot(cls, bot: str, spec: BotConfig, loaded: LoadedConfig) -> Sequence[Probe]:
        """One probe per ``mongodb://`` / ``mongodb+srv://`` dependency, named after it."""
        probes: list[Probe] = []
        for name, url in spec.depends.items():
            if url.split("://", 1)[0].lower() not in _SCHEMES:
                continue
            enabled, interval, timeout = check_settings(bot, spec, loaded.config.defaults, name)
            if enabled:
                probes.append(cls(bot=bot, name=name, url=url, interval=interval, timeout=timeout))
        return probes

    def _inspect(self) -> Outcome:
        """The blocking part, run in the thread pool; always closes its client."""
        from pymongo import MongoClient
        from pymongo.errors import ConfigurationError, PyMongoError

        # Leave headroom under the hard timeout so pymongo's own, more precise reason
        # ("connection refused") usually wins over a bare "timed out". Server selection
        # only gives up on its monitor's 500 ms heartbeat, so round down to a multiple.
        # The margin is generous: on a busy machine pymongo's threads run late.
        ms = max(100, int(self.timeout * 600))
        selection_ms = max(100, int(self.timeout * 600) // _HEARTBEAT_MS * _HEARTBEAT_MS)
        try:
            client: MongoClient[dict[str, Any]] = MongoClient(
                self._url,
                serverSelectionTimeoutMS=selection_ms,
                connectTimeoutMS=ms,
                socketTimeoutMS=ms,
                appname="botwatch",
            )
        except (ConfigurationError, ValueError) as e:
            # pymongo raises ValueError for some malformed URLs (a non-numeric port).
            return Outcome(
                Status.CRIT, f"invalid URL: {_reason(e, self._password)}", values={"mongodb_up": 0}
            )
        try:
            start = time.perf_counter()
            client.admin.command("ping")
            ping = time.perf_counter() - start
            build = client.admin.command("buildInfo")
        except PyMongoError as e:
            return Outcome(Status.CRIT, _reason(e, self._password), values={"mongodb_up": 0})
        finally:
            client.close()
        version = str(build.get("version", "?"))
        return Outcome(
            Status.OK,
            f"MongoDB {version}, ping {ping * 1000:.1f} ms",
            details={"version": version, "ping_ms": round(ping * 1000, 1)},
            values={"mongodb_up": 1, "mongodb_ping_seconds": ping},
        )

    async def check(self, ctx: ProbeContext) -> Outcome:
        """Run the blocking check in the probe thread pool."""
        return await ctx.to_thread(self._inspect)
