"""Log freshness probe: is the bot still writing its log, and did it say it is ready?

A bot that hangs (a deadlock, a stuck event loop, a lost connection it never notices)
often keeps its process alive and its port open but stops logging. The age of the
newest line, taken as the file's mtime, catches that: older than
``log_freshness.max_age`` is a warning, older than twice that critical.

With ``log_freshness.ready_line`` set, the probe also looks for that line in the current
log file. The probe does not know when the process started, so "seen in the current
file" stands in for "seen since the last start". The search reads backwards from the
end in small blocks and stops at the first hit or after a few MB, so a huge log costs
no more than its tail. After a log rotation the line is in the previous file, so the
warning also appears until the bot next logs it; rotate with care or leave
``ready_line`` unset.

Only file entries of ``logs`` are checked (globs allowed: the newest match counts);
``cmd:``, ``journald:``, ``docker:`` and ``pm2:`` sources belong to log analytics.
"""

from __future__ import annotations

__all__ = ["LogfileProbe", "command_log_sources", "file_log_entries", "log_file_paths"]

import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from botwatch.config.units import format_duration, format_size
from botwatch.logs.sources import COMMANDS, PREFIXES, Source, parse_source, pm2_log_paths
from botwatch.probes.base import Outcome, Probe, ProbeContext, Status, check_settings, register

if TYPE_CHECKING:
    from botwatch.config import BotConfig, LoadedConfig

_GLOB = set("*?[")
_BLOCK = 64 * 1024


def file_log_entries(spec: BotConfig) -> list[str]:
    """The ``logs`` entries that are file paths or globs (not commands or services)."""
    return [e for e in spec.logs if not e.startswith(PREFIXES)]


def log_file_paths(loaded: LoadedConfig, spec: BotConfig) -> list[str]:
    """The files a bot's ``logs`` name, resolved: globs expanded (to what exists now),
    plain paths kept whether or not they exist yet, and the files pm2 writes for a
    ``pm2:APP`` entry."""
    out: list[str] = []
    for entry in file_log_entries(spec):
        path = str(loaded.resolve(entry))
        out += sorted(glob.glob(path)) if _GLOB & set(path) else [path]
    for entry in spec.logs:
        if entry.startswith("pm2:"):
            out += pm2_log_paths(parse_source(entry).target)
    return out


def command_log_sources(spec: BotConfig) -> list[Source]:
    """The ``cmd:``, ``journald:`` and ``docker:`` entries of a bot's ``logs``."""
    named = (parse_source(e) for e in spec.logs if e.startswith(PREFIXES))
    return [s for s in named if s.kind in COMMANDS]


def find_from_end(f: BinaryIO, needle: bytes, size: int, limit: int) -> bool:
    """Whether ``needle`` occurs in the last ``limit`` bytes of ``f`` (of ``size`` bytes).

    Reads backwards block by block, carrying the start of each block over so a needle
    across a block boundary is still found. Bytes are compared, not decoded text: the
    UTF-8 needle matches the UTF-8 log exactly and invalid bytes elsewhere don't matter.
    """
    if not needle:
        return True
    pos, scanned, carry = size, 0, b""
    while pos > 0 and scanned < limit:
        n = min(_BLOCK, pos, limit - scanned)
        pos -= n
        f.seek(pos)
        data = f.read(n) + carry
        if needle in data:
            return True
        carry = data[: len(needle) - 1]
        scanned += n
    return False


@register
class LogfileProbe(Probe):
    """Age of the newest line of one log file (or glob), and the ready line."""

    kind = "logfile"

    def __init__(
        self,
        *,
        path: str | Path,
        max_age: float = 600.0,
        ready_line: str | None = None,
        tail_bytes: int = 4_000_000,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.path = Path(path)
        self.max_age = max_age
        self.ready_line = ready_line or None
        self.tail_bytes = tail_bytes

    @property
    def target(self) -> str:
        """The log path or glob."""
        return str(self.path)

    @classmethod
    def from_bot(cls, bot: str, spec: BotConfig, loaded: LoadedConfig) -> Sequence[Probe]:
        """One probe per file entry of ``logs``: ``logs``, or ``logs:NAME`` when several."""
        entries = file_log_entries(spec)
        names = [Path(e).name for e in entries]
        probes: list[Probe] = []
        for entry, base in zip(entries, names, strict=True):
            if len(entries) == 1:
                name = "logs"
            else:
                # The file name reads best; the entry as written keeps names unique.
                name = f"logs:{base}" if names.count(base) == 1 else f"logs:{entry}"
            enabled, interval, timeout = check_settings(bot, spec, loaded.config.defaults, name)
            if enabled:
                probes.append(
                    cls(
                        bot=bot,
                        name=name,
                        path=loaded.resolve(entry),
                        max_age=spec.log_freshness.max_age,
                        ready_line=spec.log_freshness.ready_line,
                        interval=interval,
                        timeout=timeout,
                    )
                )
        return probes

    def _newest(self) -> Path | None:
        if not (_GLOB & set(str(self.path))):
            return self.path if self.path.is_file() else None
        newest: tuple[float, str] | None = None
        for match in glob.glob(str(self.path)):
            try:
                st = os.stat(match)
            except OSError:
                continue  # rotated away between glob and stat
            if os.path.isfile(match) and (newest is None or st.st_mtime > newest[0]):
                newest = (st.st_mtime, match)
        return Path(newest[1]) if newest else None

    def _inspect(self, now: float) -> Outcome:
        """The blocking part (stat, glob, reads), run in the probe thread pool."""
        path = self._newest()
        if path is None:
            if _GLOB & set(str(self.path)):
                return Outcome(Status.CRIT, f"no log file matches {self.path}")
            return Outcome(Status.CRIT, f"log file missing: {self.path}")
        try:
            with path.open("rb") as f:
                st = os.fstat(f.fileno())
                seen = (
                    find_from_end(f, self.ready_line.encode(), st.st_size, self.tail_bytes)
                    if self.ready_line
                    else None
                )
        except OSError as e:
            return Outcome(Status.UNKNOWN, f"cannot read {path}: {e.strerror or e}")
        # A clock step or a file from another host can put mtime in the future.
        age = max(0.0, now - st.st_mtime)
        values: dict[str, float] = {"log_age_seconds": age, "log_file_bytes": st.st_size}
        details: dict[str, Any] = {
            "path": str(path),
            "bytes": st.st_size,
            "age_seconds": round(age, 3),
            "max_age": self.max_age,
        }
        status = Status.OK
        when = f"{path.name} last written {format_duration(age)} ago"
        if age > 2 * self.max_age:
            status = Status.CRIT
            problems = [f"{when} (max {format_duration(self.max_age)})"]
        elif age > self.max_age:
            status = Status.WARN
            problems = [f"{when} (max {format_duration(self.max_age)})"]
        else:
            problems = []
        if self.ready_line is not None:
            details["ready_line"] = self.ready_line
            details["ready_line_seen"] = bool(seen)
            values["log_ready_line_seen"] = 1.0 if seen else 0.0
            if not seen:
                status = Status.worst((status, Status.WARN))
                problems.append(f"startup line {self.ready_line!r} not seen")
        if problems:
            return Outcome(status, "; ".join(problems), details, values)
        ready = ", ready line seen" if self.ready_line else ""
        return Outcome(Status.OK, f"{when} ({format_size(st.st_size)}){ready}", details, values)

    async def check(self, ctx: ProbeContext) -> Outcome:
        """Inspect the file in a thread (a slow or network disk must not block the loop)."""
        return await ctx.to_thread(self._inspect, ctx.clock.time())
