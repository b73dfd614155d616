"""Reading sources as they grow, for ``--follow``: one ``poll() -> list[bytes]`` for a
file (``follow.Follower``), a command (``sources.CommandFollower``) and a pipe
(``StreamFollower``: ``railway logs --follow | botwatch logs errors - --follow``, which
never reaches an end to wait for)."""

from __future__ import annotations

__all__ = ["LiveSource", "StreamFollower", "live_source"]

import os
from typing import Protocol

from botwatch.logs.follow import READ_MAX, Follower
from botwatch.logs.read import MAX_LINE
from botwatch.logs.sources import COMMANDS, CommandFollower, parse_source


class LiveSource(Protocol):
    """What ``--follow`` reads from."""

    def poll(self) -> list[bytes]:
        """Whole lines that arrived since the last poll (without newlines)."""
        ...

    def close(self) -> None:
        """Stop reading."""
        ...


class StreamFollower:
    """A pipe read without blocking: the whole lines that arrived at each ``poll()``;
    at its end, the last line even without a newline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._was_blocking = os.get_blocking(fd)
        os.set_blocking(fd, False)
        self._partial = b""
        self.eof = False
        self.cut = 0

    def poll(self) -> list[bytes]:
        """Whole lines that arrived (never blocks)."""
        if self.eof:
            return []
        chunks = []
        size = 0
        while size < READ_MAX:
            try:
                chunk = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                self.eof = True
                break
            chunks.append(chunk)
            size += len(chunk)
        data = self._partial + b"".join(chunks)
        lines = data.split(b"\n")
        self._partial = b"" if self.eof else lines.pop()
        if self.eof and lines and not lines[-1]:
            lines.pop()  # the final newline
        if len(self._partial) > MAX_LINE:
            lines.append(self._partial[:MAX_LINE])  # no end in sight: cut it there
            self._partial = b""
            self.cut += 1
        return lines

    def close(self) -> None:
        """Give the descriptor its blocking mode back."""
        os.set_blocking(self.fd, self._was_blocking)


def live_source(name: str, *, since: float | None = None) -> LiveSource:
    """A follower for ``name``: ``-`` (stdin), a named source (``journald:UNIT`` and
    ``docker:NAME`` from ``since``, else from now; ``cmd:`` as written) or a file (from
    its start)."""
    if name == "-":
        return StreamFollower(0)
    source = parse_source(name)
    if source.kind in COMMANDS:
        return CommandFollower(source, since=since)
    return Follower(name)
