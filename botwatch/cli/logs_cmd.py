"""``botwatch logs errors FILE|-``: a log's errors grouped into patterns, with their
category and what the runbooks say to do — ``grep ERROR | sort | uniq -c`` that
understands timestamps, ids and tracebacks. ``botwatch logs secrets``: tokens and
passwords that leaked into logs, redacted."""

from __future__ import annotations

import dataclasses
import functools
import glob
import json
import os
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table

from botwatch.cli._app import app
from botwatch.cli._common import DEFAULT_PATH, ConfigOption, console, err_console, fail, load
from botwatch.config.units import format_duration, parse_duration
from botwatch.errors import ConfigError
from botwatch.logs.errors import ErrorScan, RecordPatterns, Window, scan_errors
from botwatch.logs.follow import Follower, Position
from botwatch.logs.formats import Format, user_format
from botwatch.logs.parse import LogParser
from botwatch.logs.patterns import ErrorPatterns, Pattern
from botwatch.logs.read import LineReader, decode
from botwatch.logs.record import LEVELS, LogRecord
from botwatch.logs.secrets import scan_secrets
from botwatch.logs.sources import PREFIXES

if TYPE_CHECKING:
    from rich.progress import Progress

    from botwatch.config import LoadedConfig
    from botwatch.logs.live import LiveSource
    from botwatch.logs.sources import Source

logs_app = typer.Typer(
    help="Read bots' logs: errors grouped into patterns, leaked secrets.", no_args_is_help=True
)
app.add_typer(logs_app, name="logs")

PROGRESS_OVER = 20_000_000
"""Files larger than this (bytes) get a progress bar (when stderr is a terminal)."""


def _time(value: str | None, what: str, tz: ZoneInfo) -> float | None:
    """``1h``/``7d`` (that long ago) or an ISO time (naive: in ``tz``)."""
    if value is None:
        return None
    try:
        return time.time() - parse_duration(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{what} {value!r}: give a duration (1h, 7d) or an ISO time (2026-11-30T08:00)")
    return (dt if dt.tzinfo else dt.replace(tzinfo=tz)).timestamp()


@functools.cache
def _config(config: Path) -> LoadedConfig | None:
    """``config`` loaded once per command (a bot's files, its stored patterns and its
    extraction rules all read it); None when there is no such file."""
    return load(config) if config.exists() else None


def _level(level: str) -> int:
    """``--level`` checked: its place in ``LEVELS``."""
    if level not in LEVELS:
        fail(f"--level must be one of {', '.join(LEVELS)}, not {level!r}")
    return LEVELS.index(level)


def _options(
    tz_name: str, grep: str | None, fmt: str | None, since: str | None, until: str | None
) -> tuple[ZoneInfo, re.Pattern[str] | None, Format | None, Window]:
    """The options every ``logs`` command shares, checked: exit 2 saying what is wrong."""
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--tz: unknown time zone {tz_name!r}")
    try:
        pattern = re.compile(grep) if grep else None
    except re.error as e:
        fail(f"--grep: not a valid regex: {e}")
    try:
        line_format = user_format(fmt) if fmt else None
    except ConfigError as e:
        fail("; ".join(str(i) for i in e.issues))
    return (
        tz,
        pattern,
        line_format,
        Window(_time(since, "--since", tz), _time(until, "--until", tz)),
    )


def _sources(source: str, config: Path = DEFAULT_PATH) -> list[str]:
    """``-``, a glob, a file, a named source (``cmd:…``, ``journald:UNIT``,
    ``docker:NAME``, ``pm2:APP``) — or a bot of the config (its ``logs:``)."""
    if source == "-":
        return ["-"]
    if not Path(source).exists() and not set("*?[/:") & set(source) and config.exists():
        found = _bot_files(source, config)
        if found is not None:
            return found
    if not Path(source).exists() and source.startswith(PREFIXES):
        named = _named(source)
        if named.kind == "pm2":
            from botwatch.logs.sources import pm2_log_paths

            present = [p for p in pm2_log_paths(named.target) if Path(p).is_file()]
            if not present:
                fail(f"pm2 has no log files for {named.target!r} "
                     f"({', '.join(pm2_log_paths(named.target))})")  # fmt: skip
            return present
        return [source]
    if set("*?[") & set(source):
        found = sorted(glob.glob(source))
        if not found:
            fail(f"no file matches {source!r}")
        return found
    if not Path(source).exists():
        fail(f"no such file: {source}")
    if Path(source).is_dir():
        fail(f"{source} is a folder; give a file or a glob such as '{source}/*.log'")
    return [source]


def _named(name: str) -> Source:
    from botwatch.errors import LogSourceError
    from botwatch.logs.sources import parse_source

    try:
        return parse_source(name)
    except LogSourceError as e:
        fail(str(e))


def _bot_files(bot: str, config: Path) -> list[str] | None:
    """The logs of ``bot`` in ``config``: files that exist and named sources (None: no
    such bot)."""
    from botwatch.probes.logfile import command_log_sources, log_file_paths

    loaded = _config(config)
    spec = loaded.config.bots.get(bot) if loaded is not None else None
    if loaded is None or spec is None:
        return None
    if not spec.logs:
        fail(f"bot {bot!r} has no logs in {config}: add logs: [path] to it")
    commands = [str(s) for s in command_log_sources(spec)]
    present = [f for f in log_file_paths(loaded, spec) if Path(f).is_file()]
    if not present and not commands:
        fail(f"none of {bot}'s log files exist yet: {', '.join(spec.logs)}")
    return present + commands


@contextmanager
def _progress(names: list[str]) -> Iterator[Progress | None]:
    """A progress bar on stderr while large files are read (None: no bar)."""
    big = err_console.is_terminal and any(
        Path(n).is_file() and Path(n).stat().st_size > PROGRESS_OVER for n in names)  # fmt: skip
    if not big:
        yield None
        return
    # Redrawn as bytes are read, not by a thread: a large file is scanned by a forked
    # child (botwatch.logs.pipeline), and forking a threaded process is not safe.
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    progress = Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
        TimeRemainingColumn(), console=err_console, transient=True, auto_refresh=False,
    )  # fmt: skip
    with progress:
        yield progress


