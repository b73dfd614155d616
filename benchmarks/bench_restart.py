"""Managed child killed with SIGKILL → running again: botwatch vs supervisord.

Both supervise the same dummy process (a Python that sleeps), each started as its own
real process (``botwatch run`` with a ``run:`` bot; ``supervisord -n`` with
``autorestart=true``). The benchmark kills the child with SIGKILL and polls (every
millisecond, from outside) until a new child with the same command line exists;
repeated ``--kills`` times, waiting out each tool's minimum uptime in between.

    .venv/bin/pip install -e '.[bench]'   # supervisor
    .venv/bin/python benchmarks/bench_restart.py [--kills 20]

Target (issue 3): median ≤ 0.1 s; printed with the ratio to supervisord measured here.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

DUMMY = "import time\nwhile True: time.sleep(3600)\n"


def _children(parent: int, marker: str) -> list[psutil.Process]:
    try:
        procs = psutil.Process(parent).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for p in procs:
        try:
            if marker in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


def _wait_child(parent: int, marker: str, not_pid: int | None, timeout: float) -> tuple[int, float]:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        found = [p for p in _children(parent, marker) if p.pid != not_pid]
        if found:
            return found[0].pid, time.perf_counter() - start
        time.sleep(0.001)
    raise RuntimeError(f"no new child within {timeout}s")


def measure(parent: int, marker: str, kills: int, settle: float) -> list[float]:
    """Kill the supervised child ``kills`` times; seconds until a new one runs."""
    pid, _ = _wait_child(parent, marker, None, 60)
    times = []
    for _ in range(kills):
        time.sleep(settle)  # past min uptime, so no backoff applies
        psutil.Process(pid).kill()
        pid, took = _wait_child(parent, marker, pid, 30)
        times.append(took)
    return times


def run_botwatch(tmp: Path, dummy: Path, kills: int) -> list[float]:
    (tmp / "botwatch.yml").write_text(
        "storage: sqlite:///bw.db\n"
        "bots:\n"
        f"  dummy:\n    run: {{command: '{sys.executable} {dummy}', min_uptime: 1s, "
        "max_restarts_per_hour: 1000}\n"
        "    checks: {disk: {enabled: false}}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "botwatch", "run", "-c", "botwatch.yml", "--log-level", "error"],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return measure(proc.pid, str(dummy), kills, settle=1.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def run_supervisord(tmp: Path, dummy: Path, kills: int) -> list[float] | None:
    exe = shutil.which("supervisord") or str(Path(sys.executable).with_name("supervisord"))
    if not Path(exe).exists():
        return None
    conf = tmp / "supervisord.conf"
    conf.write_text(
        "[supervisord]\n"
        f"logfile={tmp}/supervisord.log\npidfile={tmp}/supervisord.pid\nnodaemon=true\n"
        "[program:dummy]\n"
        f"command={sys.executable} {dummy}\nautorestart=true\nstartsecs=1\nstartretries=100\n"
    )
    proc = subprocess.Popen([exe, "-n", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        return measure(proc.pid, str(dummy), kills, settle=1.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--kills", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        dummy = tmp / "dummy_bot.py"
        dummy.write_text(DUMMY)
        ours = run_botwatch(tmp, dummy, args.kills)
        theirs = run_supervisord(tmp, dummy, args.kills)
    med = statistics.median(ours)
    print(f"kills: {args.kills}")
    print(
        f"botwatch:    median {med * 1000:7.1f} ms, max {max(ours) * 1000:7.1f} ms   (target ≤ 100 ms)"
    )
    if theirs is None:
        print("supervisord: not installed (pip install -e '.[bench]')")
        return
    med_s = statistics.median(theirs)
    print(f"supervisord: median {med_s * 1000:7.1f} ms, max {max(theirs) * 1000:7.1f} ms")
    print(f"ratio botwatch / supervisord: {med / med_s:.3f}  ({med_s / med:.0f}x faster)")


if __name__ == "__main__":
    main()
