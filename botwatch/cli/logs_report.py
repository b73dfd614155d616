"""``botwatch logs stats|latency|commands|delivery|security``: what a whole log says —
the runbook's ``grep "response time" | awk`` and ``grep -c "Notifications sent"``
answered directly, every record parsed and run through the extraction rules."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table

from botwatch.cli._common import DEFAULT_PATH, ConfigOption, console, fail
from botwatch.cli.logs_cmd import (
    _config,
    _level,
    _open,
    _options,
    _progress,
    _sources,
    _time,
    logs_app,
)  # fmt: skip
from botwatch.logs.errors import Window
from botwatch.logs.formats import Format
from botwatch.logs.record import LogRecord

if TYPE_CHECKING:
    # Imported where used: ``botwatch logs errors`` never needs them, and importing
    # them is part of every command's start-up.
    from botwatch.logs.extract import Extractors
    from botwatch.logs.stats import LogStats

Since = Annotated[str | None, typer.Option("--since", help="1h, 7d or an ISO time.")]
Until = Annotated[str | None, typer.Option("--until", help="1h, 7d or an ISO time.")]
Grep = Annotated[str | None, typer.Option("--grep", help="Only records matching.")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="Line format (see logs errors).")]
Tz = Annotated[str, typer.Option("--tz", help="Zone of times without one.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Level = Annotated[str, typer.Option("--level", help="Lowest level counted.")]
Follow = Annotated[
    bool, typer.Option("--follow", "-f", help="Keep it up to date as the logs grow (Ctrl-C).")
]
Interval = Annotated[float, typer.Option("--interval", help="Seconds between looks (--follow).")]
Source = Annotated[
    str, typer.Argument(help="A bot (its logs: files), a log file, a glob, or - for stdin.")
]


def _extractors(config: Path) -> Extractors:
    """The built-in extraction rules and the config's ``log_extract`` ones."""
    from botwatch.logs.extract import Extractors, user_extractors

    loaded = _config(config)
    if loaded is None:
        return Extractors()

    return Extractors(user_extractors(loaded.config.log_extract))


View = Callable[["LogStats", ZoneInfo], list[RenderableType]]
"""A command's view of one source's stats (below its headline)."""
Part = Callable[["LogStats"], dict[str, Any]]
"""A command's part of the JSON."""


def _run(
    source: str, since: str | None, until: str | None, grep: str | None, level: str,
    fmt: str | None, tz_name: str, config: Path, *, as_json: bool, follow: bool, interval: float, view: View,
    part: Part,
) -> None:  # fmt: skip
    """Read every source ``source`` names — whole, or as it grows (``follow``) — and
    show ``view`` of it, or ``part`` of it as JSON."""
    _level(level)
    tz, pattern, line_format, window = _options(tz_name, grep, fmt, since, until)
    extractors = _extractors(config)
    names = _sources(source, config)
    if follow:
        _follow(names, tz, window, pattern, line_format, extractors, as_json=as_json,
                interval=interval, view=view, part=part, level=level)  # fmt: skip
        return
    from botwatch.logs.stats import LogStats, analyze

    with _progress(names) as progress:
        for name in names:
            with _open(name, progress) as (stream, advance):
                stats = LogStats(extractors, tz=tz, window=window, grep=pattern, level=level)
                a = analyze(stream, stats, fmt=line_format, progress=advance)
            if as_json:
                print(json.dumps({"source": name, "lines": a.lines, "records": stats.records,
                                  "format": a.format, "unparsed": a.unparsed,
                                  **part(stats)}))  # fmt: skip
                continue
            line = f"[bold]{escape(name)}[/]: {a.lines:,} lines, {stats.records:,} records"
            if a.format:
                line += f" [dim](format: {a.format})[/]"
            console.print(Group(line, *_span(stats, tz), *view(stats, tz)))
            if a.unparsed:
                console.print(f"[yellow]![/] {a.unparsed:,} lines in no known format "
                              "(counted as they are)")  # fmt: skip


