"""Named log sources besides plain files: ``cmd:COMMAND``, ``journald:UNIT``,
``docker:CONTAINER`` and ``pm2:APP``, as the config's ``logs`` and the CLI name them.

- ``cmd:railway logs --follow`` runs the command (split like a shell would, run without
  one: nothing in a config file is ever given to ``sh``);
- ``journald:UNIT`` runs ``journalctl -u UNIT -o json --no-pager`` (``wrappers`` unwraps
  its JSON lines);
- ``docker:NAME`` runs ``docker logs NAME``;
- ``pm2:APP`` is not a command: pm2 already writes the app's output to files, which are
  followed like any other (``pm2_log_paths``);
- anything else is a file path.

A command's stdout and stderr are read on two pipes and merged a whole line at a time,
so a long line on one is never cut by a line from the other. Docker hands the
container's stderr (where Python's logging writes) to its own stderr, so stderr is
log, except journalctl's: its stderr is only ever journalctl talking. A tool that fails
says so on stderr before anything reaches stdout ("No such container", "No journal
files were found"), so stderr is held back while a fresh command has printed nothing
on stdout yet (``PROBATION`` seconds, ``HOLD_BYTES`` at most): when it then exits
non-zero, those lines are its error message, not the bot's log lines.

``open_command`` reads a source once, to its end; ``CommandFollower`` follows one for
the monitor, restarting it with backoff whenever it exits.
"""

from __future__ import annotations

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_MIN",
    "COMMANDS",
    "KINDS",
    "PREFIXES",
    "CommandFollower",
    "Source",
    "open_command",
    "parse_source",
    "pm2_log_paths",
]

import contextlib
import difflib
import glob
import io
import math
import os
import re
import selectors
import shlex
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Literal, cast

from botwatch.errors import LogSourceError
from botwatch.logs.read import READ_MAX, LineSplitter, decode

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from botwatch.logs.replay import ReplayFilter

Kind = Literal["file", "cmd", "journald", "docker", "pm2"]
KINDS: tuple[Kind, ...] = ("cmd", "journald", "docker", "pm2")
"""The prefixes (before the colon) that name something other than a file."""
PREFIXES = tuple(f"{k}:" for k in KINDS)
"""``cmd:``, ``journald:``…: how a log entry that is not a file starts."""
COMMANDS: tuple[Kind, ...] = ("cmd", "journald", "docker")
"""The kinds read by running a command (pm2's are read as files)."""

BACKOFF_MIN = 1.0
BACKOFF_MAX = 60.0
"""A followed command that exits is started again after 1 s, then 2, 4… up to 60 s; one
that had run for ``BACKOFF_MAX`` before exiting starts the series again at 1 s."""
PROBATION = 2.0
"""Seconds a fresh command's stderr is held back while its stdout is still silent."""
HOLD_BYTES = 64 * 1024
DOCKER_SLACK = 1
"""Seconds subtracted from the receipt time of docker's last line on a restart, for
the time docker took to hand it over (docker's plain output carries no timestamps)."""
EXIT_WAIT = 5.0
TAIL_LINES = 5
_CHUNK = 64 * 1024

_PREFIX = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_REALTIME = re.compile(rb'"__REALTIME_TIMESTAMP"\s*:\s*"(\d+)"')
_CURSOR = re.compile(rb'"__CURSOR"\s*:\s*"([^"]+)"')
# ``docker logs --timestamps``: RFC 3339 with nanoseconds (trailing zeros dropped), UTC.
_DOCKER_TS = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z ")
_PM2_UNSAFE = re.compile(r"[^a-zA-Z0-9\\.\-]")
_EXAMPLES = 'write "cmd:COMMAND", "journald:UNIT", "docker:CONTAINER", "pm2:APP" or a file path'