@contextmanager
def _open(
    name: str, progress: Progress | None
) -> Iterator[tuple[BinaryIO, Callable[[int], None] | None]]:
    """``name`` opened for reading, with the function that moves its progress bar."""
    if name == "-":
        yield sys.stdin.buffer, None
        return
    if name.startswith(PREFIXES) and not Path(name).exists():
        from botwatch.errors import LogSourceError
        from botwatch.logs.sources import open_command

        try:
            with open_command(_named(name)) as stream:
                yield stream, None
        except LogSourceError as e:
            fail(str(e))
        return
    with open(name, "rb") as f:
        if progress is None:
            yield f, None
            return
        task = progress.add_task(Path(name).name, total=Path(name).stat().st_size)
        drawn = 0.0

        def advance(n: int) -> None:
            nonlocal drawn
            progress.advance(task, n)
            if time.monotonic() - drawn >= 0.1:  # ten times a second, as rich's thread
                progress.refresh()
                drawn = time.monotonic()

        yield f, advance


def _trend(p: Pattern, compared: bool) -> str:
    if not compared:
        return ""  # no --since: no window before this one to compare with
    t = p.trend
    if t is None:
        return "new" if p.count else ""
    if t >= 1.5:
        return f"[red]↑ ×{t:.1f}[/]"
    if t <= 0.67:
        return f"[green]↓ ×{t:.1f}[/]"
    return "→"


def _when(ts: float | None, tz: ZoneInfo) -> str:
    return "—" if ts is None else datetime.fromtimestamp(ts, tz).strftime("%m-%d %H:%M:%S")


