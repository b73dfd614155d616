"""``botwatch logs errors SOURCE --follow``: the pattern table kept up to date as the
sources grow (files from their start, then as they are written; a pipe as it comes;
``journald:``/``docker:`` from ``--since``), until Ctrl-C. With ``--json``, one line
per new error record with its pattern, for other tools to read."""

from __future__ import annotations

__all__ = ["follow_errors"]

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
    """Follow ``names`` and keep the errors' pattern table up to date (``render``, given
    the patterns and the lines read) until Ctrl-C — or until every source is a pipe
    that has ended (it will not grow again)."""
    floor = LEVELS.index(level)
    patterns = ErrorPatterns(tz=tz)
    if known is not None:
        patterns.seed(known)
    sources: list[tuple[str, LiveSource, LogParser]] = [
        (n, live_source(n, since=window.since), LogParser(fmt, tz=tz)) for n in names
    ]
    lines = 0
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

    live = None if as_json else Live(render(patterns, 0), console=console, auto_refresh=False)
    try:
        if live is not None:
            live.start()
        while True:
            changed = False
            for name, src, parser in sources:
                raw = src.poll()
                lines += len(raw)
                recs = (parser.records([decode(r) for r in raw], hold=True) if raw
                        else parser.flush())  # fmt: skip
                for rec in recs:
                    changed = take(name, rec) or changed
            if live is not None and (changed or lines):
                live.update(render(patterns, lines), refresh=True)
            if all(getattr(src, "eof", False) and parser.held is None
                   for _, src, parser in sources):  # fmt: skip
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.stop()
        for _, src, _ in sources:
            src.close()
