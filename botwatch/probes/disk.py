"""Disk probe: free space on the filesystems a bot writes to.

A full disk is the quiet killer of bots: logs stop, SQLite refuses writes, the bot
crashes on start. The paths are ``disk:`` from the bot's config, or by default where
the bot writes: its working directory, else the folder of its first log file, else the
config's folder. Thresholds come from ``limits``: below ``disk_free`` bytes or below
``disk_free_percent`` (default 10%) free is critical, below twice either is a warning.
"""

from __future__ import annotations

__all__ = ["DiskProbe", "default_disk_path"]

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botwatch.config.units import format_size
from botwatch.probes.base import Outcome, Probe, ProbeContext, Status, check_settings, register
from botwatch.probes.logfile import file_log_entries

if TYPE_CHECKING:
    from botwatch.config import BotConfig, LoadedConfig

_GLOB = set("*?[")


def _glob_root(path: Path) -> Path:
    """The folder part of a path before its first glob pattern (``logs/*/x.log`` → ``logs``)."""
    parts: list[str] = []
    for part in path.parts:
        if _GLOB & set(part):
            return Path(*parts) if parts else Path(".")
        parts.append(part)
    return path.parent


def default_disk_path(spec: BotConfig, loaded: LoadedConfig) -> tuple[str, Path]:
    """Where the bot writes: ``run.cwd``, the first log file's folder, or the config folder."""
    if spec.run is not None and spec.run.cwd:
        return spec.run.cwd, loaded.resolve(spec.run.cwd)
    for entry in file_log_entries(spec):
        folder = _glob_root(loaded.resolve(entry))
        return str(folder), folder
    return str(loaded.base), loaded.base


@register
class DiskProbe(Probe):
    """``shutil.disk_usage`` of one path, judged against the bot's limits."""

    kind = "disk"

    def __init__(
        self,
        *,
        path: str | Path,
        min_free_bytes: int | None = None,
        min_free_percent: float = 10.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.path = Path(path)
        self.min_free_bytes = min_free_bytes
        self.min_free_percent = min_free_percent

    @property
    def target(self) -> str:
        """The path measured."""
        return str(self.path)

    @classmethod
    def from_bot(cls, bot: str, spec: BotConfig, loaded: LoadedConfig) -> Sequence[Probe]:
        """One probe per distinct path; named ``disk``, or ``disk:PATH`` when several."""
        wanted = [(p, loaded.resolve(p)) for p in spec.disk] or [default_disk_path(spec, loaded)]
        seen: set[str] = set()
        paths: list[tuple[str, Path]] = []
        for label, path in wanted:
            key = os.path.normpath(path)
            if key not in seen:
                seen.add(key)
                paths.append((label, Path(key)))
        probes: list[Probe] = []
        for label, path in paths:
            name = "disk" if len(paths) == 1 else f"disk:{label}"
            enabled, interval, timeout = check_settings(bot, spec, loaded.config.defaults, name)
            if enabled:
                probes.append(
                    cls(
                        bot=bot,
                        name=name,
                        path=path,
                        min_free_bytes=spec.limits.disk_free,
                        min_free_percent=spec.limits.disk_free_percent,
                        interval=interval,
                        timeout=timeout,
                    )
                )
        return probes

    async def check(self, ctx: ProbeContext) -> Outcome:
        """Measure in a thread: ``statvfs`` can hang on a dead network mount."""
        try:
            usage = await ctx.to_thread(shutil.disk_usage, self.path)
        except FileNotFoundError:
            return Outcome(Status.CRIT, f"{self.path} does not exist")
        except OSError as e:
            return Outcome(Status.UNKNOWN, f"cannot measure {self.path}: {e.strerror or e}")
        free, total = usage.free, usage.total
        ratio = free / total if total else 0.0
        values: dict[str, float] = {
            "disk_free_bytes": free,
            "disk_total_bytes": total,
            "disk_used_bytes": usage.used,
            "disk_free_ratio": ratio,
        }
        details: dict[str, Any] = {
            "path": str(self.path),
            "free": free,
            "total": total,
            "free_percent": round(ratio * 100, 1),
        }
        status = Status.OK
        limits: list[str] = []
        pct = self.min_free_percent / 100
        if pct > 0:
            details["min_free_percent"] = self.min_free_percent
            if ratio < pct:
                status = Status.CRIT
                limits.append(f"below {self.min_free_percent:g}%")
            elif ratio < 2 * pct:
                status = Status.worst((status, Status.WARN))
                limits.append(f"below {2 * self.min_free_percent:g}%")
        if self.min_free_bytes:
            details["min_free"] = self.min_free_bytes
            if free < self.min_free_bytes:
                status = Status.CRIT
                limits.append(f"below {format_size(self.min_free_bytes)}")
            elif free < 2 * self.min_free_bytes:
                status = Status.worst((status, Status.WARN))
                limits.append(f"below {format_size(2 * self.min_free_bytes)}")
        reason = f"{format_size(free)} free of {format_size(total)} ({ratio:.1%}) on {self.path}"
        if limits:
            reason += ": " + ", ".join(limits)
        return Outcome(status, reason, details=details, values=values)
