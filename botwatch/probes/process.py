"""Process probe: is the bot's process alive, how big is it, and has it restarted?

The process is found as ``botwatch.sampler.find_process`` finds it (pidfile, command-line
pattern, or the ``run`` command) and measured with the sampler, so its report shows the
same figures the sampler records. The resource series themselves (``process_rss_bytes``
and the rest, labelled ``{bot}``) are written by the sampler alone, so each has exactly
one source; the probe writes liveness. A restart shows up as a new pid or start time
between two runs; the probe counts them in ``process_restarts_total``.
"""

from __future__ import annotations

__all__ = ["ProcessProbe"]

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botwatch.config import format_duration, format_size
from botwatch.errors import BotwatchError, ProcessNotFound
from botwatch.probes.base import Outcome, Probe, ProbeContext, Status, check_settings, register
from botwatch.sampler import (
    Located,
    ProcessSample,
    Sampler,
    find_process,
    is_alive,
    locator,
)

if TYPE_CHECKING:
    from botwatch.config import BotConfig, LoadedConfig

_UNSUPPORTED = (
    "systemd/pm2/docker controllers are not supported yet; "
    "add process.pidfile or process.match to check this bot's process"
)
_NEAR = 0.9
"""Fraction of ``limits.memory`` above which the probe warns."""


@register
class ProcessProbe(Probe):
    """Find the bot's process, sample its tree, judge it against ``limits``."""

    kind = "process"

    def __init__(
        self, *, spec: BotConfig, loaded: LoadedConfig, sampler: Sampler | None = None, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.spec = spec
        self.loaded = loaded
        # Kept across runs: the sampler's cached psutil objects make CPU a measurement
        # over the probe interval instead of an average since the process started.
        self.sampler = sampler or Sampler()
        self._last: Located | None = None

    @classmethod
    def from_bot(cls, bot: str, spec: BotConfig, loaded: LoadedConfig) -> Sequence[Probe]:
        """One ``process`` check for bots with ``run`` or ``process``."""
        if spec.run is None and spec.process is None:
            return ()
        enabled, interval, timeout = check_settings(bot, spec, loaded.config.defaults, "process")
        if not enabled:
            return ()
        return [
            cls(
                bot=bot,
                name="process",
                spec=spec,
                loaded=loaded,
                interval=interval,
                timeout=timeout,
            )
        ]

    @property
    def target(self) -> str:
        """The pidfile, the pattern or the command the process is found by."""
        how = locator(self.spec)
        if how is not None:
            kind, source = how
            if kind == "pidfile":
                return str(self.loaded.resolve(source))
            return f"/{source}/" if kind == "match" else source
        p = self.spec.process
        if p is not None:
            for name in ("systemd", "pm2", "docker"):
                value = getattr(p, name)
                if value:
                    return f"{name}:{value}"
        return ""

    def _look(self) -> tuple[Located, ProcessSample]:
        last = self._last
        # A pidfile is cheap to re-read and is the truth, so it is read every time. A
        # pattern or command means scanning every process on the host: while the process
        # found last time is still alive (same pid and start time), it is still the bot.
        if last is not None and last.how != "pidfile" and is_alive(last.process):
            located = last
        else:
            self._last = None
            located = find_process(self.spec, self.loaded)
        s = self.sampler.sample(self.bot, located.process)
        self._last = located
        return located, s

    async def check(self, ctx: ProbeContext) -> Outcome:
        """Locate, sample, compare with the last run and the limits."""
        if locator(self.spec) is None:
            return Outcome(Status.UNKNOWN, _UNSUPPORTED, details={"target": self.target})
        state = ctx.state.setdefault((self.bot, self.name), {})
        restarts = int(state.get("restarts", 0))
        try:
            located, s = await ctx.to_thread(self._look)
        except ProcessNotFound as e:
            return Outcome(
                Status.CRIT,
                str(e),
                details={"restarts_seen": restarts},
                values={"process_up": 0, "process_restarts_total": restarts},
            )
        except BotwatchError as e:
            # Found but unreadable (permission denied): we don't know how it is doing.
            return Outcome(Status.UNKNOWN, str(e), details={"restarts_seen": restarts})

        last_pid, last_created = state.get("pid"), state.get("create_time")
        restarted = last_pid is not None and (last_pid, last_created) != (s.pid, s.create_time)
        if restarted:
            restarts += 1
        state.update(pid=s.pid, create_time=s.create_time, restarts=restarts)

        status, problems = self._judge(s)
        reason = (
            f"pid {s.pid} up {format_duration(s.uptime)}, rss {format_size(s.rss)}, "
            f"cpu {s.cpu_percent:.1f}%"
        )
        if restarted:
            reason += f", restarted (pid {last_pid} → {s.pid})"
        if problems:
            reason += "; " + "; ".join(problems)
        details: dict[str, Any] = {
            "pid": s.pid,
            "found_by": located.how,
            "cpu_percent": round(s.cpu_percent, 1),
            "mem_percent": round(s.mem_percent, 2),
            "rss": s.rss,
            "vms": s.vms,
            "threads": s.threads,
            "open_files": s.open_files,
            "children": s.children,
            "uptime": round(s.uptime, 1),
            "status": s.status,
            "restarts_seen": restarts,
            **located.details,
        }
        values: dict[str, float] = {
            "process_up": 1,
            "process_pid": s.pid,
            "process_restarts_total": restarts,
        }
        return Outcome(status, reason, details=details, values=values)

    def _judge(self, s: ProcessSample) -> tuple[Status, list[str]]:
        limits = self.spec.limits
        statuses = [Status.OK]
        problems: list[str] = []
        if limits.memory:
            limit = format_size(limits.memory)
            if s.rss > limits.memory:
                statuses.append(Status.CRIT)
                problems.append(f"rss {format_size(s.rss)} is above the limit {limit}")
            elif s.rss > _NEAR * limits.memory:
                statuses.append(Status.WARN)
                problems.append(
                    f"rss {format_size(s.rss)} is {100 * s.rss / limits.memory:.0f}% "
                    f"of the limit {limit}"
                )
        # CPU and descriptors only warn: a busy minute or a burst of connections is normal,
        # only memory past its limit gets a bot killed.
        if limits.cpu_percent and s.cpu_percent > limits.cpu_percent:
            statuses.append(Status.WARN)
            problems.append(f"cpu {s.cpu_percent:.1f}% is above the limit {limits.cpu_percent:g}%")
        if limits.open_files and s.open_files is not None and s.open_files > limits.open_files:
            statuses.append(Status.WARN)
            problems.append(f"{s.open_files} open files, above the limit {limits.open_files}")
        return Status.worst(statuses), problems