@logs_app.command("errors")
def logs_errors(
    source: Annotated[
        str, typer.Argument(help="A bot (its logs: files), a log file, a glob, or - for stdin.")
    ],
    since: Annotated[str | None, typer.Option("--since", help="1h, 7d or an ISO time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="1h, 7d or an ISO time.")] = None,
    level: Annotated[str, typer.Option("--level", help="Lowest level shown.")] = "error",
    grep: Annotated[str | None, typer.Option("--grep", help="Only messages matching.")] = None,
    top: Annotated[int, typer.Option("--top", help="Patterns shown.")] = 20,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Line format: a regex with named groups or "
            "'<Date> <Time> <Level> <Component>: <Content>'.",
        ),
    ] = None,
    tz_name: Annotated[str, typer.Option("--tz", help="Zone of times without one.")] = "UTC",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    config: ConfigOption = DEFAULT_PATH,
    records: Annotated[
        bool,
        typer.Option(
            "--records",
            help="One JSON line per record (every level) with its "
            "pattern id, to check the grouping line by line.",
        ),
    ] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep the table up to date as the logs grow "
            "(a pipe: as lines come), until Ctrl-C; with --json, one line per "
            "new error.",
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between looks when following.")
    ] = 1.0,
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="Only patterns first seen in the last 24 h (for a bot: "
            "by what botwatch run stored; else within this read).",
        ),
    ] = False,
) -> None:
    """Group a log's errors into patterns: count, first/last seen, category, advice."""
    _level(level)
    tz, pattern, line_format, window = _options(tz_name, grep, fmt, since, until)
    names = _sources(source, config)
    known = _known(source, config) if not records else None
    if follow:
        if records:
            fail("--records reads a log once; leave out --follow")
        from botwatch.cli.logs_follow import follow_errors

        def render(patterns: ErrorPatterns, lines: int) -> Group:
            found = patterns.top()
            head = (f"[bold]{escape(source)}[/] (following): {lines:,} lines, "
                    f"{patterns.records:,} error records in {len(found):,} patterns")  # fmt: skip
            return _report(head, found, top, tz, compared=window.since is not None,
                           since_col=known is not None, day_ago=time.time() - 86400)  # fmt: skip

        follow_errors(names, fmt=line_format, tz=tz, level=level, window=window, grep=pattern,
                      as_json=as_json, interval=interval, render=render, known=known)  # fmt: skip
        return
    scans: list[tuple[str, ErrorScan]] = []
    on_record = RecordPatterns() if records else None

    with _progress([] if records else names) as progress:
        for name in names:
            with _open(name, progress) as (stream, advance):
                scans.append((name, scan_errors(
                    stream, fmt=line_format, tz=tz, level=level, window=window, grep=pattern,
                    on_record=on_record, progress=advance, known=known, parallel=True,
                )))  # fmt: skip
    if on_record is not None:
        on_record.write(sys.stdout)
        return
    day_ago = time.time() - 86400
    for name, scan in scans:
        found = scan.patterns.top()
        if new:
            found = [p for p in found if _is_new(p, day_ago, stored=known is not None)]
        if as_json:
            print(json.dumps({
                "source": name, "lines": scan.lines, "bytes": scan.bytes,
                "format": scan.format, "unparsed": scan.unparsed, "cut": scan.cut,
                "errors": scan.patterns.records,
                "patterns": [p.to_json() | ({"new": _is_new(p, day_ago, stored=True)}
                                            if known is not None else {})
                             for p in found[:top]],
            }))  # fmt: skip
        else:
            _render(name, scan, found, top, tz, compared=window.since is not None,
                    since_col=known is not None, day_ago=day_ago)  # fmt: skip


def _is_new(p: Pattern, day_ago: float, *, stored: bool) -> bool:
    """First seen in the last day: per the store (``stored``), else per this read."""
    if stored:
        return p.known_since is None or p.known_since >= day_ago
    return p.first_seen is None or p.first_seen >= day_ago


