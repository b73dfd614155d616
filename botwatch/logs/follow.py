"""Following a log file like ``tail -F``: new complete lines, through rotation by rename,
truncation (``copytruncate``), deletion, and a file that appears later.

``poll()`` is one step: whatever complete lines were written since the last one. The
position is ``(inode, offset)``; a follower created with a saved position resumes
there if the file is still the same one (same inode, not shorter), so a restart
neither re-reads nor skips. When the file is renamed away, the rest of the old file
is read before the new one is opened, so nothing written just before a rotation is
lost.
"""

from __future__ import annotations

__all__ = ["Follower", "Position"]

import os
from dataclasses import dataclass
from pathlib import Path

from botwatch.logs.read import READ_MAX, LineSplitter


@dataclass(frozen=True)
class Position:
    """Where a follower is: the file's inode and the offset after the last whole line."""

    inode: int
    offset: int


class Follower:
    """One followed path; ``poll()`` for new lines."""

    def __init__(self, path: str | os.PathLike[str], *, position: Position | None = None,
                 from_end: bool = False) -> None:  # fmt: skip
        self.path = Path(path)
        self._saved = position
        self._from_end = from_end and position is None
        self._fd: int | None = None
        self._inode: int | None = None
        self._pos = 0  # bytes of the open file consumed (complete lines and the partial)
        self._lines = LineSplitter()
        self.rotations = 0
        self.truncations = 0

    @property
    def position(self) -> Position | None:
        """Where to resume (after the last complete line handed out)."""
        if self._inode is None:
            return self._saved
        return Position(self._inode, self._pos - self._lines.held)

    def close(self) -> None:
        """Close the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def poll(self) -> list[bytes]:
        """Complete lines written since the last poll (without their newlines)."""
        if self._fd is None and not self._open():
            return []
        assert self._fd is not None
        lines = self._read()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return lines  # deleted or mid-rotation: keep the old file until a new one
        if st.st_ino != self._inode:
            # Renamed away and replaced: finish the old file, then start on the new.
            lines += self._read(to_end=True)
            lines += self._lines.end()  # the old file's last line, never finished
            self.close()
            self.rotations += 1
            self._saved = None
            if self._open(rotated=True):
                lines += self._read()
        return lines

    def _open(self, *, rotated: bool = False) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            return False
        st = os.fstat(fd)
        self._fd, self._inode = fd, st.st_ino
        self._lines.reset()
        saved = self._saved
        if rotated:
            self._pos = 0
        elif saved is not None and saved.inode == st.st_ino and saved.offset <= st.st_size:
            self._pos = saved.offset  # the same file as before the restart
        elif self._from_end:
            self._pos = st.st_size
        else:
            self._pos = 0
        self._from_end = False
        return True

    def _read(self, *, to_end: bool = False) -> list[bytes]:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size < self._pos:
            # Truncated in place (copytruncate, or `> file`): start again from the top.
            self.truncations += 1
            self._pos = 0
            self._lines.reset()
        out: list[bytes] = []
        while self._pos < size:
            chunk = os.pread(self._fd, min(READ_MAX, size - self._pos), self._pos)
            if not chunk:
                break
            self._pos += len(chunk)
            out += self._lines.feed(chunk)
            if not to_end:
                break  # the rest next poll: one poll's work stays bounded
        return out
