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
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import endpoint_urls, fleet_yaml, free_ports, health_server, pct

from botwatch.config import LoadedConfig, parse_config
from botwatch.monitor import Monitor
from botwatch.store import Store


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--endpoints", type=int, default=10_000)
    ap.add_argument("--interval", type=float, default=30.0)
    ap.add_argument("--duration", type=float, default=90.0, help="seconds to run")
    ap.add_argument("--warmup", type=float, default=30.0, help="seconds before CPU is measured")
    args = ap.parse_args()
    ports = free_ports(4)
    urls = endpoint_urls(ports, args.endpoints)
    with health_server(ports), tempfile.TemporaryDirectory() as tmp:
        text = fleet_yaml(urls, f"sqlite:///{tmp}/bench.db", interval=f"{args.interval}s")
        loaded = LoadedConfig(parse_config(text, "bench.yml", {}), Path(tmp) / "b.yml", Path(tmp))
        store = Store.open(loaded.storage_url)
        await store.start()
        monitor = Monitor(loaded, store)
        stop = asyncio.Event()
        task = asyncio.create_task(monitor.run(stop))
        t0 = time.monotonic()
        cpu_mark: tuple[float, float] | None = None
        done_mark = 0
        while (elapsed := time.monotonic() - t0) < args.duration:
            await asyncio.sleep(5)
            if cpu_mark is None and elapsed >= args.warmup:
                cpu_mark = (time.monotonic(), time.process_time())
                done_mark = monitor.scheduler.completed
            print(
                f"  {elapsed:5.0f}s  checks {monitor.scheduler.completed:7,}  "
                f"running {monitor.scheduler.running:4}  store pending {store.pending:6,}",
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
    late = list(monitor.scheduler.lateness)
    print(f"endpoints: {args.endpoints:,} every {args.interval:g}s; ran {args.duration:g}s")
    print(
        f"checks completed: {monitor.scheduler.completed:,} ({rate:,.0f}/s steady), failing: {failed}"
    )
    print(
        f"lateness  p50 {pct(late, 0.5) * 1000:6.1f} ms   p99 {pct(late, 0.99) * 1000:6.1f} ms   "
        f"max {max(late) * 1000:6.1f} ms   (target p99 < 50 ms)"
    )
    print(
        f"monitor CPU (after {args.warmup:g}s warm-up): {cpu * 100:5.1f} % of one core (target < 15 %)"
    )


if __name__ == "__main__":
    asyncio.run(main())
