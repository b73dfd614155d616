"""Probe engine throughput: 2,000 distinct HTTP health endpoints, 100 at a time.

botwatch's path is the real one: HttpProbe.run (request, health JSON evaluated) →
Monitor.handle_result (samples, result row, state events) → the SQLite store's writer,
timed until everything is flushed to disk. The baseline is a bare aiohttp loop (GET,
read, status check) against the same endpoints in the same run.

botwatch runs twice in each round of runs: as the probe engine the issue-2 target is
about (no alert rules), and as ``botwatch run`` is configured by default, with every
result also fed to the built-in rule pack's in-memory window (rule evaluation itself
is measured by ``bench_alerts.py``).

    .venv/bin/python benchmarks/bench_probes.py [--endpoints 2000] [--rounds 3] [--repeat 7]

Runs come in rounds (bare, engine, engine + rules, in rotating order); the figures are
medians, and each ratio is the median of the rounds' ratios.

Target (issue 2): ≥ 4,000 checks/s and ≥ 0.8× the bare aiohttp loop.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import endpoint_urls, fleet_yaml, free_ports, health_server

from botwatch.config import LoadedConfig, parse_config
from botwatch.monitor import Monitor
from botwatch.monitor.monitor import STORE_LINGER
from botwatch.monitor.runtime import tune_gc
from botwatch.probes import Probe, ProbeContext, ProbeResult, build_probes
from botwatch.rules.files import Rule, config_rules
from botwatch.store import Store

CONCURRENCY = 100


async def bare_aiohttp(urls: list[str], rounds: int) -> float:
    """Checks per second of a plain aiohttp GET loop, 100 in flight."""
    sem = asyncio.Semaphore(CONCURRENCY)
    ok = 0
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str) -> None:
            nonlocal ok
            async with sem, session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as r:
                await r.read()
                ok += r.status == 200

        await asyncio.gather(*(one(u) for u in urls))  # one full round first, as for botwatch
        ok = 0
        start = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(one(u) for u in urls))
        elapsed = time.perf_counter() - start
    assert ok == len(urls) * rounds, f"bare loop: {ok} of {len(urls) * rounds} ok"
    return ok / elapsed


async def botwatch_engine(
    loaded: LoadedConfig, rounds: int, db: Path, rules: list[Rule] | None
) -> float:
    """Checks per second through probes, result handling and the store (``rules``: what
    the monitor feeds; None is the config's, the built-in pack)."""
    probes = build_probes(loaded)
    store = Store.open(f"sqlite:///{db}", linger=STORE_LINGER)  # as `botwatch run` does
    await store.start()
    ctx = ProbeContext()
    monitor = Monitor(loaded, store, ctx=ctx, probes=probes, rules=rules)
    sem = asyncio.Semaphore(CONCURRENCY)
    bad: list[ProbeResult] = []

    async def one(p: Probe) -> None:
        async with sem:
            r = await p.run(ctx)
        if r.status != 0:
            bad.append(r)
        monitor.handle_result(r)

    try:
        # One full round first: connections open and every series exists, as in a
        # monitor that has been running for a while (steady state is what is measured).
        await asyncio.gather(*(one(p) for p in probes))
        await store.flush()
        start = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(one(p) for p in probes))
        await store.flush()
        elapsed = time.perf_counter() - start
    finally:
        await monitor.close()
        await store.close()
    assert not bad, f"{len(bad)} checks failed, e.g. {bad[0].reason}"
    return len(probes) * rounds / elapsed


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--endpoints", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=7, help="rounds of runs (bare and both botwatch)")
    args = ap.parse_args()
    ports = free_ports(4)
    urls = endpoint_urls(ports, args.endpoints)
    with health_server(ports), tempfile.TemporaryDirectory() as tmp:
        loaded = LoadedConfig(
            parse_config(fleet_yaml(urls, f"sqlite:///{tmp}/bench.db"), "bench.yml", {}),
            Path(tmp) / "bench.yml",
            Path(tmp),
        )
        # Both loops run under the interpreter settings `botwatch run` uses (see
        # botwatch.monitor.runtime), so the baseline gets the same collector tuning.
        tune_gc()
        pack = config_rules(loaded)
        runs: dict[str, list[float]] = {"bare": [], "engine": [], "rules": []}
        ratios: dict[str, list[float]] = {"engine": [], "rules": []}
        order = ("bare", "engine", "rules")
        for i in range(args.repeat):
            # Rotate which goes first, and compare within a round: this shared machine's
            # speed drifts by tens of percent within a minute, so a ratio of runs taken
            # seconds apart is far steadier than one of two best-ofs.
            got: dict[str, float] = {}
            for which in order[i % 3 :] + order[: i % 3]:
                if which == "bare":
                    got[which] = await bare_aiohttp(urls, args.rounds)
                else:
                    got[which] = await botwatch_engine(
                        loaded,
                        args.rounds,
                        Path(tmp) / f"bench{i}{which}.db",
                        [] if which == "engine" else pack,
                    )
            for k, v in got.items():
                runs[k].append(v)
            for k in ratios:
                ratios[k].append(got[k] / got["bare"])
            print(
                f"  round {i + 1}: bare aiohttp {got['bare']:,.0f}/s, botwatch {got['engine']:,.0f}/s"
                f" ({ratios['engine'][-1]:.2f}), with rules fed {got['rules']:,.0f}/s"
                f" ({ratios['rules'][-1]:.2f})",
                flush=True,
            )
    med = {k: statistics.median(v) for k, v in runs.items()}
    rat = {k: statistics.median(v) for k, v in ratios.items()}
    print(f"endpoints: {args.endpoints}, concurrency: {CONCURRENCY}, rounds: {args.rounds}, "
          f"runs of each: {args.repeat} (medians; {len(pack)} built-in rules)")  # fmt: skip
    print(f"bare aiohttp loop:               {med['bare']:8,.0f} checks/s")
    print(f"botwatch probe engine:           {med['engine']:8,.0f} checks/s   (target ≥ 4,000)")
    print(f"ratio engine / aiohttp:          {rat['engine']:8.2f}         (target ≥ 0.80)")
    print(f"botwatch + rules fed:            {med['rules']:8,.0f} checks/s")
    print(f"ratio engine + rules / aiohttp:  {rat['rules']:8.2f}")


if __name__ == "__main__":
    asyncio.run(main())
