"""How much memory botwatch's dependencies take before botwatch does anything.

Issue 3 asks for ``botwatch run`` (one bot, a health check, a webhook channel) to hold
under half of a Prometheus + blackbox exporter + Alertmanager stack's resident memory
(≈ 99 MB here, so < 50 MB). This prints the floor under that: a fresh interpreter
importing, step by step, the libraries DESIGN.md chooses (each step adds to the one
before), then botwatch's monitor itself, each in a new process, as RSS in MB (10**6
bytes). Compare with ``benchmarks/bench_notify.py``'s "botwatch RSS".

    .venv/bin/python benchmarks/bench_rss_floor.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

STEPS: list[tuple[str, list[str]]] = [
    ("python + asyncio", ["asyncio"]),
    ("+ aiohttp (HTTP probes and channels)", ["aiohttp"]),
    ("+ psutil, PyYAML, sqlite3, orjson", ["psutil", "yaml", "sqlite3", "orjson"]),
    ("+ lark (rule expressions)", ["lark"]),
    ("+ croniter, tenacity, cachetools", ["croniter", "tenacity", "cachetools"]),
    ("+ prometheus_client (/metrics)", ["prometheus_client"]),
    ("+ SQLAlchemy (the store)", ["sqlalchemy"]),
    ("+ pydantic (config)", ["pydantic"]),
    ("+ Typer, Rich (CLI)", ["typer", "rich.console", "rich.table", "rich.logging"]),
    ("+ botwatch's monitor (botwatch run)", ["botwatch.monitor", "botwatch.cli.run"]),
]

_MEASURE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
with open("/proc/self/status") as f:
    print(next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")))
"""


def rss_mb(modules: list[str]) -> float:
    """RSS in MB of a fresh interpreter after importing ``modules``."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *modules], capture_output=True,
                         text=True, check=True)  # fmt: skip
    return int(out.stdout) * 1024 / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    modules: list[str] = []
    previous = 0.0
    for label, more in STEPS:
        modules += more
        mb = statistics.median(rss_mb(modules) for _ in range(args.repeat))
        print(f"{mb:6.1f} MB  {f'+{mb - previous:.1f}' if previous else '':>6}  {label}")
        previous = mb
    print("target of issue 3: < 50 MB (half of the Prometheus stack's ≈ 99 MB)")


if __name__ == "__main__":
    main()