def _known(source: str, config: Path) -> list[tuple[str, str | None, float]] | None:
    """The patterns ``botwatch run`` stored for the bot ``source`` (oldest first); None
    for a file, or when there is no store yet to ask."""
    if source == "-" or Path(source).exists() or set("*?[/") & set(source):
        return None
    loaded = _config(config)
    if loaded is None or source not in loaded.config.bots:
        return None
    bot = source
    url = loaded.storage_url
    if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).exists():
        return None  # botwatch run never ran here: nothing is known (and nothing created)
    from botwatch.errors import BotwatchError
    from botwatch.store import Store

    try:
        with Store.open(url) as store:
            stored = store.log_positions.patterns(bot)
    except BotwatchError as e:
        err_console.print(f"[yellow]![/] cannot read stored patterns ({e}); showing this read only")
        return None
    return [(p.text, p.exc_type, p.first_seen) for p in reversed(stored)]


def _render(
    name: str, scan: ErrorScan, found: list[Pattern], top: int, tz: ZoneInfo, *,
    compared: bool, since_col: bool, day_ago: float,
) -> None:  # fmt: skip
    head = (f"[bold]{escape(name)}[/]: {scan.lines:,} lines, {scan.patterns.records:,} "
            f"error records in {len(found):,} patterns")  # fmt: skip
    if scan.format:
        head += f" [dim](format: {scan.format})[/]"
    console.print(_report(head, found, top, tz, compared=compared, since_col=since_col,
                          day_ago=day_ago))  # fmt: skip
    problems = []
    if scan.unparsed:
        problems.append(f"{scan.unparsed:,} lines in no known format (counted as they are)")
    if scan.cut:
        problems.append(f"{scan.cut:,} lines over 16 MB cut")
    for problem in problems:
        console.print(f"[yellow]![/] {problem}")


def _report(
    head: str, found: list[Pattern], top: int, tz: ZoneInfo, *, compared: bool,
    since_col: bool, day_ago: float,
) -> Group:  # fmt: skip
    """The headline, the table of patterns and each category's advice."""
    parts: list[RenderableType] = [head]
    if not found:
        parts.append("[green]✓[/] no errors")
        return Group(*parts)
    table = Table(show_edge=False, pad_edge=False)
    cols = ["#", "count", "pattern", "category", "first", "last", "trend"]
    for col in cols + (["known since"] if since_col else []):
        table.add_column(col, overflow="fold")
    for p in found[:top]:
        row = [str(p.id), f"{p.count:,}", escape(p.text), p.category.title,
               _when(p.first_seen, tz), _when(p.last_seen, tz), _trend(p, compared)]  # fmt: skip
        if since_col:
            row.append("[red]new[/]" if _is_new(p, day_ago, stored=True)
                       else _when(p.known_since, tz))  # fmt: skip
        table.add_row(*row)
    parts.append(table)
    if len(found) > top:
        parts.append(f"[dim]…and {len(found) - top} more patterns (--top)[/]")
    seen: list[str] = []
    for p in found[:top]:
        c = p.category
        if c.name != "other" and c.name not in seen:
            seen.append(c.name)
            extra = (f" (retry_after up to {format_duration(p.retry_after)})"
                     if p.retry_after else "")  # fmt: skip
            parts.append(f"[bold]{c.title}[/]{extra}: {c.action}")
    return Group(*parts)