def _follow(
    names: list[str], tz: ZoneInfo, window: Window, pattern: re.Pattern[str] | None,
    line_format: Format | None, extractors: Extractors, *, as_json: bool, interval: float,
    view: View, part: Part, level: str,
) -> None:  # fmt: skip
    from botwatch.cli.logs_follow import follow
    from botwatch.logs.stats import LogStats

    stats = {n: LogStats(extractors, tz=tz, window=window, grep=pattern, level=level)
             for n in names}  # fmt: skip

    def take(name: str, rec: LogRecord) -> bool:
        before = stats[name].records
        stats[name].add(rec)
        return stats[name].records != before

    def draw(lines: int) -> Group:
        parts: list[RenderableType] = []
        for name, s in stats.items():
            parts.append(f"[bold]{escape(name)}[/] (following): {s.records:,} records")
            parts += [*_span(s, tz), *view(s, tz)]
        parts.append(f"[dim]{lines:,} lines read; Ctrl-C to stop[/]")
        return Group(*parts)

    def emit() -> None:
        for name, s in stats.items():
            print(json.dumps({"source": name, "records": s.records, **part(s)}), flush=True)

    follow(names, take, None if as_json else draw, fmt=line_format, tz=tz,
           since=window.since, interval=interval, on_change=emit if as_json else None)  # fmt: skip


def _span(s: LogStats, tz: ZoneInfo) -> list[RenderableType]:
    if s.first_ts is None:
        return []
    return [f"[dim]{_when(s.first_ts, tz)} → {_when(s.last_ts, tz)} ({tz.key})[/]"]


def _when(ts: float | None, tz: ZoneInfo) -> str:
    return "—" if ts is None else datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def _table(*cols: str) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for col in cols:
        table.add_column(col, overflow="fold")
    return table


# ---- stats -------------------------------------------------------------------------


def _stats_view(s: LogStats, tz: ZoneInfo) -> list[RenderableType]:
    out: list[RenderableType] = []
    levels = _table("level", "records", "share")
    for level in ("critical", "error", "warning", "info", "debug", "unknown"):
        if s.levels[level]:
            levels.add_row(level, f"{s.levels[level]:,}", _pct(s.levels[level], s.records))
    out.append(levels)
    if any(s.by_hour):
        out.append(f"by hour ({tz.key}) 00→23: records {_spark(s.by_hour)}  "
                   f"errors {_spark(s.errors_by_hour)}")  # fmt: skip
        peak = max(range(24), key=lambda h: s.by_hour[h])
        out.append(f"[dim]busiest hour {peak:02d}:00 ({s.by_hour[peak]:,} records)[/]")
    if s.loggers:
        out.append("loggers: " + ", ".join(
            f"{escape(k)} {v:,}" for k, v in s.loggers.most_common(5)))  # fmt: skip
    life = ", ".join(f"{k} {v}" for k, v in sorted(s.lifecycle.items()))
    out.append(f"lifecycle: {life or 'no start, stop or crash lines'}")
    if s.lifecycle["crash"]:
        last = next(e for e in reversed(s.lifecycle_events) if e[1] == "crash")
        out.append(f"[red]last crash[/] {_when(last[0], tz)}: {escape(last[2])}")
    d = s.delivery
    rate = f"{100 * d.rate:.1f}%" if d.rate is not None else "—"
    out.append(
        f"latency: {sum(v.count for v in s.latency.values()):,} timings "
        f"({len(s.latency)} kinds) · commands: {sum(s.commands.values()):,} · delivery: "
        f"{d.success:,.0f} sent, {d.failed:,.0f} failed ({rate}) · API errors: "
        f"{sum(s.api_errors.values()):,} · security events: "
        f"{sum(e.count for e in s.security.values()):,}"
    )
    return out


_BARS = " ▁▂▃▄▅▆▇█"


def _spark(counts: list[int]) -> str:
    """One character per hour, its height the count against the busiest hour."""
    top = max(counts) or 1
    return "".join(_BARS[0 if not n else max(1, round(8 * n / top))] for n in counts)


@logs_app.command("stats")
def logs_stats(
    source: Source, since: Since = None, until: Until = None, grep: Grep = None,
    level: Level = "debug", fmt: FormatOpt = None, tz_name: Tz = "UTC", as_json: Json = False,
    follow: Follow = False, interval: Interval = 1.0, config: ConfigOption = DEFAULT_PATH,
) -> None:  # fmt: skip
    """Records by level and hour of day, loggers, starts/stops/crashes, and a line on
    each of latency, commands, delivery, API errors and security."""
    _run(source, since, until, grep, level, fmt, tz_name, config, as_json=as_json, follow=follow,
         interval=interval, view=_stats_view, part=lambda s: s.to_json())  # fmt: skip


