"""Store benchmark: a 7-day, 1-hour-step range query over a month of fleet data.

Builds 30 days of 1-minute data for 200 bots x 10 series (86.4 million 1m rows)
directly in ``samples_1m``, folds it into ``samples_1h`` with the store's own
``rollup()``, then times ``Store.range(name, {"bot": ...}, now - 7d, now, step=3600)``
for one series: the median of 20 runs, on SQLite and on PostgreSQL. Target: < 50 ms.

Baseline (same run, same data): the same hourly averages computed by SQL straight from
the 1m table - what the query would cost without the 1h rollup.

    .venv/bin/python benchmarks/bench_store.py            # full size, both databases
    .venv/bin/python benchmarks/bench_store.py --quick    # 20 bots x 10 series x 30 days
    .venv/bin/python benchmarks/bench_store.py --backend sqlite

PostgreSQL: ``$BOTWATCH_BENCH_PG`` (default ``postgresql://root@127.0.0.1:5432/test``);
the benchmark works in its own schema ``bench_store`` and drops it at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from sqlalchemy import make_url, text

from botwatch.series import Sample
from botwatch.store import Store
from botwatch.store.tables import MetaKey

DAY = 86_400
HOUR = 3_600
SERIES_NAMES = [
    "process_cpu_percent",
    "process_rss_bytes",
    "process_threads",
    "process_open_fds",
    "probe_latency_seconds",
    "probe_up",
    "log_lines_total",
    "log_errors_total",
    "delivery_success_ratio",
    "updates_per_second",
]
PG_URL = os.environ.get("BOTWATCH_BENCH_PG", "postgresql://root@127.0.0.1:5432/test")
PG_SCHEMA = "bench_store"
TARGET_MS = 50.0


def log(msg: str) -> None:
    print(msg, flush=True)


def build(store: Store, bots: int, days: int, end: int, say: Callable[[str], None]) -> None:
    """Series through the real write path; 1m rows by SQL; 1h rows by ``rollup()``."""
    start = end - days * DAY
    # One raw sample per series at `end` creates the series exactly as the writer does.
    seeds = [
        Sample(name, {"bot": f"bot-{b:03d}"}, float(end), 0.0)
        for b in range(bots)
        for name in SERIES_NAMES
    ]
    store.write_now(samples=seeds)
    pg = store.dialect == "postgresql"
    # A deterministic wavy value per (series, minute); count/sum/min/max/last as a
    # minute of four 15-second samples would leave them.
    v = "CAST(((m.b / 60) * 7 + s.id * 13) % 100 AS DOUBLE PRECISION)"
    cols = 'samples_1m (series_id, bucket, "count", "sum", "min", "max", "last")'
    values = f"s.id, m.b, 4, 4 * {v}, {v} - 1, {v} + 1, {v}"
    with store.engine.connect() as conn:
        ids = sorted(conn.execute(text("SELECT id FROM series")).scalars())
    blocks = 10
    per = -(-len(ids) // blocks)
    t0 = time.perf_counter()
    rows = 0
    for k in range(blocks):
        chunk = ids[k * per : (k + 1) * per]
        if not chunk:
            break
        where = f"s.id BETWEEN {chunk[0]} AND {chunk[-1]}"
        # Series by series (the primary key's order): about twice as fast to load as
        # minute by minute, and it only makes the 1m-table baseline look better.
        if pg:
            sql = (
                f"INSERT INTO {cols} SELECT {values} FROM series s "
                f"CROSS JOIN generate_series({start}, {end - 60}, 60) AS m(b) "
                f"WHERE {where} ORDER BY s.id, m.b"
            )
        else:
            sql = (
                f"WITH RECURSIVE m(b) AS (SELECT {start} UNION ALL SELECT b + 60 FROM m "
                f"WHERE b + 60 < {end}) INSERT INTO {cols} SELECT {values} "
                f"FROM series s CROSS JOIN m WHERE {where}"
            )
        with store.engine.begin() as conn:
            if pg:
                conn.execute(text("SET LOCAL synchronous_commit = off"))
            conn.execute(text(sql))
        rows += len(chunk) * days * 1440
        rate = rows / (time.perf_counter() - t0)
        say(f"1m rows: {rows / 1e6:5.1f} M ({rate / 1e6:.2f} M rows/s)")
    with store.engine.begin() as conn:
        # The marks the raw -> 1m fold (and raw retention) would have left behind had
        # these rows come from raw samples: 1m complete up to `end`, no raw before it.
        for key, value in (
            (MetaKey.WM_1M, end),
            (MetaKey.FLOOR_RAW, end),
            (MetaKey.DIRTY_1H, start),
        ):
            conn.execute(text("UPDATE meta SET value = :v WHERE key = :k"), {"v": value, "k": key})
        if pg:
            conn.execute(text("ANALYZE"))
    t1 = time.perf_counter()
    stats = store.rollup(now=end)
    took = time.perf_counter() - t1
    say(f"rollup() 1m -> 1h: {stats.rows_1h} rows in {took:.1f} s")
    if pg:
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def measure(store: Store, end: int, runs: int) -> tuple[list[float], list[float], int]:
    """Times of ``Store.range`` and of the 1m-table baseline, and points returned."""
    bot = {"bot": "bot-017"}
    name = "process_rss_bytes"
    start = end - 7 * DAY
    cold = time.perf_counter()
    (first,) = store.range(name, bot, start, end, step=HOUR)
    log(f"  first (cold) query: {(time.perf_counter() - cold) * 1000:.1f} ms")
    ours: list[float] = []
    for _ in range(runs):
        t = time.perf_counter()
        (got,) = store.range(name, bot, start, end, step=HOUR)
        ours.append((time.perf_counter() - t) * 1000)
        assert got.points == first.points
    sql = text(
        "SELECT (bucket / 3600) * 3600 AS h, sum(sum) / sum(count) FROM samples_1m "
        "WHERE series_id = (SELECT id FROM series WHERE name = :n AND labels_key = :lk) "
        "AND bucket >= :lo AND bucket < :hi GROUP BY h ORDER BY h"
    )
    params = {"n": name, "lk": '{"bot":"bot-017"}', "lo": start, "hi": end}
    base: list[float] = []
    for _ in range(runs):
        t = time.perf_counter()
        with store.engine.connect() as conn:
            rows = conn.execute(sql, params).all()
        base.append((time.perf_counter() - t) * 1000)
    # Same hourly averages (the range also has the hour starting at `end`).
    ours_points = [(t, v) for t, v in first.points if t < end]
    assert [float(h) for h, _ in rows] == [t for t, _ in ours_points]
    assert all(abs(a - b) < 1e-9 for (_, a), (_, b) in zip(rows, ours_points, strict=True))
    return ours, base, len(first.points)


def report(backend: str, ours: list[float], base: list[float], points: int) -> tuple[float, float]:
    med, base_med = statistics.median(ours), statistics.median(base)
    verdict = "OK" if med < TARGET_MS else "MISSED"
    log(f"  Store.range 7d @1h ({points} points): median {med:.2f} ms over {len(ours)} runs "
        f"(min {min(ours):.2f}, max {max(ours):.2f}) - target < {TARGET_MS:.0f} ms: {verdict}")  # fmt: skip
    log(f"  baseline, SQL over the 1m table: median {base_med:.2f} ms "
        f"-> rollup path is {base_med / med:.1f}x faster")  # fmt: skip
    return med, base_med


def pg_setup() -> str:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {PG_SCHEMA}")
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={PG_SCHEMA}"})
    return url.render_as_string(hide_password=False)


def pg_teardown() -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 bots instead of 200")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    bots, days = (20, 30) if args.quick else (200, 30)
    end = int(time.time()) // HOUR * HOUR
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench_store_"))
    urls: dict[str, str] = {}
    if args.backend in ("sqlite", "both"):
        urls["sqlite"] = f"sqlite:///{tmp}/bench.db"
    if args.backend in ("postgresql", "both"):
        try:
            urls["postgresql"] = pg_setup()
        except psycopg.OperationalError as e:
            log(f"PostgreSQL not reachable at {PG_URL}: {e}")
            return 1
    n = bots * len(SERIES_NAMES)
    log(f"building {n} series x {days} days = {n * days * 1440 / 1e6:.1f} M 1m rows "
        f"on {', '.join(urls)} (in parallel: SQLite works in this process, PostgreSQL in "
        "its server)")  # fmt: skip
    stores = {b: Store.open(u) for b, u in urls.items()}
    results: dict[str, tuple[float, float]] = {}
    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            jobs = [
                pool.submit(build, st, bots, days, end, lambda m, b=b: log(f"  [{b}] {m}"))
                for b, st in stores.items()
            ]
            for job in jobs:
                job.result()
        log(f"built in {time.perf_counter() - started:.0f} s")
        for backend, st in stores.items():
            log(f"== {backend}")
            results[backend] = report(backend, *measure(st, end, args.runs))
    finally:
        for st in stores.values():
            st.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
        if "postgresql" in urls:
            pg_teardown()
    log(f"== summary ({time.perf_counter() - started:.0f} s in all)")
    for backend, (med, base) in results.items():
        log(f"  {backend:10s} 7d @1h range: {med:7.2f} ms median (baseline {base:.2f} ms, "
            f"{base / med:.1f}x); target < {TARGET_MS:.0f} ms")  # fmt: skip
    return 0 if all(med < TARGET_MS for med, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
