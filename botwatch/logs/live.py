"""Reading sources as they grow, for ``--follow``: one ``poll() -> list[bytes]`` for a
file (``follow.Follower``), a command (``sources.CommandFollower``) and a pipe
(``StreamFollower``: ``railway logs --follow | botwatch logs errors - --follow``, which
never reaches an end to wait for)."""

from __future__ import annotations

__all__ = ["LiveSource", "StreamFollower", "live_source"]

import os
from typing import Protocol

from botwatch.logs.follow import Follower
from botwatch.logs.read import READ_MAX, LineSplitter
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
        self._lines = LineSplitter()
        self.eof = False

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
        lines = self._lines.feed(b"".join(chunks))
        if self.eof:
            lines += self._lines.end()  # the last line, even without a newline
        return lines

    @property
    def cut(self) -> int:
        """Lines past ``MAX_LINE``, cut."""
        return self._lines.cut

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
