"""``botwatch sample``: measure one bot's process for a while, write a CSV, summarize.

Replaces the ``performance-monitor.sh`` loop (``ps -o %cpu,%mem,rss ... >> perf.csv``):
the CSV keeps the columns those scripts wrote, every row is flushed as it is taken so a
killed run loses nothing, and the summary gives avg/min/max/p95 per column.
"""

from __future__ import annotations

__all__ = ["CSV_COLUMNS", "csv_row", "sample"]

import csv
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from botwatch.cli._app import app
from botwatch.cli._common import DEFAULT_PATH, ConfigOption, console, err_console, fail, load
from botwatch.config import format_duration, parse_duration
from botwatch.errors import BotwatchError, ProcessNotFound
from botwatch.sampler import (
    ColumnStats,
    ProcessSample,
    Sampler,
    can_locate,
    find_process,
    summarize,
)

CSV_COLUMNS = ("timestamp", "pid", "cpu_percent", "mem_percent", "rss_mb", "vms_mb", "threads",
               "open_files")  # fmt: skip
"""The CSV header, as operators' scripts expect it."""

_MB = 1024 * 1024
# Summary column → (ProcessSample field, divisor, decimals).
_SUMMARY: dict[str, tuple[str, float, int]] = {
    "cpu_percent": ("cpu_percent", 1, 1),
    "mem_percent": ("mem_percent", 1, 2),
    "rss_mb": ("rss", _MB, 2),
    "vms_mb": ("vms", _MB, 2),
    "threads": ("threads", 1, 1),
    "open_files": ("open_files", 1, 1),
}
_DEFAULT_DURATION = 60.0


def _timestamp(ts: float, fine: bool) -> str:
    # Local time with its UTC offset: what `date` shows, and still unambiguous.
    return (
        datetime.fromtimestamp(ts)
        .astimezone()
        .isoformat(timespec="milliseconds" if fine else "seconds")
    )


def csv_row(s: ProcessSample, *, fine: bool = False) -> list[str]:
    """One CSV row for ``s`` in ``CSV_COLUMNS`` order (``fine``: millisecond timestamps)."""
    return [
        _timestamp(s.ts, fine),
        str(s.pid),
        f"{s.cpu_percent:.1f}",
        f"{s.mem_percent:.2f}",
        f"{s.rss / _MB:.2f}",
        f"{s.vms / _MB:.2f}",
        str(s.threads),
        "" if s.open_files is None else str(s.open_files),
    ]


def _summary(samples: Sequence[ProcessSample]) -> dict[str, ColumnStats]:
    fields = summarize(samples, [f for f, _, _ in _SUMMARY.values()])
    out: dict[str, ColumnStats] = {}
    for col, (field, div, _) in _SUMMARY.items():
        st = fields.get(field)
        if st is not None:
            out[col] = ColumnStats(st.count, st.avg / div, st.min / div, st.max / div, st.p95 / div)
    return out


