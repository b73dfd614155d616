"""TCP probe: does something accept connections on a port?

The bot's own ports (``ports: [8080, "db.internal:5432"]``) and ``tcp://host:port``
dependencies are checked the same way: open a connection, close it at once, time it.
Nothing is sent, so any TCP service can be checked without speaking its protocol.
"""

from __future__ import annotations

__all__ = ["TcpProbe", "parse_hostport"]

import asyncio
import contextlib
import errno
import os
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botwatch.probes.base import Outcome, Probe, ProbeContext, Status, check_settings, register

if TYPE_CHECKING:
    from botwatch.config import BotConfig, LoadedConfig

_LOCAL = "127.0.0.1"


def parse_hostport(entry: str) -> tuple[str, int]:
    """``8080`` → ``("127.0.0.1", 8080)``; ``host:8080`` and ``[::1]:8080`` keep their host."""
    host, sep, port = entry.strip().rpartition(":")
    if not sep:
        host, port = _LOCAL, entry.strip()
    host = host.strip("[]") or _LOCAL
    return host, int(port)


@register
class TcpProbe(Probe):
    """Connect to ``host:port`` and close again; refused or unreachable is critical."""

    kind = "tcp"

    def __init__(
        self, *, host: str, port: int | None, problem: str | None = None, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.host = host
        self.port = port
        # A dependency URL without a port can't be checked, but one bad entry must not
        # stop the whole config from loading, so the probe carries the problem and
        # reports it on every run.
        self.problem = problem

    @property
    def target(self) -> str:
        """``host:port`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port is not None else host

    @classmethod
    def from_bot(cls, bot: str, spec: BotConfig, loaded: LoadedConfig) -> Sequence[Probe]:
        """One probe per entry of ``ports`` (``port:ENTRY``) and per ``tcp://`` dependency."""
        defaults = loaded.config.defaults
        probes: list[Probe] = []
        for entry in spec.ports:
            name = f"port:{entry}"
            enabled, interval, timeout = check_settings(bot, spec, defaults, name)
            if enabled:
                host, port = parse_hostport(entry)
                probes.append(
                    cls(
                        bot=bot, name=name, host=host, port=port, interval=interval, timeout=timeout
                    )
                )
        for name, url in spec.depends.items():
            if not url.lower().startswith("tcp://"):
                continue
            enabled, interval, timeout = check_settings(bot, spec, defaults, name)
            if not enabled:
                continue
            parts = urlsplit(url)
            problem = None
            dep_port: int | None
            try:
                dep_port = parts.port
            except ValueError:  # not a number, or out of range
                dep_port = None
            if dep_port is None or not parts.hostname:
                problem = f"{url!r} has no valid host and port; use tcp://host:port"
            probes.append(
                cls(
                    bot=bot,
                    name=name,
                    host=parts.hostname or "",
                    port=dep_port,
                    problem=problem,
                    interval=interval,
                    timeout=timeout,
                )
            )
        return probes

    async def check(self, ctx: ProbeContext) -> Outcome:
        """Open one connection and close it."""
        if self.problem is not None or self.port is None:
            return Outcome(Status.CRIT, self.problem or "no port to check", values={"tcp_up": 0})
        start = time.perf_counter()
        try:
            # The hard timeout in Probe.run() cancels this; asyncio closes the half-open
            # socket itself when a connect is cancelled.
            _, writer = await asyncio.open_connection(self.host, self.port)
        except socket.gaierror as e:
            return Outcome(
                Status.CRIT,
                f"cannot resolve {self.host}: {e.strerror}",
                details={"target": self.target},
                values={"tcp_up": 0},
            )
        except OSError as e:
            return Outcome(
                Status.CRIT,
                f"cannot connect to {self.target}: {_why(e)}",
                details={"target": self.target},
                values={"tcp_up": 0},
            )
        elapsed = time.perf_counter() - start
        writer.close()
        # A reset while closing still means the port accepted us.
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return Outcome(
            Status.OK,
            f"{self.target} accepts connections ({elapsed * 1000:.1f} ms)",
            details={"target": self.target, "connect_ms": round(elapsed * 1000, 1)},
            values={"tcp_up": 1, "tcp_connect_seconds": elapsed},
        )


def _why(e: OSError) -> str:
    """A short cause: asyncio's "Connect call failed (...)" hides the errno's meaning."""
    if isinstance(e, ConnectionRefusedError) or e.errno == errno.ECONNREFUSED:
        return "connection refused"
    if e.errno:
        return os.strerror(e.errno).lower()
    # Happy-eyeballs errors from several addresses carry no errno; their text does.
    return str(e) or e.__class__.__name__
