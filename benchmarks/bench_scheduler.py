"""Scheduling 10,000 endpoints every 30 s: lateness and the monitor's CPU.

Runs the real monitor (scheduler, HTTP probes, result handling, SQLite store) against
10,000 distinct loopback health endpoints served by a separate process, for a few
cycles, and reports how late checks started relative to when they were due and how
much CPU the monitor process used (all its threads, including the store writer).

    .venv/bin/python benchmarks/bench_scheduler.py [--endpoints 10000] [--duration 90]

Target (issue 2): lateness p99 < 50 ms, monitor CPU < 15 % of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import endpoint_urls, fleet_yaml, free_ports, health_server, pct

from botwatch.config import LoadedConfig, parse_config
from botwatch.monitor import Monitor
from botwatch.monitor.monitor import STORE_LINGER
from botwatch.monitor.runtime import tune_gc
from botwatch.store import Store


def watch_gc(t0: float) -> list[tuple[float, int, float]]:
    """Record (seconds since t0, generation, ms) of every collection of 20 ms or more."""
    pauses: list[tuple[float, int, float]] = []
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif (ms := (time.perf_counter() - started[0]) * 1000) >= 20:
            pauses.append((time.monotonic() - t0, info["generation"], ms))

    gc.callbacks.append(callback)
    return pauses


async def bare_paced(urls: list[str], rate: float, seconds: float) -> float:
    """CPU (fraction of one core) of a bare aiohttp loop doing ``rate`` GETs a second."""
    connector = aiohttp.TCPConnector(limit=100, limit_per_host=0)
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str) -> None:
            async with asyncio.timeout(10), session.get(url) as r:
                await r.read()

        start, cpu0, i = time.monotonic(), time.process_time(), 0
        while (elapsed := time.monotonic() - start) < seconds:
            # Start every request due by now: the loop keeps the rate whatever sleep does.
            while i < elapsed * rate:
                t = asyncio.create_task(one(urls[i % len(urls)]))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                i += 1
            await asyncio.sleep(0.01)
        cpu = (time.process_time() - cpu0) / (time.monotonic() - start)
        await asyncio.gather(*tasks)
    return cpu


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--endpoints", type=int, default=10_000)
    ap.add_argument("--interval", type=float, default=30.0)
    ap.add_argument("--duration", type=float, default=90.0, help="seconds to run")
    ap.add_argument(
        "--warmup",
        type=float,
        default=30.0,
        help="seconds before CPU and lateness are measured (the first cycle creates every series)",
    )
    args = ap.parse_args()
    ports = free_ports(4)
    urls = endpoint_urls(ports, args.endpoints)
    with health_server(ports), tempfile.TemporaryDirectory() as tmp:
        text = fleet_yaml(urls, f"sqlite:///{tmp}/bench.db", interval=f"{args.interval}s")
        loaded = LoadedConfig(parse_config(text, "bench.yml", {}), Path(tmp) / "b.yml", Path(tmp))
        # Both loops run under the interpreter settings `botwatch run` uses (see
        # botwatch.monitor.runtime), so the baseline gets the same collector tuning.
        tune_gc()
        store = Store.open(loaded.storage_url, linger=STORE_LINGER)  # as botwatch run does
        await store.start()
        monitor = Monitor(loaded, store)
        stop = asyncio.Event()
        task = asyncio.create_task(monitor.run(stop))
        t0 = time.monotonic()
        pauses = watch_gc(t0)
        cpu_mark: tuple[float, float] | None = None
        done_mark = late_mark = seen = 0
        while (elapsed := time.monotonic() - t0) < args.duration:
            await asyncio.sleep(5)
            if cpu_mark is None and elapsed >= args.warmup:
                cpu_mark = (time.monotonic(), time.process_time())
                done_mark = monitor.scheduler.completed
                late_mark = len(monitor.scheduler.lateness)
            recent = list(monitor.scheduler.lateness)[seen:]
            seen += len(recent)
            print(
                f"  {elapsed:5.0f}s  checks {monitor.scheduler.completed:7,}  "
                f"running {monitor.scheduler.running:4}  store pending {store.pending:6,}  "
                f"latest 5 s: max late {max(recent, default=0) * 1000:5.0f} ms",
                flush=True,
            )
        assert cpu_mark is not None, "--duration must exceed --warmup"
        wall = time.monotonic() - cpu_mark[0]
        cpu = (time.process_time() - cpu_mark[1]) / wall
        rate = (monitor.scheduler.completed - done_mark) / wall
        stop.set()
        await task
        await monitor.close()
        await store.close()
        failed = sum(1 for s in monitor.last_status.values() if s != 0)
        print("  baseline: bare aiohttp GET loop at the same rate ...", flush=True)
        bare = await bare_paced(urls, args.endpoints / args.interval, wall)
    late = list(monitor.scheduler.lateness)[late_mark:]
    print(f"endpoints: {args.endpoints:,} every {args.interval:g}s; ran {args.duration:g}s")
    print(
        f"checks completed: {monitor.scheduler.completed:,} ({rate:,.0f}/s steady), failing: {failed}"
    )
    print(
        f"lateness after warm-up: p50 {pct(late, 0.5) * 1000:6.1f} ms   p99 {pct(late, 0.99) * 1000:6.1f} ms   "
        f"max {max(late) * 1000:6.1f} ms   (target p99 < 50 ms)"
    )
    print(
        f"monitor CPU (after {args.warmup:g}s warm-up): {cpu * 100:5.1f} % of one core (target < 15 %)"
    )
    print(f"bare aiohttp loop, same rate:           {bare * 100:5.1f} % of one core")
    long = [(t, g, ms) for t, g, ms in pauses if t >= args.warmup]
    print(
        f"GC pauses ≥ 20 ms after warm-up: {', '.join(f'{ms:.0f} ms (gen {g}, {t:.0f}s)' for t, g, ms in long) or 'none'}"
    )
    print(f"ratio monitor / bare loop:              {cpu / bare:5.2f}")


if __name__ == "__main__":
    asyncio.run(main())
