"""A managed child: a bot process botwatch starts, watches and stops itself.

The child runs in its own session (process group), so stopping it reaches the whole
tree it spawned: SIGTERM first, SIGKILL after ``stop_timeout``. Its stdout and stderr
go to a size-rotated file. ``wait()`` returns the moment it exits (the event loop's
child watcher reaps it), which is what lets a restart follow a crash in milliseconds
rather than at the next polling cycle.
"""

from __future__ import annotations

__all__ = ["ManagedChild", "RotatingOutput"]

import asyncio
import contextlib
import os
import shlex
import signal
import time
from pathlib import Path

from botwatch.errors import ProcessNotFound


class RotatingOutput:
    """Appends to ``path``; past ``max_bytes`` moves it to ``.1`` (keeping ``keep``)."""

    def __init__(self, path: Path, max_bytes: int, keep: int = 3) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = path.open("ab")
        self._size = self._f.tell()

    def write(self, data: bytes) -> None:
        """Write ``data`` (rotating first if it would pass the limit)."""
        if self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        self._f.write(data)
        self._f.flush()
        self._size += len(data)

    def rotate(self) -> int:
        """Rotate now (``rotate_logs``); the bytes moved out."""
        size = self._size
        if size:
            self._rotate()
        return size

    def _rotate(self) -> None:
        self._f.close()
        for i in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._f = self.path.open("ab")
        self._size = 0

    def close(self) -> None:
        """Close the file."""
        self._f.close()


class ManagedChild:
    """One run of a command at a time; ``start`` again after it exits."""

    def __init__(
        self,
        name: str,
        command: str,
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        output: Path,
        output_max: int = 10_000_000,
        stop_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.argv = shlex.split(command)
        if not self.argv:
            raise ValueError(f"{name}: run.command is empty")
        self.cwd = cwd
        self.env = {**os.environ, **(env or {})}
        self.output_path = output
        self.output_max = output_max
        self.stop_timeout = stop_timeout
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at: float | None = None
        self.exited_at: float | None = None
        self.returncode: int | None = None
        self._pump: asyncio.Task[None] | None = None
        self._out: RotatingOutput | None = None

    @property
    def pid(self) -> int | None:
        """The running process's pid."""
        return self.proc.pid if self.running and self.proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the process is alive (not yet reaped)."""
        return self.proc is not None and self.proc.returncode is None

    def rotate_output(self) -> int:
        """Rotate the output file now; the bytes moved out (0: nothing written yet)."""
        return self._out.rotate() if self._out is not None else 0

    async def start(self) -> int:
        """Start the command; returns its pid. Raises ``ProcessNotFound`` if it
        cannot be started (no such program, not executable, bad cwd)."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop reaches the tree
            )
        except OSError as e:
            raise ProcessNotFound(
                f"{self.name}: cannot start {self.argv[0]!r}: {e.strerror}"
            ) from None
        if self._out is None:
            self._out = RotatingOutput(self.output_path, self.output_max)
        self.started_at, self.exited_at, self.returncode = time.time(), None, None
        self._pump = asyncio.create_task(self._copy_output(self.proc), name=f"{self.name}-output")
        return self.proc.pid

    async def _copy_output(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None and self._out is not None
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                return
            self._out.write(chunk)

    async def wait(self) -> int:
        """Wait for the process to exit; its exit code (negative: killed by a signal)."""
        if self.proc is None:
            raise RuntimeError(f"{self.name} was never started")
        code = await self.proc.wait()
        if self.exited_at is None:
            self.exited_at, self.returncode = time.time(), code
        if self._pump is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pump, 2.0)
        return code

    async def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``timeout`` (default
        ``stop_timeout``); returns the exit code (None if it was not running)."""
        if not self.running or self.proc is None:
            return self.returncode
        limit = self.stop_timeout if timeout is None else timeout
        self._signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.wait(), limit)
        except TimeoutError:
            self._signal(signal.SIGKILL)
            return await self.wait()

    def _signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def close(self) -> None:
        """Close the output file (after the process is gone)."""
        if self._out is not None:
            self._out.close()
            self._out = None
