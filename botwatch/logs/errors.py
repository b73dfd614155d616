"""``botwatch logs errors``: a source's error records, grouped into patterns.

Only lines that may be errors are parsed (``LineReader.error_blocks``); the rest are
counted. With ``--level`` below error, or when every record's pattern is wanted
(``records``), every line is parsed.
"""

from __future__ import annotations

__all__ = ["ErrorScan", "RecordPatterns", "Window", "scan_errors"]

import json
import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import BinaryIO, TextIO

from botwatch.logs import pipeline
from botwatch.logs.formats import Format, detect_share
from botwatch.logs.parse import LogParser
from botwatch.logs.patterns import ErrorPatterns
from botwatch.logs.read import ERROR_NEEDLES, LineReader
from botwatch.logs.record import LEVELS, LogRecord
from botwatch.logs.templates import Template
from botwatch.logs.wrappers import wrapped


@dataclass(frozen=True)
class Window:
    """Records with ``since <= ts < until`` count; the same span before ``since`` is
    the previous window (for trends). Records without a time always count."""

    since: float | None = None
    until: float | None = None

    def where(self, ts: float | None) -> str | None:
        """``now``, ``previous`` or None (outside)."""
        if ts is None:
            return "now"
        if self.until is not None and ts >= self.until:
            return None
        if self.since is None or ts >= self.since:
            return "now"
        if self.until is not None and ts >= self.since - (self.until - self.since):
            return "previous"
        return None


@dataclass
class ErrorScan:
    """What one source held."""

    patterns: ErrorPatterns
    lines: int = 0
    bytes: int = 0
    records: int = 0
    """Records looked at (all of them in a full parse; candidates otherwise)."""
    unparsed: int = 0
    cut: int = 0
    format: str | None = None
    levels: dict[str, int] = field(default_factory=dict)


class RecordPatterns:
    """Every record's pattern (``scan_errors(on_record=...)``), written once the log is
    read: until then a template may still merge into another, and the ids written must
    be the ones each record finally belongs to. About 20 bytes per record."""

    _LEVELS = (None, *LEVELS)

    def __init__(self) -> None:
        self._lines = array("q")
        self._templates: list[Template] = []
        self._levels = bytearray()
        self._parsed = bytearray()

    def __call__(self, rec: LogRecord, template: Template) -> None:
        """Remember ``rec``'s line, level and template."""
        self._lines.append(rec.line)
        self._templates.append(template)
        self._levels.append(self._LEVELS.index(rec.level) if rec.level in LEVELS else 0)
        self._parsed.append(rec.parsed)

    def __len__(self) -> int:
        return len(self._lines)

    def write(self, out: TextIO) -> None:
        """One JSON line per record: ``{"line", "pattern", "level", "parsed"}``."""
        levels = self._LEVELS
        for line, t, lv, parsed in zip(self._lines, self._templates, self._levels,
                                       self._parsed, strict=True):  # fmt: skip
            out.write(json.dumps({"line": line, "pattern": t.id, "level": levels[lv],
                                  "parsed": bool(parsed)}) + "\n")  # fmt: skip


def scan_errors(
    stream: BinaryIO,
    *,
    fmt: Format | None = None,
    tz: tzinfo | None = None,
    level: str = "error",
    window: Window | None = None,
    grep: re.Pattern[str] | None = None,
    on_record: Callable[[LogRecord, Template], None] | None = None,
    progress: Callable[[int], None] | None = None,
    known: Iterable[tuple[str, str | None, float]] | None = None,
    parallel: bool = False,
) -> ErrorScan:
    """Group the records of ``stream`` at ``level`` or worse into patterns.

    ``on_record(record, template)`` is called for every record of every level (a
    full parse), each grouped: the line-by-line check of grouping (read the template's
    ``id`` once the scan is done: see ``RecordPatterns``). ``known``: the
    patterns the monitor stored for this bot (see ``ErrorPatterns.seed``).
    ``parallel``: a large file's bytes are searched by a second process while this one
    parses (``botwatch.logs.pipeline``), where that is possible."""
    win = window or Window()
    reader = LineReader(stream, progress=progress)
    floor = LEVELS.index(level)
    needles: tuple[bytes, ...] = ERROR_NEEDLES
    head = reader.head()
    # Docker and journald entries hold a traceback's lines one per entry: only a full
    # parse (unwrapping each) joins them.
    full = on_record is not None or floor < LEVELS.index("error") or wrapped(head)
    if fmt is None and not full:
        found = detect_share(head)
        if found is not None:
            fmt = found[0]
            # Its own needles only when it is the file's one format: a mixed file's
            # other lines would slip past them.
            if found[1] >= 0.9 and fmt.error_needles:
                needles = fmt.error_needles
    elif fmt is not None and fmt.error_needles:
        needles = fmt.error_needles
    parser = LogParser(fmt, tz=tz)
    patterns = ErrorPatterns(tz=tz)
    if known is not None:
        patterns.seed(known)
    out = ErrorScan(patterns)
    records: Iterator[LogRecord]
    if full:
        records = parser.records(reader.lines_of())
    else:
        if parallel and pipeline.usable(stream):
            chunks = pipeline.forked_error_blocks(reader, needles, progress)
        else:
            chunks = reader.error_blocks(needles)
        records = (r for first, lines in chunks for r in parser.records(lines, first))
    for rec in records:
        out.records += 1
        if on_record is not None:
            on_record(rec, patterns.miner.add(rec.message.split("\n", 1)[0]))
            continue
        wanted = rec.exc_type is not None or (
            rec.level is not None and LEVELS.index(rec.level) >= floor
        )
        if not wanted or (grep is not None and not grep.search(rec.message)):
            continue
        where = win.where(rec.ts)
        if where is None:
            continue
        out.levels[rec.level or "unknown"] = out.levels.get(rec.level or "unknown", 0) + 1
        patterns.add(rec, previous=where == "previous")
    out.lines, out.bytes, out.cut = reader.lines, reader.bytes, reader.cut
    out.unparsed = parser.unparsed
    out.format = parser.fmt.name if parser.fmt is not None else None
    return out
