"""From lines to records: the format detected once per source, continuation lines
(Python tracebacks, chained ones, Node stacks, indented blocks) joined to the record
they belong to, lines without a time given their neighbour's, and every line no
format understands kept as an unparsed record — never an exception.
"""

from __future__ import annotations

__all__ = ["EXCEPTION_LINE", "LogParser", "is_continuation"]

from collections.abc import Iterable, Iterator
from datetime import tzinfo
from zoneinfo import ZoneInfo

from botwatch.logs.continuation import EXCEPTION_LINE, is_continuation
from botwatch.logs.formats import FORMATS, Format, detect, level_in_text, strip_ansi
from botwatch.logs.record import LogRecord
from botwatch.logs.wrappers import Unwrapper


class LogParser:
    """Records from lines; ``fmt`` None: detected from the first ``sample`` lines."""

    def __init__(self, fmt: Format | None = None, *, tz: tzinfo | None = None,
                 sample: int = 200) -> None:  # fmt: skip
        self.fmt = fmt
        self.tz = tz or ZoneInfo("UTC")
        self.sample = sample
        self.lines = 0
        self.unparsed = 0
        """Lines no format understood and that continued nothing."""
        self.blank = 0
        self.unwrapper = Unwrapper()
        self.held: LogRecord | None = None
        """The last record of a ``hold`` call, waiting for its continuation lines."""
        self.last_ts: float | None = None
        """The newest time seen: lines without one get it (across calls, as
        ``error_blocks`` hands over a source in pieces)."""

    def records(
        self, lines: Iterable[str], first_line: int = 1, *, hold: bool = False
    ) -> Iterator[LogRecord]:
        """Parse ``lines`` (without their newlines); records come out as each is
        complete (a record is complete when the next one starts).

        ``hold``: keep the last record back (``held``) for the next call, whose first
        lines may continue it — a follower's read can end in the middle of a
        traceback; ``flush()`` gives it up when no more lines came."""
        it = iter(lines)
        if self.fmt is None:
            head = []
            for line in it:
                head.append(line)
                if len(head) >= self.sample:
                    break
            peek = Unwrapper()
            inner = [u.line for u in map(peek.unwrap, head) if u is not None]
            self.fmt = detect([strip_ansi(x) for x in inner if x.strip()][: self.sample])
            source: Iterable[str] = _chain(head, it)
        else:
            source = it
        pending, self.held = self.held, None
        n = first_line - 1
        fmt, tz = self.fmt, self.tz
        try:
            for raw in source:
                n += 1
                if "\x00" in raw:
                    raw = raw.replace("\x00", "\ufffd")
                u = None
                c = raw[:1]
                if c == "{" or (c.isdigit() and "|" in raw[:12]):
                    u = self.unwrapper.unwrap(raw)  # a runtime's wrapper (the rare case)
                    if u is None:
                        continue  # a split Docker line: the rest comes next
                    raw = u.line
                line = strip_ansi(raw) if "\x1b" in raw else raw
                if not line or line.isspace():
                    self.blank += 1
                    continue
                if pending is not None:
                    if line[0] in " \t":
                        pending.extra.append(line)  # indented: a traceback's frames, no type
                        continue
                    if is_continuation(line):
                        pending.extra.append(line)
                        m = EXCEPTION_LINE.match(line)
                        if m:
                            pending.exc_type = m.group("type")
                        continue
                rec = fmt.parse(line, tz) if fmt is not None else None
                if rec is None:
                    rec = self._parse_other(line)
                rec.line = n
                if u is not None:
                    if u.ts is not None and rec.ts is None:
                        rec.ts = u.ts
                    if rec.level is None:
                        # The wrapper's level (journald's priority) only when the line
                        # names none: Python's logging writes every level to stderr,
                        # which journald files as info, so the line's own "ERROR" is
                        # the truth.
                        rec.level = u.level
                if rec.ts is None:
                    rec.ts = self.last_ts
                else:
                    self.last_ts = rec.ts
                if pending is not None:
                    yield pending
                pending = rec
        finally:
            self.lines += n - first_line + 1
        if pending is not None:
            if hold:
                self.held = pending
            else:
                yield pending

    def flush(self) -> list[LogRecord]:
        """The record ``records(hold=True)`` kept back, if any: no more lines came."""
        held, self.held = self.held, None
        return [held] if held is not None else []

    def _parse_other(self, line: str) -> LogRecord:
        """``line`` as the source's format did not read it: mixed formats in one
        source (the others, in their order), else an unparsed record."""
        for fmt in FORMATS.values():
            if fmt is not self.fmt:
                rec = fmt.parse(line, self.tz)
                if rec is not None:
                    return rec
        self.unparsed += 1
        rec = LogRecord(line, level_in_text(line), None, None, parsed=False)
        m = EXCEPTION_LINE.match(line)
        if m:
            rec.exc_type = m.group("type")
        return rec


def _chain(head: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from head
    yield from rest