@logs_app.command("secrets")
def logs_secrets(
    source: Annotated[
        str, typer.Argument(help="A bot (its logs:), a log file, a glob, a named source, or -.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Find secrets leaked into logs (bot tokens, API keys, passwords in URLs), shown
    redacted. Exit 1 when any is found."""
    found_any = False
    for name in _sources(source, config):
        with _open(name, None) as (stream, _):
            scan = scan_secrets(stream)
        found_any = found_any or bool(scan.findings)
        if as_json:
            print(json.dumps({"source": name, "lines": scan.lines,
                              "findings": [dataclasses.asdict(f) for f in scan.findings]}))  # fmt: skip
            continue
        if not scan.findings:
            console.print(f"[green]✓[/] {escape(name)}: no secrets in {scan.lines:,} lines")
            continue
        table = Table(show_edge=False, pad_edge=False)
        for col in ("kind", "value (redacted)", "first line", "times"):
            table.add_column(col)
        for f in scan.findings:
            table.add_row(f.kind, escape(f.redacted), str(f.first_line), str(f.count))
        console.print(f"[red]✗[/] [bold]{escape(name)}[/]: {len(scan.findings)} secret(s) "
                      "leaked; rotate them and stop logging them")  # fmt: skip
        console.print(table)
    if found_any:
        raise typer.Exit(1)


_LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "yellow", "error": "red",
                "critical": "bold red"}  # fmt: skip


def _show(rec: LogRecord, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"line": rec.line, "ts": rec.ts, "level": rec.level,
                          "logger": rec.logger, "message": rec.message,
                          "extra": rec.extra, "exception": rec.exc_type}), flush=True)  # fmt: skip
        return
    style = _LEVEL_STYLE.get(rec.level or "", "")
    when = datetime.fromtimestamp(rec.ts).strftime("%m-%d %H:%M:%S ") if rec.ts else ""
    head = f"{when}{(rec.level or '-').upper():<8} {rec.message}"
    console.print(f"[{style}]{escape(head)}[/]" if style else escape(head), soft_wrap=True)
    for extra in rec.extra:
        console.print(f"  {escape(extra)}" if not extra.startswith((" ", "\t")) else escape(extra),
                      soft_wrap=True, style="dim")  # fmt: skip


@logs_app.command("tail")
def logs_tail(
    source: Annotated[
        str, typer.Argument(help="A log file, a bot, journald:UNIT, docker:NAME, cmd:…, or -.")
    ],
    lines: Annotated[int, typer.Option("-n", "--lines", help="Records shown first.")] = 10,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep showing new records (through rotation and truncation) until Ctrl-C.",
        ),
    ] = False,
    level: Annotated[str, typer.Option("--level", help="Lowest level shown.")] = "debug",
    grep: Annotated[str | None, typer.Option("--grep", help="Only messages matching.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON record per line.")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between looks.")] = 0.25,
) -> None:
    """The last records of a log, parsed (levels, tracebacks joined); -f to follow."""
    floor = _level(level)
    try:
        pattern = re.compile(grep) if grep else None
    except re.error as e:
        fail(f"--grep: not a valid regex: {e}")
    names = _sources(source)
    if len(names) != 1:
        fail(f"tail takes one log; {source!r} names {len(names)} ({', '.join(names)})")
    name = names[0]

    def wanted(rec: LogRecord) -> bool:
        if rec.level is not None and LEVELS.index(rec.level) < floor and rec.exc_type is None:
            return False
        return pattern is None or bool(pattern.search(rec.message))

    parser = LogParser()
    follower: LiveSource
    is_file = name != "-" and Path(name).is_file()
    if follow and not is_file:
        # Followed from now (a pipe: as its lines come; it ends when the pipe does).
        from botwatch.logs.live import live_source

        follower = live_source(name)
    else:
        last: deque[LogRecord] = deque(maxlen=max(lines, 0))
        with _open(name, None) as (stream, _):
            for rec in parser.records(LineReader(stream).lines_of()):
                if wanted(rec):
                    last.append(rec)
            if is_file:
                position = Position(os.fstat(stream.fileno()).st_ino, stream.tell())
        for rec in last:
            _show(rec, as_json)
        if not follow:
            return
        follower = Follower(name, position=position)
    try:
        while True:
            raw = follower.poll()
            # A record is shown once the next one starts, or after a quiet look (its
            # traceback's lines come with it).
            recs = parser.records([decode(r) for r in raw], hold=True) if raw else parser.flush()
            for rec in recs:
                if wanted(rec):
                    _show(rec, as_json)
            if getattr(follower, "eof", False) and parser.held is None:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        follower.close()


# The report commands (stats, latency, commands, delivery, security) register on logs_app.
from botwatch.cli import logs_report  # noqa: E402, F401