# ---- latency -----------------------------------------------------------------------


def _latency_view(s: LogStats, tz: ZoneInfo) -> list[RenderableType]:
    if not s.latency:
        return ["no timings found (lines such as 'API response time: 123ms', "
                "'Update id=1 is handled. Duration 12 ms'; add your own with "
                "log_extract in botwatch.yml)"]  # fmt: skip
    table = _table("what", "count", "mean", "p50", "p95", "p99", "max")
    for key, lat in sorted(s.latency.items(), key=lambda kv: -kv[1].count):
        table.add_row(escape(key), f"{lat.count:,}", _ms(lat.total / lat.count),
                      _ms(lat.quantile(0.5)), _ms(lat.quantile(0.95)),
                      _ms(lat.quantile(0.99)), _ms(lat.max))  # fmt: skip
    return [table]


@logs_app.command("latency")
def logs_latency(
    source: Source, since: Since = None, until: Until = None, grep: Grep = None,
    level: Level = "debug", fmt: FormatOpt = None, tz_name: Tz = "UTC", as_json: Json = False,
    follow: Follow = False, interval: Interval = 1.0, config: ConfigOption = DEFAULT_PATH,
) -> None:  # fmt: skip
    """Latency per kind of work (aiogram's "Duration 12 ms", "API response time: 123ms",
    "took 1.2s"): count, mean, p50, p95, p99, max."""
    _run(source, since, until, grep, level, fmt, tz_name, config, as_json=as_json, follow=follow,
         interval=interval, view=_latency_view,
         part=lambda s: {"latency": {k: v.to_json() for k, v in sorted(s.latency.items())}})  # fmt: skip


# ---- commands ----------------------------------------------------------------------


@logs_app.command("commands")
def logs_commands(
    source: Source, since: Since = None, until: Until = None, grep: Grep = None,
    level: Level = "debug", fmt: FormatOpt = None, tz_name: Tz = "UTC", as_json: Json = False,
    top: Annotated[int, typer.Option("--top", help="Commands shown.")] = 30,
    follow: Follow = False, interval: Interval = 1.0, config: ConfigOption = DEFAULT_PATH,
) -> None:  # fmt: skip
    """Which commands users send, how often ("Command: /start")."""

    def view(s: LogStats, tz: ZoneInfo) -> list[RenderableType]:
        total = sum(s.commands.values())
        if not total:
            return ["no command lines found (such as 'Command: /start')"]
        table = _table("command", "count", "share")
        for cmd, n in s.commands.most_common(top):
            table.add_row(escape(cmd), f"{n:,}", _pct(n, total))
        more = (
            [f"[dim]…and {len(s.commands) - top} more (--top)[/]"] if len(s.commands) > top else []
        )
        return [table, *more]

    _run(source, since, until, grep, level, fmt, tz_name, config, as_json=as_json, follow=follow,
         interval=interval, view=view,
         part=lambda s: {"commands": dict(s.commands.most_common())})  # fmt: skip


# ---- delivery ----------------------------------------------------------------------


def _delivery_view(s: LogStats, tz: ZoneInfo) -> list[RenderableType]:
    d = s.delivery
    if d.rate is None:
        return ["no delivery lines found (such as 'Notifications sent: 150 success, "
                "5 failed' or 'Failed to send to user 1: …')"]  # fmt: skip
    style = "green" if d.rate >= 0.95 else "yellow" if d.rate >= 0.8 else "red"
    out: list[RenderableType] = [f"[{style}]{100 * d.rate:.1f}%[/] delivered: "
                                 f"{d.success:,.0f} sent, {d.failed:,.0f} failed"]  # fmt: skip
    if d.runs:
        runs = _table("run", "sent", "failed", "rate")
        for ts, ok, bad in d.runs[-20:]:
            runs.add_row(_when(ts, tz), f"{ok:,.0f}", f"{bad:,.0f}", _pct(ok, ok + bad))
        out.append(runs)
    if d.reasons:
        from botwatch.logs.categories import CATEGORIES

        titles = {c.name: c.title for c in CATEGORIES}
        reasons = _table("why sends failed", "count", "share")
        total = sum(d.reasons.values())
        for reason, n in d.reasons.most_common():
            reasons.add_row(titles.get(reason, reason), f"{n:,}", _pct(n, total))
        out.append(reasons)
    return out


