"""Resident memory of a real ``botwatch run``: the 3-bot demo, and 200 simulated bots.

Starts the monitor as a child process (``python -m botwatch run -c CONFIG``, output to
a log file in a fresh temp folder) and samples its RSS with psutil every second for
``--settle`` seconds; reports the sampled peak, the final value and the kernel's
high-water mark (``VmHWM``, the true peak, Linux only). Two scenarios:

demo   ``DemoFleet`` (the fake Telegram API and three SDK bots as real processes) and
       its ``botwatch.yml``, watched twice on the same database: the first start
       creates the schema (imports Alembic), the second finds it there.
fleet  200 simulated bots: one tiny process per bot (pidfile, a log line every few
       seconds), 200 health endpoints from ``_health_server.py`` (one process, a few
       ports, a path per bot), and a config giving each bot ``process``, ``health``,
       ``ports`` and ``logs``, every check every 10 s, process samples every 15 s.

Each run is checked in the monitor's SQLite database: ``probe_results`` rows and
``probe_status`` samples (one per check run; a result row is only kept on a change or
every 5 minutes) from that run, counted by check kind and status; and the log must say
``monitoring N bot(s)``. The fleet run is a first start too (it creates its database).
Every child is stopped (SIGTERM, then SIGKILL) on the way out, on Ctrl-C or SIGTERM too;
the simulated bots also exit by themselves if the benchmark is killed outright.

    .venv/bin/python benchmarks/bench_rss.py [--settle 60] [--bots 200] [--only demo|fleet]

Targets (issue): the 3-bot demo < 80 MB; 200 bots < 150 MB (MB = 10**6 bytes, as in
botwatch's own sizes). The verdict uses the true peak (VmHWM; the sampled peak where
the kernel does not say).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import HERE, free_ports

from botwatch.demo.fleet import DemoFleet

ROOT = HERE.parent
MB = 1_000_000
DEMO_TARGET = 80 * MB
FLEET_TARGET = 150 * MB
STATUS = {0: "ok", 1: "warn", 2: "crit", 3: "unknown"}
READY_LINE = "simbot ready"

# One simulated bot: writes its pidfile, says it is ready, then logs a line every few
# seconds; exits by itself if the benchmark that started it disappears (reparented).
SIMBOT = r"""
import os, sys, time
pidfile, logfile, parent, every = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
with open(pidfile + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.replace(pidfile + ".tmp", pidfile)
log = open(logfile, "a", buffering=1)
name = os.path.basename(logfile)[:-4]
log.write(time.strftime("%Y-%m-%d %H:%M:%S") + f" INFO {name}: {READY}\n")
n = 0
while os.getppid() == parent:
    time.sleep(every)
    n += 1
    log.write(time.strftime("%Y-%m-%d %H:%M:%S") + f" INFO {name}: tick {n}\n")
""".replace("{READY}", READY_LINE)


def mb(n: float | None) -> str:
    return "     -" if n is None else f"{n / MB:6.1f}"


# -- children ---------------------------------------------------------------------------


@contextlib.contextmanager
def no_interrupts() -> Iterator[None]:
    """Hold off Ctrl-C while cleaning up, so a second one cannot leave children behind."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


class Children:
    """Every process this benchmark starts, each in its own process group."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: Sequence[str], **kw: object) -> subprocess.Popen[bytes]:
        kw.setdefault("stdin", subprocess.DEVNULL)
        proc: subprocess.Popen[bytes] = subprocess.Popen(
            list(args),
            start_new_session=True,  # Ctrl-C reaches the benchmark only; it stops them
            **kw,  # type: ignore[call-overload]
        )
        self.procs.append(proc)
        return proc

    def stop(
        self, procs: Sequence[subprocess.Popen[bytes]] | None = None, timeout: float = 10.0
    ) -> None:
        """SIGTERM each process group, SIGKILL what is left after ``timeout``; reap all."""
        todo = list(self.procs if procs is None else procs)
        with no_interrupts():
            for p in todo:
                _signal_group(p, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for p in todo:
                try:
                    p.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    print(f"  pid {p.pid} ignored SIGTERM; killing it", flush=True)
                    _signal_group(p, signal.SIGKILL)
                    p.wait()
                if p in self.procs:
                    self.procs.remove(p)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is not None:
        return  # reaped: its pid may belong to someone else by now
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


# -- one monitor run --------------------------------------------------------------------


@dataclass
class Run:
    """One ``botwatch run`` of ``settle`` seconds and what it showed."""

    label: str
    target: int
    rss: list[int] = field(default_factory=list)
    hwm: int | None = None
    started_after: float | None = None
    """Seconds from spawn to the log's ``monitoring N bot(s)`` line."""
    exit_code: int | None = None
    rows: Counter[tuple[str, int]] = field(default_factory=Counter)
    """probe_results rows written during the run, by (kind, status)."""
    checks: Counter[tuple[str, int]] = field(default_factory=Counter)
    """Check runs during the run (``probe_status`` samples), by (kind, status)."""
    bots_seen: int = 0
    samples: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def peak(self) -> int | None:
        return max(self.rss) if self.rss else None

    @property
    def final(self) -> int | None:
        return self.rss[-1] if self.rss else None

    @property
    def verdict_peak(self) -> int | None:
        return self.hwm if self.hwm is not None else self.peak

    @property
    def passed(self) -> bool:
        peak = self.verdict_peak
        return peak is not None and peak < self.target and not self.problems


def read_hwm(pid: int) -> int | None:
    """The kernel's peak RSS of ``pid`` (``VmHWM``), in bytes; None off Linux."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def tail(path: Path, n: int = 20) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    | " + line for line in lines[-n:])


def run_monitor(
    children: Children,
    run: Run,
    config: Path,
    db: Path,
    log_path: Path,
    settle: float,
    expect_bots: int,
) -> Run:
    """Run ``botwatch run -c config`` for ``settle`` s, sampling its RSS every second."""
    since = time.time()
    mark = log_path.stat().st_size if log_path.exists() else 0
    print(f"[{run.label}] botwatch run -c {config} (log {log_path})", flush=True)
    with log_path.open("ab") as out:
        proc = children.spawn(
            [sys.executable, "-m", "botwatch", "run", "-c", str(config)],
            cwd=config.parent,
            env=child_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    want = f"monitoring {expect_bots} bot(s)"
    try:
        ps = psutil.Process(proc.pid)
        t0 = time.monotonic()
        k = 0
        while (elapsed := time.monotonic() - t0) < settle:
            if proc.poll() is not None:
                run.problems.append(f"monitor exited early with code {proc.returncode}")
                print(f"  monitor exited with code {proc.returncode}:\n{tail(log_path)}")
                break
            with contextlib.suppress(psutil.Error):
                run.rss.append(ps.memory_info().rss)
                run.hwm = read_hwm(proc.pid) or run.hwm
            if run.started_after is None:
                with log_path.open("rb") as f:
                    f.seek(mark)
                    if want.encode() in f.read():
                        run.started_after = elapsed
            if k % 10 == 0 and run.rss:
                print(
                    f"  {elapsed:4.0f}s  rss {mb(run.rss[-1])} MB  peak {mb(run.peak)} MB"
                    f"  hwm {mb(run.hwm)} MB",
                    flush=True,
                )
            k += 1
            time.sleep(max(0.0, t0 + k - time.monotonic()))
    finally:
        t_stop = time.monotonic()
        children.stop([proc], timeout=30.0)
        run.exit_code = proc.returncode
    print(f"  stopped in {time.monotonic() - t_stop:.1f}s, exit code {run.exit_code}", flush=True)
    if run.started_after is None:
        run.problems.append(f"log never said {want!r}")
    if run.exit_code != 0:
        run.problems.append(f"exit code {run.exit_code}")
    read_db(run, db, since)
    if not run.rows:
        run.problems.append("no probe_results rows from this run")
    if not run.checks:
        run.problems.append("no probe_status samples (check runs) from this run")
    return run


def read_db(run: Run, db: Path, since: float) -> None:
    """probe_results rows (by kind and status), bots seen and samples since ``since``."""
    if not db.exists():
        run.problems.append(f"no database at {db}")
        return
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        for kind, status, n in con.execute(
            "SELECT kind, status, count(*) FROM probe_results WHERE ts >= ? GROUP BY 1, 2",
            (since,),
        ):
            run.rows[(kind, status)] = n
        run.bots_seen = con.execute(
            "SELECT count(DISTINCT bot) FROM probe_results WHERE ts >= ?", (since,)
        ).fetchone()[0]
        run.samples = con.execute(
            "SELECT count(*) FROM samples WHERE ts >= ?", (since,)
        ).fetchone()[0]
        # Every check run leaves one probe_status sample (value = status); its kind comes
        # from the check's result rows.
        for kind, status, n in con.execute(
            """
            SELECT k.kind, CAST(s.value AS INTEGER), count(*)
            FROM samples s
            JOIN series se ON se.id = s.series_id AND se.name = 'probe_status'
            JOIN (SELECT DISTINCT bot, "check", kind FROM probe_results) k
              ON k.bot = json_extract(se.labels, '$.bot')
             AND k."check" = json_extract(se.labels, '$.check')
            WHERE s.ts >= ?
            GROUP BY 1, 2
            """,
            (since,),
        ):
            run.checks[(kind, status)] = n
    finally:
        con.close()


def _by_status(counts: Counter[tuple[str, int]], kind: str | None = None) -> str:
    by = Counter[int]()
    for (k, status), n in counts.items():
        if kind is None or k == kind:
            by[status] += n
    return ", ".join(f"{STATUS.get(s, s)} {n:,}" for s, n in sorted(by.items())) or "-"


def print_rows(run: Run) -> None:
    print(
        f"  this run: {sum(run.checks.values()):,} check runs, "
        f"{sum(run.rows.values()):,} probe_results rows from {run.bots_seen} bot(s), "
        f"{run.samples:,} samples"
    )
    print(f"    {'kind':10} {'check runs (probe_status)':32} probe_results rows")
    for kind in sorted({k for k, _ in run.rows} | {k for k, _ in run.checks}):
        print(f"    {kind:10} {_by_status(run.checks, kind):32} {_by_status(run.rows, kind)}")
    print(f"    {'all':10} {_by_status(run.checks):32} {_by_status(run.rows)}")
    if run.started_after is not None:
        print(f"  'monitoring ... bot(s)' logged {run.started_after:.0f}s after spawn")


# -- scenarios --------------------------------------------------------------------------


def storage_db(config: Path) -> Path:
    """The SQLite file a config's ``storage`` names, resolved like botwatch does."""
    url = yaml.safe_load(config.read_text(encoding="utf-8"))["storage"]
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise SystemExit(f"{config}: storage {url!r} is not SQLite")
    path = Path(url[len(prefix) :])
    return path if path.is_absolute() else config.parent / path


def scenario_demo(children: Children, settle: float, keep: bool) -> list[Run]:
    runs = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-rss-demo-"))
    try:
        print(f"[demo] starting the demo fleet in {tmp} ...", flush=True)
        with DemoFleet(tmp) as fleet:
            db = storage_db(fleet.config_path)
            log_path = tmp / "monitor.log"
            for label in ("demo, 1st start (new DB)", "demo, 2nd start (same DB)"):
                run = run_monitor(
                    children,
                    Run(label, DEMO_TARGET),
                    fleet.config_path,
                    db,
                    log_path,
                    settle,
                    expect_bots=3,
                )
                print_rows(run)
                runs.append(run)
                for name, code in fleet.poll():
                    print(f"  note: demo child {name} exited with code {code}")
    finally:
        if keep:
            print(f"[demo] kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return runs


def start_health_server(children: Children, ports: Sequence[int]) -> None:
    proc = children.spawn(
        [sys.executable, str(HERE / "_health_server.py"), *map(str, ports)],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    proc.stdout.close()
    if line != b"ready":
        raise SystemExit(f"the health server did not start (said {line!r})")


def start_simbots(children: Children, tmp: Path, n: int, timeout: float = 60.0) -> None:
    (tmp / "run").mkdir()
    (tmp / "logs").mkdir()
    procs = []
    for i in range(n):
        every = 4.0 + (i % 5) * 0.5  # 4-6 s, so the writes don't all land together
        pidfile, logfile = tmp / "run" / f"bot{i}.pid", tmp / "logs" / f"bot{i}.log"
        argv = [pidfile, logfile, os.getpid(), every]
        procs.append(
            children.spawn(
                [sys.executable, "-I", "-S", "-c", SIMBOT, *map(str, argv)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    deadline = time.monotonic() + timeout
    while missing := [i for i in range(n) if not (tmp / "run" / f"bot{i}.pid").exists()]:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise SystemExit(f"{len(dead)} simulated bot(s) exited while starting")
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(missing)} simulated bot(s) wrote no pidfile in {timeout:g}s")
        time.sleep(0.1)
    rss = sum(p.memory_info().rss for p in map(psutil.Process, (q.pid for q in procs)))
    print(f"[fleet] {n} simulated bots running ({rss / MB:,.0f} MB RSS between them)")


def fleet_config(tmp: Path, ports: Sequence[int], n: int) -> Path:
    bots = {}
    for i in range(n):
        port = ports[i % len(ports)]
        bots[f"bot{i}"] = {
            "process": {"pidfile": f"run/bot{i}.pid"},
            "health": f"http://127.0.0.1:{port}/bot{i}/health/json",
            "ports": [f"127.0.0.1:{port}"],
            "logs": [f"logs/bot{i}.log"],
            "log_freshness": {"max_age": "2m", "ready_line": READY_LINE},
        }
    data = {
        "storage": "sqlite:///.botwatch/botwatch.db",
        "defaults": {"interval": "10s", "sample_interval": "15s"},
        "bots": bots,
    }
    path = tmp / "botwatch.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def scenario_fleet(children: Children, settle: float, n: int, keep: bool) -> Run:
    tmp = Path(tempfile.mkdtemp(prefix="bench-rss-fleet-"))
    started: list[subprocess.Popen[bytes]] = []
    try:
        ports = free_ports(4)
        before = len(children.procs)
        start_health_server(children, ports)
        print(f"[fleet] health server on ports {', '.join(map(str, ports))}", flush=True)
        start_simbots(children, tmp, n)
        started = children.procs[before:]
        config = fleet_config(tmp, ports, n)
        run = run_monitor(
            children,
            Run(f"fleet, {n} simulated bots", FLEET_TARGET),
            config,
            storage_db(config),
            tmp / "monitor.log",
            settle,
            expect_bots=n,
        )
        print_rows(run)
        if run.bots_seen != n:
            run.problems.append(f"results for {run.bots_seen} of {n} bots")
        bad = sum(c for (_, s), c in (run.rows + run.checks).items() if s >= 2)
        if bad:
            run.problems.append(f"{bad:,} critical/unknown results")
        alive = sum(p.poll() is None for p in started)
        if alive != n + 1:
            run.problems.append(f"only {alive - 1} of {n} simulated bots still running")
        return run
    finally:
        children.stop(started or children.procs)
        if keep:
            print(f"[fleet] kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# -- main -------------------------------------------------------------------------------


def summary(runs: Sequence[Run]) -> None:
    print()
    print(f"{'scenario':34} {'peak MB':>8} {'final MB':>9} {'HWM MB':>7} {'target':>9}  result")
    for r in runs:
        verdict = "PASS" if r.passed else "FAIL"
        print(
            f"{r.label:34} {mb(r.peak):>8} {mb(r.final):>9} {mb(r.hwm):>7} "
            f"{'< ' + str(r.target // MB) + ' MB':>9}  {verdict}"
        )
        for p in r.problems:
            print(f"{'':34}   ! {p}")
    print(
        "peak = largest 1 s sample; HWM = the kernel's high-water mark (the verdict uses it);"
        " MB = 10**6 bytes"
    )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so `finally` stops the children on SIGTERM as on Ctrl-C


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--settle", type=float, default=60.0, help="seconds each monitor runs")
    ap.add_argument("--bots", type=int, default=200, help="simulated bots in the fleet")
    ap.add_argument("--only", choices=("demo", "fleet"), help="run one scenario")
    ap.add_argument("--keep", action="store_true", help="keep the temp folders (logs, DB)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    children = Children()
    runs: list[Run] = []
    try:
        if args.only in (None, "demo"):
            runs += scenario_demo(children, args.settle, args.keep)
        if args.only in (None, "fleet"):
            runs.append(scenario_fleet(children, args.settle, args.bots, args.keep))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping every child ...", flush=True)
        return 130
    finally:
        children.stop()
    summary(runs)
    return 0 if runs and all(r.passed for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
