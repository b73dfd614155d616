"""``--follow`` for ``botwatch logs errors|stats|latency|commands|delivery|security``: the
sources read as they grow (files from their start, then as they are written; a pipe as
it comes; ``journald:``/``docker:`` from ``--since``) and the view kept up to date
until Ctrl-C — or until every source is a pipe that has ended."""

from __future__ import annotations

__all__ = ["follow", "follow_errors"]

import json
import re
import sys
import time
from collections.abc import Callable
from datetime import tzinfo

from rich.console import RenderableType
from rich.live import Live

from botwatch.cli._common import console
from botwatch.logs.errors import Window
from botwatch.logs.formats import Format
from botwatch.logs.live import LiveSource, live_source
from botwatch.logs.parse import LogParser
from botwatch.logs.patterns import ErrorPatterns
from botwatch.logs.read import decode
from botwatch.logs.record import LEVELS, LogRecord


def follow(
    names: list[str],
    take: Callable[[str, LogRecord], bool],
    view: Callable[[int], RenderableType] | None,
    *,
    fmt: Format | None,
    tz: tzinfo,
    since: float | None,
    interval: float,
    on_change: Callable[[], None] | None = None,
) -> None:
    """Read ``names`` as they grow; every record goes to ``take(name, record)`` (True:
    it changed something). ``view(lines read)`` is drawn live and redrawn after each
    look that changed something (None: nothing drawn); ``on_change`` runs then too."""
    sources: list[tuple[str, LiveSource, LogParser]] = [
        (n, live_source(n, since=since), LogParser(fmt, tz=tz)) for n in names
    ]
    lines = drawn = 0
    live = Live(view(0), console=console, auto_refresh=False) if view is not None else None
    try:
        if live is not None:
            live.start()
        while True:
            changed = False
            for name, src, parser in sources:
                raw = src.poll()
                lines += len(raw)
                # A record waits one look for its continuation lines (a traceback).
                recs = (parser.records([decode(r) for r in raw], hold=True) if raw
                        else parser.flush())  # fmt: skip
                for rec in recs:
                    changed = take(name, rec) or changed
            if live is not None and view is not None and (changed or lines != drawn):
                live.update(view(lines), refresh=True)  # the headline counts lines too
                drawn = lines
            if changed and on_change is not None:
                on_change()
            if all(getattr(src, "eof", False) and parser.held is None
                   for _, src, parser in sources):  # fmt: skip
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.stop()
            if not console.is_terminal:
                console.line()  # Live ends a terminal's last line itself, not a file's
        for _, src, _ in sources:
            src.close()


def follow_errors(
    names: list[str],
    *,
    fmt: Format | None,
    tz: tzinfo,
    level: str,
    window: Window,
    grep: re.Pattern[str] | None,
    as_json: bool,
    interval: float,
    render: Callable[[ErrorPatterns, int], RenderableType],
    known: list[tuple[str, str | None, float]] | None = None,
) -> None:
    """``errors --follow``: the pattern table (``render``, given the patterns and the
    lines read) kept up to date; with ``as_json``, one line per new error record."""
    floor = LEVELS.index(level)
    patterns = ErrorPatterns(tz=tz)
    if known is not None:
        patterns.seed(known)
    out = sys.stdout

    def take(name: str, rec: LogRecord) -> bool:
        wanted = rec.exc_type is not None or (
            rec.level is not None and LEVELS.index(rec.level) >= floor)  # fmt: skip
        if not wanted or (grep is not None and not grep.search(rec.message)):
            return False
        where = window.where(rec.ts)
        if where is None:
            return False
        p = patterns.add(rec, previous=where == "previous")
        if as_json and where == "now":
            out.write(json.dumps({"source": name, "pattern": p.id, "template": p.text,
                                  "category": p.category.name, "level": rec.level,
                                  "ts": rec.ts, "message": rec.message}) + "\n")  # fmt: skip
            out.flush()
        return True

    follow(names, take, None if as_json else (lambda lines: render(patterns, lines)),
           fmt=fmt, tz=tz, since=window.since, interval=interval)  # fmt: skip