@logs_app.command("delivery")
def logs_delivery(
    source: Source, since: Since = None, until: Until = None, grep: Grep = None,
    level: Level = "debug", fmt: FormatOpt = None, tz_name: Tz = "UTC", as_json: Json = False,
    follow: Follow = False, interval: Interval = 1.0, config: ConfigOption = DEFAULT_PATH,
) -> None:  # fmt: skip
    """Notification delivery: sent, failed, success rate, each run, why sends failed."""
    _run(source, since, until, grep, level, fmt, tz_name, config, as_json=as_json, follow=follow,
         interval=interval, view=_delivery_view,
         part=lambda s: {"delivery": s.to_json()["delivery"]})  # fmt: skip


# ---- security ----------------------------------------------------------------------


def _security_view(s: LogStats, tz: ZoneInfo) -> list[RenderableType]:
    out: list[RenderableType] = []
    if not s.security:
        out.append("[green]✓[/] no security events")
    else:
        table = _table("event", "count", "first", "last", "top users", "example")
        for key, ev in sorted(s.security.items(), key=lambda kv: -kv[1].count):
            users = ", ".join(f"{u} ×{n}" for u, n in ev.users.most_common(3))
            table.add_row(key, f"{ev.count:,}", _when(ev.first_seen, tz),
                          _when(ev.last_seen, tz), escape(users), escape(ev.example))  # fmt: skip
        out.append(table)
    if s.api_errors:
        api = _table("platform", "API error", "count")
        for (platform, code), n in s.api_errors.most_common():
            api.add_row(platform, code, f"{n:,}")
        out.append(api)
    return out


def _security_part(s: LogStats) -> dict[str, Any]:
    part = s.to_json()
    return {"security": part["security"], "api_errors": part["api_errors"]}


@logs_app.command("security")
def logs_security(
    source: Source, since: Since = None, until: Until = None, grep: Grep = None,
    level: Level = "debug", fmt: FormatOpt = None, tz_name: Tz = "UTC", as_json: Json = False,
    follow: Follow = False, interval: Interval = 1.0, config: ConfigOption = DEFAULT_PATH,
) -> None:  # fmt: skip
    """Security events (users rate limited, violations, blocks, failed auth, admin
    access) and platform API errors by code."""
    _run(source, since, until, grep, level, fmt, tz_name, config, as_json=as_json, follow=follow,
         interval=interval, view=_security_view, part=_security_part)  # fmt: skip


@logs_app.command("patterns")
def logs_patterns(
    bot: Annotated[str | None, typer.Argument(help="A bot (default: every bot).")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only first seen since: 1d (new since yesterday).")
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Patterns shown.")] = 50,
    tz_name: Tz = "UTC",
    as_json: Json = False,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Error patterns `botwatch run` has kept for the bots, newest first."""
    from botwatch.cli._common import load, open_store

    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--tz: unknown time zone {tz_name!r}")
    loaded = load(config)
    if bot is not None and bot not in loaded.config.bots:
        fail(f"no bot {bot!r} in {config} (bots: {', '.join(loaded.config.bots) or 'none'})")
    with open_store(loaded) as store:
        found = store.log_positions.patterns(bot, since=_time(since, "--since", tz))
    if as_json:
        print(json.dumps([p.to_json() for p in found[:top]]))
        return
    if not found:
        console.print("no error patterns stored" + (" in that time" if since else "")
                      + " (botwatch run keeps them for bots with logs:)")  # fmt: skip
        return
    table = _table("bot", "first seen", "last seen", "count", "category", "pattern")
    for p in found[:top]:
        text = f"{p.text} [{p.exc_type}]" if p.exc_type else p.text
        table.add_row(p.bot, _when(p.first_seen, tz), _when(p.last_seen, tz), f"{p.count:,}",
                      p.category, escape(text))  # fmt: skip
    console.print(table)
    if len(found) > top:
        console.print(f"[dim]…and {len(found) - top} more (--top)[/]")