@dataclass(frozen=True)
class Source:
    """One named log source: what kind it is and what it names."""

    kind: Kind
    target: str
    """The file path, the command as written, the unit, the container or the pm2 app."""
    argv: tuple[str, ...] = ()
    """``cmd:`` only: the command split into its arguments."""

    def __str__(self) -> str:
        return self.target if self.kind == "file" else f"{self.kind}:{self.target}"

    def command(self, *, follow: bool = False, since: float | None = None,
                from_now: bool = False) -> list[str]:  # fmt: skip
        """The command line that reads this source: following it (``follow``), from the
        wall time ``since``, or with ``follow`` and no ``since`` only what comes next
        (``from_now``). ``cmd:`` runs as written: it follows or not as its text says."""
        if self.kind == "cmd":
            return list(self.argv)
        if self.kind == "journald":
            argv = ["journalctl", "-u", self.target, "-o", "json", "--no-pager"]
            if follow:
                argv.append("--follow")
            if since is not None:
                argv += ["--since", f"@{math.floor(since)}"]
            elif follow and from_now:
                argv.append("--lines=0")
            return argv
        if self.kind == "docker":
            argv = ["docker", "logs"]
            if follow:
                argv.append("--follow")
            if since is not None:
                argv += ["--since", str(math.floor(since))]
            elif follow and from_now:
                argv += ["--tail", "0"]
            return [*argv, self.target]
        raise ValueError(f"{self} is read as files, not by a command")


def parse_source(name: str) -> Source:
    """The source ``name`` names; ``LogSourceError`` says what to write instead when it
    names none (an empty command, an unknown ``xyz:`` prefix, unbalanced quotes).

    A one-letter prefix is a Windows drive (``C:\\logs\\bot.log``); a file whose name
    starts like a prefix is written ``./xyz:name.log``."""
    if not name.strip():
        raise LogSourceError(f"empty log source: {_EXAMPLES}")
    m = _PREFIX.match(name)
    if m is None or len(m.group(1)) == 1:
        return Source("file", name)
    prefix, rest = m.group(1), name[m.end() :].strip()
    if prefix not in KINDS:
        close = difflib.get_close_matches(prefix.lower(), KINDS, n=1, cutoff=0.6)
        hint = f'did you mean "{close[0]}:"?' if close else _EXAMPLES
        raise LogSourceError(
            f"{name!r}: unknown log source {prefix + ':'!r}; {hint}, or ./{name} for a "
            "file whose name has a colon"
        )
    kind = cast(Kind, prefix)  # one of KINDS: checked just above
    what = {"cmd": "a command", "journald": "a systemd unit", "docker": "a container name",
            "pm2": "a pm2 app name"}[kind]  # fmt: skip
    example = {"cmd": "cmd:railway logs --follow", "journald": "journald:mybot.service",
               "docker": "docker:mybot", "pm2": "pm2:mybot"}[kind]  # fmt: skip
    if not rest:
        raise LogSourceError(f"{name!r}: {kind}: needs {what} after the colon, e.g. {example!r}")
    if kind == "cmd":
        try:
            argv = shlex.split(rest)
        except ValueError as e:
            raise LogSourceError(
                f"{name!r}: cannot split the command ({e}): close the quote, or put a "
                "backslash before a quote that is part of an argument"
            ) from None
        if not argv or not argv[0]:
            raise LogSourceError(
                f"{name!r}: cmd: needs a command after the colon, e.g. {example!r}"
            )
        return Source("cmd", rest, tuple(argv))
    if kind != "pm2" and (rest.startswith("-") or any(c.isspace() for c in rest)):
        raise LogSourceError(
            f"{name!r}: {what} cannot start with '-' or hold spaces, e.g. {example!r}"
        )
    return Source(kind, rest)