def _duration(option: str, text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as e:
        fail(f"{option}: {e}")


@contextmanager
def _progress(total: int) -> Iterator[Callable[[ProcessSample], None]]:
    """A progress bar on stderr (only on a terminal); yields ``advance(sample)``."""
    progress = Progress(
        TextColumn("[bold]sampling[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    task = progress.add_task("", total=total)

    def advance(s: ProcessSample) -> None:
        desc = f"cpu {s.cpu_percent:.1f}%  rss {s.rss / _MB:.1f}MB"
        progress.update(task, advance=1, description=desc)

    with progress:
        yield advance


def _open_csv(path: Path) -> tuple[TextIO, Any]:
    try:
        f = path.open("w", newline="", encoding="utf-8")
    except OSError as e:
        fail(f"cannot write {path}: {e.strerror}")
    writer = csv.writer(f)
    writer.writerow(CSV_COLUMNS)
    f.flush()
    return f, writer


@app.command()
def sample(
    bot: Annotated[str, typer.Argument(help="The bot to sample, as named in the config.")],
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            "-d",
            metavar="DURATION",
            help="How long to sample: 30s, 10m, 1h (default 1m).",
        ),
    ] = None,
    interval: Annotated[
        str, typer.Option("--interval", "-i", metavar="DURATION", help="Time between samples.")
    ] = "5s",
    count: Annotated[
        int | None,
        typer.Option("--count", "-n", min=1, help="Take this many samples instead of --duration."),
    ] = None,
    csv_path: Annotated[
        Path | None,
        typer.Option("--csv", help="Write each sample to this CSV file as it is taken."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Sample a bot's process (cpu, memory, threads, open files) and summarize it.

    Ctrl-C stops early and still prints what was collected. Exits 1 if the process
    exits during the run, 2 if the bot or its process can't be found.
    """
    every = _duration("--interval", interval)
    if every <= 0:
        fail("--interval must be more than 0")
    if count is not None and duration is not None:
        fail("use --duration or --count, not both")
    if count is None:
        span = _duration("--duration", duration) if duration is not None else _DEFAULT_DURATION
        # Samples at 0, interval, 2×interval … up to and including the duration.
        count = math.floor(span / every + 1e-9) + 1

    loaded = load(config)
    bots = loaded.config.bots
    spec = bots.get(bot)
    if spec is None:
        fail(f"no bot named {bot!r} in {loaded.path}; known bots: {', '.join(bots) or 'none'}")
    if not can_locate(spec):
        fail(
            f"{bot}: don't know how to find its process: give run, process.pidfile or "
            "process.match (systemd/pm2/docker controllers are not supported yet)"
        )
    try:
        located = find_process(spec, loaded)
    except ProcessNotFound as e:
        fail(f"{bot}: process not found: {e}")

    fine = every < 1
    sampler = Sampler()
    samples: list[ProcessSample] = []
    stopped, message = "completed", ""
    out = _open_csv(csv_path) if csv_path is not None else None
    try:
        with _progress(count) as advance:
            start = time.monotonic()
            for k in range(count):
                # Ticks are scheduled from the start, so slow samples don't make the run drift.
                delay = start + k * every - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                try:
                    s = sampler.sample(bot, located.process)
                except ProcessNotFound as e:
                    stopped, message = "process exited", str(e)
                    break
                except BotwatchError as e:
                    stopped, message = "error", str(e)
                    break
                samples.append(s)
                if out is not None:
                    out[1].writerow(csv_row(s, fine=fine))
                    out[0].flush()  # a killed run keeps every row taken so far
                advance(s)
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        if out is not None:
            out[0].close()

    if stopped in ("process exited", "error"):
        err_console.print(
            f"[bold red]error:[/] {escape(message)} after {len(samples)} sample(s); "
            "summarizing what was collected",
            markup=True,
            soft_wrap=True,
        )
    elif stopped == "interrupted":
        err_console.print(f"interrupted after {len(samples)} sample(s)")
    if csv_path is not None:
        err_console.print(
            f"wrote {len(samples)} row(s) to {csv_path}", markup=False, soft_wrap=True
        )

    stats = _summary(samples)
    if as_json:
        doc: dict[str, Any] = {
            "bot": bot,
            "pid": located.pid,
            "found_by": located.how,
            "samples": len(samples),
            "interval": every,
            "started": _timestamp(samples[0].ts, fine) if samples else None,
            "ended": _timestamp(samples[-1].ts, fine) if samples else None,
            "stopped": stopped,
            "message": message or None,
            "csv": str(csv_path) if csv_path is not None else None,
            "columns": {
                col: {k: round(v, 3) for k, v in st.to_dict().items()} for col, st in stats.items()
            },
        }
        console.print_json(json.dumps(doc))
    else:
        _print_table(bot, located.pid, samples, stats)
    if stopped in ("process exited", "error"):
        raise typer.Exit(1)


def _print_table(
    bot: str, pid: int, samples: Sequence[ProcessSample], stats: dict[str, ColumnStats]
) -> None:
    if not samples:
        console.print(f"{bot} (pid {pid}): no samples taken")
        return
    span = samples[-1].ts - samples[0].ts
    table = Table(title=f"{bot} (pid {pid}): {len(samples)} sample(s) over {format_duration(span)}")
    table.add_column("column")
    for name in ("avg", "min", "max", "p95"):
        table.add_column(name, justify="right")
    for col, (_, _, decimals) in _SUMMARY.items():
        st = stats.get(col)
        if st is None:
            table.add_row(col, "n/a", "n/a", "n/a", "n/a")
            continue
        table.add_row(col, *(f"{v:.{decimals}f}" for v in (st.avg, st.min, st.max, st.p95)))
    console.print(table)
