"""Resource samples of a bot's process tree (cpu, memory, threads, fds, children) via psutil.

A bot is its whole process tree: workers it forks, and the program a ``sh -c`` wrapper
runs, use the bot's memory and CPU too. So every value except ``pid``, ``uptime`` and
``status`` is summed over the root and all its descendants. (RSS summed over a tree
counts pages the processes share more than once; it is an upper bound, the number that
matters when asking "will this bot run the host out of memory".)

The calls block (they read ``/proc``); the monitor runs them in a thread.
"""

from __future__ import annotations

__all__ = ["SERIES", "ProcessSample", "Sampler", "sample_tree", "sample_values"]

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from botwatch.clock import Clock, SystemClock
from botwatch.errors import BotwatchError, ProcessNotFound
from botwatch.series import Sample


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One look at a bot's process tree.

    ``cpu_percent`` is percent of one CPU (a busy 4-thread process can show 400).
    ``open_files`` is the number of open file descriptors, ``None`` when they can't be
    read (another user's process). ``children`` counts all descendants.
    """

    ts: float
    pid: int
    create_time: float
    cpu_percent: float
    mem_percent: float
    rss: int
    vms: int
    threads: int
    open_files: int | None
    children: int
    uptime: float
    status: str


SERIES: dict[str, str] = {
    "process_cpu_percent": "cpu_percent",
    "process_memory_percent": "mem_percent",
    "process_rss_bytes": "rss",
    "process_vms_bytes": "vms",
    "process_threads": "threads",
    "process_open_fds": "open_files",
    "process_children": "children",
    "process_uptime_seconds": "uptime",
}
"""Series name → ``ProcessSample`` field, for everything a sample reports."""


def sample_values(s: ProcessSample) -> dict[str, float]:
    """The sample as ``{series name: value}``; values that couldn't be read are left out."""
    out: dict[str, float] = {}
    for name, attr in SERIES.items():
        value = getattr(s, attr)
        if value is not None:
            out[name] = float(value)
    return out


def _fds(p: psutil.Process) -> int | None:
    # num_fds is POSIX-only; Windows has handles, which are the nearest thing.
    count: Callable[[], int] | None = getattr(p, "num_fds", None) or getattr(p, "num_handles", None)
    if count is None:
        return None
    try:
        return count()
    except psutil.AccessDenied:
        return None


def sample_tree(
    proc: psutil.Process,
    cache: dict[int, psutil.Process] | None = None,
    *,
    ts: float | None = None,
) -> ProcessSample:
    """Sample ``proc`` and all its descendants once.

    ``cache`` maps pid → the ``psutil.Process`` used last time; it is updated in place to
    the current tree. psutil measures CPU between two calls on the same object, so a
    process seen before gets its CPU use since the previous sample (like ``top``). One
    seen for the first time gets its average since it started (like ``ps``), and is
    primed so the next sample measures the interval.

    Raises ``ProcessNotFound`` when ``proc`` has exited (zombies included) and
    ``BotwatchError`` when it can't be read (permission denied).
    """
    cache = {} if cache is None else cache
    # create_time is on the OS wall clock, so uptime and first-sight CPU use that clock
    # too; ``ts`` is the injected clock's, for the record.
    now = time.time()
    ts = now if ts is None else ts
    pid = proc.pid
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            raise ProcessNotFound(f"process {pid} has exited")
        members = [proc, *proc.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        raise ProcessNotFound(f"process {pid} has exited") from None
    except psutil.AccessDenied:
        raise BotwatchError(
            f"permission denied reading process {pid}; run botwatch as the bot's user"
        ) from None

    seen: dict[int, psutil.Process] = {}
    cpu = 0.0
    rss = vms = threads = fds = 0
    fds_known = True
    create_time = 0.0
    status = ""
    for i, member in enumerate(members):
        root = i == 0
        cached = cache.get(member.pid)
        # Equality is pid + create_time, so a recycled pid gets a fresh object.
        first_sight = cached is None or cached != member
        if not first_sight:
            assert cached is not None
            member = cached
        try:
            with member.oneshot():
                m_status = member.status()
                if m_status == psutil.STATUS_ZOMBIE:
                    raise psutil.ZombieProcess(member.pid)
                m_created = member.create_time()
                if first_sight:
                    member.cpu_percent(None)  # primes the baseline for the next sample
                    t = member.cpu_times()
                    m_cpu = 100.0 * (t.user + t.system) / max(now - m_created, 1.0)
                else:
                    m_cpu = member.cpu_percent(None)
                mem = member.memory_info()
                m_threads = member.num_threads()
            m_fds = _fds(member)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            if root:
                raise ProcessNotFound(f"process {pid} has exited") from None
            continue  # a child that exited between listing and reading
        except psutil.AccessDenied:
            if root:
                raise BotwatchError(
                    f"permission denied reading process {pid}; run botwatch as the bot's user"
                ) from None
            continue
        if root:
            create_time, status = m_created, m_status
        seen[member.pid] = member
        cpu += m_cpu
        rss += mem.rss
        vms += mem.vms
        threads += m_threads
        if m_fds is None:
            fds_known = fds_known and not root
        else:
            fds += m_fds
    cache.clear()
    cache.update(seen)
    total = psutil.virtual_memory().total
    return ProcessSample(
        ts=ts,
        pid=pid,
        create_time=create_time,
        cpu_percent=cpu,
        mem_percent=100.0 * rss / total if total else 0.0,
        rss=rss,
        vms=vms,
        threads=threads,
        open_files=fds if fds_known else None,
        children=len(seen) - 1,
        uptime=max(0.0, now - create_time),
        status=status,
    )


class Sampler:
    """Samples bots' process trees, keeping each bot's psutil objects between samples.

    Keeping the objects is what makes ``cpu_percent`` a real measurement from the second
    sample on. Thread-safe: the monitor calls it from worker threads.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._caches: dict[str, tuple[threading.Lock, dict[int, psutil.Process]]] = {}
        self._lock = threading.Lock()
        self._labels: dict[str, dict[str, str]] = {}

    def sample(self, bot: str, proc: psutil.Process) -> ProcessSample:
        """Sample ``bot``'s tree rooted at ``proc`` (see ``sample_tree`` for errors)."""
        with self._lock:
            lock, cache = self._caches.setdefault(bot, (threading.Lock(), {}))
        # One lock per bot: bots are sampled in parallel, one bot never twice at once
        # (that would split its CPU measurement between two overlapping windows).
        with lock:
            return sample_tree(proc, cache, ts=self.clock.time())

    def forget(self, bot: str) -> None:
        """Drop what is kept for ``bot`` (it was removed from the config)."""
        with self._lock:
            self._caches.pop(bot, None)
            self._labels.pop(bot, None)

    def to_samples(self, bot: str, s: ProcessSample) -> list[Sample]:
        """The sample as series samples labelled ``{"bot": bot}``.

        Every sample of a bot shares one labels dict, kept between calls: the store
        finds series ids by the dict's identity (see ``store.ingest.SeriesCache``).
        """
        labels = self._labels.get(bot)
        if labels is None:
            labels = self._labels[bot] = {"bot": bot}
        return [Sample(name, labels, s.ts, v) for name, v in sample_values(s).items()]