def pm2_log_paths(name: str, *, env: Mapping[str, str] | None = None) -> list[str]:
    """The files pm2 writes app ``name``'s stdout and stderr to, to follow like files.

    ``$PM2_HOME/logs/NAME-out.log`` and ``NAME-error.log`` (``PM2_HOME`` defaults to
    ``~/.pm2``), with ``NAME`` as pm2 writes it: every character but letters, digits,
    ``.``, ``-`` and ``\\`` becomes ``-`` (``my_bot`` → ``my-bot``). Apps run in cluster
    mode or with several instances get one file per process id (``NAME-out-3.log``):
    those found are listed after the two. An app with its own ``out_file`` /
    ``error_file`` is not found here: name those files instead."""
    env = os.environ if env is None else env
    home = env.get("PM2_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".pm2")
    logs = os.path.join(home, "logs")
    base = _PM2_UNSAFE.sub("-", name)
    paths = [os.path.join(logs, f"{base}-out.log"), os.path.join(logs, f"{base}-error.log")]
    for stream in ("out", "error"):
        numbered = re.compile(re.escape(f"{base}-{stream}-") + r"(\d+)\.log")
        found = []
        for path in glob.glob(
            os.path.join(glob.escape(logs), glob.escape(f"{base}-{stream}-") + "*.log")
        ):
            m = numbered.fullmatch(os.path.basename(path))
            if m is not None:
                found.append((int(m.group(1)), path))
        paths += [p for _, p in sorted(found)]
    return paths


class _Child:
    """One run of a command: stdout and stderr on two non-blocking pipes, read as whole
    lines (a line longer than ``MAX_LINE`` is cut there, like ``read.py`` does)."""

    def __init__(self, source: Source, argv: list[str], clock: Callable[[], float]) -> None:
        self.source = source
        self.argv = argv
        try:
            # Its own session: killing it reaches whatever it started (a pipeline in a
            # script, ssh's children), and a terminal's Ctrl-C is ours to handle.
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True,
            )  # fmt: skip
        except FileNotFoundError:
            raise LogSourceError(
                f"{source}: {argv[0]} not found: it must be installed and on PATH"
            ) from None
        except (OSError, ValueError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise LogSourceError(f"{source}: cannot run {argv[0]}: {why}") from None
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._out, self._err = self.proc.stdout.fileno(), self.proc.stderr.fileno()
        for fd in (self._out, self._err):
            os.set_blocking(fd, False)
        self._open = [self._out, self._err]
        self._lines = {self._out: LineSplitter(), self._err: LineSplitter()}
        self._stderr_is_log = source.kind != "journald"
        self._clock = clock
        self.started = clock()
        self._hold_until = self.started + PROBATION
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._selector: selectors.BaseSelector | None = None
        self.out_seen = False
        self.err_tail: deque[bytes] = deque(maxlen=TAIL_LINES)

    @property
    def cut(self) -> int:
        """Lines past ``MAX_LINE`` (on either pipe), cut."""
        return sum(lines.cut for lines in self._lines.values())

    @property
    def eof(self) -> bool:
        """Both pipes closed by the command."""
        return not self._open

    def holding(self) -> bool:
        """Whether stderr lines are still held back (see the module's docstring)."""
        return (not self.out_seen and self._held_bytes < HOLD_BYTES
                and self._clock() < self._hold_until)  # fmt: skip

    def read(self) -> list[bytes]:
        """The whole lines that arrived (``READ_MAX`` bytes at most); never blocks."""
        out: list[bytes] = []
        budget = READ_MAX
        for fd in list(self._open):
            while budget > 0:
                try:
                    chunk = os.read(fd, min(_CHUNK, budget))
                except BlockingIOError:
                    break
                if not chunk:
                    self._closed(fd, out)
                    break
                budget -= len(chunk)
                self._take(fd, chunk, out)
        if self._held and not self.holding() and not self.eof:
            out[:0] = self.release()
        return out

    def release(self) -> list[bytes]:
        """The stderr lines held back, handed out now."""
        held, self._held, self._held_bytes = self._held, [], 0
        return held

    def failed(self, code: int | None) -> bool:
        """Whether the run ended in an error rather than a log: a non-zero exit with
        nothing on stdout."""
        return code is not None and code != 0 and not self.out_seen

    def wait_readable(self) -> None:
        """Block until a pipe has something (or is closed), or held lines are due."""
        if self._selector is None:
            self._selector = selectors.DefaultSelector()
            for fd in self._open:
                self._selector.register(fd, selectors.EVENT_READ)
        timeout = max(0.0, self._hold_until - self._clock()) if self.holding() else None
        self._selector.select(timeout)

    def why(self, code: int | None) -> str:
        """How the run ended, with the last thing it said on stderr."""
        prog = os.path.basename(self.argv[0])
        if code is None:
            text = f"{prog} closed its output"
        elif code < 0:
            text = f"{prog} was killed by signal {-code}"
        else:
            text = f"{prog} exited {code}"
        # After a clean exit, stderr's last line is a log line (docker), not a reason.
        return f"{text}: {decode(self.err_tail[-1])}" if self.err_tail and code else text

    def close(self) -> int | None:
        """Kill the command (and what it started) if it still runs, reap it, close the
        pipes; its exit code."""
        if self.proc.returncode is None:
            # Not reaped yet, so its process group cannot be someone else's.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self._selector is not None:
            self._selector.close()
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()
        return self.proc.returncode

    def _take(self, fd: int, chunk: bytes, out: list[bytes]) -> None:
        if fd == self._out:
            self.out_seen = True
        for line in self._lines[fd].feed(chunk):
            self._line(fd, line, out)

    def _line(self, fd: int, line: bytes, out: list[bytes]) -> None:
        if fd == self._out:
            out.append(line)
            return
        self.err_tail.append(line[:1000])
        if not self._stderr_is_log:
            return
        if self.holding():
            self._held.append(line)
            self._held_bytes += len(line)
        else:
            out.append(line)

    def _closed(self, fd: int, out: list[bytes]) -> None:
        self._open.remove(fd)
        if self._selector is not None:
            self._selector.unregister(fd)
        for line in self._lines[fd].end():  # a last line, never ended
            self._line(fd, line, out)


class _CommandStream(io.RawIOBase):
    """A command's merged output as a stream; at its end, a failed command raises."""

    def __init__(self, child: _Child) -> None:
        super().__init__()
        self._child = child
        self._buf = b""
        self._pos = 0
        self._done = False

    def readable(self) -> bool:
        """Yes."""
        return True

    def readinto(self, b: WriteableBuffer) -> int:
        """Up to ``len(b)`` bytes of whole lines; 0 at the end."""
        while self._pos >= len(self._buf):
            if self._done:
                return 0
            self._fill()
        view = memoryview(b).cast("B")
        n = min(len(view), len(self._buf) - self._pos)
        view[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n

    def _fill(self) -> None:
        child = self._child
        lines = child.read()
        if not lines and child.eof:
            self._done = True
            try:
                code: int | None = child.proc.wait(EXIT_WAIT)
            except subprocess.TimeoutExpired:
                code = None  # it closed its output but lives on: its code says nothing
            if child.failed(code):
                raise LogSourceError(_failure(child, code))
            lines = child.release()
        elif not lines:
            child.wait_readable()
            return
        self._buf, self._pos = b"\n".join(lines) + b"\n" if lines else b"", 0


def _failure(child: _Child, code: int | None) -> str:
    tail = [decode(x) for x in child.err_tail]
    head = f"{child.source}: {os.path.basename(child.argv[0])} exited {code} without output"
    if len(tail) == 1:
        return f"{head}: {tail[0]}"
    return head + (":" if tail else "") + "".join(f"\n  {x}" for x in tail)


@contextmanager
def open_command(source: Source, *, since: float | None = None) -> Iterator[BinaryIO]:
    """Run the command that reads ``source`` once and give its output (stdout and
    stderr merged line by line) as a binary stream, to read to its end.

    ``since`` (a wall time) is passed to journalctl and docker; a ``cmd:`` runs as
    written. A missing program raises ``LogSourceError`` at once; a command that exits
    non-zero with nothing on stdout raises it from the read that reaches the end, with
    the exit code and its last lines. On leaving, the command is killed if it still
    runs, and reaped."""
    child = _Child(source, source.command(since=since), time.monotonic)
    stream = io.BufferedReader(_CommandStream(child))
    try:
        yield stream
    finally:
        child.close()
        stream.close()


class CommandFollower:
    """Follows a ``cmd:``, ``journald:`` or ``docker:`` source for the monitor, with the
    interface of ``follow.Follower``: ``poll()`` for new whole lines, ``close()``.

    The command is started on the first poll, following from now (or from the wall
    time ``since``, or from ``resume``). Whenever it exits it is started again after
    ``BACKOFF_MIN`` seconds, doubling up to ``BACKOFF_MAX``; ``poll()`` never raises,
    ``last_error`` says what went wrong. Both tools resume exactly after the last line
    read — neither re-reading nor skipping: journalctl with ``--after-cursor`` (the
    entry's ``__CURSOR``), docker with ``--timestamps`` and ``--since`` the last line's
    own nanosecond time, lines up to it dropped. A ``cmd:`` is run again as written,
    and the history it prints again on a start is dropped (``botwatch.logs.replay``).
    ``resume`` is that place as text, to save and hand to a new follower after a
    restart of botwatch."""

    def __init__(
        self,
        source: Source,
        *,
        since: float | None = None,
        resume: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if source.kind not in COMMANDS:
            raise ValueError(f"{source} is followed as files (pm2_log_paths), not as a command")
        self.source = source
        self.clock = clock
        self.wall = wall
        self.last_error: str | None = None
        """What went wrong last (a missing program, an exit), until the command works."""
        self.restarts = 0
        """Starts after the first (each restart, and each retry of one that failed)."""
        self.cut = 0
        """Lines longer than ``MAX_LINE``, cut."""
        self._since = since
        self._child: _Child | None = None
        self._started_once = False
        self._next_start = -math.inf
        self._delay = BACKOFF_MIN
        self._closed = False
        self._cursor: str | None = None
        """journald: the ``__CURSOR`` of the last entry read."""
        self._stamp: tuple[bytes, int] | None = None
        """docker: the last line's time, (seconds part, nanoseconds)."""
        self._replay: ReplayFilter | None = None
        """cmd: the last lines handed out, to drop the history a start prints again."""
        if source.kind == "cmd":
            kind, _, value = (resume or "").partition("=")
            # Loaded here, for cmd: sources only (hashlib costs every start milliseconds).
            from botwatch.logs.replay import ReplayFilter

            self._replay = ReplayFilter(value if kind == "lines" else None)
        elif resume is not None:
            kind, _, value = resume.partition("=")
            if kind == "cursor" and source.kind == "journald" and value:
                self._cursor = value
            elif kind == "ts" and source.kind == "docker":
                m = _DOCKER_TS.match(value.encode() + b" ")
                if m is not None:
                    self._stamp = (m.group(1), int((m.group(2) or b"0").ljust(9, b"0")))

    @property
    def resume(self) -> str | None:
        """Where this follower is, as text to save: a new follower given it reads on
        exactly after the last line this one handed out (None: from ``since``)."""
        if self._cursor is not None:
            return f"cursor={self._cursor}"
        if self._stamp is not None:
            return f"ts={self._stamp[0].decode()}.{self._stamp[1]:09d}Z"
        if self._replay is not None and self._replay.state is not None:
            return f"lines={self._replay.state}"
        return None

    @property
    def since(self) -> float | None:
        """The wall time to pass as ``since`` to a new follower so that it misses
        nothing this one would have read (None for ``cmd:``, or before the first run)."""
        return None if self.source.kind == "cmd" else self._since

    def poll(self) -> list[bytes]:
        """Complete lines received since the last poll (without their newlines)."""
        if self._closed:
            return []
        now = self.clock()
        if self._child is None:
            if now < self._next_start:
                return []
            self._start(now)
            if self._child is None:
                return []
        child = self._child
        try:
            lines = child.read()
        except OSError as e:
            lines = []
            self.last_error = f"reading {self.source}: {e.strerror or e}"
            child.close()
            self._after_exit(now)
            return lines
        exited = child.eof and child.proc.poll() is not None
        if exited and not child.failed(child.proc.returncode):
            lines[:0] = child.release()
        if lines and self.source.kind == "docker":
            lines = self._untimestamp(lines)
        elif lines and self._replay is not None:
            lines = self._replay.new(lines)
        if lines:
            self._mark(lines[-1])
            self.last_error = None
        elif self.last_error is not None and not child.holding() and not child.eof:
            self.last_error = None  # through its probation: it works again
        if exited:
            self.cut += child.cut
            child.close()
            self.last_error = child.why(child.proc.returncode)
            self._after_exit(now)
        return lines

    def close(self) -> None:
        """Stop the command (killed if it still runs); later polls read nothing."""
        self._closed = True
        if self._child is not None:
            self.cut += self._child.cut
            self._child.close()
            self._child = None

    def _start(self, now: float) -> None:
        if self._started_once:
            self.restarts += 1
        from_now = self._since is None
        if self._since is None and self.source.kind != "cmd":
            self._since = self._now()  # where a restart resumes if no line comes first
        argv = self.source.command(follow=True, since=None if from_now else self.since,
                                   from_now=from_now)  # fmt: skip
        if self._cursor is not None:  # journald: exactly after the last entry read
            argv = [*self.source.command(follow=True), f"--after-cursor={self._cursor}"]
        elif self.source.kind == "docker":
            # Its own time on every line: the only exact place to resume from.
            argv.insert(argv.index("--follow") + 1, "--timestamps")
            if self._stamp is not None:
                since_at = argv.index("--since") if "--since" in argv else None
                stamp = f"{self._stamp[0].decode()}.{self._stamp[1]:09d}Z"
                if since_at is not None:
                    argv[since_at + 1] = stamp
                else:
                    tail = argv.index("--tail")
                    argv[tail : tail + 2] = ["--since", stamp]
        self._started_once = True
        if self._replay is not None:
            self._replay.started()
        try:
            self._child = _Child(self.source, argv, self.clock)
        except LogSourceError as e:
            self.last_error = str(e)
            self._after_exit(now)

    def _after_exit(self, now: float) -> None:
        child, self._child = self._child, None
        if child is not None and now - child.started >= BACKOFF_MAX:
            self._delay = BACKOFF_MIN  # it had been working: not a crash loop
        self._next_start = now + self._delay
        self._delay = min(self._delay * 2, BACKOFF_MAX)

    def _mark(self, last: bytes) -> None:
        """Remember where a restart resumes: just after line ``last``."""
        if self.source.kind == "cmd":
            return
        if self.source.kind == "journald":
            c = _CURSOR.search(last)
            if c is not None:
                self._cursor = c.group(1).decode("utf-8", "replace")
            m = _REALTIME.search(last)
            if m is not None:
                self._since = int(m.group(1)) / 1e6
                return
        if self.source.kind == "docker" and self._stamp is not None:
            return  # _untimestamp keeps the exact place
        self._since = self._now()

    def _untimestamp(self, lines: list[bytes]) -> list[bytes]:
        """docker's lines without the time ``--timestamps`` put before each; those not
        after the last line already handed out (a restart's ``--since`` is inclusive)
        dropped. A line with no time (docker's own error) passes as it is."""
        out = []
        for line in lines:
            m = _DOCKER_TS.match(line)
            if m is None:
                out.append(line)
                continue
            stamp = (m.group(1), int((m.group(2) or b"0").ljust(9, b"0")))
            if self._stamp is not None and stamp <= self._stamp:
                continue
            self._stamp = stamp
            out.append(line[m.end() :])
        return out

    def _now(self) -> float:
        """The wall time now, as a ``since`` that misses nothing already under way."""
        return self.wall() - (DOCKER_SLACK if self.source.kind == "docker" else 0)
